"""The clinic's named random streams: one seed in, a stream per replication and quantity.

Like :mod:`sim.model.streams` (which gives a patient's biology), but for what the clinic
draws: referral times and populations per replication, and per patient the manufacturing
time and outcome, bridging, and the times of death or progression while waiting. Keys
are ``(CLINIC_KEY, replication, patient, quantity)``, four numbers where the model's are
two (``(patient, quantity)``), so the clinic's streams are apart from the model's and
adding a clinic quantity changes no patient's biology. A patient's draws do not depend on
the protocol arm (common random numbers: every arm sees the same referrals and the same
patients), nor on how many workers run the replications.
"""

from __future__ import annotations

import numpy as np

CLINIC_KEY = 17
QUANTITIES = (
    "referral_times",
    "referral_populations",
    "manufacturing_time",
    "manufacturing_failure",
    "bridging",
    "death_while_waiting",
    "progression_while_waiting",
)
_INDEX = {name: i for i, name in enumerate(QUANTITIES)}


def clinic_stream(
    root_seed: int, replication: int, quantity: str, patient: int | None = None
) -> np.random.Generator:
    """The generator of one quantity: per replication (``patient`` None) or per patient."""
    slot = 0 if patient is None else patient + 1
    seq = np.random.SeedSequence(
        entropy=root_seed, spawn_key=(CLINIC_KEY, replication, slot, _INDEX[quantity])
    )
    return np.random.Generator(np.random.PCG64(seq))
