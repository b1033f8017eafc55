"""Turn a run target (protocol id or file, scenario id or file) into a finished run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.engine.run import RunResult, ToxicitySource, run_course
from sim.engine.scripted import ScriptedToxicity
from sim.errors import InputError, quoted
from sim.spec.load import LoadedProtocol, LoadedScenario, load_target
from sim.spec.scenario import Patient

if TYPE_CHECKING:
    from sim.model.parameters import ModelParameters


def with_overrides(patient: Patient, overrides: dict[str, Any], source: str) -> Patient:
    """The patient with command-line overrides applied and re-validated."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return patient
    from pydantic import ValidationError

    try:
        return Patient.model_validate({**patient.model_dump(), **given})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        raise InputError.single(
            source, f"{err['msg']}, got {quoted(err['input'])}", field=field
        ) from None


def run_target(
    target: str,
    *,
    seed: int | None = None,
    overrides: dict[str, Any] | None = None,
    population: str | None = None,
    force: bool = False,
) -> RunResult:
    """Run a built-in protocol or scenario id, or a file: ``cartsim run``. A protocol runs
    virtual patient 0 of ``population`` (default: the protocol's own); a patient outside
    the protocol's eligibility is refused with the rule it breaks, unless ``force``."""
    return run_loaded(
        load_target(target), seed=seed, overrides=overrides, population=population, force=force
    )


def run_loaded(
    loaded: LoadedProtocol | LoadedScenario,
    *,
    seed: int | None = None,
    overrides: dict[str, Any] | None = None,
    population: str | None = None,
    patient: int = 0,
    fixed: tuple[tuple[str, Any], ...] = (),
    params: ModelParameters | None = None,
    horizon_day: int | None = None,
    force: bool = False,
) -> RunResult:
    """Run a loaded protocol (one virtual patient) or scenario (its scripted patient).

    A protocol runs virtual patient ``patient`` of the cohort with root seed ``seed``,
    ``population`` (default: the protocol's own), ``fixed`` covariates and ``params``: the
    same person as in a cohort (:func:`sim.cohort.run_patient_result`); with
    ``horizon_day`` = :data:`sim.cohort.FOLLOW_UP_DAYS` the same run too. ``overrides``
    (weight etc.) are then set on that patient, which must meet the protocol's
    eligibility unless ``force``. A scenario takes ``overrides`` only.
    """
    toxicity: ToxicitySource | None = None
    if isinstance(loaded, LoadedScenario):
        sc = loaded.scenario
        if population is not None:
            raise InputError.single(
                "--population", "applies to protocols; a scenario has its own patient"
            )
        patient_spec = with_overrides(sc.patient, overrides or {}, "command line")
        if patient_spec != sc.patient:
            from sim.spec.checks import check_scenario

            changed = sc.model_copy(update={"patient": patient_spec})
            findings = list(
                check_scenario(changed, loaded.protocol.protocol, eligibility=not force)
            )
            if findings:
                path, message = findings[0]
                if path == ("patient",):
                    message += " (--force runs it anyway)"
                raise InputError.single(
                    "command line", message, field=".".join(str(p) for p in path)
                )
        toxicity = ScriptedToxicity(sc.episodes)
        proto = loaded.protocol
        run_seed = sc.seed if seed is None else seed
        scenario: str | None = sc.id
    else:
        from sim.cohort import CohortSetup, virtual_patient
        from sim.engine.virtual_patient import VirtualPatient
        from sim.model.latent import draw_latent
        from sim.model.parameters import load_parameters
        from sim.spec.eligibility import ineligible, protocol_population

        proto = loaded
        run_seed = 0 if seed is None else seed
        pop = population or protocol_population(proto.protocol)
        known = (params or load_parameters()).populations
        if population is None and pop not in known:
            raise InputError.single(
                proto.origin,
                f"unknown population '{pop}'; known: " + ", ".join(known),
                field="population.name",
            )
        setup = CohortSetup(population=pop, seed=run_seed, fixed=fixed, params=params)
        patient_spec = with_overrides(
            virtual_patient(setup, patient), overrides or {}, "command line"
        )
        broken = [] if force else ineligible(proto.protocol, patient_spec)
        if broken:
            raise InputError.single(
                "command line",
                f"the patient (virtual patient {patient} of population {pop}, seed "
                f"{run_seed}: {_describe(patient_spec)}) is outside protocol "
                f"'{proto.protocol.id}' eligibility: "
                + "; ".join(broken)
                + " (--force runs it anyway)",
            )
        toxicity = VirtualPatient(setup.parameters(), draw_latent(run_seed, patient))
        scenario = None
    return run_course(
        proto.protocol,
        patient_spec,
        toxicity=toxicity,
        seed=run_seed,
        origin=proto.origin,
        protocol_hash=proto.hash,
        scenario=scenario,
        horizon_day=horizon_day,
    )


def run_cohort_patient(target: str, setup: Any, index: int) -> RunResult:
    """Virtual patient ``index`` of the cohort ``setup`` (a :class:`sim.cohort.CohortSetup`)
    through the protocol ``target``: exactly as the cohort commands run that patient (the
    same covariates and traits, the same follow-up), so its outcomes are row ``index`` of
    ``cartsim cohort --patients-out``. (Cohorts are not screened for eligibility: they
    sample the population as given.)"""
    from sim.cohort import run_patient_result

    loaded = load_target(target)
    if isinstance(loaded, LoadedScenario):
        raise InputError.single(
            "--patient", f"'{target}' is a scenario (one scripted patient); give a protocol"
        )
    fixed_patient_check(setup)
    return run_patient_result(loaded, setup, index)


def _describe(patient: Patient) -> str:
    flags = [
        name.replace("_", " ")
        for name in ("cns_disease", "extramedullary_disease", "prior_allo_hct")
        if getattr(patient, name)
    ]
    return (
        f"age {patient.age_y:g} y, {patient.weight_kg:g} kg, marrow blasts "
        f"{patient.marrow_blasts_pct:g} %" + "".join(f", {f}" for f in flags)
    )


def fixed_patient_check(setup: Any) -> None:
    """Validate fixed covariates once, so a bad --fix fails before any simulation."""
    from pydantic import ValidationError

    from sim.cohort import virtual_patient

    try:
        virtual_patient(setup, 0)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InputError.single(
            "--fix", f"{field}: {err['msg']}, got {quoted(err['input'])}"
        ) from None
