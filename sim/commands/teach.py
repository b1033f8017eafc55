"""Teaching and review commands: decision paths, plots and the HTML report (issue 4).

Thin commands: parse, call one library function, print or write. Heavy libraries
(matplotlib, numpy) are imported inside the commands only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sim.commands.common import (
    SEED_MAX,
    Age,
    AsJson,
    Blasts,
    CohortPopulation,
    CohortSeed,
    Fix,
    Force,
    Height,
    OnePopulation,
    Params,
    PatientIndex,
    Quiet,
    Scheduler,
    Weight,
    Workers,
    check_outputs,
    cohort_patient,
    cohort_population,
    cohort_setup,
    console,
    guarded,
    run_target_cli,
)
from sim.errors import InputError

if TYPE_CHECKING:
    from sim.spec.load import LoadedProtocol

DEFAULT_PATIENTS = 200

Targets = Annotated[
    list[str],
    typer.Argument(help="built-in protocol or scenario ids, or YAML files"),
]
Output = Annotated[Path, typer.Option("-o", "--output", help="the file to write")]
OptionalPatients = Annotated[
    int | None,
    typer.Option(
        "--patients",
        min=1,
        max=10_000_000,
        help=f"virtual patients per arm: a cohort (default {DEFAULT_PATIENTS} when several "
        "protocols are given; without it, one protocol or scenario is one patient)",
    ),
]
AnySeed = Annotated[
    int | None,
    typer.Option(
        min=0,
        max=SEED_MAX,
        help="seed, 0 to 2**63-1 (default: the scenario's, or 0; the root seed of a cohort)",
    ),
]
UntilDay = Annotated[
    float | None, typer.Option("--until-day", help="timeline: show the run up to this day")
]
FIGURES = ("all", "swimmer", "survival", "doses")
Figure = Annotated[
    str,
    typer.Option(
        "--figure", help="cohort plots: all (one tall figure), swimmer, survival or doses"
    ),
]


def _protocols(targets: list[str]) -> list[LoadedProtocol]:
    from sim.spec.load import LoadedScenario, load_target

    loaded = [load_target(t) for t in targets]
    for target, item in zip(targets, loaded, strict=True):
        if isinstance(item, LoadedScenario):
            raise InputError.single(
                target,
                "is a scenario (one scripted patient); a cohort needs protocols",
            )
    return [item for item in loaded if not isinstance(item, LoadedScenario)]


def _cohort_size(targets: list[str], patients: int | None, patient: int | None) -> int | None:
    """Patients per arm for a cohort, or None for one patient's run."""
    if patient is not None and (patients is not None or len(targets) > 1):
        raise InputError.single(
            "--patient",
            "is one virtual patient of one protocol; --patients N or several targets make a cohort",
        )
    if patients is not None:
        return patients
    if len(targets) > 1:
        return DEFAULT_PATIENTS
    return None


def _one_patient_only(**given: Any) -> None:
    named = [name for name, value in given.items() if value is not None]
    if named:
        raise InputError.single(
            f"--{named[0]}",
            "sets one patient's covariate; for a cohort use --fix NAME=VALUE",
        )


def _no_fix_for_one(fix: list[str] | None, params: Path | None) -> None:
    if fix or params is not None:
        raise InputError.single(
            "--fix/--params",
            "apply to cohorts (add --patients N); one patient's run takes --weight, --height, "
            "--age, --blasts, --population",
        )


def paths(
    protocol: Annotated[str, typer.Argument(help="built-in protocol id or file")],
    patients: Annotated[
        int, typer.Option("--patients", min=1, max=10_000_000, help="virtual patients")
    ] = 1000,
    population: CohortPopulation = None,
    seed: CohortSeed = 0,
    fix: Fix = None,
    params: Params = None,
    workers: Workers = 1,
    scheduler: Scheduler = None,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Decision paths: what happened to each fraction, as a tree with shares and 95 % CIs.

    Each planned fraction is given on time, given after a delay, given at a reduced dose,
    skipped, or the protocol stops (or the patient dies) there. The share is of all
    patients, with its Wilson interval; "of parent" is the share of the branch above.
    """
    from sim.paths import (
        cohort_paths,
        crs_before_json,
        crs_before_lines,
        path_tree,
        tree_json,
        tree_lines,
    )
    from sim.report.progress import progress_bar
    from sim.report.trace import dumps

    def work() -> tuple[Any, Any, tuple[str, Any]]:
        (loaded,) = _protocols([protocol])
        pop = cohort_population([loaded], population)
        setup = cohort_setup(pop, seed, fix, params)
        with progress_bar(patients, "paths", enabled=not quiet) as advance:
            counts, crs_before = cohort_paths(
                loaded, setup, patients, workers=workers, scheduler=scheduler, progress=advance
            )
        fractions = [f.id for f in loaded.protocol.fractions]
        return loaded, path_tree(counts, patients, fractions), (pop, crs_before)

    loaded, tree, (population, crs_before) = guarded(work)
    if as_json:
        typer.echo(
            dumps(
                tree_json(
                    tree,
                    protocol=loaded.protocol.id,
                    seed=seed,
                    population=population,
                    protocol_hash=loaded.hash,
                    crs_before_fraction=crs_before_json(tree.fractions, crs_before),
                )
            )
        )
        return
    out = console()
    out.print(
        f"{loaded.protocol.id}: decision paths of {patients} virtual patients "
        f"(population {population}, seed {seed})",
        markup=False,
    )
    out.print(
        "share = of all patients, with its 95 % Wilson CI; of parent = of the branch above",
        markup=False,
    )
    for line in tree_lines(tree):
        out.print(line, markup=False, highlight=False)
    out.print(
        "CRS begun before each fraction's first gate check (what the gate could see):",
        markup=False,
    )
    for line in crs_before_lines(tree.fractions, crs_before):
        out.print(line, markup=False, highlight=False)


def plot(
    targets: Targets,
    output: Output,
    patients: OptionalPatients = None,
    seed: AnySeed = None,
    population: OnePopulation = None,
    fix: Fix = None,
    params: Params = None,
    figure: Figure = "all",
    until_day: UntilDay = None,
    weight: Weight = None,
    height: Height = None,
    age: Age = None,
    blasts: Blasts = None,
    patient: PatientIndex = None,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Plot one patient's timeline, or a cohort's swimmer, survival and dose plots.

    One target without --patients: the timeline of the scenario, or of virtual patient 0
    of the protocol (--patient N: patient N of the cohort, as in the swimmer plot).
    --patients N, or several protocols: cohort plots (--figure picks one). The file is
    PNG or SVG, by the extension of -o.
    """
    from sim.plots.files import figure_format, save_figure

    def destination() -> None:
        figure_format(output)
        check_outputs({"-o": output}, [*targets, params])

    guarded(destination)
    n = guarded(lambda: _cohort_size(targets, patients, patient))
    if n is None:

        def one() -> Any:
            from sim.exports.events import run_provenance
            from sim.plots.timeline import timeline_figure

            if patient is None:
                _no_fix_for_one(fix, params)
            cohort = cohort_patient(patient, population, fix, params)
            if figure != "all":
                raise InputError.single("--figure", "applies to cohort plots (add --patients N)")
            result = run_target_cli(
                targets[0], seed, weight, height, age, blasts, population, force, cohort
            )
            return timeline_figure(result, until_day=until_day), run_provenance(result)

        fig, record = guarded(one)
    else:

        def cohort() -> Any:
            from sim.exports.provenance import cohort_provenance
            from sim.plots.cohort import run_arms
            from sim.report.progress import progress_bar

            _one_patient_only(weight=weight, height=height, age=age, blasts=blasts)
            if figure not in FIGURES:
                raise InputError.single("--figure", f"'{figure}': use one of {', '.join(FIGURES)}")
            loaded = _protocols(targets)
            setup = cohort_setup(cohort_population(loaded, population), seed or 0, fix, params)
            with progress_bar(len(loaded) * n, "plot", enabled=not quiet) as advance:
                arms = run_arms(loaded, setup, n, progress=advance)
            return _cohort_plot(figure, arms), cohort_provenance(
                setup, loaded, n, {"figure": figure}
            )

        fig, record = guarded(cohort)
    guarded(lambda: save_figure(fig, output, record))
    typer.echo(f"wrote {output}")


def _cohort_plot(figure: str, arms: Any) -> Any:
    if figure == "swimmer":
        from sim.plots.swimmer import swimmer_figure

        return swimmer_figure(arms)
    if figure == "survival":
        from sim.plots.survival import survival_figure

        return survival_figure(arms)
    if figure == "doses":
        from sim.plots.distributions import distributions_figure

        return distributions_figure(arms)
    from sim.plots.cohort_figure import cohort_figure

    return cohort_figure(arms)


def report(
    targets: Targets,
    output: Output,
    patients: OptionalPatients = None,
    seed: AnySeed = None,
    population: OnePopulation = None,
    fix: Fix = None,
    params: Params = None,
    weight: Weight = None,
    height: Height = None,
    age: Age = None,
    blasts: Blasts = None,
    patient: PatientIndex = None,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Write one self-contained HTML report (opens offline, no network requests).

    For a scenario or a protocol: summary, timeline, schedule and the plain-language
    narrative (--patient N: virtual patient N of the cohort). For a cohort (--patients N,
    or several protocols): also the comparison table, the decision paths of each arm and
    the plots.
    """
    from sim.report.html import (
        check_report_path,
        cohort_report,
        cohort_report_steps,
        run_report,
        write_report,
    )

    def destination() -> None:
        check_report_path(output)
        check_outputs({"-o": output}, [*targets, params])

    guarded(destination)
    n = guarded(lambda: _cohort_size(targets, patients, patient))
    if n is None:

        def one() -> tuple[str, dict[str, Any]]:
            from sim.exports.events import run_provenance

            if patient is None:
                _no_fix_for_one(fix, params)
            cohort = cohort_patient(patient, population, fix, params)
            result = run_target_cli(
                targets[0], seed, weight, height, age, blasts, population, force, cohort
            )
            return run_report(result), run_provenance(result)

        text, record = guarded(one)
    else:

        def cohort() -> tuple[str, dict[str, Any]]:
            from sim.exports.provenance import cohort_provenance
            from sim.report.progress import progress_bar

            _one_patient_only(weight=weight, height=height, age=age, blasts=blasts)
            loaded = _protocols(targets)
            setup = cohort_setup(cohort_population(loaded, population), seed or 0, fix, params)
            steps = cohort_report_steps(len(loaded), n)
            with progress_bar(steps, "report", enabled=not quiet) as advance:
                text = cohort_report(loaded, setup, n, advance)
            return text, cohort_provenance(setup, loaded, n)

        text, record = guarded(cohort)
    guarded(lambda: write_report(output, text, record))
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Add the ``paths``, ``plot`` and ``report`` commands to ``app``."""
    app.command("paths")(paths)
    app.command("plot")(plot)
    app.command("report")(report)
