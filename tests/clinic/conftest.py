"""Shared pieces of the clinic tests: the built-in clinic, tightened or loosened."""

from __future__ import annotations

from typing import Any

import pytest

from sim.clinic.load import load_clinic
from sim.clinic.spec import Clinic
from sim.spec.load import LoadedProtocol, load_protocol

ARMS = ("cart19-be-02", "tisagenlecleucel-label")


@pytest.fixture(scope="session")
def centre() -> Clinic:
    return load_clinic("academic-centre").clinic


@pytest.fixture(scope="session")
def arms() -> list[LoadedProtocol]:
    return [load_protocol(p) for p in ARMS]


def busy(clinic: Clinic, **update: Any) -> Clinic:
    """The clinic with more referrals and fewer of everything, so that every queue fills."""
    data = clinic.model_dump(mode="json")
    data["arrivals"]["per_month"] = 9
    data["apheresis"]["slots"] = 1
    data["apheresis"]["duration_days"] = 2
    data["manufacturing"]["in-house"]["slots"] = 1
    data["ld_chairs"] = 1
    data["beds"] = 2
    data["icu_beds"] = 1
    data.update(update)
    return Clinic.model_validate(data)
