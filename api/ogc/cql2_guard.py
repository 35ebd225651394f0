"""A CQL2 filter's size and nesting, checked before any parser sees it; the parser run where it cannot
take the server down.

The `cql2` parser (Rust, PEG) recurses once per nesting level with about 5 KB of stack a level: a
filter of 1,600 parentheses (3.2 KB of text) overflowed a thread's stack and the whole process died
with a segfault (issue 15). It also backtracks: a filter whose parse fails inside n parentheses takes
about 2^n steps (20 unclosed parentheses: 13 s of CPU). So the text is measured first, its length
and its nesting depth as a small lexer counts it (parentheses or JSON brackets open at once, plus
the NOTs and signs pending there), which keeps a parse to milliseconds. And the parser runs in a
child process (two, for concurrent requests), waited for at most `Limits.max_parse_seconds`: a
crash or a parse that runs too long costs that child, which is replaced, and the request gets a
400. After parsing, the number of operations is checked: SQLite refuses expression trees deeper
than 1,000, and a long OR chain is that deep.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from roadscan.api.limits import Limits
from roadscan.api.ogc import cql2_child
from roadscan.api.store.cql2_sql import FilterError

PARSER_PROCESSES = 2
STARTUP_S = 15.0  # a new pool's children start (and import cql2) within this, on top of the parse's own time
JSON_BRACKETS_PER_LEVEL = 3  # {"op": .., "args": [ .. ]} is two a level, a geometry's coordinates three

_PREFIX_WORDS = {"NOT"}
_JOIN_WORDS = {"AND", "OR"}


def check_text(text: str, lang_is_json: bool, limits: Limits) -> None:
    """Refuse (FilterError) a filter longer or deeper than the limits, before it is parsed."""
    if len(text) > limits.max_filter_chars:
        raise FilterError(f"the filter is {len(text):,} characters long; at most {limits.max_filter_chars:,} "
                          "are accepted")
    if lang_is_json:
        most = JSON_BRACKETS_PER_LEVEL * limits.max_filter_depth
        if json_depth(text, most) > most:
            raise FilterError(f"the filter nests more than {most} arrays and objects deep; write it flatter")
    elif text_depth(text, limits.max_filter_depth) > limits.max_filter_depth:
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


class ParserProcesses:
    """The cql2 parser in child processes. A child that crashes, or that has not answered within the
    time allowed, is killed with its pool, and the next parse starts a new pool. A parse that lost its
    child to another request's crash is tried once more."""

    def __init__(self, processes: int = PARSER_PROCESSES):
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._answered: ProcessPoolExecutor | None = None  # the pool whose children have answered
        self._lock = threading.Lock()

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:  # forkserver: children of a clean process, not of this threaded server
                method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context(method),
                                                 initializer=cql2_child.watch, initargs=(os.getpid(),))
            return self._pool

    def warm(self) -> None:
        """Start the children now (the app does at startup), so that the first filter does not wait."""
        pool = self._current()
        for _ in range(self.processes):
            pool.submit(cql2_child.parse, "a = 1", False)

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        for process in list((getattr(pool, "_processes", None) or {}).values()):  # no public kill before 3.14
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def parse(self, text: str, lang_is_json: bool, seconds: float) -> tuple[bool, Any]:
        """cql2_child.parse(text, lang_is_json) in a child; FilterError when it crashes or runs too long."""
        for attempt in (1, 2):
            pool = self._current()
            started = pool is self._answered  # else its children may still be starting
            try:
                result = pool.submit(cql2_child.parse, text, lang_is_json).result(
                    timeout=seconds if started else seconds + STARTUP_S)
                self._answered = pool
                return result
            except FutureTimeout:
                self._discard(pool)
                raise FilterError(f"the filter took the parser more than {seconds:g} s; write it simpler, "
                                  "with fewer nested parentheses") from None
            except BrokenProcessPool:
                self._discard(pool)
                if attempt == 2:
                    raise FilterError("the filter crashed the CQL2 parser; write it simpler") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


PARSERS = ParserProcesses()
