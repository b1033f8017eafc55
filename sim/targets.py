"""Turn a run target (protocol id or file, scenario id or file) into a finished run."""

from __future__ import annotations

from typing import Any

from sim.engine.run import RunResult, ToxicitySource, run_course
from sim.engine.scripted import ScriptedToxicity
from sim.errors import InputError, quoted
from sim.spec.load import LoadedScenario, load_target
from sim.spec.scenario import Patient


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
    population: str = "adult-rr-ball",
) -> RunResult:
    loaded = load_target(target)
    toxicity: ToxicitySource | None = None
    if isinstance(loaded, LoadedScenario):
        sc = loaded.scenario
        patient = with_overrides(sc.patient, overrides or {}, "command line")
        if patient != sc.patient:
            from sim.spec.checks import check_scenario

            changed = sc.model_copy(update={"patient": patient})
            findings = list(check_scenario(changed, loaded.protocol.protocol))
            if findings:
                raise InputError.single(
                    "command line", findings[0][1], field=".".join(str(p) for p in findings[0][0])
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

        proto = loaded
        run_seed = 0 if seed is None else seed
        setup = CohortSetup(population=population, seed=run_seed)
        patient = with_overrides(virtual_patient(setup, 0), overrides or {}, "command line")
        toxicity = VirtualPatient(load_parameters(), draw_latent(run_seed, 0))
        scenario = None
    return run_course(
        proto.protocol,
        patient,
        toxicity=toxicity,
        seed=run_seed,
        origin=proto.origin,
        protocol_hash=proto.hash,
        scenario=scenario,
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
