"""How many generated cases each property and fuzz test runs, and its time budget.

Every test states its example count as a module constant (quoted in its docstring and
the README); :func:`budget` turns it into hypothesis settings built on a named profile:

* ``cartsim-ci`` (the default, what ``python -m pytest`` and ``.ci/run`` run): the
  stated counts;
* ``cartsim-thorough``: ten times the stated counts, for a longer hunt
  (``CARTSIM_HYPOTHESIS=cartsim-thorough python -m pytest tests/property tests/fuzz``);
* ``cartsim-quick``: a tenth, for a fast local loop.

The profiles are registered, not loaded, so other tests' hypothesis settings are not
touched. Examples are random from run to run (a failure is saved in the local
``.hypothesis`` database and replayed first next time; ``print_blob`` prints the seed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings

SCALES = {"cartsim-ci": 1.0, "cartsim-thorough": 10.0, "cartsim-quick": 0.1}
for _name in SCALES:
    settings.register_profile(
        _name,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
PROFILE = os.environ.get("CARTSIM_HYPOTHESIS", "cartsim-ci")
if PROFILE not in SCALES:
    raise ValueError(f"CARTSIM_HYPOTHESIS is one of {', '.join(SCALES)}, not {PROFILE!r}")


def examples(count: int) -> int:
    """The stated count scaled by the profile (at least 10)."""
    return max(10, round(count * SCALES[PROFILE]))


def budget(count: int, *, deadline_ms: float | None = None) -> Callable[[Any], Any]:
    """Hypothesis settings: ``count`` examples (scaled), an optional per-case deadline."""
    return settings(
        settings.get_profile(PROFILE),
        max_examples=examples(count),
        deadline=deadline_ms,
    )
