"""How `roadscan ... --help` lists options.

Typer prints each option's value type (`<path>`, `<float>`), and also `<bool>` after plain flags
such as `--replace` or `--help`, which take no value. Commands and groups made with these classes
leave the type column of flags empty. Old option spellings kept for compatibility are hidden
options (`hidden_alias`), so that the help lists one name per meaning.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


def _plain_flags(params: list) -> list:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # typer shows the metavar instead of the type; empty shows nothing
    return params


class Command(TyperCommand):
    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))


class Group(TyperGroup):
    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))


def hidden_alias(old: str, new: str) -> Any:
    """An option under an old name, not listed in --help; the command uses it where `new` was not given."""
    return typer.Option(old, hidden=True, help=f"Old name of {new}.")
