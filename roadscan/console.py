"""The command's output: results on stdout, messages and progress on stderr.

Markup is off on both consoles: what the command prints holds paths, road names and mapping names
such as `[osm]`, which rich would read as style tags and drop. Styles are given explicitly
(`styled`). Lines are never wrapped, and a table piped or logged is printed at its natural width,
not cut to the 80 columns rich assumes when there is no terminal.
"""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

console = Console(markup=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


def styled(*parts: str | tuple[str, str]) -> Text:
    """Text from plain strings and (text, style) pairs; nothing in it is read as markup."""
    return Text.assemble(*parts)


def print_table(table: Table, out: Console = console) -> None:
    """A table at the terminal's width, or at its own full width when the output is a pipe or a file."""
    if out.is_terminal:
        out.print(table)
        return
    width = Measurement.get(out, out.options.update_width(100_000), table).maximum
    # print(width=) cannot go beyond the console's own width: a console of the table's width writes it
    Console(file=out.file, width=max(width, out.width), markup=False, highlight=False).print(table)


def show(renderable: RenderableType, out: Console = console) -> None:
    """Print anything: tables through print_table, the rest as it is."""
    print_table(renderable, out) if isinstance(renderable, Table) else out.print(renderable)
