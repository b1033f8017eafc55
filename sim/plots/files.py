"""Write a figure as PNG or SVG, chosen by the file name, atomically."""

from __future__ import annotations

import io
import os
import tempfile
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
    if not path.parent.is_dir():
        raise InputError.single(option, f"'{path}': no such folder: {path.parent}")
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


def write_atomically(path: Path, data: bytes, option: str = "-o") -> None:
    """Write to a temporary file in the same folder, then rename it over ``path``."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError.single(option, f"'{path}': no such folder: {folder}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError.single(option, f"'{path}': cannot write: {exc.strerror}") from None


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def save_figure(fig: Figure, path: Path, option: str = "-o") -> None:
    """Write ``fig`` to ``path`` as PNG or SVG (by extension), atomically."""
    fmt = figure_format(path, option)
    write_atomically(path, figure_bytes(fig, fmt), option)
