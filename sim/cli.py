"""The ``cartsim`` command line: thin commands that parse, call one function, print.

Bad input is reported as ``file:line: field: message`` lines on stderr with exit code
2; tracebacks are kept for bugs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sim import __version__
from sim.commands.common import (
    Age,
    AsJson,
    Blasts,
    CohortSeed,
    Csv,
    Fix,
    Height,
    Params,
    Patients,
    Population,
    Seed,
    Target,
    Weight,
    console,
    fixed_covariates,
    guarded,
    run_target_cli,
)
from sim.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="cartsim: simulate CAR-T dosing protocols with toxicity gating (research and "
    "teaching only; not clinical advice).",
)


@app.command()
def run(
    target: Target,
    seed: Seed = None,
    weight: Weight = None,
    height: Height = None,
    age: Age = None,
    blasts: Blasts = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    events: Annotated[
        Path | None, typer.Option(help="also write the event log (.jsonl or .csv)")
    ] = None,
) -> None:
    """Run one patient through a protocol and print the realised schedule.

    A protocol runs virtual patient 0 of the adult R/R B-ALL population for the seed;
    --weight etc. fix those covariates. A scenario plays its scripted toxicity instead.
    """
    from sim.report.schedule import print_schedule
    from sim.report.trace import dumps, run_json, write_events

    result = run_target_cli(target, seed, weight, height, age, blasts)
    if events is not None:
        guarded(lambda: write_events(result, events))
    if as_json:
        typer.echo(dumps(run_json(result)))
    else:
        print_schedule(result, console())


@app.command()
def explain(
    target: Target,
    seed: Seed = None,
    weight: Weight = None,
    height: Height = None,
    age: Age = None,
    blasts: Blasts = None,
) -> None:
    """Walk through a run in plain language: what was given, what was held, and why."""
    from sim.report.explain import explain_lines

    result = run_target_cli(target, seed, weight, height, age, blasts)
    for line in explain_lines(result):
        typer.echo(line)


@app.command()
def check(files: Annotated[list[str], typer.Argument(help="protocol or scenario files")]) -> None:
    """Validate protocol and scenario files; one line per problem."""
    from sim.spec.load import check_file

    failed = False
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for name in files:
        try:
            check_file(name)
        except InputError as exc:
            failed = True
            for problem in exc.problems:
                err.print(f"error: {problem}", markup=False)
        else:
            typer.echo(f"ok: {name}")
    if failed:
        raise typer.Exit(2)


@app.command("list")
def list_builtins() -> None:
    """List the built-in protocols and scenarios."""
    from sim.spec.load import Kind, LoadedProtocol, builtin_ids, load_target

    broken = False
    kinds: tuple[tuple[Kind, str], ...] = (("protocol", "Protocols"), ("scenario", "Scenarios"))
    for kind, title in kinds:
        typer.echo(f"{title}:")
        for ident in builtin_ids(kind):
            try:
                loaded = load_target(ident)
            except InputError as exc:
                broken = True
                typer.echo(f"  {ident:<28} BROKEN: {exc.problems[0]}")
                continue
            spec = loaded.protocol if isinstance(loaded, LoadedProtocol) else loaded.scenario
            typer.echo(f"  {ident:<28} {spec.summary}")
    if broken:
        raise typer.Exit(2)


@app.command()
def schema(
    kind: Annotated[str, typer.Option(help="protocol, scenario or both")] = "both",
) -> None:
    """Print the JSON Schema of protocol and/or scenario files (for editor completion)."""
    from sim.spec.protocol import Protocol
    from sim.spec.scenario import Scenario

    schemas = {"protocol": Protocol.model_json_schema(), "scenario": Scenario.model_json_schema()}
    if kind not in ("protocol", "scenario", "both"):
        Console(stderr=True).print("error: --kind is protocol, scenario or both")
        raise typer.Exit(2)
    out = schemas if kind == "both" else schemas[kind]
    typer.echo(json.dumps(out, indent=2))


def _comparison(
    targets: list[str],
    patients: int,
    population: str,
    seed: int,
    fix: list[str] | None,
    params: Path | None,
) -> dict[str, Any]:
    from sim.cohort import CohortSetup, compare
    from sim.model.parameters import load_parameters
    from sim.spec.load import load_protocol
    from sim.targets import fixed_patient_check

    def work() -> dict[str, Any]:
        setup = CohortSetup(
            population=population,
            seed=seed,
            fixed=fixed_covariates(fix),
            params=load_parameters(params),
        )
        fixed_patient_check(setup)
        loaded = [load_protocol(t) for t in targets]
        return compare(loaded, setup, patients).to_json()

    return guarded(work)


def _emit_comparison(data: dict[str, Any], as_json: bool, csv: Path | None) -> None:
    from sim.report.cohort_table import comparison_csv, print_comparison
    from sim.report.trace import dumps

    if csv is not None:
        csv.write_text(comparison_csv(data), encoding="utf-8")
    if as_json:
        typer.echo(dumps(data))
    else:
        print_comparison(data, console())


@app.command()
def cohort(
    protocol: Annotated[str, typer.Argument(help="built-in protocol id or file")],
    patients: Patients = 1000,
    population: Population = "adult-rr-ball",
    seed: CohortSeed = 0,
    fix: Fix = None,
    params: Params = None,
    as_json: AsJson = False,
    csv: Csv = None,
) -> None:
    """Run a cohort of virtual patients through one protocol; endpoints with 95 % CIs."""
    _emit_comparison(_comparison([protocol], patients, population, seed, fix, params), as_json, csv)


@app.command("compare")
def compare_cmd(
    protocols: Annotated[list[str], typer.Argument(help="two or more protocols")],
    patients: Patients = 1000,
    population: Population = "adult-rr-ball",
    seed: CohortSeed = 0,
    fix: Fix = None,
    params: Params = None,
    as_json: AsJson = False,
    csv: Csv = None,
) -> None:
    """Compare protocols on the same virtual patients (common random numbers)."""
    _emit_comparison(_comparison(protocols, patients, population, seed, fix, params), as_json, csv)


@app.command("calibrate")
def calibrate_cmd(
    targets: Annotated[Path | None, typer.Option(help="a targets file")] = None,
    patients: Patients = 2000,
    seed: CohortSeed = 0,
    params: Params = None,
    as_json: AsJson = False,
) -> None:
    """Simulate every calibration target: published vs simulated, pass or fail."""
    from sim.calibration import calibrate, load_targets
    from sim.model.parameters import load_parameters
    from sim.report.cohort_table import print_calibration
    from sim.report.trace import dumps

    def work() -> list[dict[str, Any]]:
        file, path = load_targets(targets)
        return calibrate(file, path.parent, patients, seed, load_parameters(params))

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cartsim {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    """cartsim: simulate CAR-T dosing protocols with toxicity gating."""


# Sub-commands that live in :mod:`sim.commands` (each module has ``register(app)``).
COMMAND_MODULES: tuple[str, ...] = ("teach", "export")


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"sim.commands.{name}").register(app)


_register_commands()
