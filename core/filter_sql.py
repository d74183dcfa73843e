"""Filters (`filters.parse`) compiled against one track into an SQL condition.

The emission is a backend's `Dialect` (SQLite's: `backends.sqlite.filter_sql`; PostgreSQL's:
`backends.postgres.filter_sql`); the parsing and the checks of each term are shared. Values never become
SQL text: each is bound as a named parameter (`:bt_f0`, `:bt_f1`, ...), or, for a condition that must be
shown and journaled exactly as it runs (a reset's predicate), embedded with the backend's `lit`, which
escapes it. Identifiers come from the profile or are checked against the table's
columns and quoted with `sql.q`. Every term is wrapped in `COALESCE(..., 0)`, so a NULL column makes a
term false (and `NOT term` true) instead of poisoning the whole condition.

Fields (aliases in brackets):
    state [is]          canonical state, `state:failed,skipped`, `state!=done`
    status [raw]        the raw value as stored (`status:preparing`, `status=2`)
    error [err]         `:` contains, `=` equals (the error column, for failed rows)
    sig [signature]     the error signature (`sig:"Timeout after <n>s"`), as the groups show it
    label               `:` contains, `=` equals
    key [id]            equals or compares (`key>1000`)
    since [after]       the item's time (finished, else started, else created) is at or after: `2h`, `30m`,
    until [before]      `1d`, `1w`, `90s` ago, or a date/time in the database's own time zone
    age                 `age>2h` (older than), `age<10m` (newer than)
    source [file, path] the database file: a glob on its name or full path (`source:'chunk_00*'`), else a
                        prefix of its name (`source:chunk_01`) or the end of its path
    track [table]       the track's name or table: a glob, else a prefix
    any other name      a column of the table, or a metric's label: `cost_usd>0.05`, `attempts>=3`
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from batchtop.core.backends.sqlite.sql import col, like_pattern, q
from batchtop.core.errors import FilterError
from batchtop.core.filters import BoolOp, Node, Not, Term
from batchtop.core.profiles.model import STATES, Track
from batchtop.core.sanitize import is_secret_name
from batchtop.core.timeutil import parse_ts

ALIASES = {
    "state": "state",
    "is": "state",
    "status": "status",
    "raw": "status",
    "error": "error",
    "err": "error",
    "sig": "sig",
    "signature": "sig",
    "label": "label",
    "key": "key",
    "id": "key",
    "since": "since",
    "after": "since",
    "until": "until",
    "before": "until",
    "age": "age",
    "source": "source",
    "file": "source",
    "path": "source",
    "track": "track",
    "table": "track",
}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|w)$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_COMPARE = {"=": "=", ":": "=", "!=": "!=", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


class _Binder:
    """Hands out parameter names (or, when inlining, the backend's escaped literals: `lit`)."""

    def __init__(self, inline: bool, lit: Callable[[Any], str] | None = None) -> None:
        self.inline = inline
        self.lit = lit
        self.params: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        if self.inline:
            assert self.lit is not None, "an inlining binder needs the backend's literals"
            return self.lit(value)
        name = f"bt_f{len(self.params)}"
        self.params[name] = value
        return f":{name}"


class Dialect:
    """The SQL one backend's filters compile to: SQLite's is `backends.sqlite.filter_sql.SqliteDialect`,
    PostgreSQL's `backends.postgres.filter_sql.PgDialect`. The parser and the checks of each term are
    shared; each method returns the backend's SQL for one piece of a term."""

    true, false = "1", "0"

    def binder(self, inline: bool) -> _Binder:
        """Where values go: named parameters, or escaped literals."""
        raise NotImplementedError

    def wrap(self, term_sql: str) -> str:
        """A term that is false (not NULL) where a column is NULL."""
        raise NotImplementedError

    def contains(self, expr: str, pattern: str) -> str:
        """`expr` matches the LIKE `pattern` (case handling is the backend's)."""
        raise NotImplementedError

    def equals(self, expr: str, value: str) -> str:
        """`expr` equals the text `value` (an SQL expression)."""
        raise NotImplementedError

    def compare(self, expr: str, op: str, value: Any, bind: _Binder) -> str:
        """`expr op value`, a number or a text."""
        raise NotImplementedError

    def states(self, track: Track, wanted: list[str]) -> str:
        """Rows in any of the canonical states `wanted`."""
        raise NotImplementedError

    def signature(self, track: Track, value: str, bind: _Binder) -> str:
        """Rows whose error has signature `value`."""
        raise NotImplementedError

    def time(self, track: Track, when: str, op: str, cut: float, bind: _Binder) -> str:
        """The row's time `when` compared (`op`) with the epoch `cut`."""
        raise NotImplementedError

    def expr(self, track: Track, part: str) -> str:
        """The SQL of a part of a row: 'error', 'label', 'key', 'raw' or 'when'."""
        raise NotImplementedError


def number(text: str) -> int | float | None:
    """The number a value spells, else None."""
    if not _NUMBER.match(text):
        return None
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def compile_filter(
    node: Node | None,
    track: Track,
    *,
    now: float,
    path: str | None = None,
    columns: Collection[str] | None = None,
    inline: bool = False,
    text: str = "",
    dialect: Dialect,
) -> tuple[str, dict[str, Any]]:
    """The SQL condition of `node` for rows of `track`, and its parameters.

    Args:
        now: Epoch seconds that `since:2h` and `age>` count back from.
        path: The database file (`source:` terms); None when the caller chose the files already, and
            then a `source:` term is an error.
        columns: The table's columns, for column terms (`cost_usd>0.05`); None refuses them.
        inline: Embed values as escaped literals (no parameters), for predicates that are journaled.
        text: The filter text, for error messages.
        dialect: The backend's SQL to emit.

    Raises:
        FilterError: an unknown field or state, a secret column, a bad time or number, with its position.
    """
    bind = dialect.binder(inline)
    if node is None:
        return dialect.true, {}
    sql = _node(node, track, bind, now=now, path=path, columns=columns, text=text, d=dialect)
    return sql, bind.params


def _node(node: Node, track: Track, bind: _Binder, **kw: Any) -> str:
    if isinstance(node, Term):
        return kw["d"].wrap(_term(node, track, bind, **kw))
    if isinstance(node, Not):
        return f"NOT {_node(node.node, track, bind, **kw)}"
    assert isinstance(node, BoolOp)
    return "(" + f" {node.op} ".join(_node(n, track, bind, **kw) for n in node.nodes) + ")"


def _text_match(expr: str, term: Term, bind: _Binder, text: str, d: Dialect) -> str:
    if term.op == ":":
        return d.contains(expr, bind(like_pattern(term.value)))
    if term.op == "=":
        return d.equals(expr, bind(term.value))
    if term.op == "!=":
        return f"NOT ({d.equals(expr, bind(term.value))})"
    raise FilterError(f"{term.field} takes :, = or != (not {term.op})", term.pos, text)


def _term(
    term: Term,
    track: Track,
    bind: _Binder,
    *,
    now: float,
    path: str | None,
    columns: Collection[str] | None,
    text: str,
    d: Dialect,
) -> str:
    if term.field is None:  # a bare word: the error or the label contains it (the old search)
        pattern = bind(like_pattern(term.value))
        return f"{d.contains(d.expr(track, 'error'), pattern)} OR {d.contains(d.expr(track, 'label'), pattern)}"
    field = ALIASES.get(term.field.lower())
    if field == "state":
        return _states(term, track, text, d)
    if field == "status":
        values = [v for v in term.value.split(",") if v]
        if term.op not in (":", "=", "!=") or not values:
            raise FilterError(
                "status takes :, = or != and one or more values (status:queued,running)", term.pos, text
            )
        cond = f"CAST({d.expr(track, 'raw')} AS TEXT) IN ({', '.join(bind(v) for v in values)})"
        return f"NOT ({cond})" if term.op == "!=" else cond
    if field in ("error", "label"):
        return _text_match(d.expr(track, field), term, bind, text, d)
    if field == "sig":
        if term.op not in (":", "=", "!="):
            raise FilterError('sig takes :, = or != (sig:"Timeout after <n>s")', term.pos, text)
        cond = d.signature(track, term.value, bind)
        return f"NOT ({cond})" if term.op == "!=" else cond
    if field == "key":
        return _compare(d.expr(track, "key"), term, bind, d)
    if field in ("since", "until", "age"):
        return _time(field, term, track, bind, now, text, d)
    if field in ("source", "track"):
        return d.true if _constant(field, term, track, path, text) else d.false
    return _column(term, track, bind, columns, text, d)


def _states(term: Term, track: Track, text: str, d: Dialect) -> str:
    wanted = [v.strip().lower() for v in term.value.split(",")]
    for v in wanted:
        if v not in STATES:
            raise FilterError(f"no state {v!r} (states: {', '.join(STATES)})", term.value_pos, text)
    if term.op not in (":", "=", "!="):
        raise FilterError("state takes :, = or != (state:failed)", term.pos, text)
    cond = d.states(track, wanted)
    return f"NOT {cond}" if term.op == "!=" else cond


def _compare(expr: str, term: Term, bind: _Binder, d: Dialect) -> str:
    op = _COMPARE[term.op]
    value: Any = number(term.value)
    if value is None:
        if term.op == ":":
            return d.contains(expr, bind(like_pattern(term.value)))
        value = term.value
    if op == "!=":
        return f"NOT ({d.compare(expr, '=', value, bind)})"
    return d.compare(expr, op, value, bind)


def _column(
    term: Term, track: Track, bind: _Binder, columns: Collection[str] | None, text: str, d: Dialect
) -> str:
    name = term.field or ""
    metric = next((m.column for m in track.metrics if m.label.lower() == name.lower()), None)
    chosen = metric or next((c for c in (columns or ()) if c == name), None)
    if chosen is None and columns:
        chosen = next((c for c in columns if c.lower() == name.lower()), None)
    if chosen is None:
        hint = " (quote a value holding ':', e.g. \"Error: x\")" if term.op == ":" else ""
        raise FilterError(
            f"unknown field {name!r}: not a filter field or a column of {track.table}{hint}", term.pos, text
        )
    if chosen in track.secrets or is_secret_name(chosen):
        raise FilterError(f"{name!r} is a secret column: never read", term.pos, text)
    return _compare(col(track, chosen) or q(chosen), term, bind, d)


def _cutoff(value: str, track: Track, now: float, pos: int, text: str) -> float:
    m = _DURATION.match(value.strip().lower())
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(
            f"{value!r} is not a time: give 90s, 30m, 2h, 1d, 1w or 2026-01-31[ 12:00]", pos, text
        ) from None
    parsed = parse_ts(value, track.tz)
    assert parsed is not None
    return parsed


def _time(field: str, term: Term, track: Track, bind: _Binder, now: float, text: str, d: Dialect) -> str:
    when = d.expr(track, "when")
    if when == "NULL":
        raise FilterError(f"{track.name} has no timestamp column: {field} cannot be used", term.pos, text)
    if field == "age":
        if term.op not in (">", ">=", "<", "<="):
            raise FilterError("age takes >, >=, < or <= (age>2h: older than two hours)", term.pos, text)
        if not _DURATION.match(term.value.strip().lower()):
            raise FilterError(
                f"{term.value!r} is not a duration: give 90s, 30m, 2h, 1d or 1w", term.value_pos, text
            )
        # Older than 2h means the time is before now - 2h.
        op = {">": "<", ">=": "<=", "<": ">", "<=": ">="}[term.op]
    else:
        if term.op not in (":", "=", ">=", ">", "<", "<="):
            raise FilterError(f"{field} takes : (since:2h)", term.pos, text)
        op = ">=" if field == "since" else "<"
    cut = _cutoff(term.value, track, now, term.value_pos, text)
    return d.time(track, when, op, cut, bind)


def _constant(field: str, term: Term, track: Track, path: str | None, text: str) -> bool:
    if term.op not in (":", "=", "!="):
        raise FilterError(f"{field} takes :, = or != ({field}:'chunk_*')", term.pos, text)
    if field == "source":
        if path is None:
            raise FilterError("source: cannot be used here: pass the files you mean instead", term.pos, text)
        names = (os.path.basename(path), path)
    else:
        names = (track.name, track.table)
    pattern = term.value
    hit = any(n == pattern or fnmatch.fnmatchcase(n, pattern) for n in names)
    if term.op == ":" and not any(ch in pattern for ch in "*?["):
        # No wildcard: the name starts with it (`source:chunk_01`), or the path ends with it.
        hit = hit or names[0].startswith(pattern) or names[-1].endswith(os.sep + pattern.lstrip(os.sep))
    return not hit if term.op == "!=" else hit
