"""Cohort commands: ``cohort``, ``compare``, ``sweep`` and ``calibrate``.

Each parses its options, calls :func:`sim.cohort.compare` (or
:func:`sim.calibration.calibrate`) once, and prints. Patients run in fixed chunks, locally
(``--workers``) or on a Dask cluster (``--scheduler``), with the same output either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from sim.commands.common import (
    AsJson,
    CohortPopulation,
    CohortSeed,
    Csv,
    Fix,
    Params,
    Patients,
    Quiet,
    Scheduler,
    Workers,
    check_outputs,
    cohort_population,
    cohort_setup,
    console,
    guarded,
    model_parameters,
)

PatientsOut = Annotated[
    Path | None,
    typer.Option(
        "--patients-out", help="write one row per patient and arm (.csv, .parquet or .jsonl)"
    ),
]
EventsOut = Annotated[
    Path | None,
    typer.Option(
        "--events",
        help="write every patient's event log, one tidy row per event (.csv, .parquet or .jsonl)",
    ),
]
Timing = Annotated[
    bool,
    typer.Option(
        "--timing/--no-timing",
        help="include run.wall_s in --json (leave it out for byte-comparable output)",
    ),
]


def _provenance(setup: Any, protocols: Sequence[Any], patients: int) -> dict[str, Any]:
    from sim.exports.provenance import cohort_provenance

    return cohort_provenance(setup, protocols, patients)


@contextlib.contextmanager
def _table_sink(
    path: Path | None, columns: Any, record: dict[str, Any], option: str
) -> Iterator[Any]:
    """A callable that writes chunks of rows to ``path``, or None when not asked for."""
    if path is None:
        yield None
        return
    from sim.exports.tables import TableWriter

    with TableWriter(path, columns, record, option=option) as writer:
        yield writer.write_all


def _run(
    loaded: Sequence[Any],
    setup: Any,
    patients: int,
    workers: int,
    scheduler: str | None,
    patients_out: Path | None,
    events_out: Path | None,
    quiet: bool,
) -> Any:
    from sim.cohort import compare
    from sim.report.progress import progress_bar

    record = _provenance(setup, loaded, patients)
    patient_columns: Any = ()
    event_columns: Any = ()
    if patients_out is not None:
        from sim.exports.patients import PATIENT_COLUMNS

        patient_columns = PATIENT_COLUMNS
    if events_out is not None:
        from sim.exports.events import event_columns as columns

        event_columns = columns()
    label = f"{len(loaded)} arm(s)"
    with (
        _table_sink(patients_out, patient_columns, record, "--patients-out") as write_rows,
        _table_sink(events_out, event_columns, record, "--events") as write_events,
        progress_bar(patients, label, enabled=not quiet) as advance,
    ):
        on_rows = None
        if write_rows is not None:
            from sim.exports.patients import patient_row

            def on_rows(rows: list[dict[str, Any]]) -> None:
                write_rows(patient_row(r) for r in rows)

        return compare(
            loaded,
            setup,
            patients,
            advance,
            workers=workers,
            scheduler=scheduler,
            on_rows=on_rows,
            on_events=write_events,
        )


def _emit(data: dict[str, Any], as_json: bool, csv: Path | None, record: dict[str, Any]) -> None:
    from sim.report.cohort_table import comparison_csv, print_comparison
    from sim.report.trace import dumps

    if csv is not None:
        from sim.exports.provenance import write_output

        write_output(csv, comparison_csv(data), record, file_format="csv", option="--csv")
    if as_json:
        typer.echo(dumps(data))
    else:
        print_comparison(data, console())


def _cohort_command(
    targets: list[str],
    patients: int,
    population: str | None,
    seed: int,
    fix: list[str] | None,
    params: Path | None,
    workers: int,
    scheduler: str | None,
    as_json: bool,
    csv: Path | None,
    patients_out: Path | None,
    events_out: Path | None,
    quiet: bool,
    timing: bool,
) -> None:
    from sim.spec.load import load_protocol

    def work() -> tuple[dict[str, Any], dict[str, Any]]:
        check_outputs(
            {"--csv": csv, "--patients-out": patients_out, "--events": events_out},
            [*targets, params],
        )
        loaded = [load_protocol(t) for t in targets]
        setup = cohort_setup(cohort_population(loaded, population), seed, fix, params)
        run = _run(loaded, setup, patients, workers, scheduler, patients_out, events_out, quiet)
        return run.to_json(timing=timing), _provenance(setup, loaded, patients)

    data, record = guarded(work)
    guarded(lambda: _emit(data, as_json, csv, record))


def register(app: typer.Typer) -> None:
    @app.command()
    def cohort(
        protocol: Annotated[str, typer.Argument(help="built-in protocol id or file")],
        patients: Patients = 1000,
        population: CohortPopulation = None,
        seed: CohortSeed = 0,
        fix: Fix = None,
        params: Params = None,
        workers: Workers = 1,
        scheduler: Scheduler = None,
        as_json: AsJson = False,
        csv: Csv = None,
        patients_out: PatientsOut = None,
        events: EventsOut = None,
        quiet: Quiet = False,
        timing: Timing = True,
    ) -> None:
        """Run a cohort of virtual patients through one protocol; endpoints with 95 % CIs."""
        _cohort_command(
            [protocol], patients, population, seed, fix, params, workers, scheduler,
            as_json, csv, patients_out, events, quiet, timing,
        )  # fmt: skip

    @app.command("compare")
    def compare_cmd(
        protocols: Annotated[list[str], typer.Argument(help="two or more protocols")],
        patients: Patients = 1000,
        population: CohortPopulation = None,
        seed: CohortSeed = 0,
        fix: Fix = None,
        params: Params = None,
        workers: Workers = 1,
        scheduler: Scheduler = None,
        as_json: AsJson = False,
        csv: Csv = None,
        patients_out: PatientsOut = None,
        events: EventsOut = None,
        quiet: Quiet = False,
        timing: Timing = True,
    ) -> None:
        """Compare protocols on the same virtual patients (common random numbers)."""
        _cohort_command(
            protocols, patients, population, seed, fix, params, workers, scheduler,
            as_json, csv, patients_out, events, quiet, timing,
        )  # fmt: skip

    @app.command()
    def sweep(
        protocol: Annotated[str, typer.Argument(help="built-in protocol id or file")],
        settings: Annotated[
            list[str],
            typer.Option(
                "--set",
                help="PATH=V1,V2,...: a field of the protocol file by its dotted path "
                "(list positions from 0) and the values to try; repeat for a grid",
            ),
        ],
        patients: Patients = 1000,
        population: CohortPopulation = None,
        seed: CohortSeed = 0,
        fix: Fix = None,
        params: Params = None,
        workers: Workers = 1,
        scheduler: Scheduler = None,
        as_json: AsJson = False,
        csv: Csv = None,
        quiet: Quiet = False,
        timing: Timing = True,
    ) -> None:
        """Run every variant of a protocol (a grid of --set values) on the same patients."""
        from sim.report.sweep_table import print_sweep, sweep_csv, sweep_json
        from sim.spec.variants import load_variant, sweep_grid, variant_label

        def work() -> tuple[dict[str, Any], dict[str, Any]]:
            check_outputs({"--csv": csv}, [protocol, params])
            grid = sweep_grid(settings)
            loaded = [load_variant(protocol, s) for s in grid]
            setup = cohort_setup(cohort_population(loaded[:1], population), seed, fix, params)
            run = _run(loaded, setup, patients, workers, scheduler, None, None, quiet)
            labels = [variant_label(s) for s in grid]
            return sweep_json(run.to_json(timing=timing), labels), _provenance(
                setup, loaded, patients
            )

        data, record = guarded(work)
        if csv is not None:
            from sim.exports.provenance import write_output

            guarded(
                lambda: write_output(
                    csv, sweep_csv(data), record, file_format="csv", option="--csv"
                )
            )
        if as_json:
            from sim.report.trace import dumps

            typer.echo(dumps(data))
        else:
            print_sweep(data, console())

    @app.command("calibrate")
    def calibrate_cmd(
        targets: Annotated[Path | None, typer.Option(help="a targets file")] = None,
        patients: Patients = 2000,
        seed: CohortSeed = 0,
        params: Params = None,
        workers: Workers = 1,
        scheduler: Scheduler = None,
        as_json: AsJson = False,
        quiet: Quiet = False,
    ) -> None:
        """Simulate every calibration target: published vs simulated, pass or fail."""
        from sim.calibration import calibrate, cohort_keys, load_targets
        from sim.report.cohort_table import print_calibration
        from sim.report.progress import progress_bar
        from sim.report.trace import dumps

        def work() -> list[dict[str, Any]]:
            file, path = load_targets(targets)
            cohorts = len(cohort_keys(file))
            with progress_bar(cohorts * patients, "calibration", enabled=not quiet) as advance:
                return calibrate(
                    file,
                    path.parent,
                    patients,
                    seed,
                    model_parameters(params),
                    advance,
                    workers,
                    scheduler,
                )

        rows = guarded(work)
        if as_json:
            typer.echo(
                dumps(
                    {
                        "seed": seed,
                        "patients": patients,
                        "targets": rows,
                        "passed": sum(r["passes"] for r in rows),
                    }
                )
            )
        else:
            print_calibration(rows, console())
        if not all(r["passes"] for r in rows):
            raise typer.Exit(1)
