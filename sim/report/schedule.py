"""The readable schedule printed by ``cartsim run``: planned vs given, holds and reasons."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from sim.engine.run import RunResult
from sim.metrics import patient_metrics
from sim.records import decisions, schedule
from sim.report.words import dose, duration, when

STATUS_STYLE = {
    "given": "green",
    "given_reduced": "yellow",
    "skipped": "yellow",
    "not_given": "red",
    "pending": "dim",
}


def print_schedule(result: RunResult, console: Console) -> None:
    p = result.protocol
    pt = result.patient
    console.print(f"[bold]{p.title}[/bold]")
    console.print(
        f"protocol {p.id} ({result.protocol_origin}, hash {result.protocol_hash})"
        + (f"; scenario {result.scenario}" if result.scenario else "")
    )
    console.print(
        f"patient: {pt.weight_kg:g} kg, {pt.height_cm:g} cm, {pt.age_y:g} y, "
        f"marrow blasts {pt.marrow_blasts_pct:g} %; seed {result.seed}"
    )
    ld = [e for e in result.events if e.kind == "ld_dose"]
    if ld:
        drugs: dict[tuple[str, int], list[str]] = {}
        for e in ld:
            days = drugs.setdefault((e.data["drug"], e.data["course"]), [])
            days.append(str(e.day) if str(e.day) not in days else f"{e.day} (again)")
        first = ld[0].data
        console.print(
            f"lymphodepletion (BSA {first['bsa_m2']:.2f} m2, {first['bsa_formula']}): "
            + "; ".join(
                f"{drug} {next(e.data['mg'] for e in ld if e.data['drug'] == drug):g} mg"
                f" on days {', '.join(days)}" + (f" (course {course})" if course > 1 else "")
                for (drug, course), days in drugs.items()
            )
        )
    table = Table(title="Schedule: planned vs given", show_lines=False)
    for col in ("fraction", "planned", "given", "planned dose", "given dose", "status", "held"):
        table.add_column(col)
    for row in schedule(result.events):
        status = row["status"]
        style = STATUS_STYLE.get(status, "")
        table.add_row(
            row["fraction"],
            when(row["planned_time_h"]),
            when(row["time_h"]),
            dose(row["planned_cells_per_kg"], row["planned_cells"]),
            dose(row["cells_per_kg"], row["cells"]),
            f"[{style}]{status}[/{style}]" if style else status,
            duration(row["held_h"]) if row.get("held_h") else "-",
        )
    console.print(table)
    notable = [d for d in decisions(result.events) if d["action"] != "give"]
    if notable:
        console.print("[bold]Holds, skips, reductions and stops[/bold]")
        for d in notable:
            console.print(
                f"  {when(d['time_h'])}  {d['fraction']}: {d['action']} "
                f"(rule {d['rule']}) - {d['reason']}"
            )
    m = patient_metrics(result.events)
    console.print(
        f"delivered {m['given_cells_per_kg'] / 1e6:.3g} of {m['planned_cells_per_kg'] / 1e6:.3g}"
        f" x10^6/kg planned ({m['dose_delivered_share']:.0%}); {m['fractions_given']} of "
        f"{m['fractions_planned']} fractions given; {m['holds']} hold(s)"
        + (f"; {m['repeat_doses_given']} repeat dose(s)" if m["repeat_doses_given"] else "")
        + (f"; stopped: {m['stop_reason']}" if m["stopped"] else "")
    )
    console.print(
        f"worst grades: CRS {m['crs_max_grade']:g}, ICANS {m['icans_max_grade']:g}, "
        f"IEC-HS {m['iec_hs_max_grade']:g}, GVHD {m['gvhd_max_grade']:g}; "
        f"day-{p.follow_up.response_day} response: {m['response'] or '-'}"
    )
