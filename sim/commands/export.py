"""Export commands: realised doses for pharmacometric tools, event and patient tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sim.commands.common import (
    Force,
    OnePopulation,
    PatientIndex,
    Quiet,
    Seed,
    Target,
    guarded,
)

Format = Annotated[
    str,
    typer.Option(
        "--format",
        help="nonmem (dose records for mrgsolve/rxode2/NONMEM, .csv), events or patients "
        "(.csv, .jsonl or .parquet)",
    ),
]
Output = Annotated[Path, typer.Option("--output", "-o", help="the file to write")]
ExportPatients = Annotated[
    int | None,
    typer.Option(
        "--patients",
        min=1,
        max=10_000_000,
        help="a protocol's first N virtual patients, as in 'cartsim cohort' (ID = index + 1)",
    ),
]


def export(
    target: Target,
    file_format: Format,
    output: Output,
    seed: Seed = None,
    patients: ExportPatients = None,
    population: OnePopulation = None,
    force: Force = False,
    patient: PatientIndex = None,
    quiet: Quiet = False,
) -> None:
    """Write the realised doses as a NONMEM-style dataset, or the event or patient table.

    Every file gets a FILE.provenance.json sidecar (version, command, seed, protocol hash).
    Columns: docs/exports.md.
    """
    from sim.exports.runs import export_target
    from sim.report.progress import progress_bar

    def work() -> Any:
        several = patients is not None and not quiet  # one run needs no bar
        with progress_bar(patients or 1, "export", enabled=several) as advance:
            return export_target(
                target,
                file_format,
                output,
                seed=seed,
                patients=patients,
                population=population,
                patient=patient,
                force=force,
                progress=advance,
            )

    summary = guarded(work)
    typer.echo(summary.describe())


def register(app: typer.Typer) -> None:
    """Add ``cartsim export`` to ``app``."""
    app.command("export")(export)
