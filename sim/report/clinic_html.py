"""The clinic section of the HTML report (``cartsim clinic --report FILE.html``).

Drawing only: it takes a finished :class:`sim.clinic.replication.ClinicRun` and its JSON.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from sim.report import html_parts as part
from sim.report.clinic_table import SHOWN

if TYPE_CHECKING:
    from sim.clinic.replication import ClinicRun


def _cell(m: dict[str, Any]) -> str:
    if m["value"] is None:
        return "-"
    if m["ci_low"] is None:
        return f"{m['value']:.2f}"
    return f"{m['value']:.2f} [{m['ci_low']:.2f}, {m['ci_high']:.2f}]"


def clinic_section(run: ClinicRun, data: dict[str, Any]) -> list[str]:
    """The clinic's facts, its metrics per arm, paired differences and the figure."""
    from sim.plots.clinic import clinic_figure

    clinic = run.setup.clinic
    arms = data["arms"]
    headers = [
        "metric",
        *(f"{a['protocol']} ({a['manufacturing']}, {a['monitoring']})" for a in arms),
    ]
    rows = [[data["metrics"][k], *(_cell(a["metrics"][k]) for a in arms)] for k in SHOWN]
    out = [
        f"<h2>The clinic: {escape(clinic.title)}</h2>",
        part.facts(
            [
                ("clinic file", data["clinic"]["origin"]),
                ("clinic hash", data["clinic"]["hash"]),
                ("ward beds / ICU beds", f"{clinic.beds} / {clinic.icu_beds}"),
                ("referrals per month", clinic.arrivals.per_month),
                ("days x replications", f"{run.setup.days} x {run.replications}"),
                ("seed", run.setup.seed),
            ],
            "clinic-facts",
        ),
        '<p class="muted">Mean per replication with a 95 % t interval; every arm sees the '
        "same referrals and the same virtual patients.</p>",
        part.table(headers, rows, "clinic-metrics"),
    ]
    for diff in data["differences"]:
        out.append(f"<h3>{escape(diff['arm'])} minus {escape(diff['versus'])} (paired)</h3>")
        out.append(
            part.table(
                ["metric", "difference"],
                [[data["metrics"][k], _cell(diff["metrics"][k])] for k in SHOWN],
                f"clinic-difference-{escape(diff['arm'])}",
            )
        )
    out.append(
        part.figure(
            clinic_figure(run),
            "clinic",
            "Ward and ICU beds in use per day (mean over replications) and vein-to-vein times",
            "clinic-figure",
        )
    )
    return out


def clinic_report(run: ClinicRun, data: dict[str, Any]) -> str:
    title = f"cartsim clinic - {run.setup.clinic.id}"
    return part.page(
        title, [f"<h1>{escape(title)}</h1>", part.notice(), *clinic_section(run, data)]
    )
