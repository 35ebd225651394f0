"""Text matching in SQL that ignores case in every alphabet, not just ASCII.

SQLite's lower() and LIKE fold ASCII only, so 'Østergade' would not match 'østergade'; on SQLite
these patterns become GLOBs with a class per letter ('ø' -> '[øØ]'). CQL2's LIKE and CASEI
(cql2_sql.py) and the defects' road filter (filters.py) match through them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal
from sqlalchemy.sql.elements import ColumnElement


def like_to_glob(pattern: str) -> str:
    """A CQL2 LIKE pattern (% any, _ one, backslash escapes) as a SQLite GLOB pattern."""
    out, chars = [], iter(pattern)
    for ch in chars:
        if ch == "\\":
            ch = next(chars, "\\")
            out.append(_glob_literal(ch))
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append(_glob_literal(ch))
    return "".join(out)


def _glob_literal(ch: str) -> str:
    return f"[{ch}]" if ch in "*?[]" else ch


def glob_escape(text: str) -> str:
    return "".join(_glob_literal(ch) for ch in text)


def casei_glob(glob: str) -> str:
    """A GLOB pattern that ignores case for every letter (SQLite's lower() and LIKE fold ASCII only):
    letters become classes, 'ø' -> '[øØ]'; wildcards and existing classes stay as they are."""
    out, i = [], 0
    while i < len(glob):
        ch = glob[i]
        if ch == "[":  # a class written by _glob_literal: [*], [?], [[], []]
            end = glob.index("]", i + 2)
            out.append(glob[i:end + 1])
            i = end + 1
            continue
        low, up = ch.lower(), ch.upper()
        out.append(f"[{low}{up}]" if low != up and len(low) == len(up) == 1 else ch)
        i += 1
    return "".join(out)


def contains_casei(column: Any, text: str, dialect: str) -> ColumnElement:
    """The column contains the text, ignoring case in every alphabet (SQLite's LIKE folds ASCII only)."""
    if dialect == "sqlite":
        return column.op("GLOB")(literal("*" + casei_glob(glob_escape(text)) + "*"))
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(literal(f"%{escaped}%"), escape="\\")
