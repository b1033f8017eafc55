"""All cohort figures in one: swimmer, Kaplan-Meier, and delivered dose, stacked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.plots.cohort import ArmRuns
from sim.plots.distributions import distributions_height, draw_distributions
from sim.plots.style import style
from sim.plots.survival import draw_survival, survival_height
from sim.plots.swimmer import WIDTH_IN, draw_swimmer, swimmer_height

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def cohort_figure(arms: Sequence[ArmRuns]) -> Figure:
    from matplotlib.figure import Figure

    heights = [swimmer_height(arms), survival_height(arms), distributions_height(arms)]
    with style():
        fig = Figure(figsize=(WIDTH_IN, sum(heights)))
        parts: Any = fig.subfigures(3, 1, height_ratios=heights)
        draw_swimmer(parts[0], arms)
        draw_survival(parts[1], arms)
        draw_distributions(parts[2], arms)
    return fig
