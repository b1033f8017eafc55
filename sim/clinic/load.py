"""Load a clinic file into a validated :class:`~sim.clinic.spec.Clinic`, or explain what is
wrong: one ``file:line: field: message`` line per problem, as for protocol files.

Built-in clinics live in the top-level ``clinics/`` folder (``sim/builtin/clinics/`` in an
installed package) and are named by id (``academic-centre``) or by that path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sim.clinic.spec import Clinic
from sim.errors import InputError
from sim.spec.checks import Finding
from sim.spec.load import load_model, problems_at, spec_hash

CLINIC_KEYS = frozenset({"arrivals", "beds", "icu_beds", "manufacturing"})
"""Top-level fields only a clinic file has: how ``cartsim check`` tells it from a protocol."""


@dataclass(frozen=True)
class LoadedClinic:
    clinic: Clinic
    origin: str
    hash: str


def builtin_clinic_dir() -> Path:
    installed = Path(__file__).resolve().parent.parent / "builtin" / "clinics"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent.parent / "clinics"


def builtin_clinic_ids() -> list[str]:
    return sorted(p.stem for p in builtin_clinic_dir().glob("*.yaml"))


def _resolve(target: str) -> tuple[Path, str]:
    path = Path(target)
    if path.exists() or target.endswith((".yaml", ".yml")):
        builtin = builtin_clinic_dir() / path.name
        if not path.exists() and path.parent.name == "clinics" and builtin.exists():
            return builtin, target  # clinics/NAME.yaml of an installed package
        return path, target
    builtin = builtin_clinic_dir() / f"{target}.yaml"
    if builtin.exists():
        return builtin, f"clinics/{target}.yaml"
    known = ", ".join(builtin_clinic_ids())
    raise InputError.single(target, f"no clinic file or built-in clinic by that name ({known})")


def _findings(clinic: Clinic, populations: list[str] | None) -> list[Finding]:
    out: list[Finding] = []
    for pid, rules in clinic.protocols.items():
        if rules.manufacturing not in clinic.manufacturing:
            known = ", ".join(sorted(clinic.manufacturing))
            out.append(
                (
                    ("protocols", pid, "manufacturing"),
                    f"'{rules.manufacturing}' is not under manufacturing (defined: {known})",
                )
            )
    for name, how in clinic.manufacturing.items():
        if how.site == "in_house" and how.slots is None:
            out.append(
                (("manufacturing", name, "slots"), "an in-house facility needs a number of slots")
            )
    if populations is not None:
        for name in clinic.arrivals.population_mix:
            if name not in populations:
                out.append(
                    (
                        ("arrivals", "population_mix", name),
                        f"unknown population '{name}'; known: " + ", ".join(populations),
                    )
                )
    return out


def _populations() -> list[str]:
    from sim.model.parameters import load_parameters

    return list(load_parameters().populations)


def load_clinic(target: str, populations: list[str] | None = None) -> LoadedClinic:
    """A clinic by built-in id or file path; ``populations`` are the names the model knows
    (by default those of the model's parameter file)."""
    path, shown = _resolve(target)
    clinic, located = load_model(path, shown, Clinic)
    findings = _findings(clinic, _populations() if populations is None else populations)
    if findings:
        raise InputError(problems_at(located, findings))
    return LoadedClinic(clinic, shown, spec_hash(clinic))


def rules_for(loaded: LoadedClinic, protocol_id: str, option: str = "--protocol") -> None:
    """Raise unless the clinic says how it runs ``protocol_id``."""
    if protocol_id not in loaded.clinic.protocols:
        known = ", ".join(loaded.clinic.protocols)
        raise InputError.single(
            option,
            f"the clinic {loaded.origin} has no rules for protocol '{protocol_id}' "
            f"(it runs: {known}); add it under 'protocols'",
        )


def is_clinic_file(data: object) -> bool:
    return isinstance(data, dict) and bool(CLINIC_KEYS & set(data))


def check_any(name: str) -> None:
    """``cartsim check``: a clinic file (told by its top-level fields), else a protocol or
    scenario file; raise :class:`InputError` if it is bad."""
    from sim.spec.load import check_file
    from sim.spec.yamlio import parse_yaml

    path = Path(name)
    data: object = None
    if path.is_file() and path.stat().st_size <= 2_000_000:
        try:
            data = parse_yaml(path.read_bytes(), name).data
        except InputError:
            data = None  # reported by the protocol loader, with its line
    if is_clinic_file(data):
        load_clinic(name)
    else:
        check_file(name)
