"""Where a command may write: the checks every output path passes before any work.

An output path must name a regular file or nothing yet, in a folder that exists and
can be written. Everything else is refused with one line, before any simulation:

* a folder, device, FIFO or socket: ``PATH: not a regular file (a FIFO)``; renaming a
  finished file over it would destroy it (``/dev/full`` replaced by a regular file);
* a symbolic link, even one pointing to a regular file: ``PATH: is a symbolic link``.
  cartsim never writes through links (the rename that makes writes atomic would replace
  the link itself, and a link can lead anywhere): give the target's own path;
* a folder that cannot be written (read-only file system, a "folder" that is a file, no
  permission): ``PATH: cannot write: REASON``, found by creating and removing a
  temporary file there, which works whoever runs cartsim (root included);
* a name longer than the file system allows (255 bytes).

:func:`check_outputs` also refuses two outputs of one command (or their provenance
sidecars) that name the same file, and an output that is one of the command's inputs.

Temporary files are ``.NAME.XXXXXXXX.tmp`` beside the destination, with NAME shortened
so that the whole name fits in 255 bytes; a sidecar is ``NAME.provenance.json``, or, when
that would not fit, ``NAME-SHORTENED~HASH.provenance.json`` (:func:`sidecar_path`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from sim.errors import InputError

NAME_MAX = 255
"""Longest file name, in bytes (Linux and macOS file systems)."""
SIDECAR_SUFFIX = ".provenance.json"
_TEMP_EXTRA = len(".") + len(".12345678.tmp")

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _fit(name: str, room: int) -> str:
    """``name`` cut (at a character boundary) to at most ``room`` bytes of UTF-8."""
    raw = os.fsencode(name)
    if len(raw) <= room:
        return name
    return raw[:room].decode("utf-8", errors="ignore") or "out"


def temp_name(path: Path) -> Path:
    """A fresh temporary name beside ``path`` that fits the file system's name limit."""
    stem = _fit(path.name, NAME_MAX - _TEMP_EXTRA)
    return path.with_name(f".{stem}.{secrets.token_hex(4)}.tmp")


def sidecar_path(path: Path) -> Path:
    """``out.csv`` -> ``out.csv.provenance.json`` (shortened, with a hash, if too long)."""
    name = path.name + SIDECAR_SUFFIX
    if len(os.fsencode(name)) <= NAME_MAX:
        return path.with_name(name)
    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]
    stem = _fit(path.name, NAME_MAX - len(SIDECAR_SUFFIX) - 17)
    return path.with_name(f"{stem}~{digest}{SIDECAR_SUFFIX}")


def cannot_write(path: Path, exc: OSError | str) -> InputError:
    """``PATH: cannot write: REASON``."""
    reason = exc if isinstance(exc, str) else (exc.strerror or str(exc))
    return InputError.single(str(path), f"cannot write: {reason}")


def refuse_kind(path: Path) -> None:
    """Refuse ``path`` if it exists and is not a regular file (links included)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:  # e.g. ENOTDIR: a "folder" on the way is a file
        raise cannot_write(path, exc) from None
    if stat.S_ISLNK(info.st_mode):
        raise InputError.single(
            str(path), "is a symbolic link; cartsim does not write through links (give its target)"
        )
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "a special file")
        raise InputError.single(str(path), f"not a regular file ({kind})")


def check_destination(path: Path, option: str = "output", *, probe: bool = False) -> None:
    """An output path cartsim can write (see the module's docstring); ``probe`` also
    creates and removes a temporary file in its folder to prove the folder writable."""
    del option  # the message names the path; the option is kept for callers' clarity
    if "\0" in str(path):
        raise InputError.single(repr(str(path)), "not a file name (it holds a NUL character)")
    if len(os.fsencode(path.name)) > NAME_MAX:
        raise cannot_write(path, os.strerror(errno.ENAMETOOLONG))
    refuse_kind(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        raise InputError.single(str(path), f"no such folder: {folder}")
    if not folder.is_dir():
        raise cannot_write(path, os.strerror(errno.ENOTDIR))
    if probe:
        temp = temp_name(path)
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise cannot_write(path, exc) from None
        os.unlink(temp)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL: not a file this command reads
        return False


def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(
    outputs: Mapping[str, Path | None],
    inputs: Iterable[str | Path | None] = (),
    *,
    sidecars: bool = True,
) -> None:
    """Check every output of one command before it runs anything.

    ``outputs`` maps each option (``--csv``) to its path (None: not asked for). Each must
    pass :func:`check_destination` (with the probe); no two of them, nor their sidecars,
    may name the same file; none may be one of ``inputs`` (files the command reads).
    """
    given = [(option, path) for option, path in outputs.items() if path is not None]
    for option, path in given:
        check_destination(path, option, probe=True)
        if sidecars:
            refuse_kind(sidecar_path(path))
    named: list[tuple[str, Path]] = []
    for option, path in given:
        named.append((option, path))
        if sidecars:
            named.append((f"{option} (its provenance sidecar)", sidecar_path(path)))
    for i, (option, path) in enumerate(named):
        for other, earlier in named[:i]:
            if _same(path, earlier):
                raise InputError.single(
                    str(path), f"{other} and {option} name the same file; give each its own"
                )
    files = [Path(p) for p in inputs if p is not None and _is_file(Path(p))]
    for option, path in named:
        for source in files:
            if _same(path, source):
                raise InputError.single(
                    str(path), f"{option} would overwrite {source}, an input of this command"
                )
