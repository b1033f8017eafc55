"""cartsim: a discrete-event simulator of CAR-T cell therapy dosing protocols.

Research and teaching tool only; never clinical advice.

The Python API (:mod:`sim.api`; the README's "Python" section)::

    import sim
    r = sim.run("fractionated-crs-hold")   # one patient; r.events is a DataFrame
    c = sim.compare(["cart19-be-02", "tisagenlecleucel-label"], patients=200)

The names in ``__all__`` are the stable public surface. They are imported on first
use, so that ``import sim`` (and the ``cartsim`` command's start-up) stays cheap.
A cohort is ``sim.run_cohort`` and the decision paths ``sim.decision_paths``: the names
``sim.cohort`` and ``sim.paths`` are modules of the package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sim.api import (
        calibrate,
        compare,
        decision_paths,
        load,
        protocol,
        run,
        run_cohort,
        sweep,
    )
    from sim.api_results import Calibration, Cohort, Paths, Run, Sweep
    from sim.errors import InputError, Problem
    from sim.spec.protocol import (
        Calendar,
        DoseAmount,
        Drug,
        FollowUp,
        Fraction,
        GateRule,
        Lymphodepletion,
        Product,
        Protocol,
        Source,
    )
    from sim.spec.scenario import Patient, Scenario

_EXPORTS: dict[str, str] = {
    # functions: load, run, and the cohort commands
    "load": "sim.api",
    "protocol": "sim.api",
    "run": "sim.api",
    "run_cohort": "sim.api",
    "compare": "sim.api",
    "sweep": "sim.api",
    "decision_paths": "sim.api",
    "calibrate": "sim.api",
    # what they return
    "Run": "sim.api_results",
    "Cohort": "sim.api_results",
    "Sweep": "sim.api_results",
    "Paths": "sim.api_results",
    "Calibration": "sim.api_results",
    # bad input
    "InputError": "sim.errors",
    "Problem": "sim.errors",
    # the protocol language, to write a protocol in Python
    "Protocol": "sim.spec.protocol",
    "Source": "sim.spec.protocol",
    "Product": "sim.spec.protocol",
    "Calendar": "sim.spec.protocol",
    "Lymphodepletion": "sim.spec.protocol",
    "Drug": "sim.spec.protocol",
    "DoseAmount": "sim.spec.protocol",
    "GateRule": "sim.spec.protocol",
    "Fraction": "sim.spec.protocol",
    "FollowUp": "sim.spec.protocol",
    "Scenario": "sim.spec.scenario",
    "Patient": "sim.spec.scenario",
}

__all__ = [
    "Calendar",
    "Calibration",
    "Cohort",
    "DoseAmount",
    "Drug",
    "FollowUp",
    "Fraction",
    "GateRule",
    "InputError",
    "Lymphodepletion",
    "Paths",
    "Patient",
    "Problem",
    "Product",
    "Protocol",
    "Run",
    "Scenario",
    "Source",
    "Sweep",
    "__version__",
    "calibrate",
    "compare",
    "decision_paths",
    "load",
    "protocol",
    "run",
    "run_cohort",
    "sweep",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
