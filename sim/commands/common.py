"""Shared pieces of the ``cartsim`` commands: error handling, consoles, option types."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
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


MAX_PATIENTS = 10_000_000
DEFAULT_POPULATION = "adult-rr-ball"  # sim.cohort.DEFAULT_POPULATION (not imported: start-up)
PatientIndex = Annotated[
    int | None,
    typer.Option(
        "--patient",
        min=0,
        max=MAX_PATIENTS - 1,
        help="virtual patient N (0-based, the row of --patients-out) of the cohort with this "
        "--seed and --population, run exactly as the cohort commands run it (to day 760)",
    ),
]
OnePopulation = Annotated[
    str | None,
    typer.Option(
        "--population",
        help="draw the patient from this population (default: the protocol's own; "
        "adult-rr-ball, paediatric-ya-ball, post-allo-relapse or cns-relapse)",
    ),
]
Force = Annotated[
    bool,
    typer.Option("--force", help="run a patient outside the protocol's eligibility limits"),
]


def cohort_population(protocols: list[Any], population: str | None) -> str:
    """The population of a cohort of ``protocols`` (LoadedProtocol): ``population`` when
    given, else the one the protocols declare (they must agree: every arm of a comparison
    runs the same virtual patients)."""
    from sim.spec.eligibility import protocol_population

    if population is not None:
        return population
    declared = {p.protocol.id: protocol_population(p.protocol) for p in protocols}
    if len(set(declared.values())) > 1:
        raise InputError.single(
            "--population",
            "the protocols declare different populations ("
            + ", ".join(f"{k}: {v}" for k, v in declared.items())
            + "); choose one with --population",
        )
    return next(iter(declared.values()))


Patients = Annotated[
    int, typer.Option("--patients", min=1, max=MAX_PATIENTS, help="virtual patients per arm")
]
CohortPopulation = Annotated[
    str | None,
    typer.Option(
        "--population",
        help="adult-rr-ball, paediatric-ya-ball, post-allo-relapse or cns-relapse (default: "
        "the population the protocols declare; they must agree)",
    ),
]
Fix = Annotated[
    list[str] | None,
    typer.Option("--fix", help="fix a covariate for every patient, e.g. --fix marrow_blasts_pct=2"),
]
Params = Annotated[Path | None, typer.Option("--params", help="a model parameter file")]
CohortSeed = Annotated[int, typer.Option(min=0, max=SEED_MAX, help="root seed, 0 to 2**63-1")]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Csv = Annotated[Path | None, typer.Option("--csv", help="write the metrics as CSV")]


@dataclass(frozen=True)
class CohortPatient:
    """--patient N with the options that say which cohort it belongs to."""

    index: int
    population: str | None  # None: the protocol's own
    fix: list[str] | None = None
    params: Path | None = None


def run_target_cli(
    target: str,
    seed: int | None,
    weight: float | None,
    height: float | None,
    age: float | None,
    blasts: float | None,
    population: str | None = None,
    force: bool = False,
    cohort: CohortPatient | None = None,
) -> Any:
    """The one run of ``run``, ``explain``, ``plot`` and ``report``: the target as a
    scenario or as virtual patient 0 of ``population`` (default: the protocol's own;
    covariates changed by --weight etc.; refused outside the protocol's eligibility unless
    ``force``), or, with ``cohort`` (--patient N), virtual patient N of that cohort."""
    from sim.targets import run_cohort_patient, run_target

    overrides = {
        "weight_kg": weight,
        "height_cm": height,
        "age_y": age,
        "marrow_blasts_pct": blasts,
    }
    options = {"--weight": weight, "--height": height, "--age": age, "--blasts": blasts}
    if cohort is None:
        return guarded(
            lambda: run_target(
                target, seed=seed, overrides=overrides, population=population, force=force
            )
        )

    def patient_n() -> Any:
        from sim.spec.eligibility import protocol_population
        from sim.spec.load import LoadedProtocol, load_target

        given = [option for option, value in options.items() if value is not None]
        if given:
            raise InputError.single(
                given[0],
                "sets a covariate of patient 0's run; --patient N is drawn as in the cohort "
                "(fix a covariate with --fix NAME=VALUE)",
            )
        pop = cohort.population
        if pop is None:
            loaded = load_target(target)
            if isinstance(loaded, LoadedProtocol):
                pop = protocol_population(loaded.protocol)
        setup = cohort_setup(pop or DEFAULT_POPULATION, seed or 0, cohort.fix, cohort.params)
        return run_cohort_patient(target, setup, cohort.index)

    return guarded(patient_n)


def cohort_patient(
    index: int | None,
    population: str | None,
    fix: list[str] | None = None,
    params: Path | None = None,
) -> CohortPatient | None:
    """``--patient`` and its cohort options; without --patient, --fix and --params are
    refused (one run is virtual patient 0 of its population, or a scenario's patient)."""
    if index is not None:
        return CohortPatient(index, population, fix, params)

    def refuse_cohort_options() -> None:
        if fix or params is not None:
            raise InputError.single(
                "--fix/--params",
                "choose the cohort of --patient N (add it); a single run takes --weight, "
                "--height, --age, --blasts",
            )

    guarded(refuse_cohort_options)
    return None


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
