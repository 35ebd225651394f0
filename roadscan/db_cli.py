"""`roadscan db`: the store itself -- migrate it in place, or move it between SQLite and PostgreSQL/PostGIS.

    roadscan db upgrade --db postgresql://roadscan@dbhost/roadscan
    roadscan db copy roadscan.db postgresql://roadscan@dbhost/roadscan
    roadscan db copy postgresql://roadscan@dbhost/roadscan backup.db
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from roadscan.cli_help import Command, Group
from roadscan.console import console, err_console, styled

db_app = typer.Typer(help="The store: migrate it (upgrade) or copy it between SQLite and PostgreSQL/PostGIS.",
                     no_args_is_help=True, cls=Group)

Location = Annotated[str, typer.Argument(metavar="FILE|URL", help="A SQLite file or a database URL (postgresql://...).")]


@db_app.command("upgrade", cls=Command)
def upgrade_cmd(db: Annotated[Optional[str], typer.Option("--db", metavar="FILE|URL", help="The store (default: $ROADSCAN_DB, else ./roadscan.db).")] = None) -> None:
    """Run the store's migrations (and, on PostgreSQL, add PostGIS's geometry columns and indexes)."""
    from roadscan.api.store.database import upgrade_store

    where, before, after = upgrade_store(db)
    if before == after:
        console.print(f"{where}: schema {after}, up to date")
    else:
        console.print(f"{where}: schema {before} -> {after}")


@db_app.command("copy", cls=Command)
def copy_cmd(src: Location, dst: Location,
             replace: Annotated[bool, typer.Option("--replace", help="Empty the destination first if it holds data (everything in it is lost).")] = False,
             images: Annotated[bool, typer.Option("--images/--no-images", help="Copy the image folder too (frames, photos) where the two stores' folders differ.")] = True) -> None:
    """Copy every table, ids kept, from SRC into DST (made if absent); the row counts are checked at the end."""
    from roadscan.api.store.database import open_store
    from roadscan.api.store.transfer import copy_store

    with Progress(TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True) as progress:
        tasks: dict[str, int] = {}

        def on_progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = progress.add_task(table, total=max(total, 1))
            progress.update(tasks[table], completed=done if total else 1)

        with open_store(src, create=False) as source, open_store(dst) as target:
            if source.location == target.location:
                from roadscan.core.errors import ConfigError

                raise ConfigError(f"SRC and DST are the same store ({source.location})")
            report = copy_store(source, target, replace=replace, on_progress=on_progress, images=images)
    rows = sum(report.rows.values())
    console.print(styled(("Copied", "bold green"),
                         f" {rows} rows in {len(report.rows)} tables from {source.location} to {target.location} "
                         f"(counts verified)" + (f", {report.images} image files" if report.images else "")))
    for table, n in report.rows.items():
        if n:
            err_console.print(f"  {table}: {n}")


def register(app: typer.Typer) -> None:
    """Add `roadscan db ...` to the main command."""
    app.add_typer(db_app, name="db")
