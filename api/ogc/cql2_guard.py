"""A CQL2 filter's size and nesting, checked before any parser sees it; the parser run where it cannot crash.

The `cql2` parser (Rust) recurses once per nesting level with about 5 KB of stack a level: a filter of
1,600 parentheses (3.2 KB of text) overflowed a thread's 8 MB stack and the whole process died with a
segfault (issue 15); NOTs, signs and nested functions do the same. So the text is measured first:
its length, and its nesting depth as a small lexer counts it (parentheses or JSON brackets open at
once, plus the NOTs and signs pending there). And the parser runs on one thread of its own with a
stack that even the deepest filter the length limit allows cannot exhaust, so a nesting this lexer
misjudged still cannot take the server down. After parsing, the number of operations is checked:
SQLite refuses expression trees deeper than 1,000, and a long OR chain is that deep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

from roadscan.api.limits import Limits
from roadscan.api.store.cql2_sql import FilterError

T = TypeVar("T")

# The parser's stack: about 5 KB a level (measured: '(' x 14,000 fits in 64 MiB, 16,000 does not), so
# 256 MiB holds some 50,000 levels, three times the longest filter allowed by default. Only the part
# used is ever touched; the rest is address space.
PARSER_STACK_BYTES = 256 * 1024 * 1024
STACK_BYTES_PER_LEVEL = 5 * 1024

_PREFIX_WORDS = {"NOT"}
_JOIN_WORDS = {"AND", "OR"}


def check_text(text: str, lang_is_json: bool, limits: Limits) -> None:
    """Refuse (FilterError) a filter longer or deeper than the limits, before it is parsed."""
    if len(text) > limits.max_filter_chars:
        raise FilterError(f"the filter is {len(text):,} characters long; at most {limits.max_filter_chars:,} "
                          "are accepted")
    if len(text) * STACK_BYTES_PER_LEVEL > PARSER_STACK_BYTES:
        raise FilterError(f"the filter is {len(text):,} characters long, more than this server can parse safely")
    depth = json_depth(text, limits.max_filter_depth) if lang_is_json else text_depth(text, limits.max_filter_depth)
    if depth > limits.max_filter_depth:
        raise FilterError(f"the filter nests more than {limits.max_filter_depth} levels deep (parentheses, "
                          "NOTs and signs); write it flatter, e.g. with IN (...) or fewer parentheses")


def text_depth(text: str, stop_above: int) -> int:
    """The deepest nesting of CQL2 text: open parentheses, plus NOTs pending at that level (a NOT
    lasts until the next AND/OR or closing parenthesis), plus a run of signs (- - -1). Quoted strings
    and identifiers are skipped. Returns early once `stop_above` is exceeded."""
    pending = [0]  # NOTs pending at each open parenthesis level
    level = best = 0  # open parentheses + every pending NOT
    i, n = 0, len(text)
    while i < n and best <= stop_above:
        c = text[i]
        if c in "'\"":  # a string or a quoted identifier; a doubled quote is one quote inside it
            i += 1
            while i < n and not (text[i] == c and (i + 1 >= n or text[i + 1] != c)):
                i += 2 if text[i] == c else 1
        elif c == "(":
            pending.append(0)
            level += 1
        elif c == ")":
            if len(pending) > 1:
                level -= 1 + pending.pop()
        elif c in "+-":
            run = 0
            while i < n and (text[i] in "+-" or text[i].isspace()):
                run += text[i] in "+-"
                i += 1
            best = max(best, level + run)
            continue
        elif c.isalpha() or c == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_.:"):
                i += 1
            word = text[start:i].upper()
            if word in _PREFIX_WORDS:
                pending[-1] += 1
                level += 1
            elif word in _JOIN_WORDS:
                level -= pending[-1]
                pending[-1] = 0
            best = max(best, level)
            continue
        best = max(best, level)
        i += 1
    return best


def json_depth(text: str, stop_above: int) -> int:
    """The deepest nesting of JSON arrays and objects (strings skipped). Returns early once `stop_above` is exceeded."""
    depth = best = 0
    i, n = 0, len(text)
    while i < n and best <= stop_above:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "[{":
            depth += 1
            best = max(best, depth)
        elif c in "]}":
            depth -= 1
        i += 1
    return best


def check_operations(expr: Any, limits: Limits) -> None:
    """Refuse (FilterError) a parsed filter (CQL2 JSON) with more operations than the limit."""
    count, todo = 0, [expr]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            count += "op" in node
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    if count > limits.max_filter_terms:
        raise FilterError(f"the filter has {count} operations (comparisons, AND, OR, NOT, functions); at most "
                          f"{limits.max_filter_terms} are accepted: use IN (...) for a list of values")


@cache
def _parser_thread() -> ThreadPoolExecutor:
    """One thread with a deep stack, made now (threading.stack_size applies to threads started after it)."""
    previous = threading.stack_size(PARSER_STACK_BYTES)
    try:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cql2-parser")
        executor.submit(int).result()  # its one thread starts here, with that stack
    finally:
        threading.stack_size(previous)
    return executor


def on_parser_thread(parse: Callable[[str], T], text: str) -> T:
    """`parse(text)` on the parser's own deep-stack thread."""
    return _parser_thread().submit(parse, text).result()
