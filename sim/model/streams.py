"""One seed in, named streams out.

A root seed is split with numpy's ``SeedSequence`` into one stream per patient and per
random quantity: ``stream(root, patient, "crs")``. Patient ``i`` therefore draws the same
numbers whatever protocol it is run under (common random numbers across arms), whatever
the order patients are simulated in, and whatever the worker count. No global RNG.

:class:`StreamBlock` gives the very same streams for a block of patients at a fraction
of the cost: building a ``SeedSequence`` and a ``PCG64`` from it takes about 30 us, ten
times per patient. The block runs SeedSequence's hash mixing for all its patients at once
with numpy, computes each PCG64 seeding step with Python integers and sets the state of
a reused generator. The algorithms are numpy's own (``numpy/random/bit_generator.pyx``,
``SeedSequence.mix_entropy`` and ``generate_state``; ``pcg64.c``,
``pcg_setseq_128_srandom_r``); ``tests/unit/test_model.py`` checks the draws are equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.random._pcg64 import _PCG64State

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
    "toxicity_course",
)
_INDEX = {name: i for i, name in enumerate(QUANTITIES)}


def stream(root_seed: int, patient: int, quantity: str) -> np.random.Generator:
    """The generator for one patient's draws of one quantity."""
    seq = np.random.SeedSequence(entropy=root_seed, spawn_key=(patient, _INDEX[quantity]))
    return np.random.Generator(np.random.PCG64(seq))


# SeedSequence constants (numpy/random/bit_generator.pyx)
_POOL_SIZE = 4
_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_MULT_L = np.uint32(0xCA01F9DD)
_MIX_MULT_R = np.uint32(0x4973F715)
_XSHIFT = np.uint32(16)
_M32 = 0xFFFFFFFF
# PCG64's 128-bit LCG (numpy/random/src/pcg64/pcg64.h, PCG_DEFAULT_MULTIPLIER_128)
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341
_M128 = (1 << 128) - 1


def _words(value: int) -> list[int]:
    """An unsigned integer as little-endian 32-bit words (SeedSequence's coercion)."""
    if value < 0:
        raise ValueError(f"a seed must be >= 0, not {value}")
    out = []
    while True:
        out.append(value & _M32)
        value >>= 32
        if not value:
            return out


def _pcg64_states(root_seed: int, spawn_keys: np.ndarray) -> np.ndarray:
    """SeedSequence(entropy=root_seed, spawn_key=row).generate_state(4, uint64) for every
    row of ``spawn_keys`` (uint32, one 32-bit word per key element), as an (n, 4) array."""
    run = _words(root_seed)
    run += [0] * (_POOL_SIZE - len(run))  # padded when there is a spawn key
    n = spawn_keys.shape[0]
    entropy = [np.full(n, w, dtype=np.uint32) for w in run]
    entropy += [spawn_keys[:, j] for j in range(spawn_keys.shape[1])]
    hash_const = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hash_const
        value = value ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_A) & _M32
        value = value * np.uint32(hash_const)
        return value ^ (value >> _XSHIFT)

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result: np.ndarray = np.subtract(np.multiply(x, _MIX_MULT_L), np.multiply(y, _MIX_MULT_R))
        mixed: np.ndarray = result ^ (result >> _XSHIFT)
        return mixed

    pool = [hashmix(entropy[i]) for i in range(_POOL_SIZE)]
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL_SIZE, len(entropy)):
        for dst in range(_POOL_SIZE):
            pool[dst] = mix(pool[dst], hashmix(entropy[src]))

    hash_const = _INIT_B
    words = []
    for i in range(8):  # 4 uint64 = 8 uint32 words, cycling through the pool
        value = pool[i % _POOL_SIZE] ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_B) & _M32
        value = value * np.uint32(hash_const)
        words.append(value ^ (value >> _XSHIFT))
    return np.ascontiguousarray(np.stack(words, axis=1)).view(np.uint64)


def _seeded_state(seed_words: np.ndarray) -> _PCG64State:
    """The PCG64 state after seeding with SeedSequence output ``seed_words`` (4 uint64)."""
    initstate = (int(seed_words[0]) << 64) | int(seed_words[1])
    inc = (((int(seed_words[2]) << 64) | int(seed_words[3])) << 1 | 1) & _M128
    state = (inc + initstate) & _M128  # state = 0; step; state += initstate
    state = (state * _PCG_MULT + inc) & _M128  # step
    return {
        "bit_generator": "PCG64",
        "state": {"state": state, "inc": inc},
        "has_uint32": 0,
        "uinteger": 0,
    }


class StreamBlock:
    """The named streams of patients ``start .. stop-1``, equal to :func:`stream`'s.

    ``generator(i, q)`` returns a generator at the start of patient i's stream q. One
    generator per quantity is reused: it is valid until the next call for the same
    quantity."""

    def __init__(self, root_seed: int, start: int, stop: int) -> None:
        if start < 0 or stop > 2**32:
            raise ValueError("patient indices must lie in 0 .. 2**32-1")
        self.start = start
        patients = np.repeat(np.arange(start, stop, dtype=np.uint64), len(QUANTITIES))
        quantities = np.tile(np.arange(len(QUANTITIES), dtype=np.uint64), stop - start)
        keys = np.stack([patients, quantities], axis=1).astype(np.uint32)
        self._seeds = _pcg64_states(root_seed, keys)
        self._bits = [np.random.PCG64(0) for _ in QUANTITIES]
        self._generators = [np.random.Generator(b) for b in self._bits]

    def generator(self, patient: int, quantity: str) -> np.random.Generator:
        q = _INDEX[quantity]
        row = (patient - self.start) * len(QUANTITIES) + q
        if row < 0 or row >= len(self._seeds):
            raise IndexError(f"patient {patient} is not in this block")
        self._bits[q].state = _seeded_state(self._seeds[row])
        return self._generators[q]


def patient_stream(
    root_seed: int, patient: int, quantity: str, block: StreamBlock | None = None
) -> np.random.Generator:
    """:func:`stream`, taken from ``block`` (which must hold the patient) when given."""
    if block is None:
        return stream(root_seed, patient, quantity)
    return block.generator(patient, quantity)
