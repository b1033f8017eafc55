"""The installed package carries every file it reads, and CI tests the installed package.

``.ci/run`` installs cartsim non-editable and runs this suite with
``CARTSIM_TEST_INSTALLED=1`` (README, "Tests"): then ``sim`` must be imported from
site-packages, not from the source tree next to these tests, and the built-in files must
be read from inside the package.
"""

from __future__ import annotations

import importlib.util
import os
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import sim
from sim.builtin_files import FOLDERS, builtin_folder, installed, package_dir
from sim.calibration import load_targets
from sim.cli import app

ROOT = Path(__file__).resolve().parents[1]
INSTALLED_MODE = os.environ.get("CARTSIM_TEST_INSTALLED") == "1"


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_the_wheel_ships_every_builtin_folder_inside_the_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["sim"]
    assert wheel["force-include"] == {f: f"sim/builtin/{f}" for f in FOLDERS}


def test_builtin_files_are_read_through_the_imported_package() -> None:
    home = package_dir() / "builtin" if installed() else package_dir().parent
    for folder in FOLDERS:
        assert builtin_folder(folder) == home / folder
        assert _files(builtin_folder(folder)), folder
    targets, path = load_targets()
    assert path == builtin_folder("calibration") / "targets.yaml"
    assert targets.targets


@pytest.mark.skipif(not INSTALLED_MODE, reason="CARTSIM_TEST_INSTALLED=1 is set by .ci/run")
def test_sim_is_imported_from_the_installed_package_not_the_source_tree() -> None:
    where = Path(sim.__file__).resolve().parent
    assert not where.is_relative_to(ROOT), f"sim imported from the source tree: {where}"
    site = {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
    assert any(where.is_relative_to(s) for s in site), where
    assert installed()
    assert package_dir().resolve() == where


@pytest.mark.skipif(not INSTALLED_MODE, reason="CARTSIM_TEST_INSTALLED=1 is set by .ci/run")
def test_the_installed_package_has_every_file_of_the_source_folders() -> None:
    for folder in FOLDERS:
        assert _files(builtin_folder(folder)) == _files(ROOT / folder), folder


def _smoke_script() -> Any:
    spec = importlib.util.spec_from_file_location("smoke_readme", ROOT / "scripts/smoke_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ci_smoke_runs_every_readme_example_smaller() -> None:
    smoke = _smoke_script()
    verbs = smoke.command_names(CliRunner().invoke(app, ["--help"]).output)
    assert {"run", "explain", "cohort", "compare", "plot", "calibrate", "export"} <= set(verbs)
    commands = smoke.readme_commands((ROOT / "README.md").read_text(encoding="utf-8"), verbs)
    used = {args[0] for args in commands}
    assert {"run", "explain", "list", "compare", "paths", "plot", "report", "export"} <= used
    assert {"sweep", "calibrate"} <= used
    assert all(not a.isupper() and "[" not in a for args in commands for a in args)
    assert ["run", "fractionated-crs-hold"] in commands
    assert smoke.shrink(["paths", "x", "--patients", "1000"], 20) == [
        "paths",
        "x",
        "--patients",
        "20",
    ]
    assert smoke.shrink(["calibrate"], 20) == ["calibrate", "--patients", "20"]
    assert smoke.shrink(["run", "x"], 20) == ["run", "x"]
