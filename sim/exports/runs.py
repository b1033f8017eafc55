"""``cartsim export``: the runs of a target, streamed into one output table.

Without ``patients`` the target runs once, exactly as ``cartsim run TARGET --seed S``
(a scenario with its script; a protocol with virtual patient 0). With ``patients=N`` (a
protocol only) virtual patients 0..N-1 run as in ``cartsim cohort`` (same seed, same
population, follow-up to day 760); with ``patient=N`` only virtual patient N does. Runs
are produced one at a time and written as they come, so memory does not grow with N.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.engine.run import RunResult
from sim.errors import InputError
from sim.exports.destinations import check_outputs
from sim.exports.events import EVENT_COLUMNS, event_rows
from sim.exports.nonmem import NONMEM_COLUMNS, nonmem_rows
from sim.exports.patients import PATIENT_COLUMNS, patient_row
from sim.exports.provenance import provenance, sidecar_path
from sim.exports.tables import FORMATS, Column, TableWriter, table_format
from sim.outcomes import patient_outcomes

EXPORT_FORMATS: dict[str, tuple[tuple[Column, ...], tuple[str, ...]]] = {
    "nonmem": (NONMEM_COLUMNS, (".csv",)),
    "events": (EVENT_COLUMNS, tuple(FORMATS)),
    "patients": (PATIENT_COLUMNS, tuple(FORMATS)),
}


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    file_format: str
    rows: int
    runs: int
    runs_with_rows: int

    def describe(self) -> str:
        sidecar = sidecar_path(self.path).name
        runs = f"{self.runs} run" + ("s" if self.runs != 1 else "")
        if self.runs_with_rows != self.runs:
            runs += f", {self.runs_with_rows} with rows"
        return (
            f"wrote {self.rows} rows ({self.file_format}) from {runs} "
            f"to {self.path} (provenance: {sidecar})"
        )


def _runs(
    target: str,
    seed: int | None,
    patients: int | None,
    population: str | None,
    patient: int | None,
    force: bool = False,
) -> tuple[Iterator[tuple[int | None, RunResult]], dict[str, Any]]:
    """The runs of ``target`` (lazily) and the provenance facts that describe them.
    ``population`` None: the protocol's own."""
    from sim.spec.eligibility import protocol_population

    if patient is not None and patients is not None:
        raise InputError.single(
            "--patient", "exports one virtual patient; --patients N exports patients 0..N-1"
        )
    if patients is None and patient is None:
        from sim.targets import run_target

        result = run_target(target, seed=seed, population=population, force=force)
        extra: dict[str, Any] = {"target": target, "scenario": result.scenario}
        if result.scenario is None:
            extra["population"] = population or protocol_population(result.protocol)
        facts = {
            "seed": result.seed,
            "protocols": [(result.protocol.id, result.protocol_hash)],
            "extra": extra,
        }
        return iter([(None, result)]), facts
    from sim.spec.load import LoadedProtocol, load_target

    loaded = load_target(target)
    if not isinstance(loaded, LoadedProtocol):
        raise InputError.single(
            "--patients" if patient is None else "--patient",
            f"'{target}' is a scenario (one scripted patient); give a protocol",
        )
    from sim.cohort import CohortSetup, run_patient_result, virtual_patient
    from sim.model.parameters import load_parameters

    population = population or protocol_population(loaded.protocol)
    setup = CohortSetup(population, 0 if seed is None else seed, params=load_parameters())
    virtual_patient(setup, 0)  # a bad population fails here, before any file is opened
    if patients is not None:
        indices, chosen = range(patients), {"patients": patients}
    else:
        assert patient is not None  # the single run returned above
        indices, chosen = range(patient, patient + 1), {"patient": patient}
    facts = {
        "seed": setup.seed,
        "protocols": [(loaded.protocol.id, loaded.hash)],
        "extra": {"target": target, "population": population, **chosen},
    }
    runs = ((i, run_patient_result(loaded, setup, i)) for i in indices)
    return runs, facts


def _rows(file_format: str, index: int | None, result: RunResult) -> list[dict[str, Any]]:
    if file_format == "nonmem":
        return nonmem_rows(result, 1 if index is None else index + 1)
    if file_format == "events":
        return list(event_rows(result, index))
    return [patient_row(result.protocol.id, index, result.patient, patient_outcomes(result.events))]


def export_target(
    target: str,
    file_format: str,
    output: Path,
    *,
    seed: int | None = None,
    patients: int | None = None,
    population: str | None = None,
    force: bool = False,
    command: str | None = None,
    patient: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Run ``target`` and write ``file_format`` (nonmem, events or patients) to ``output``;
    ``progress(1)`` after each run is written."""
    if file_format not in EXPORT_FORMATS:
        raise InputError.single(
            "--format", f"'{file_format}': accepted formats are {', '.join(EXPORT_FORMATS)}"
        )
    columns, accepted = EXPORT_FORMATS[file_format]
    option = "--output"
    table_format(output, option, accepted)  # a bad path fails before any simulation
    check_outputs({option: output}, [target])
    runs, facts = _runs(target, seed, patients, population, patient, force)
    record = provenance(
        command,
        seed=facts["seed"],
        protocols=facts["protocols"],
        extra={**facts["extra"], "export_format": file_format},
    )
    count = with_rows = 0
    writer = TableWriter(output, columns, record, option=option, accepted=accepted)
    with writer:
        for index, result in runs:
            rows = _rows(file_format, index, result)
            count += 1
            with_rows += bool(rows)
            writer.write_all(rows)
            if progress is not None:
                progress(1)
    return ExportSummary(output, file_format, writer.rows, count, with_rows)
