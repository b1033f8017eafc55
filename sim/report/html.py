"""``cartsim report``: one self-contained HTML file for a run or a cohort comparison.

For one scenario or protocol (one patient): a summary (protocol, patient, seed,
version), the timeline, the schedule table, the holds and stops, the patient's decision
path and the plain-language narrative of ``cartsim explain``. For a cohort (protocols
with ``--patients``, or several protocols): the comparison table and paired differences
(:func:`sim.cohort.compare`), the decision paths of each arm, the swimmer, Kaplan-Meier
and delivered-dose plots, and virtual patient 0 of each arm told as above.

The page opens offline: CSS inline, figures as inline SVG, no scripts, no links out,
and a Content-Security-Policy that blocks any request. The same inputs give the same
bytes (no clock time is written; run times are left out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from sim import __version__
from sim.cohort import CohortSetup, compare, run_patient_result
from sim.engine.run import RunResult
from sim.metrics import patient_metrics
from sim.paths import OUTCOMES, fraction_path, path_tree
from sim.plots.cohort import ArmRuns, run_arms
from sim.report import html_parts as part
from sim.report.explain import explain_lines
from sim.report.words import grade, patient
from sim.spec.load import LoadedProtocol
from sim.spec.protocol import Protocol


def _summary_rows(result: RunResult) -> list[tuple[str, object]]:
    p, pt = result.protocol, result.patient
    m = patient_metrics(result.events)
    path = fraction_path(result.events)
    return [
        ("protocol", f"{p.id}: {p.title}"),
        ("protocol file", f"{result.protocol_origin} (hash {result.protocol_hash})"),
        ("source", f"{p.source.citation} ({p.source.status})"),
        (
            "assumptions",
            f"{len(p.assumptions)} made by the protocol file where the source is silent "
            "(listed below)"
            if p.assumptions
            else "none stated in the protocol file",
        ),
        ("scenario", result.scenario or "virtual patient (model-driven toxicity)"),
        (
            "patient",
            patient(pt, "marrow blasts {} % before lymphodepletion"),
        ),
        ("seed", result.seed),
        ("cartsim version", __version__),
        (
            "delivered",
            f"{m['given_cells_per_kg'] / 1e6:.3g} of {m['planned_cells_per_kg'] / 1e6:.3g} "
            f"x10^6 cells/kg ({m['dose_delivered_share']:.0%}); {m['fractions_given']} of "
            f"{m['fractions_planned']} fractions; {m['holds']} hold(s)"
            + (f"; stopped: {m['stop_reason']}" if m["stopped"] else ""),
        ),
        (
            "decision path",
            " -> ".join(f"{f.id} {OUTCOMES[o]}" for f, o in zip(p.fractions, path, strict=False)),
        ),
        (
            "worst grades",
            f"CRS {grade(m['crs_max_grade'])}, ICANS {grade(m['icans_max_grade'])}, IEC-HS "
            f"{grade(m['iec_hs_max_grade'])}, GVHD {grade(m['gvhd_max_grade'])}",
        ),
        (f"day-{p.follow_up.response_day} response", m["response"] or "-"),
    ]


def _patient_sections(
    result: RunResult, key: str, heading: int, days: tuple[float, float] | None = None
) -> Iterator[str]:
    """Timeline, schedule, decisions and narrative of one run (``key`` makes ids unique);
    ``days`` is the timeline's axis range (default: the whole run)."""
    from sim.plots.timeline import timeline_figure

    h = f"h{heading}"
    yield f'<{h} id="{key}-timeline-heading">Timeline</{h}>'
    caption = (
        "Timeline drawn from the event log: lymphodepletion, each CAR-T dose (area grows "
        "with the dose), planned times, gate holds with their reason, toxicity grades, "
        "visits and response" + (", and CAR-T expansion" if _has_model(result) else "")
    )
    if days is not None:
        caption += (
            f"; study days {days[0]:.0f} to {days[1]:.0f} are shown, the same range for every arm"
        )
    yield part.figure(
        timeline_figure(result, days=days), f"{key}-timeline", caption, f"{key}-timeline"
    )
    yield f"<{h}>Schedule: planned vs given</{h}>"
    yield part.schedule_table(result.events, f"{key}-schedule")
    yield f"<{h}>Holds, skips, reductions and stops</{h}>"
    yield part.decisions_table(result.events, f"{key}-decisions")
    yield f"<{h}>What happened, in plain language</{h}>"
    yield "<details open><summary>Narrative (as printed by <code>cartsim explain</code>)</summary>"
    yield part.narrative(explain_lines(result), f"{key}-narrative")
    yield "</details>"


def _assumptions(p: Protocol, css_id: str, heading: int) -> Iterator[str]:
    if p.assumptions:
        yield f"<h{heading}>Assumptions of {escape(p.id)} (where the source is silent)</h{heading}>"
        yield part.assumptions_list(p.assumptions, css_id)


def _has_model(result: RunResult) -> bool:
    return any(e.kind == "kinetics" for e in result.events)


def run_report(result: RunResult) -> str:
    """The report of one run (a scenario, or one virtual patient of a protocol)."""
    p = result.protocol
    title = f"cartsim report: {p.id}" + (f", scenario {result.scenario}" if result.scenario else "")
    body = [
        f"<h1>{escape(title)}</h1>",
        part.notice(),
        "<h2>Summary</h2>",
        part.facts(_summary_rows(result), "summary"),
        *_assumptions(result.protocol, "run-assumptions", 2),
        *_patient_sections(result, "run", 2),
    ]
    return part.page(title, body)


def _arm_paths(arm: ArmRuns, index: int) -> Iterator[str]:
    tree = path_tree(arm.paths, arm.n, arm.fractions)
    yield f"<h3>{escape(arm.protocol)} (n = {arm.n})</h3>"
    yield part.paths_table(tree, f"paths-{index}")


def cohort_report_steps(arms: int, n: int) -> int:
    """How many times :func:`cohort_report` calls ``progress(1)``: the comparison counts
    each patient once (all arms), the plots each patient of each arm."""
    return n + arms * n


def cohort_report(
    loaded: Sequence[LoadedProtocol],
    setup: CohortSetup,
    n: int,
    progress: Callable[[int], None] | None = None,
) -> str:
    """The report of a cohort: one or several protocols on the same virtual patients."""
    from sim.plots.distributions import distributions_figure
    from sim.plots.survival import survival_figure
    from sim.plots.swimmer import swimmer_figure
    from sim.plots.timeline import day_range

    data = compare(loaded, setup, n, progress).to_json()
    arms = run_arms(loaded, setup, n, progress=progress)
    names = ", ".join(lp.protocol.id for lp in loaded)
    title = f"cartsim report: {names} ({n} virtual patients per arm)"
    fixed = ", ".join(f"{k} = {v}" for k, v in setup.fixed) or "none"
    body = [
        f"<h1>{escape(title)}</h1>",
        part.notice(),
        "<h2>Summary</h2>",
        part.facts(
            [
                (
                    "protocols",
                    "; ".join(f"{lp.protocol.id} ({lp.origin}, hash {lp.hash})" for lp in loaded),
                ),
                (
                    "virtual patients",
                    f"{n} per arm, the same patients in every arm (common random numbers)",
                ),
                ("population", setup.population),
                ("fixed covariates", fixed),
                ("root seed", setup.seed),
                ("simulation events", data["run"]["sim_events"]),
                ("cartsim version", __version__),
            ],
            "summary",
        ),
        "<h2>Comparison</h2>",
        '<p class="muted">Point estimates with 95 % confidence intervals in brackets '
        "(Wilson for rates, order statistics for medians, Kaplan-Meier with log-log "
        "intervals for survival).</p>",
        part.comparison_table(data, "comparison"),
    ]
    diffs = part.differences_table(data, "differences")
    if diffs:
        body += ["<h3>Paired differences (same patients)</h3>", diffs]
    body.append("<h2>Decision paths</h2>")
    body.append(
        '<p class="muted">What happened to each planned fraction, as a tree: the share '
        "of all patients on each branch with its 95 % Wilson interval, and the share of the "
        "branch above.</p>"
    )
    for i, arm in enumerate(arms):
        body.extend(_arm_paths(arm, i))
    body.append("<h2>Plots</h2>")
    body.append(
        part.figure(
            swimmer_figure(arms),
            "swimmer",
            f"Swimmer plot of virtual patients 0-{len(arms[0].sample) - 1} in each arm",
            "swimmer",
        )
    )
    body.append(
        part.figure(survival_figure(arms), "survival", "Kaplan-Meier EFS and OS", "survival")
    )
    body.append(
        part.figure(
            distributions_figure(arms),
            "doses",
            "Delivered dose and time to the full planned dose",
            "doses",
        )
    )
    examples = [run_patient_result(lp, setup, 0) for lp in loaded]
    ranges = [
        day_range(ex.events, float(lp.protocol.follow_up.horizon_day))
        for ex, lp in zip(examples, loaded, strict=True)
    ]
    days = (min(r[0] for r in ranges), max(r[1] for r in ranges))  # one axis for every arm
    for i, (lp, example) in enumerate(zip(loaded, examples, strict=True)):
        body.append(f"<h2>Virtual patient 0 under {escape(lp.protocol.id)}</h2>")
        body.append(part.facts(_summary_rows(example), f"patient-{i}-summary"))
        body.extend(_assumptions(lp.protocol, f"patient-{i}-assumptions", 3))
        body.extend(_patient_sections(example, f"patient-{i}", 3, days=days))
    return part.page(title, body)


def check_report_path(path: Path) -> None:
    """The report is an .html (or .htm) file."""
    from sim.errors import InputError

    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError.single(
            "-o", f"'{path}': the report is written as .html, not '{path.suffix}'"
        )


def write_report(path: Path, text: str, record: Mapping[str, Any]) -> None:
    """Write the page atomically, with its provenance sidecar."""
    from sim.exports.provenance import write_output

    check_report_path(path)
    write_output(path, text, record, file_format="html", option="-o")
