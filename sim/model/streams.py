"""One seed in, named streams out.

A root seed is split with numpy's ``SeedSequence`` into one stream per patient and per
random quantity: ``stream(root, patient, "crs")``. Patient ``i`` therefore draws the same
numbers whatever protocol it is run under (common random numbers across arms), whatever
the order patients are simulated in, and whatever the worker count. No global RNG.
"""

from __future__ import annotations

import numpy as np

QUANTITIES = (
    "covariates",
    "kinetics",
    "crs",
    "icans",
    "iec_hs",
    "gvhd",
    "cytopenia",
    "infection",
    "response",
    "survival",
)
_INDEX = {name: i for i, name in enumerate(QUANTITIES)}


def stream(root_seed: int, patient: int, quantity: str) -> np.random.Generator:
    """The generator for one patient's draws of one quantity."""
    seq = np.random.SeedSequence(entropy=root_seed, spawn_key=(patient, _INDEX[quantity]))
    return np.random.Generator(np.random.PCG64(seq))
