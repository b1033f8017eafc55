"""Coverage-guided fuzzing of the loader with atheris (libFuzzer), outside the test suite.

Not collected by pytest (the name does not start with ``test_``) and atheris is not a
dependency: install it yourself (``pip install atheris``), then run, from the repo root::

    python tests/fuzz/atheris_loader.py -atheris_runs=200000 -max_len=16384 -timeout=10

(any libFuzzer flag works; ``-max_total_time=600`` for a time budget). The corpus starts
from the built-in protocol and scenario files, written to a temporary folder. Each input
is written to a file and loaded with :func:`sim.spec.load.load_target`, exactly as
``cartsim check`` does; the one acceptable failure is :class:`sim.errors.InputError`,
whose problems must each name a file and a message. Anything else (another exception, a
problem without a file, a libFuzzer timeout) is a finding: libFuzzer stops and writes
the input as ``crash-*`` or ``timeout-*`` in the current folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from sim.errors import InputError
    from sim.spec.load import builtin_dir, load_target

WORK = Path(tempfile.mkdtemp(prefix="cartsim-atheris-"))
TARGET = WORK / "input.yaml"


def one_input(data: bytes) -> None:
    TARGET.write_bytes(data)
    try:
        load_target(str(TARGET))
    except InputError as exc:
        if not exc.problems or not all(p.file and p.message for p in exc.problems):
            raise AssertionError(f"unclear problems: {exc.problems}") from None


def main() -> None:
    corpus = WORK / "corpus"
    corpus.mkdir()
    for kind in ("protocol", "scenario"):
        for path in builtin_dir(kind).glob("*.yaml"):
            (corpus / path.name).write_bytes(path.read_bytes())
    atheris.Setup([sys.argv[0], *sys.argv[1:], str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
