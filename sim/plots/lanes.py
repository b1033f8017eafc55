"""Lanes of the timeline: marks at the bottom, text labels stacked in rows above them.

Labels are placed before anything is drawn: each label's width is estimated from its
characters, a label that would overlap one already placed moves up a row, and the lane
grows to hold its rows. Labels stay inside the axes (a label near an edge is shifted in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LANE_IN = 0.36  # inches per lane unit
LABEL_FONT = 7.5
CHAR_IN = LABEL_FONT * 0.6 / 72  # width of an average character, inches
LINE_UNITS = LABEL_FONT * 1.25 / 72 / LANE_IN  # one line of label text, in lane units

ToInches = Callable[[float], float]


@dataclass
class Labels:
    """The text labels of one lane, stacked in rows so that none overlap."""

    items: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, x: float, text: str, **kw: Any) -> None:
        self.items.append((x, text, kw))

    def lines(self) -> int:
        return max((t.count("\n") + 1 for _, t, _ in self.items), default=0)

    def place(self, to_inches: ToInches, width_in: float) -> list[tuple[int, float]]:
        """(row, centre in inches) of each label: kept inside the axes, stacked in rows."""
        ends: list[float] = []
        out = [(0, 0.0)] * len(self.items)
        for i in sorted(range(len(self.items)), key=lambda i: self.items[i][0]):
            x, text, _ = self.items[i]
            width = max(len(line) for line in text.split("\n")) * CHAR_IN + 0.05
            centre = min(max(to_inches(x), width / 2), width_in - width / 2)
            left = centre - width / 2
            row = next((r for r, end in enumerate(ends) if end <= left), len(ends))
            if row == len(ends):
                ends.append(-1e9)
            ends[row] = left + width
            out[i] = (row, centre)
        return out


@dataclass
class Lane:
    name: str
    marks: float = 0.8  # height of the marks, lane units
    labels: Labels = field(default_factory=Labels)
    placed: list[tuple[int, float]] = field(default_factory=list)  # (row, centre inches)
    y: float = 0.0  # bottom, set by the layout

    @property
    def row_height(self) -> float:
        return self.labels.lines() * LINE_UNITS + 0.12

    @property
    def height(self) -> float:
        stacked = max((row + 1 for row, _ in self.placed), default=0)
        return self.marks + stacked * self.row_height + (0.1 if stacked else 0.0)

    @property
    def mid(self) -> float:
        return self.y + self.marks / 2

    def bar(self, ax: Axes, start: float, end: float, colour: str, **kw: Any) -> None:
        ax.broken_barh(
            [(start, max(end - start, 0.02))],
            (self.y + 0.15 * self.marks, 0.7 * self.marks),
            color=colour,
            **kw,
        )

    def draw_labels(self, ax: Axes, width_in: float) -> None:
        """Write the placed labels (x in axes fraction, y in data units)."""
        where = ax.get_yaxis_transform()
        for (_, text, kw), (row, centre) in zip(self.labels.items, self.placed, strict=True):
            ax.text(
                centre / width_in,
                self.y + self.marks + row * self.row_height,
                text,
                transform=where,
                ha="center",
                va="bottom",
                fontsize=LABEL_FONT,
                linespacing=1.05,
                **kw,
            )
