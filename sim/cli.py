"""The ``cartsim`` command line: thin commands that parse, call one function, print.

Bad input is reported as ``file:line: field: message`` lines on stderr with exit code
2; tracebacks are kept for bugs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from sim import __version__
from sim.errors import InputError, RunawayError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="cartsim: simulate CAR-T dosing protocols with toxicity gating (research and "
    "teaching only; not clinical advice).",
)
T = TypeVar("T")


def _guarded(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except InputError as exc:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        for problem in exc.problems:
            err.print(f"error: {problem}", markup=False)
        raise typer.Exit(2) from None
    except RunawayError as exc:
        Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(3) from None


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 140)


Target = Annotated[str, typer.Argument(help="built-in protocol or scenario id, or a YAML file")]
Seed = Annotated[int | None, typer.Option(help="random seed (default: the scenario's, or 0)")]
Weight = Annotated[float | None, typer.Option("--weight", help="body weight, kg")]
Height = Annotated[float | None, typer.Option("--height", help="height, cm")]
Age = Annotated[float | None, typer.Option("--age", help="age, years")]
Blasts = Annotated[float | None, typer.Option("--blasts", help="marrow blasts before LD, %")]


def _run(
    target: str,
    seed: int | None,
    weight: float | None,
    height: float | None,
    age: float | None,
    blasts: float | None,
) -> Any:
    from sim.targets import run_target

    overrides = {
        "weight_kg": weight,
        "height_cm": height,
        "age_y": age,
        "marrow_blasts_pct": blasts,
    }
    return _guarded(lambda: run_target(target, seed=seed, overrides=overrides))


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
    """Run one patient through a protocol and print the realised schedule."""
    from sim.report.schedule import print_schedule
    from sim.report.trace import dumps, run_json, write_events

    result = _run(target, seed, weight, height, age, blasts)
    if events is not None:
        write_events(result, events)
    if as_json:
        typer.echo(dumps(run_json(result)))
    else:
        print_schedule(result, _console())


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

    result = _run(target, seed, weight, height, age, blasts)
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
    from sim.spec.load import builtin_ids, load_target

    for kind, title in (("protocol", "Protocols"), ("scenario", "Scenarios")):
        typer.echo(f"{title}:")
        for ident in builtin_ids(kind):  # type: ignore[arg-type]
            loaded = _guarded(lambda ident=ident: load_target(ident))  # type: ignore[misc]
            spec = getattr(loaded, "protocol" if kind == "protocol" else "scenario")
            summary = spec.summary
            typer.echo(f"  {ident:<28} {summary}")


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
