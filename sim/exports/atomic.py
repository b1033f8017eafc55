"""Atomic file writes: a temporary file in the destination folder, then ``os.replace``.

Readers never see a half-written file. If anything goes wrong before the commit (an
exception, a ``KeyboardInterrupt``), the temporary file is removed and an existing file
at the destination is left as it was.

``atomic_text`` and ``atomic_bytes`` give an open file; ``atomic_path`` gives the
temporary path for libraries that open files themselves. :class:`AtomicFile` is the
piece underneath, for writers that commit several files in a chosen order.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from sim.errors import InputError


def check_destination(path: Path, option: str) -> None:
    """An output path cartsim can write: its folder exists and it is not a folder itself."""
    if not path.parent.is_dir():
        raise InputError.single(str(path), f"no such folder: {path.parent}", field=option)
    if path.is_dir():
        raise InputError.single(str(path), "is a folder, not a file", field=option)


def cannot_write(path: Path, option: str, exc: OSError) -> InputError:
    reason = exc.strerror or str(exc)
    return InputError.single(str(path), f"cannot write: {reason}", field=option)


class AtomicFile:
    """A temporary file beside ``path``; :meth:`commit` moves it into place."""

    def __init__(self, path: Path, *, option: str = "output") -> None:
        check_destination(path, option)
        self.path = path
        self.option = option
        self.temp: Path | None = None

    def create(self) -> Path:
        """Create the (empty) temporary file, with the usual permissions, and return it."""
        for _ in range(100):
            temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise cannot_write(self.path, self.option, exc) from None
            os.close(fd)
            self.temp = temp
            return temp
        raise cannot_write(self.path, self.option, FileExistsError("no free temporary name"))

    def commit(self) -> None:
        """Flush the temporary file to disk and rename it over the destination."""
        assert self.temp is not None, "commit() before create()"
        try:
            fd = os.open(self.temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.temp, self.path)
        except OSError as exc:
            self.discard()
            raise cannot_write(self.path, self.option, exc) from None
        self.temp = None

    def discard(self) -> None:
        """Remove the temporary file, if any (the destination is not touched)."""
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None


@contextmanager
def atomic_path(path: Path, *, option: str = "output") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``."""
    target = AtomicFile(path, option=option)
    temp = target.create()
    try:
        yield temp
    except BaseException:
        target.discard()
        raise
    target.commit()


@contextmanager
def atomic_text(path: Path, *, option: str = "output") -> Iterator[TextIO]:
    """Yield a text file (UTF-8, ``\\n`` line ends) that replaces ``path`` on success."""
    with atomic_path(path, option=option) as temp:
        try:
            with temp.open("w", encoding="utf-8", newline="") as fh:
                yield fh
        except OSError as exc:
            raise cannot_write(path, option, exc) from None


@contextmanager
def atomic_bytes(path: Path, *, option: str = "output") -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` on success."""
    with atomic_path(path, option=option) as temp:
        try:
            with temp.open("wb") as fh:
                yield fh
        except OSError as exc:
            raise cannot_write(path, option, exc) from None
