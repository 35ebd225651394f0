"""Detector commands of `roadscan`: dataset building, training, evaluation, export.

Kept apart from roadscan/cli.py so that the survey commands and the model commands each have one
place; `register(app)` adds them to the main command.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the detector commands to the main `roadscan` command."""
