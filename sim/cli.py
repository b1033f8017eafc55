"""The ``cartsim`` command line: thin commands that parse, call one function, print.

Bad input is reported as ``file:line: field: message`` lines on stderr with exit code
2; tracebacks are kept for bugs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sim import __version__
from sim.commands.common import (
    Age,
    Blasts,
    Fix,
    Force,
    Height,
    OnePopulation,
    Params,
    PatientIndex,
    Seed,
    Target,
    Weight,
    check_outputs,
    cohort_patient,
    console,
    guarded,
    run_target_cli,
    stop_on_signals,
)
from sim.errors import InputError

# The command line uses no pydantic plugins: looking them up scans every installed
# package's entry points (20-35 ms of each start-up here). typer does the same for its own
# adapters. Set the variable to '' to have plugins looked up.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    # Plain click help: typer's rich panels show every flag as taking a value ("--json
    # <bool>", even "--help <bool>"); click's own layout shows flags bare.
    rich_markup_mode=None,
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
    patient: PatientIndex = None,
    population: OnePopulation = None,
    force: Force = False,
    fix: Fix = None,
    params: Params = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    events: Annotated[
        Path | None,
        typer.Option(
            help="also write the event log (.jsonl, .csv or .parquet) and its "
            ".provenance.json sidecar"
        ),
    ] = None,
) -> None:
    """Run one patient through a protocol and print the realised schedule.

    A protocol runs virtual patient 0 of its own population (--population picks another)
    for the seed; --weight etc. fix those covariates. A patient outside the protocol's
    eligibility limits is refused unless --force. A scenario plays its scripted toxicity
    instead. --patient N runs
    virtual patient N of the cohort (--seed, --population, --fix, --params) exactly as the
    cohort commands do, to day 760.
    """
    from sim.report.schedule import print_schedule
    from sim.report.trace import dumps, run_json, write_events

    guarded(lambda: check_outputs({"--events": events}, [target]))
    cohort = cohort_patient(patient, population, fix, params)
    result = run_target_cli(target, seed, weight, height, age, blasts, population, force, cohort)
    if events is not None:
        index = None if cohort is None else cohort.index
        guarded(lambda: write_events(result, events, index))
    if as_json:
        data = run_json(result)
        if cohort is not None:
            data["cohort"] = {"patient": cohort.index, "population": cohort.population}
        typer.echo(dumps(data))
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
    patient: PatientIndex = None,
    population: OnePopulation = None,
    force: Force = False,
    fix: Fix = None,
    params: Params = None,
) -> None:
    """Walk through a run in plain language: what was given, what was held, and why.

    The run is the one 'cartsim run' makes with the same options (--patient N: virtual
    patient N of the cohort)."""
    from sim.report.explain import explain_lines

    cohort = cohort_patient(patient, population, fix, params)
    result = run_target_cli(target, seed, weight, height, age, blasts, population, force, cohort)
    for line in explain_lines(result):
        typer.echo(line)


@app.command()
def check(
    files: Annotated[list[str], typer.Argument(help="protocol, scenario or clinic files")],
) -> None:
    """Validate protocol, scenario and clinic files; one line per problem."""
    from sim.clinic.load import check_any

    failed = False
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for name in files:
        try:
            check_any(name)
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


SCHEMA_KINDS = ("protocol", "scenario", "clinic", "variables")


@app.command()
def schema(
    kind: Annotated[
        str,
        typer.Option(
            help="protocol, scenario or clinic: the JSON Schema of that file; variables: the "
            "patient variables that conditions may name"
        ),
    ] = "protocol",
    as_json: Annotated[bool, typer.Option("--json", help="variables as one JSON object")] = False,
) -> None:
    """Print the JSON Schema of protocol, scenario or clinic files, or list the gate variables.

    The schema is one JSON Schema document, for editor completion (e.g. yaml-language-
    server: '# yaml-language-server: $schema=protocol.schema.json'). --kind variables
    lists every name a gate condition, a dose selection or a scenario script may use, with
    its range and meaning.
    """
    if kind not in SCHEMA_KINDS:
        Console(stderr=True).print(
            f"error: --kind: '{kind}': use one of {', '.join(SCHEMA_KINDS)}", markup=False
        )
        raise typer.Exit(2)
    if kind == "variables":
        from sim.spec.variables import VARIABLES, variable_lines, variable_record

        if as_json:
            records = {name: variable_record(v) for name, v in VARIABLES.items()}
            typer.echo(json.dumps({"variables": records}, indent=2))
        else:
            for line in variable_lines():
                typer.echo(line)
        return
    from pydantic import BaseModel

    from sim.clinic.spec import Clinic
    from sim.spec.protocol import Protocol
    from sim.spec.scenario import Scenario

    models: dict[str, type[BaseModel]] = {
        "protocol": Protocol,
        "scenario": Scenario,
        "clinic": Clinic,
    }
    model = models[kind]
    typer.echo(json.dumps(model.model_json_schema(), indent=2))


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
COMMAND_MODULES: tuple[str, ...] = ("cohorts", "teach", "export", "clinic")


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"sim.commands.{name}").register(app)


_register_commands()


def entry() -> None:
    """The ``cartsim`` program: SIGTERM and SIGHUP stop it like Ctrl-C, then the app."""
    stop_on_signals()
    app(prog_name="cartsim")
