"""``cartsim clinic``: a CAR-T unit with shared beds, ICU and manufacturing, per protocol.

Parses its options, calls :func:`sim.clinic.replication.run_clinic` once, and prints (or
writes JSON, CSV tables and a figure, each with its provenance sidecar).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sim.commands.common import (
    AsJson,
    CohortSeed,
    Quiet,
    Workers,
    check_outputs,
    console,
    guarded,
)

CSV_HELP = (
    "write one row per patient, arm and replication to FILE and one row per day to "
    "FILE's name with .days before the extension (.csv, .parquet or .jsonl)"
)


def days_path(path: Path) -> Path:
    """``out.csv`` -> ``out.days.csv``: the per-day table next to the per-patient one."""
    return path.with_name(f"{path.stem}.days{path.suffix}")


def _record(loaded: Any, protocols: list[Any], seed: int, days: int, reps: int) -> Any:
    from sim.exports.provenance import provenance

    return provenance(
        seed=seed,
        protocols=[(lp.protocol.id, lp.hash) for lp in protocols],
        extra={
            "clinic": {"id": loaded.clinic.id, "origin": loaded.origin, "hash": loaded.hash},
            "days": days,
            "replications": reps,
        },
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def clinic(
        clinic_file: Annotated[str, typer.Argument(help="clinic file or built-in clinic id")],
        protocols: Annotated[
            list[str], typer.Option("--protocol", help="a protocol the unit runs (repeat)")
        ],
        days: Annotated[int, typer.Option(min=1, max=3650, help="days simulated")] = 365,
        replications: Annotated[
            int, typer.Option(min=1, max=10_000, help="independent replications")
        ] = 10,
        seed: CohortSeed = 0,
        workers: Workers = 1,
        as_json: AsJson = False,
        csv: Annotated[Path | None, typer.Option("--csv", help=CSV_HELP)] = None,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="write the figure (.png or .svg)")
        ] = None,
        report: Annotated[
            Path | None, typer.Option("--report", help="write an HTML report (.html)")
        ] = None,
        quiet: Quiet = False,
        timing: Annotated[
            bool, typer.Option("--timing/--no-timing", help="include run.wall_s in --json")
        ] = True,
    ) -> None:
        """Run a CAR-T unit (referrals, apheresis, manufacturing, LD chairs, ward and ICU
        beds) under each protocol, on the same referrals and patients; CIs across
        replications."""
        from sim.clinic.load import load_clinic, rules_for
        from sim.clinic.replication import ClinicSetup, run_clinic
        from sim.report.progress import progress_bar
        from sim.spec.load import load_protocol

        def work() -> Any:
            check_outputs({"--csv": csv, "--plot": plot, "--report": report}, [clinic_file])
            loaded = load_clinic(clinic_file)
            chosen = [load_protocol(p) for p in protocols]
            for lp in chosen:
                rules_for(loaded, lp.protocol.id)
            if len({lp.protocol.id for lp in chosen}) != len(chosen):
                from sim.errors import InputError

                raise InputError.single("--protocol", "each protocol may be given once")
            if plot is not None:
                from sim.plots.files import figure_format

                figure_format(plot, "--plot")
            if report is not None and report.suffix.lower() not in (".html", ".htm"):
                from sim.errors import InputError

                raise InputError.single("--report", f"'{report}': the report is an .html file")
            record = _record(loaded, chosen, seed, days, replications)
            setup = ClinicSetup.of(loaded.clinic, chosen, seed, days)
            with (
                _tables(csv, record) as (on_rows, on_days),
                progress_bar(replications, "replications", enabled=not quiet) as advance,
            ):
                run = run_clinic(
                    setup,
                    replications,
                    origin=loaded.origin,
                    clinic_hash=loaded.hash,
                    workers=workers,
                    progress=advance,
                    on_rows=on_rows,
                    on_days=on_days,
                )
            if plot is not None:
                from sim.plots.clinic import clinic_figure
                from sim.plots.files import save_figure

                save_figure(clinic_figure(run), plot, record, "--plot")
            return run, record

        run, record = guarded(work)
        data = run.to_json(timing=timing)
        if report is not None:
            from sim.report.clinic_html import clinic_report
            from sim.report.html import write_report

            text = clinic_report(run, run.to_json(timing=False))
            guarded(lambda: write_report(report, text, record))
        if as_json:
            from sim.report.trace import dumps

            typer.echo(dumps(data))
        else:
            from sim.report.clinic_table import print_clinic

            print_clinic(data, console())


class _tables:
    """Context manager: the per-patient and per-day table writers of ``--csv`` (or None)."""

    def __init__(self, path: Path | None, record: dict[str, Any]) -> None:
        self.path = path
        self.record = record
        self.writers: list[Any] = []

    def __enter__(self) -> tuple[Any, Any]:
        if self.path is None:
            return None, None
        from sim.clinic.tables import DAY_COLUMNS, PATIENT_COLUMNS
        from sim.exports.tables import TableWriter

        patients = TableWriter(self.path, PATIENT_COLUMNS, self.record, option="--csv")
        days = TableWriter(days_path(self.path), DAY_COLUMNS, self.record, option="--csv")
        self.writers = [patients.__enter__(), days.__enter__()]
        names = [c.name for c in PATIENT_COLUMNS]

        def on_rows(replication: int, arm: int, rows: list[dict[str, Any]]) -> None:
            protocol = self.record["protocols"][arm]["id"]
            for row in rows:
                full = {"replication": replication, "protocol": protocol, **row}
                self.writers[0].write({k: full.get(k) for k in names})

        def on_days(replication: int, arm: int, rows: list[dict[str, Any]]) -> None:
            protocol = self.record["protocols"][arm]["id"]
            for row in rows:
                self.writers[1].write({"replication": replication, "protocol": protocol, **row})

        return on_rows, on_days

    def __exit__(self, *exc: Any) -> None:
        for writer in reversed(self.writers):
            writer.__exit__(*exc)
