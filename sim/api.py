"""cartsim from Python: load a protocol, run one patient or a cohort, read DataFrames.

Every function here is a thin wrapper over the library functions that the ``cartsim``
commands call, with the commands' defaults, so a result's ``to_json()`` is what the
matching command prints with ``--json``::

    import sim
    r = sim.run("fractionated-crs-hold")        # cartsim run fractionated-crs-hold
    r.schedule                                  # planned vs given (a DataFrame)
    c = sim.compare(["cart19-be-02", "tisagenlecleucel-label"], patients=200)
    c.metrics                                   # endpoints with 95 % CIs per arm

A protocol is a built-in id, a YAML file (``str`` or :class:`~pathlib.Path`), a
:class:`sim.spec.protocol.Protocol` built in Python, or a plain ``dict`` with the
fields of a protocol file; a Python-built protocol is checked exactly like a file
(problems name ``<python>`` and the field). Bad input raises
:class:`sim.errors.InputError`, whose message is the command's ``error:`` lines.

DataFrames need pandas (``pip install "cartsim[pandas]"``); everything else does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.api_results import Calibration, Cohort, Paths, Run, Sweep, progress
from sim.cohort import DEFAULT_POPULATION, CohortSetup
from sim.errors import InputError
from sim.spec.load import LoadedProtocol, LoadedScenario, load_protocol, load_target
from sim.spec.protocol import Protocol
from sim.spec.yamlio import Located

ProtocolLike = str | os.PathLike[str] | Protocol | Mapping[str, Any] | LoadedProtocol
"""What the functions accept as a protocol (see the module docstring)."""

PYTHON_ORIGIN = "<python>"


def load(target: str | os.PathLike[str]) -> LoadedProtocol | LoadedScenario:
    """A built-in protocol or scenario id, or a protocol or scenario file, validated.

    The result's ``.protocol`` (or ``.scenario``) is the frozen pydantic model; make
    variants of it with ``model_copy(update=...)`` and pass them to :func:`run` etc.
    """
    return load_target(os.fspath(target))


def protocol(source: ProtocolLike) -> LoadedProtocol:
    """A protocol, validated and hashed: from a built-in id, a file, a
    :class:`~sim.spec.protocol.Protocol` or a ``dict`` of its fields.

    A model or dict is checked like a file (cross-field checks included); its origin is
    ``<python>``."""
    if isinstance(source, LoadedProtocol):
        return source
    if isinstance(source, str | os.PathLike):
        return load_protocol(os.fspath(source))
    from sim.spec.variants import variant_of

    if isinstance(source, Protocol):
        data = source.model_dump(mode="json")
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        raise TypeError(f"not a protocol: {type(source).__name__}")
    return variant_of(Located(data, {}, PYTHON_ORIGIN), [])


def _run_target(target: ProtocolLike | LoadedScenario) -> LoadedProtocol | LoadedScenario:
    if isinstance(target, str | os.PathLike):
        return load_target(os.fspath(target))
    if isinstance(target, LoadedScenario):
        return target
    return protocol(target)


def run(
    target: ProtocolLike | LoadedScenario,
    *,
    seed: int | None = None,
    patient: int | None = None,
    population: str = DEFAULT_POPULATION,
    fix: Mapping[str, Any] | None = None,
    params: str | os.PathLike[str] | None = None,
    weight: float | None = None,
    height: float | None = None,
    age: float | None = None,
    blasts: float | None = None,
    horizon_day: int | None = None,
    force: bool = False,
) -> Run:
    """Run one patient: ``cartsim run TARGET``.

    A protocol runs virtual patient ``patient`` (default 0) of the cohort with root seed
    ``seed`` (default 0), ``population``, fixed covariates ``fix`` (``{"weight_kg": 30}``,
    as ``--fix``) and model parameter file ``params``: the same person as patient
    ``patient`` of :func:`run_cohort` with those settings. ``weight``, ``height`` (cm),
    ``age`` (years) and ``blasts`` (marrow blasts, %) are set on that person afterwards,
    as ``cartsim run --weight`` etc. do. The run follows the protocol's own horizon;
    cohorts follow every patient to day 760 (``horizon_day=760`` gives their run).

    A patient outside the protocol's eligibility is refused (``InputError`` naming the
    rule) unless ``force``, as ``cartsim run --force``.

    A scenario (an id, a file, or :func:`load`'s result) plays its scripted patient:
    only ``seed`` and the four covariates apply.
    """
    from sim.targets import run_loaded

    loaded = _run_target(target)
    overrides = {
        "weight_kg": weight,
        "height_cm": height,
        "age_y": age,
        "marrow_blasts_pct": blasts,
    }
    if isinstance(loaded, LoadedScenario):
        given = {"patient": patient, "fix": fix, "params": params, "horizon_day": horizon_day}
        named = [k for k, v in given.items() if v is not None]
        if population != DEFAULT_POPULATION:
            named.append("population")
        if named:
            raise InputError.single(
                named[0], "applies to protocols (virtual patients); a scenario is scripted"
            )
        return Run(run_loaded(loaded, seed=seed, overrides=overrides, force=force), None)
    setup = _setup(population, seed or 0, fix, params)
    index = 0 if patient is None else _index(patient)
    result = run_loaded(
        loaded,
        seed=setup.seed,
        overrides=overrides,
        population=setup.population,
        patient=index,
        fixed=setup.fixed,
        params=setup.params,
        force=force,
        horizon_day=horizon_day,
    )
    return Run(result, patient)


def run_cohort(
    protocol: ProtocolLike,
    *,
    patients: int = 1000,
    population: str = DEFAULT_POPULATION,
    seed: int = 0,
    fix: Mapping[str, Any] | None = None,
    params: str | os.PathLike[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    keep_patients: bool = True,
    keep_events: bool = False,
    show_progress: bool = False,
) -> Cohort:
    """A cohort of virtual patients through one protocol: ``cartsim cohort``.

    ``keep_patients`` keeps one row per patient (``.patients``, the ``--patients-out``
    table); ``keep_events`` keeps every event (``.events``, the ``--events`` table).
    """
    return compare(
        [protocol],
        patients=patients,
        population=population,
        seed=seed,
        fix=fix,
        params=params,
        workers=workers,
        scheduler=scheduler,
        keep_patients=keep_patients,
        keep_events=keep_events,
        show_progress=show_progress,
    )


def compare(
    protocols: Sequence[ProtocolLike],
    *,
    patients: int = 1000,
    population: str = DEFAULT_POPULATION,
    seed: int = 0,
    fix: Mapping[str, Any] | None = None,
    params: str | os.PathLike[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    keep_patients: bool = True,
    keep_events: bool = False,
    show_progress: bool = False,
) -> Cohort:
    """The same virtual patients through each protocol: ``cartsim compare``.

    Differences are paired, each arm minus the first (common random numbers).
    ``workers`` > 1 runs the patients in local processes and ``scheduler`` on a Dask
    cluster, with the same results; in a script, call it under
    ``if __name__ == "__main__":``, as Python's multiprocessing requires (a notebook
    needs nothing)."""
    if isinstance(protocols, str | os.PathLike | Protocol | Mapping | LoadedProtocol):
        raise TypeError("compare() takes a list of protocols; use run_cohort() for one")
    setup = _setup(population, seed, fix, params)
    loaded = [_only_protocol(p) for p in protocols]
    return _compare(loaded, setup, _count(patients), workers, scheduler, keep_patients,
                    keep_events, show_progress)  # fmt: skip


def sweep(
    protocol: ProtocolLike,
    settings: Mapping[str, Sequence[Any]] | Sequence[str],
    *,
    patients: int = 1000,
    population: str = DEFAULT_POPULATION,
    seed: int = 0,
    fix: Mapping[str, Any] | None = None,
    params: str | os.PathLike[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    show_progress: bool = False,
) -> Sweep:
    """Every variant of a protocol on the same patients: ``cartsim sweep``.

    ``settings`` maps a field's dotted path in the protocol file (list positions from 0)
    to the values to try, e.g. ``{"fractions.0.dose.cells_per_kg": [1e5, 3e5]}``, or is
    a list of ``--set`` strings (``"fractions.0.dose.cells_per_kg=1e5,3e5"``). Several
    fields make a grid, the first varying slowest.
    """
    from sim.spec.variants import grid, load_variant, parse_set, variant_label, variant_of

    if isinstance(settings, Mapping):
        axes = [(str(path), list(values)) for path, values in settings.items()]
    else:
        axes = [parse_set(s) for s in settings]
    if not axes or any(not values for _, values in axes):
        raise InputError.single("settings", "give at least one field and one value for each")
    variants = grid(axes)
    if isinstance(protocol, str | os.PathLike):
        loaded = [load_variant(os.fspath(protocol), s) for s in variants]
    else:
        base = _only_protocol(protocol)
        located = Located(base.protocol.model_dump(mode="json"), {}, base.origin)
        loaded = [variant_of(located, s) for s in variants]
    setup = _setup(population, seed, fix, params)
    run = _compare(loaded, setup, _count(patients), workers, scheduler, False, False,
                   show_progress)  # fmt: skip
    return Sweep(run, tuple(variant_label(s) for s in variants))


def decision_paths(
    protocol: ProtocolLike,
    *,
    patients: int = 1000,
    population: str = DEFAULT_POPULATION,
    seed: int = 0,
    fix: Mapping[str, Any] | None = None,
    params: str | os.PathLike[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    show_progress: bool = False,
) -> Paths:
    """The fraction-by-fraction tree of outcomes: ``cartsim paths``."""
    from sim.paths import cohort_paths, path_tree

    setup = _setup(population, seed, fix, params)
    loaded = _only_protocol(protocol)
    n = _count(patients)
    with progress(n, "paths", show_progress) as advance:
        counts, crs_before = cohort_paths(
            loaded, setup, n, workers=workers, scheduler=scheduler, progress=advance
        )
    tree = path_tree(counts, n, [f.id for f in loaded.protocol.fractions])
    return Paths(tree, loaded, setup, crs_before)


def calibrate(
    *,
    targets: str | os.PathLike[str] | None = None,
    patients: int = 2000,
    seed: int = 0,
    params: str | os.PathLike[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    show_progress: bool = False,
) -> Calibration:
    """Published vs simulated for every calibration target: ``cartsim calibrate``.

    ``targets`` is a targets file (default: the shipped ``calibration/targets.yaml``)."""
    from sim.calibration import calibrate as run_calibration
    from sim.calibration import cohort_keys, load_targets
    from sim.model.parameters import load_parameters

    file, path = load_targets(None if targets is None else Path(targets))
    n = _count(patients)
    cohorts = len(cohort_keys(file))
    model = load_parameters(None if params is None else Path(params))
    with progress(cohorts * n, "calibration", show_progress) as advance:
        rows = run_calibration(file, path.parent, n, seed, model, advance, workers, scheduler)
    return Calibration(rows, seed, n)


def _compare(
    loaded: list[LoadedProtocol],
    setup: CohortSetup,
    n: int,
    workers: int,
    scheduler: str | None,
    keep_patients: bool,
    keep_events: bool,
    show_progress: bool,
) -> Cohort:
    from sim.cohort import compare as run_comparison

    patient_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    on_rows = on_events = None
    if keep_patients:
        from sim.exports.patients import patient_row

        def on_rows(rows: list[dict[str, Any]]) -> None:
            patient_rows.extend(patient_row(r) for r in rows)

    if keep_events:
        on_events = event_rows.extend
    with progress(n, f"{len(loaded)} arm(s)", show_progress) as advance:
        run = run_comparison(
            loaded,
            setup,
            n,
            advance,
            workers=workers,
            scheduler=scheduler,
            on_rows=on_rows,
            on_events=on_events,
        )
    return Cohort(
        run,
        patient_rows if keep_patients else None,
        event_rows if keep_events else None,
    )


def _only_protocol(target: ProtocolLike) -> LoadedProtocol:
    loaded = _run_target(target)
    if isinstance(loaded, LoadedScenario):
        raise InputError.single(
            os.fspath(target) if isinstance(target, str | os.PathLike) else PYTHON_ORIGIN,
            "is a scenario (one scripted patient); a cohort needs protocols",
        )
    return loaded


def _count(patients: int) -> int:
    if isinstance(patients, bool) or not isinstance(patients, int):
        raise InputError.single("patients", f"a whole number, got {patients!r}")
    if not 1 <= patients <= 10_000_000:
        raise InputError.single("patients", f"from 1 to 10,000,000, got {patients}")
    return patients


def _index(patient: int) -> int:
    if isinstance(patient, bool) or not isinstance(patient, int) or not 0 <= patient < 2**32:
        raise InputError.single("patient", f"a patient index from 0, got {patient!r}")
    return patient


def _setup(
    population: str,
    seed: int,
    fix: Mapping[str, Any] | None,
    params: str | os.PathLike[str] | None,
) -> CohortSetup:
    """The cohort's setup, checked before any patient runs (as the commands do)."""
    from sim.model.parameters import load_parameters
    from sim.spec.variables import BASELINE
    from sim.targets import fixed_patient_check

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError.single("seed", f"a whole number from 0, got {seed!r}")
    unknown = [name for name in fix or {} if name not in BASELINE]
    if unknown:
        raise InputError.single(
            "fix", f"'{unknown[0]}' is not a covariate; use one of " + ", ".join(BASELINE)
        )
    setup = CohortSetup(
        population=population,
        seed=seed,
        fixed=tuple((fix or {}).items()),
        params=None if params is None else load_parameters(Path(params)),
    )
    fixed_patient_check(setup)
    return setup
