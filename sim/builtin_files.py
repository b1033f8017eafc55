"""Where cartsim's built-in files are: protocols, scenarios and calibration targets.

An installed cartsim carries them inside the package, in ``sim/builtin/`` (the wheel
copies the top-level ``protocols/``, ``scenarios/`` and ``calibration/`` folders there:
``[tool.hatch.build.targets.wheel.force-include]`` in ``pyproject.toml``). A source
checkout, where ``sim/builtin/`` does not exist, reads the top-level folders themselves.
The choice is made once for all folders, so an installed package never reads files
from beside ``site-packages``. (The model's parameter file lives in the package itself:
``sim/model/parameters.yaml``.)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

Folder = Literal["protocols", "scenarios", "calibration", "clinics"]
FOLDERS: tuple[Folder, ...] = ("protocols", "scenarios", "calibration", "clinics")


def package_dir() -> Path:
    """The folder of the ``sim`` package that is imported (installed or source)."""
    root = resources.files("sim")
    if not isinstance(root, Path):  # pragma: no cover - cartsim is not installed zipped
        raise RuntimeError(f"cartsim must be installed as files, not in an archive ({root})")
    return root


def installed() -> bool:
    """Whether the built-in files ship inside the package (an installed wheel)."""
    return (package_dir() / "builtin").is_dir()


def builtin_folder(folder: Folder) -> Path:
    """The folder of built-in ``protocols``, ``scenarios`` or ``calibration`` files."""
    if installed():
        return package_dir() / "builtin" / folder
    return package_dir().parent / folder
