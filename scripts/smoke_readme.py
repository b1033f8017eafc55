"""Run every ``cartsim`` command of the README against the installed package.

    python scripts/smoke_readme.py README.md [--patients 20]

For CI (``.ci/run``): after a non-editable ``pip install .``, this proves that the
installed package works on its own, as a user who followed the README would run it.
Every command runs as the ``cartsim`` executable on the PATH, in a fresh temporary
folder outside the source tree (files it writes land there). Before anything runs, the
script checks that ``import sim`` from that folder finds the installed package and not
the source tree beside the README.

The commands are the README's examples: every ``cartsim VERB ...`` in it, with VERB one
of the commands ``cartsim --help`` lists, except synopses (with ``[...]`` or upper-case
placeholders such as TARGET or N). ``--patients`` is cut to a small number; nothing else
is changed. A command works when it exits 0 and prints no traceback; ``calibrate`` may
also exit 1 (a target not reproduced is its documented result, expected with few
patients) but must still list every target. Exit code: 0 if every command worked, 1 if
not (each failure is printed).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9]*(\.\.\.)?")


def command_names(help_text: str) -> list[str]:
    """The sub-commands that the text of ``cartsim --help`` lists."""
    section = help_text.split("Commands:", 1)[1]
    return [line.split()[0] for line in section.splitlines() if line.strip()]


def readme_commands(readme: str, verbs: list[str]) -> list[list[str]]:
    """Every example command of the README (arguments after ``cartsim``), in order."""
    text = readme.replace("\\\n", " ")
    pattern = r"cartsim ((?:" + "|".join(map(re.escape, verbs)) + r")(?![a-z-])[^`\n|]*)"
    found: list[list[str]] = []
    for match in re.findall(pattern, text):
        if "[" in match or any(PLACEHOLDER.fullmatch(word) for word in match.split()):
            continue  # a synopsis, not an example
        args = shlex.split(match)
        if args not in found:
            found.append(args)
    return found


def shrink(args: list[str], patients: int) -> list[str]:
    """The command with ``--patients`` cut to ``patients`` (added to ``calibrate``)."""
    out = list(args)
    if "--patients" in out:
        at = out.index("--patients") + 1
        out[at] = str(min(int(out[at]), patients))
    elif out[0] == "calibrate":
        out += ["--patients", str(patients)]
    return out


def installed_sim(python: str, folder: Path) -> Path:
    """Where ``import sim`` finds the package, for a Python started in ``folder``."""
    done = subprocess.run(
        [python, "-c", "import sim; print(sim.__file__)"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip()).resolve().parent


def works(args: list[str], done: subprocess.CompletedProcess[str]) -> str | None:
    """Why the finished command did not work, or None."""
    if "Traceback" in done.stderr or "Traceback" in done.stdout:
        return "printed a traceback"
    if done.returncode == 0:
        return None
    if args[0] == "calibrate" and done.returncode == 1 and "targets" in done.stdout:
        return None
    return f"exit code {done.returncode}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("readme", type=Path)
    parser.add_argument("--patients", type=int, default=20)
    options = parser.parse_args()
    source = options.readme.resolve().parent
    cartsim = shutil.which("cartsim")
    if cartsim is None:
        print("smoke: no 'cartsim' on the PATH (install the package first)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="cartsim-smoke-") as tmp:
        folder = Path(tmp)
        package = installed_sim(sys.executable, folder)
        if package.is_relative_to(source):
            print(f"smoke: 'import sim' finds the source tree ({package})", file=sys.stderr)
            return 1
        print(f"smoke: package {package}; running in {folder}")
        readme = options.readme.read_text(encoding="utf-8")
        usage = subprocess.run([cartsim, "--help"], capture_output=True, text=True, check=True)
        commands = readme_commands(readme, command_names(usage.stdout))
        failed = 0
        env = dict(os.environ, PYTHONSAFEPATH="1")
        for args in commands:
            run = shrink(args, options.patients)
            done = subprocess.run(
                [cartsim, *run], cwd=folder, capture_output=True, text=True, env=env
            )
            problem = works(run, done)
            shown = shlex.join(["cartsim", *run])
            if problem is None:
                print(f"ok    {shown}")
            else:
                failed += 1
                print(f"FAIL  {shown}: {problem}\n{done.stdout[-2000:]}{done.stderr[-4000:]}")
        print(f"smoke: {len(commands) - failed} of {len(commands)} README commands worked")
        return 1 if failed or not commands else 0


if __name__ == "__main__":
    sys.exit(main())
