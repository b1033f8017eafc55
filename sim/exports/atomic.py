"""The one atomic writer: a temporary file in the destination folder, then ``os.replace``.

Every file cartsim writes (tables, CSV metrics, figures, HTML reports, provenance
sidecars) goes through :class:`AtomicFile`. Readers never see a half-written file. If
anything goes wrong before the commit (an exception, Ctrl-C, SIGTERM, SIGHUP), the
temporary file is removed and an existing file at the destination is left as it was.
Destinations are checked by :mod:`sim.exports.destinations` (regular files only, no
links, names that fit).

A file and its sidecar commit as a pair (:func:`commit_pair`): both are written to
temporary names first; then, holding an exclusive lock on the folder (``flock``, so two
cartsim runs writing the same output cannot interleave their renames), the sidecar is
renamed into place and the main file last. If the main file's rename fails, the old
sidecar is put back, so the two are either both new or both old. The sidecar records the
main file's sha256, so a reader can still detect a pair broken by a crash between the
two renames.

``atomic_text`` and ``atomic_bytes`` give an open file; ``atomic_path`` gives the
temporary path for libraries that open files themselves.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from sim.exports.destinations import (
    cannot_write,
    check_destination,
    refuse_kind,
    temp_name,
)

__all__ = [
    "AtomicFile",
    "atomic_bytes",
    "atomic_path",
    "atomic_text",
    "cannot_write",
    "check_destination",
    "commit_pair",
    "write_bytes",
]


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


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
            temp = temp_name(self.path)
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise cannot_write(self.path, exc) from None
            self.temp = temp
            try:
                os.fchmod(fd, 0o666 & ~_umask())
            finally:
                os.close(fd)
            return temp
        raise cannot_write(self.path, "no free temporary name")

    def write(self, data: bytes) -> None:
        """Create the temporary file holding ``data``."""
        temp = self.create()
        try:
            temp.write_bytes(data)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError):
                raise cannot_write(self.path, exc) from None
            raise

    def commit(self) -> None:
        """Flush the temporary file to disk and rename it over the destination."""
        assert self.temp is not None, "commit() before create()"
        try:
            refuse_kind(self.path)  # it may have become a FIFO or a link since the check
            fd = os.open(self.temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.temp, self.path)
        except BaseException as exc:
            self.discard()
            if isinstance(exc, OSError):
                raise cannot_write(self.path, exc) from None
            raise
        self.temp = None

    def discard(self) -> None:
        """Remove the temporary file, if any (the destination is not touched)."""
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)
            self.temp = None


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the folder (none if the folder cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def commit_pair(main: AtomicFile, side: AtomicFile) -> None:
    """Commit a written ``main`` file and its written ``side``car together (see above)."""
    backup: Path | None = None
    try:
        with _folder_lock(main.path.parent if str(main.path.parent) else Path(".")):
            if side.path.is_file() and not side.path.is_symlink():
                backup = temp_name(side.path)
                with contextlib.suppress(OSError):
                    os.link(side.path, backup)
                if not backup.exists():
                    backup = None
            side.commit()
            try:
                main.commit()
            except BaseException:
                if backup is not None:
                    os.replace(backup, side.path)
                    backup = None
                else:
                    side.path.unlink(missing_ok=True)
                raise
    finally:
        main.discard()
        side.discard()
        if backup is not None:
            backup.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes, *, option: str = "output") -> None:
    """Write a whole file atomically (no sidecar; prefer ``write_output`` in provenance)."""
    target = AtomicFile(path, option=option)
    target.write(data)
    target.commit()


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
            raise cannot_write(path, exc) from None


@contextmanager
def atomic_bytes(path: Path, *, option: str = "output") -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` on success."""
    with atomic_path(path, option=option) as temp:
        try:
            with temp.open("wb") as fh:
                yield fh
        except OSError as exc:
            raise cannot_write(path, exc) from None
