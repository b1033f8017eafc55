"""Cohort and comparison tables for the terminal, and their CSV form."""

from __future__ import annotations

import io
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
    ("efs_12m", "12-month EFS", "rate"),
    ("os_12m", "12-month OS", "rate"),
    ("peak_copies_median", "peak expansion, copies/ug (median)", "num"),
    ("tmax_day_median", "day of peak (median)", "num"),
]


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "rate":
        return f"{value:.1%}"
    if kind == "cells":
        return f"{value / 1e6:.3g}e6"
    return f"{value:.3g}"


def cell(metric: dict[str, Any], kind: str) -> str:
    lo, hi = metric.get("ci_low"), metric.get("ci_high")
    ci = f" ({fmt(lo, kind)}-{fmt(hi, kind)})" if lo is not None and hi is not None else ""
    return fmt(metric.get("value"), kind) + ci


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
        console.print(f"[bold]{diff['arm']} minus {diff['versus']}[/bold] (paired, same patients):")
        for slug, metric in diff["metrics"].items():
            kind = "cells" if "cells" in slug else "rate"
            sign = "+" if (metric["value"] or 0) > 0 else ""
            console.print(f"  {slug}: {sign}{cell(metric, kind)}")
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


def print_calibration(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Calibration: published vs simulated")
    for col in ("target", "endpoint", "published", "pass range", "simulated (95% CI)", ""):
        table.add_column(col)
    for r in rows:
        sim = r["simulated"]
        lo, hi = r["published_low"], r["published_high"]
        rng = f"{'-inf' if lo is None else f'{lo:.4g}'} to {'inf' if hi is None else f'{hi:.4g}'}"
        simulated = "-" if sim["value"] is None else f"{sim['value']:.4g}"
        if sim["ci_low"] is not None and sim["ci_high"] is not None:
            simulated += f" ({sim['ci_low']:.4g}-{sim['ci_high']:.4g})"
        mark = "[green]pass[/green]" if r["passes"] else "[red]FAIL[/red]"
        table.add_row(
            r["id"], r["endpoint"], f"{r['published']:.4g}", f"{rng} ({r['rule']})", simulated, mark
        )
    console.print(table)
    passed = sum(r["passes"] for r in rows)
    console.print(f"{passed} of {len(rows)} targets reproduced")
