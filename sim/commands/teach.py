"""Teaching and review commands: decision paths, plots and the HTML report (issue 4)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app`` (filled in by the issue-4 work)."""
