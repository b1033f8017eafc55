"""A sweep's results: one row per protocol variant, for the terminal, JSON and CSV."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from sim.report.cohort_table import SHOWN, cell

# The columns of the terminal table (all metrics go to JSON and CSV).
COLUMNS = (
    "full_dose_rate",
    "hold_rate",
    "discontinuation_rate",
    "cells_per_kg_delivered_median",
    "crs_grade3plus_rate",
    "icans_grade3plus_rate",
    "cr_mrd_neg_d28_rate",
    "os_12m",
)
_LABELS = {slug: (label, kind) for slug, label, kind in SHOWN}


def sweep_json(comparison: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """Re-key a comparison of variants by their settings (differences versus variant 1)."""
    variants = [
        {
            "variant": label,
            "protocol": arm["protocol"],
            "protocol_hash": arm["protocol_hash"],
            "n": arm["n"],
            "metrics": arm["metrics"],
        }
        for label, arm in zip(labels, comparison["arms"], strict=True)
    ]
    differences = [
        {"variant": label, "versus": labels[0], "metrics": diff["metrics"]}
        for label, diff in zip(labels[1:], comparison["differences"], strict=True)
    ]
    return {
        "seed": comparison["seed"],
        "population": comparison["population"],
        "variants": variants,
        "differences": differences,
        "run": comparison["run"],
    }


def print_sweep(data: dict[str, Any], console: Console) -> None:
    run = data["run"]
    console.print(
        f"[bold]{len(data['variants'])} variants[/bold] x {run['patients']} virtual patients "
        f"(population {data['population']}, seed {data['seed']}, same patients in every "
        "variant); 95 % CIs in brackets"
    )
    for i, v in enumerate(data["variants"], 1):
        console.print(f"  #{i}: {v['variant']}", markup=False)
    table = Table()
    table.add_column("#")
    for slug in COLUMNS:
        table.add_column(_LABELS[slug][0])
    for i, v in enumerate(data["variants"], 1):
        table.add_row(str(i), *(cell(v["metrics"][s], _LABELS[s][1]) for s in COLUMNS))
    console.print(table)
    timing = f" in {run['wall_s']} s" if "wall_s" in run else ""
    console.print(f"{run['sim_events']} simulation events{timing}")


def sweep_csv(data: dict[str, Any]) -> str:
    from sim.exports.tables import safe_csv_writer

    buf = io.StringIO()
    w = safe_csv_writer(buf)
    slugs = list(data["variants"][0]["metrics"]) if data["variants"] else []
    header = ["variant", "protocol_hash", "n"]
    for slug in slugs:
        header += [slug, f"{slug}_ci_low", f"{slug}_ci_high"]
    w.writerow(header)
    for v in data["variants"]:
        row: list[Any] = [v["variant"], v["protocol_hash"], v["n"]]
        for slug in slugs:
            m = v["metrics"][slug]
            row += [m["value"], m["ci_low"], m["ci_high"]]
        w.writerow(row)
    return buf.getvalue()
