"""Print a clinic run: one row per metric, one column per arm, then paired differences."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

SHOWN = (
    "treated_per_month",
    "vein_to_vein_days",
    "died_waiting",
    "dropped_out",
    "waiting",
    "bed_occupancy_mean",
    "bed_occupancy_peak",
    "icu_occupancy_mean",
    "icu_occupancy_peak",
    "bed_days_per_patient",
    "icu_days_per_patient",
    "icu_transfers_out",
    "fractions_held",
    "manufacturing_wait_days",
    "ld_chair_wait_days",
    "bed_wait_days",
)


def _cell(m: dict[str, Any]) -> str:
    if m["value"] is None:
        return "-"
    if m["ci_low"] is None:
        return f"{m['value']:.2f}"
    return f"{m['value']:.2f} [{m['ci_low']:.2f}, {m['ci_high']:.2f}]"


def print_clinic(data: dict[str, Any], console: Console) -> None:
    run = data["run"]
    clinic = data["clinic"]
    console.print(
        f"[bold]{clinic['origin']}[/bold]: {run['days']} days x {run['replications']} "
        f"replications, seed {data['seed']} (same referrals and patients in every arm); "
        "mean per replication, 95 % CI in brackets"
    )
    table = Table()
    table.add_column("metric")
    for arm in data["arms"]:
        table.add_column(f"{arm['protocol']}\n{arm['manufacturing']}, {arm['monitoring']}")
    for slug in SHOWN:
        label = data["metrics"][slug]
        table.add_row(label, *(_cell(arm["metrics"][slug]) for arm in data["arms"]))
    console.print(table)
    for diff in data["differences"]:
        console.print(f"[bold]{diff['arm']} minus {diff['versus']}[/bold] (paired replications):")
        for slug in SHOWN:
            console.print(f"  {slug}: {_cell(diff['metrics'][slug])}")
    if "wall_s" in run:
        console.print(f"{run['wall_s']} s")
