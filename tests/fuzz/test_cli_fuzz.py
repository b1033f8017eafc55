"""CLI fuzzing: generated argument vectors for every command (issue 18, item 7).

Each case is one ``cartsim`` command line drawn by hypothesis: a command, positional
targets and options from pools of valid, malformed, extreme and unicode values, special
files (a FIFO, a folder, a symbolic link, a path under a regular file, an existing file
to overwrite) as inputs and outputs, in a fresh folder. Every case must:

* print no traceback and raise nothing but a clean exit;
* exit with 0, 1 (calibration targets missed), 2 (usage or input error), 3 (runaway
  guard) or 130;
* leave no file behind other than the outputs it was asked for and their sidecars, and
  leave the special files as they were.

``CASES`` cases per run (``cartsim-ci``), ten times as many in ``cartsim-thorough``
(:mod:`tests.property.profiles`). Cohorts stay tiny (``--patients`` 1 to 3, one worker)
so that the run stays fast.
"""

from __future__ import annotations

import itertools
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from sim.cli import app
from tests.property.profiles import budget

CASES = 300
EXIT_CODES = {0, 1, 2, 3, 130}
runner = CliRunner()

# --- value pools -----------------------------------------------------------------------

PROTOCOLS = ["cart19-be-02", "msk-19-28z", "tisagenlecleucel-label"]
SCENARIOS = ["fractionated-crs-hold", "fractionated-no-toxicity"]
WEIRD = ["", "-", "--", "é", "\u202e", "x" * 300, "nul\x00", "\x1b[31m", "../..", "/"]
SPECIAL = ["FIFO", "FOLDER", "LINK", "BLOCKED", "EXISTING", "MISSING"]


def mostly(
    valid: st.SearchStrategy[str], invalid: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    """Valid values three times in four, so that many cases run to the end."""
    return st.one_of(valid, valid, valid, invalid)


TARGETS = mostly(
    st.sampled_from(PROTOCOLS + SCENARIOS),
    st.sampled_from(WEIRD + SPECIAL + ["nope", "p.yaml"]),
)
INTS = mostly(
    st.integers(min_value=1, max_value=3).map(str),
    st.sampled_from(["0", "-1", str(2**63), str(2**64), "1e3", "x", "", "٣", " 2", "nan"]),
)
SEEDS = mostly(
    st.integers(min_value=0, max_value=2**63 - 1).map(str),
    st.sampled_from(["-1", str(2**63), "-0", "1.5", "", "０"]),
)
FLOATS = mostly(
    st.sampled_from(["70", "45.5", "12", "180"]),
    st.sampled_from(["-5", "0", "nan", "inf", "-inf", "1e308", "x", "", "1e-300"]),
)
FIX = st.sampled_from(
    [
        "weight_kg=70",
        "weight_kg=!!python/name:os.system",
        "weight_kg=*x",
        "weight_kg=[1]",
        "weight_kg=",
        "nope=1",
        "marrow_blasts_pct=2",
        "age_y=nan",
        "=",
        "weight_kg=\x1b[31m",
    ]
)
SETS = st.sampled_from(
    [
        "fractions.0.day=0",
        "fractions.0.dose.cells_per_kg=1e5,2e5",
        "fractions.9.day=1",
        "nope=1",
        "fractions.0.day=!!binary AA==",
        "fractions.0.day=*a",
        "=",
        "fractions.0.day=[",
        "gates.safety.0.action=stop,give",
    ]
)
EXTENSIONS = [".csv", ".jsonl", ".parquet", ".png", ".svg", ".html", ".txt", ""]
OUT_NAMES = mostly(
    st.builds(lambda stem, ext: stem + ext, st.sampled_from(["out", "é", "a b", "m" * 246]),
              st.sampled_from(EXTENSIONS)),
    st.sampled_from(SPECIAL),
)  # fmt: skip
SCHEDULERS = st.sampled_from(["nonsense", "tcp://", "tcp://256.0.0.1:1", ""])

COHORT_OPTIONS = {
    "--patients": INTS,
    "--seed": SEEDS,
    "--population": st.sampled_from(["adult-rr-ball", "cns-relapse", "nope", ""]),
    "--fix": FIX,
    "--params": TARGETS,
    "--workers": st.sampled_from(["1", "0", "-3", "257", "x"]),
    "--csv": OUT_NAMES,
}
COMMANDS: dict[str, tuple[int, dict[str, st.SearchStrategy[str]], tuple[str, ...]]] = {
    # name: (positional targets, options with values, flags)
    "run": (1, {"--seed": SEEDS, "--weight": FLOATS, "--age": FLOATS, "--events": OUT_NAMES},
            ("--json",)),
    "explain": (1, {"--seed": SEEDS, "--blasts": FLOATS, "--height": FLOATS}, ()),
    "check": (2, {}, ()),
    "list": (0, {}, ()),
    "schema": (0, {"--kind": st.sampled_from(["protocol", "scenario", "both", "x"])}, ()),
    "cohort": (1, {**COHORT_OPTIONS, "--patients-out": OUT_NAMES, "--events": OUT_NAMES},
               ("--json", "-q", "--no-timing")),
    "compare": (2, {**COHORT_OPTIONS, "--events": OUT_NAMES}, ("--json", "-q")),
    "sweep": (1, {**COHORT_OPTIONS, "--set": SETS}, ("--json", "-q")),
    "paths": (1, {k: COHORT_OPTIONS[k] for k in ("--patients", "--seed", "--fix", "--workers")},
              ("--json", "-q")),
    "plot": (1, {"-o": OUT_NAMES, "--patients": INTS, "--seed": SEEDS, "--until-day": FLOATS,
                 "--figure": st.sampled_from(["all", "swimmer", "survival", "doses", "x"]),
                 "--weight": FLOATS}, ()),
    "report": (1, {"-o": OUT_NAMES, "--patients": INTS, "--seed": SEEDS, "--fix": FIX}, ()),
    "export": (1, {"-o": OUT_NAMES, "--patients": INTS, "--seed": SEEDS,
                   "--format": st.sampled_from(["nonmem", "events", "patients", "x"])}, ()),
    "calibrate": (0, {"--targets": TARGETS, "--patients": st.just("1"), "--seed": SEEDS,
                      "--scheduler": SCHEDULERS}, ("--json", "-q")),
}  # fmt: skip
OUTPUT_OPTIONS = {"--csv", "--events", "--patients-out", "-o"}


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    name = draw(st.sampled_from(sorted(COMMANDS)))
    positional, options, flags = COMMANDS[name]
    argv = [name]
    count = draw(st.sampled_from([positional] * 4 + [max(0, positional - 1), positional + 1]))
    argv += draw(st.lists(TARGETS, min_size=count, max_size=count))
    chosen = draw(st.lists(st.sampled_from(sorted(options)), max_size=4)) if options else []
    for option in chosen:
        argv += [option, draw(options[option])]
    if name in ("cohort", "compare", "sweep", "paths", "calibrate") and "--patients" not in argv:
        argv += ["--patients", "2"]  # never the default 1,000 or 2,000
    if name in ("plot", "report", "export") and "-o" not in argv:
        argv += ["-o", draw(OUT_NAMES)]
    if name == "export" and "--format" not in argv:
        argv += ["--format", "events"]
    if name == "sweep" and "--set" not in argv:
        argv += ["--set", draw(SETS)]
    argv += draw(st.lists(st.sampled_from(flags), max_size=2, unique=True)) if flags else []
    if draw(st.integers(0, 4)) == 0 and len(argv) > 2:  # sometimes shuffle a little
        i = draw(st.integers(min_value=1, max_value=len(argv) - 1))
        argv = [argv[0], *argv[i:], *argv[1:i]]
    return argv


@contextmanager
def case_folder() -> Iterator[Path]:
    """A fresh folder holding the special files, made the working directory."""
    old = Path.cwd()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        os.mkfifo(folder / "FIFO")
        (folder / "FOLDER").mkdir()
        (folder / "target.txt").write_text("link target\n")
        (folder / "LINK").symlink_to("target.txt")
        (folder / "blocker").write_text("a file\n")
        (folder / "EXISTING").write_text("old\n")
        os.chdir(folder)
        try:
            yield folder
        finally:
            os.chdir(old)


def _kinds(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IFMT(os.lstat(p).st_mode) for p in folder.iterdir()}


@budget(CASES)
@given(argv=command_lines())
def test_any_command_line_ends_cleanly(argv: list[str]) -> None:
    argv = ["blocker/x.csv" if a == "BLOCKED" else a for a in argv]
    with case_folder() as folder:
        before = _kinds(folder)
        result = runner.invoke(app, argv)
        after = _kinds(folder)
    assert "Traceback" not in result.output, (argv, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        argv,
        repr(result.exception),
    )
    assert result.exit_code in EXIT_CODES, (argv, result.exit_code, result.output)
    event(f"{argv[0]}: exit {result.exit_code}")
    requested = {value for option, value in itertools.pairwise(argv) if option in OUTPUT_OPTIONS}
    for name, kind in before.items():
        assert after.get(name) == kind, (argv, name, "changed kind or vanished")
    for name in set(after) - set(before):
        main = name.removesuffix(".provenance.json")
        assert main in requested or "~" in name, (argv, name, "stray file")
        assert not name.endswith(".tmp"), (argv, name)
