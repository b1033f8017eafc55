"""Write a figure as PNG or SVG, chosen by the file name, atomically, with its sidecar."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import InputError
from sim.plots.style import style

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg"}
DPI = 150


def figure_format(path: Path, option: str = "-o") -> str:
    """``png`` or ``svg`` from the file's extension; anything else is an input error."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError.single(
            option, f"'{path}': the figure is written as .png or .svg, not '{path.suffix}'"
        )
    return fmt


def figure_bytes(fig: Figure, fmt: str, salt: str = "cartsim") -> bytes:
    """The figure encoded as PNG or SVG; the same figure gives the same bytes.

    ``salt`` seeds the SVG element ids: give each figure of one HTML page its own.
    """
    import matplotlib

    buf = io.BytesIO()
    with style(), matplotlib.rc_context({"svg.hashsalt": salt}):
        # no date, version or web address in the file: identical bytes, nothing to fetch
        metadata: dict[str, Any] = (
            dict.fromkeys(("Date", "Creator", "Format", "Type"))
            if fmt == "svg"
            else {"Software": None}
        )
        fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata)
    return buf.getvalue()


def save_figure(fig: Figure, path: Path, record: Mapping[str, Any], option: str = "-o") -> None:
    """Write ``fig`` to ``path`` as PNG or SVG (by extension), atomically, with its
    provenance sidecar (through the one atomic writer, :mod:`sim.exports.atomic`)."""
    from sim.exports.provenance import write_output

    fmt = figure_format(path, option)
    write_output(path, figure_bytes(fig, fmt), record, file_format=fmt, option=option)
