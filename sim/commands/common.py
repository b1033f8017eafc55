"""Shared pieces of the ``cartsim`` commands: error handling, consoles, option types."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from sim.errors import ClusterError, InputError, RunawayError, quoted

T = TypeVar("T")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop as for Ctrl-C (workers stopped, temporary files removed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, frame: object) -> None:
    del frame
    for name in ("SIGTERM", "SIGHUP"):  # a second signal must not break the clean-up
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    raise Terminated(signum)


def stop_on_signals() -> None:
    """Treat SIGTERM (what ``timeout`` and schedulers send) and SIGHUP (a closed
    terminal) like Ctrl-C: the same clean-up, then exit 128 + the signal's number."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _on_signal)


def guarded(fn: Callable[[], T]) -> T:
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
    except ClusterError as exc:
        Console(stderr=True, soft_wrap=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as exc:
        # Outputs are written to temporary names and renamed only when complete, so an
        # interrupted command leaves no partial file behind.
        if isinstance(exc, Terminated):
            name = signal.Signals(exc.signum).name
            Console(stderr=True, soft_wrap=True).print(
                f"terminated ({name}): stopped; no partial output files were left", markup=False
            )
            raise typer.Exit(128 + exc.signum) from None
        Console(stderr=True, soft_wrap=True).print(
            "interrupted: stopped; no partial output files were left", markup=False
        )
        raise typer.Exit(130) from None


def console() -> Console:
    # emoji=False: a reason or name with ':word:' in it is printed as written
    return Console(
        highlight=False,
        soft_wrap=False,
        emoji=False,
        width=None if sys.stdout.isatty() else 140,
    )


Target = Annotated[str, typer.Argument(help="built-in protocol or scenario id, or a YAML file")]
SEED_MAX = 2**63 - 1
"""Seeds are integers from 0 to 2**63 - 1 (numpy's SeedSequence takes non-negative ones)."""
Seed = Annotated[
    int | None,
    typer.Option(
        min=0, max=SEED_MAX, help="random seed, 0 to 2**63-1 (default: the scenario's, or 0)"
    ),
]
Weight = Annotated[float | None, typer.Option("--weight", help="body weight, kg")]
Height = Annotated[float | None, typer.Option("--height", help="height, cm")]
Age = Annotated[float | None, typer.Option("--age", help="age, years")]
Blasts = Annotated[float | None, typer.Option("--blasts", help="marrow blasts before LD, %")]


def run_target_cli(
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
    return guarded(lambda: run_target(target, seed=seed, overrides=overrides))


Patients = Annotated[
    int, typer.Option("--patients", min=1, max=10_000_000, help="virtual patients per arm")
]
Population = Annotated[
    str, typer.Option(help="adult-rr-ball, paediatric-ya-ball, post-allo-relapse or cns-relapse")
]
Fix = Annotated[
    list[str] | None,
    typer.Option("--fix", help="fix a covariate for every patient, e.g. --fix marrow_blasts_pct=2"),
]
Params = Annotated[Path | None, typer.Option("--params", help="a model parameter file")]
CohortSeed = Annotated[int, typer.Option(min=0, max=SEED_MAX, help="root seed, 0 to 2**63-1")]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Csv = Annotated[Path | None, typer.Option("--csv", help="write the metrics as CSV")]


def fixed_covariates(items: list[str] | None) -> tuple[tuple[str, Any], ...]:
    """``--fix NAME=VALUE`` options; a VALUE is a plain scalar (number, true/false, word)."""
    from sim.spec.variables import BASELINE
    from sim.spec.yamlio import plain_scalar

    out = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or key not in BASELINE:
            raise InputError.single(
                "--fix",
                f"{quoted(item)}: expected NAME=VALUE with NAME one of " + ", ".join(BASELINE),
            )
        out.append((key, plain_scalar(raw, "--fix", item)))
    return tuple(out)


def check_outputs(outputs: dict[str, Path | None], inputs: list[Any]) -> None:
    """Every output path of a command, checked before it simulates anything
    (:func:`sim.exports.destinations.check_outputs`)."""
    from sim.exports.destinations import check_outputs as check

    check(outputs, [str(p) for p in inputs if p is not None])


Workers = Annotated[
    int,
    typer.Option(
        "--workers", min=1, max=256, help="local worker processes (output does not depend on it)"
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="run on a Dask distributed cluster at this address (e.g. tcp://host:8786)",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")]


def cohort_setup(population: str, seed: int, fix: list[str] | None, params: Path | None) -> Any:
    """The :class:`sim.cohort.CohortSetup` of a cohort command, checked before any run."""
    from sim.cohort import CohortSetup
    from sim.targets import fixed_patient_check

    setup = CohortSetup(
        population=population,
        seed=seed,
        fixed=fixed_covariates(fix),
        params=model_parameters(params),
    )
    fixed_patient_check(setup)
    return setup


def model_parameters(path: Path | None) -> Any:
    """``--params FILE``: checked like a protocol file (a regular file, at most
    :data:`sim.spec.load.MAX_FILE_BYTES`) before the model's loader reads it."""
    from sim.model.parameters import load_parameters
    from sim.spec.load import read_input

    if path is not None:
        read_input(path, str(path))
    return load_parameters(path)
