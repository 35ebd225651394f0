"""All SQL lives in the store (DESIGN.md): outside api/store/ no module builds or runs a query.

Routes, the glue, geo/ and the detector call the store's verbs; this walks their sources and names
every file and line that imports SQLAlchemy's query builders, reaches for the store's tables
(`roadscan.api.store.schema`) or runs a statement (`.execute(`). A connection or engine may still be
named in a type annotation.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("api", "roadscan", "geo", "detector")
STORE = REPO / "api" / "store"
ANNOTATION_TYPES = {"Connection", "Engine"}  # what a signature may name of SQLAlchemy
SCHEMA = "roadscan.api.store.schema"
RUNS_SQL = {"execute", "exec_driver_sql", "executemany"}


def sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (REPO / folder).rglob("*.py") if not p.is_relative_to(STORE))


def offences(path: Path) -> list[str]:
    """Each SQL import or statement in one file, as "file:line: what"."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy."):
                    found.append((node.lineno, f"imports {alias.name}"))
                elif alias.name == SCHEMA:
                    found.append((node.lineno, f"imports the store's tables ({SCHEMA})"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module == "sqlalchemy" or node.module.startswith("sqlalchemy."):
                if names - ANNOTATION_TYPES:
                    found.append((node.lineno, f"imports {', '.join(sorted(names - ANNOTATION_TYPES))} from {node.module}"))
            elif node.module == SCHEMA or (node.module == "roadscan.api.store" and "schema" in names):
                found.append((node.lineno, f"imports the store's tables ({SCHEMA})"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNS_SQL:
            found.append((node.lineno, f"runs SQL (.{node.func.attr}(...))"))
    return [f"{path.relative_to(REPO)}:{line}: {what}" for line, what in sorted(found)]


def test_the_walk_sees_the_packages():
    walked = {p.relative_to(REPO).parts[0] for p in sources()}
    assert walked == set(FOLDERS)
    assert not any(p.is_relative_to(STORE) for p in sources())


def test_no_sql_outside_the_store():
    found = [line for path in sources() for line in offences(path)]
    assert not found, "SQL belongs in api/store/, behind a verb:\n" + "\n".join(found)
