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
    Height,
    Seed,
    Target,
    Weight,
    check_outputs,
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
        Path | None,
        typer.Option(
            help="also write the event log (.jsonl, .csv or .parquet) and its "
            ".provenance.json sidecar"
        ),
    ] = None,
) -> None:
    """Run one patient through a protocol and print the realised schedule.

    A protocol runs virtual patient 0 of the adult R/R B-ALL population for the seed;
    --weight etc. fix those covariates. A scenario plays its scripted toxicity instead.
    """
    from sim.report.schedule import print_schedule
    from sim.report.trace import dumps, run_json, write_events

    guarded(lambda: check_outputs({"--events": events}, [target]))
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
COMMAND_MODULES: tuple[str, ...] = ("cohorts", "teach", "export")


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"sim.commands.{name}").register(app)


_register_commands()


def entry() -> None:
    """The ``cartsim`` program: SIGTERM and SIGHUP stop it like Ctrl-C, then the app."""
    stop_on_signals()
    app(prog_name="cartsim")
