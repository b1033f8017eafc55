"""Cohort and comparison tables for the terminal, and their CSV form."""

from __future__ import annotations

import io
import math
from typing import Any

from rich.console import Console
from rich.table import Table

SHOWN = [
    ("full_dose_rate", "full planned dose delivered", "rate"),
    ("hold_rate", ">= 1 hold", "rate"),
    ("discontinuation_rate", "protocol stopped", "rate"),
    ("cells_per_kg_delivered_median", "cells/kg delivered (median)", "cells"),
    ("time_to_last_fraction_h_median", "h from first to last fraction (median)", "num"),
    ("crs_any_rate", "CRS any grade", "rate"),
    ("crs_grade3plus_rate", "CRS grade >= 3", "rate"),
    ("crs_duration_days_median", "CRS duration, days (median)", "num"),
    ("icans_any_rate", "ICANS any grade", "rate"),
    ("icans_grade3plus_rate", "ICANS grade >= 3", "rate"),
    ("iec_hs_rate", "IEC-HS", "rate"),
    ("gvhd_rate", "GVHD", "rate"),
    ("cr_mrd_neg_d28_rate", "MRD-negative CR at day 28", "rate"),
    ("overall_response_rate", "overall response (CR at any assessment)", "rate"),
    ("crs_onset_after_d7_rate", "CRS starting after day 7", "rate"),
    ("agvhd_grade2plus_d100_rate", "acute GVHD II-IV by day 100", "rate"),
    ("nrm_d100", "non-relapse mortality by day 100", "rate"),
    ("efs_12m", "12-month EFS", "rate"),
    ("rfs_12m", "12-month RFS (responders, from the assessment)", "rate"),
    ("os_12m", "12-month OS", "rate"),
    ("peak_copies_median", "peak expansion, copies/ug (median)", "num"),
    ("tmax_day_median", "day of peak (median)", "num"),
]


# The paired differences (sim.tally.PAIRED_RATES and the mean difference in delivered cells).
DIFFERENCE_LABELS: dict[str, str] = {
    **{slug: label for slug, label, _ in SHOWN},
    "cells_per_kg_delivered_mean": "cells/kg delivered (mean)",
}

UNITS = {"rate": " %", "cells": " x10^6/kg", "num": ""}


def _sig3(x: float, signed: bool) -> str:
    """3 significant digits without exponent notation: ``0.0123``, ``45.2``, ``19,600``."""
    sign = "+" if signed and x > 0 else ""
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        digits = math.floor(math.log10(abs(x))) - 2
        return f"{sign}{round(x, -digits):,.0f}"
    return f"{x:{'+' if sign else ''}.3g}"


def _number(value: float, kind: str, signed: bool = False) -> str:
    if kind == "rate":
        text = f"{100 * value:.1f}".replace("-0.0", "0.0")
        return "+" + text if signed and text != "0.0" and not text.startswith("-") else text
    if kind == "cells":
        return _sig3(value / 1e6, signed)
    return _sig3(value, signed)


def fmt(value: float | None, kind: str, signed: bool = False) -> str:
    """A value with its unit: ``12.5 %``, ``2.1 x10^6/kg`` or ``45.2``; ``-`` for None."""
    if value is None:
        return "-"
    return _number(value, kind, signed) + UNITS[kind]


def cell(metric: dict[str, Any], kind: str, signed: bool = False) -> str:
    """``12.5 % (8.1 to 18.0)``: the estimate, then its interval in the same unit."""
    lo, hi = metric.get("ci_low"), metric.get("ci_high")
    ci = ""
    if lo is not None and hi is not None:
        ci = f" ({_number(lo, kind)} to {_number(hi, kind)})"
    return fmt(metric.get("value"), kind, signed) + ci


def difference_kind(slug: str) -> str:
    return "cells" if "cells" in slug else "rate"


def print_comparison(data: dict[str, Any], console: Console) -> None:
    run = data["run"]
    console.print(
        f"[bold]{run['patients']} virtual patients[/bold] per arm, population "
        f"{data['population']}, seed {data['seed']} (same patients in every arm); "
        f"95 % CIs in brackets"
    )
    table = Table()
    table.add_column("endpoint")
    for arm in data["arms"]:
        table.add_column(arm["protocol"])
    for slug, label, kind in SHOWN:
        table.add_row(label, *(cell(arm["metrics"][slug], kind) for arm in data["arms"]))
    console.print(table)
    for diff in data["differences"]:
        console.print(
            f"[bold]{diff['arm']} minus {diff['versus']}[/bold] "
            "(paired, same patients; rates in percentage points):"
        )
        for slug, metric in diff["metrics"].items():
            label = DIFFERENCE_LABELS.get(slug, slug)
            console.print(f"  {label}: {cell(metric, difference_kind(slug), signed=True)}")
    timing = f" in {run['wall_s']} s" if "wall_s" in run else ""
    console.print(f"{run['sim_events']} simulation events{timing}")


def comparison_csv(data: dict[str, Any]) -> str:
    from sim.exports.tables import safe_csv_writer

    buf = io.StringIO()
    w = safe_csv_writer(buf)
    w.writerow(["protocol", "metric", "value", "ci_low", "ci_high", "n", "method"])
    for arm in data["arms"]:
        for slug, m in arm["metrics"].items():
            w.writerow(
                [arm["protocol"], slug, m["value"], m["ci_low"], m["ci_high"], m["n"], m["method"]]
            )
    for diff in data["differences"]:
        for slug, m in diff["metrics"].items():
            w.writerow(
                [
                    f"{diff['arm']} - {diff['versus']}",
                    slug,
                    m["value"],
                    m["ci_low"],
                    m["ci_high"],
                    m["n"],
                    m["method"],
                ]
            )
    return buf.getvalue()


def _calibration_value(x: float | None, unit: str, infinite: str = "-") -> str:
    if x is None:
        return infinite
    if unit == "fraction":
        return f"{100 * x:.1f} %"
    if abs(x) >= 1000:  # 31,620 rather than 3.162e+04
        return f"{round(x, 3 - math.floor(math.log10(abs(x)))):,.0f}"
    return f"{x:.4g}"


def print_calibration(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Calibration: target vs simulated (the model was fitted to these)")
    for col in ("target", "endpoint", "published", "pass range", "simulated (95% CI)", ""):
        table.add_column(col)
    for r in rows:
        sim, unit = r["simulated"], r["unit"]
        low = _calibration_value(r["published_low"], unit, "-inf")
        high = _calibration_value(r["published_high"], unit, "inf")
        simulated = _calibration_value(sim["value"], unit)
        if sim["ci_low"] is not None and sim["ci_high"] is not None:
            simulated += (
                f" ({_calibration_value(sim['ci_low'], unit)} to "
                f"{_calibration_value(sim['ci_high'], unit)})"
            )
        mark = "[green]pass[/green]" if r["passes"] else "[red]FAIL[/red]"
        endpoint = r["endpoint"]
        if r.get("versus"):
            endpoint += f" ({r['protocol']} minus {r['versus']['protocol']})"
        table.add_row(
            r["id"],
            endpoint,
            _calibration_value(r["published"], unit),
            f"{low} to {high} ({r['interval']})",
            simulated,
            mark,
        )
    console.print(table)
    passed = sum(r["passes"] for r in rows)
    console.print(f"{passed} of {len(rows)} targets reproduced")
    console.print(
        "calibration, not validation: these are the targets the model was fitted to; "
        "intervals are labelled by source (published CI, exact Clopper-Pearson CI computed "
        "here from n/N, or tolerance)"
    )
