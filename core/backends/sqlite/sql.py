"""SQL built from profiles: quoting, state predicates and the small aggregate queries a poll runs.

Identifiers are always quoted and values embedded as escaped literals, so every predicate can be shown to
the user and written to the action journal exactly as it ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import overload

from batchtop.core.profiles.model import STATES, RawValue, State, Track
from batchtop.core.signature import LIST_CHARS, TRACEBACK
from batchtop.core.timeutil import MAGNITUDES, UNITS, format_ts, unit_of


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: RawValue | bytes) -> str:
    """An SQL literal for a Python value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    text = str(value)
    if "\x00" in text:
        # SQLite refuses a statement containing NUL; a hex literal cast to TEXT is the same value.
        return f"CAST(X'{text.encode('utf-8', 'surrogateescape').hex()}' AS TEXT)"
    return "'" + text.replace("'", "''") + "'"


@overload
def col(track: Track, name: str) -> str: ...
@overload
def col(track: Track, name: str | None) -> str | None: ...
def col(track: Track, name: str | None) -> str | None:
    """Quoted column, or None; `rowid` stays bare so it keeps meaning the rowid."""
    if name is None:
        return None
    return "rowid" if name == "rowid" else q(name)


def key_expr(track: Track) -> str:
    """SQL for the track's key."""
    return col(track, track.key) or "rowid"


def raw_expr(track: Track) -> str:
    """SQL for the raw state value."""
    if track.raw_sql:
        return f"({track.raw_sql})"
    if track.raw:
        return q(track.raw)
    return "NULL"


def _in_list(expr: str, values: Sequence[RawValue]) -> str:
    parts = []
    non_null = [v for v in values if v is not None]
    if non_null:
        parts.append(f"{expr} IN ({', '.join(lit(v) for v in non_null)})")
    if any(v is None for v in values):
        parts.append(f"{expr} IS NULL")
    return "(" + " OR ".join(parts) + ")" if parts else "0"


def _mapped_predicate(track: Track, state: str) -> str:
    """Rows whose raw value maps to `state`, before the in-flight override."""
    expr = raw_expr(track)
    values = [v for v, s in track.states.items() if s == state]
    clauses = []
    if values:
        clauses.append(_in_list(expr, values))
    if state == track.default_state:
        known = [v for v in track.states if v is not None]
        unknown = f"{expr} NOT IN ({', '.join(lit(v) for v in known)})" if known else "1"
        if None not in track.states:
            clauses.append(f"({expr} IS NULL OR {unknown})")
        else:
            clauses.append(f"({unknown})")
    return "(" + " OR ".join(clauses) + ")" if clauses else "0"


def state_predicate(track: Track, states: Iterable[str]) -> str:
    """An SQL condition true for rows in any of the canonical `states`."""
    wanted = [s for s in STATES if s in set(states)]
    flight = f"COALESCE(({track.in_flight}), 0)" if track.in_flight else None
    clauses = []
    for state in wanted:
        base = _mapped_predicate(track, state)
        if flight and state == State.PENDING:
            clauses.append(f"({base} AND NOT {flight})")
        elif flight and state == State.RUNNING:
            clauses.append(f"({base} OR ({_mapped_predicate(track, 'pending')} AND {flight}))")
        elif base != "0":
            clauses.append(base)
    return "(" + " OR ".join(clauses) + ")" if clauses else "0"


def counts_sql(track: Track) -> str:
    """Rows per raw value. A plain GROUP BY on the status column is answered from its index."""
    return f"SELECT {raw_expr(track)} AS raw, COUNT(*) FROM {q(track.table)} GROUP BY 1 LIMIT 1000"


def in_flight_sql(track: Track, pending_values: Sequence[RawValue]) -> str | None:
    """Pending rows that are in flight, per raw value.

    `pending_values` are the raw values the count query found mapped to pending: naming them (rather
    than "not any known value") lets SQLite visit only those rows through the status index.
    """
    if not track.in_flight or not pending_values:
        return None
    return (
        f"SELECT {raw_expr(track)} AS raw, COUNT(*) FROM {q(track.table)} "
        f"WHERE {_in_list(raw_expr(track), pending_values)} AND COALESCE(({track.in_flight}), 0) "
        f"GROUP BY 1 LIMIT 1000"
    )


def metrics_sql(track: Track) -> str | None:
    """Metric totals: a full scan, so the caller runs it on a slower cadence than the counts."""
    if not track.metrics:
        return None
    parts = ", ".join(f"{'AVG' if m.agg == 'avg' else 'SUM'}({q(m.column)})" for m in track.metrics)
    return f"SELECT {parts} FROM {q(track.table)}"


def text_preview(expr: str, chars: int = LIST_CHARS) -> str:
    """`substr` of a possibly huge value plus its length and type, never the whole value."""
    return (
        f"CASE WHEN typeof({expr}) = 'blob' THEN hex(substr({expr}, 1, 32)) "
        f"ELSE substr({expr}, 1, {chars}) END, length({expr}), typeof({expr})"
    )


def error_preview(expr: str) -> str:
    """`text_preview` of an error: a Python traceback longer than LIST_CHARS also brings its last LIST_CHARS
    characters (after a newline), since its headline, the exception line, is at the end (see
    `signature.headline`; `signature_arg` hands `bt_signature` the same text)."""
    head = f"substr({expr}, 1, {LIST_CHARS})"
    return (
        f"CASE WHEN typeof({expr}) = 'blob' THEN hex(substr({expr}, 1, 32)) "
        f"WHEN substr({expr}, 1, {len(TRACEBACK)}) = {lit(TRACEBACK)} AND length({expr}) > {LIST_CHARS} "
        f"THEN {head} || char(10) || substr({expr}, -{LIST_CHARS}) "
        f"ELSE {head} END, length({expr}), typeof({expr})"
    )


def error_expr(track: Track) -> str:
    """SQL for the error of a failed row: the error column, or NULL where the track keeps none for failed
    rows (`Track.error_states`; jobs, for one, leave stale error text on rows that later succeeded)."""
    err = col(track, track.error)
    return err if err and "failed" in track.error_states else "NULL"


def when_expr(track: Track) -> str:
    """SQL for the time a list shows: finished, else started, else created, else NULL."""
    return col(track, track.finished) or col(track, track.started) or col(track, track.created) or "NULL"


def label_expr(track: Track) -> str:
    """SQL for an item's label: the label column, else the key."""
    return col(track, track.label) or key_expr(track)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching values that contain `text` literally; use it with `ESCAPE '\\'`.

    `%`, `_` and the escape character itself are escaped. The result is a value: bind it as a
    parameter or embed it with `lit()`. LIKE is case-insensitive for ASCII letters only.
    """
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_condition(track: Track, pattern: str) -> str:
    """SQL true for rows whose error or label is LIKE `pattern` (an SQL expression: a literal of a
    `like_pattern` value, or a parameter holding one)."""
    return (f"({error_expr(track)} LIKE {pattern} ESCAPE '\\' "
            f"OR {label_expr(track)} LIKE {pattern} ESCAPE '\\')")


def signature_arg(expr: str) -> str:
    """What SQL hands to `bt_signature` for an error: its first LIST_CHARS characters, as a BLOB.

    A longer Python traceback also gets its last LIST_CHARS characters (after a newline): its
    signature is its last line, the exception. The BLOB cast is there because sqlite3 decodes a TEXT
    argument of a Python function strictly, so a single invalid UTF-8 value would fail the whole
    statement; `signature()` decodes bytes leniently. `signature_value` is the same in Python.
    """
    head = f"substr({expr}, 1, {LIST_CHARS})"
    return (f"CAST(CASE WHEN substr({expr}, 1, {len(TRACEBACK)}) = {lit(TRACEBACK)} AND length({expr}) > {LIST_CHARS} "
            f"THEN {head} || char(10) || substr({expr}, -{LIST_CHARS}) ELSE {head} END AS BLOB)")


def signature_sql(expr: str) -> str:
    """`bt_signature` of an error column, as SQL (see `signature_arg`)."""
    return f"bt_signature({signature_arg(expr)})"


def rowid_range(rowids: tuple[int, int]) -> str:
    """`rowid` in [from, to): where the chunked counts (`core.counting`) found the rows a read wants."""
    return f"rowid >= {int(rowids[0])} AND rowid < {int(rowids[1])}"


def failures_sql(
    track: Track,
    *,
    limit: int,
    before: RawValue = None,
    after: RawValue = None,
    search: str | None = None,
    signature: bool = False,
    keys: Sequence[RawValue] | None = None,
    rowids: tuple[int, int] | None = None,
) -> str:
    """Failed items, newest first, keyset-paged on the key (never OFFSET: it degrades with size).

    Older than `before`, or the `limit` nearest newer than `after` (read in ascending key order by an
    inner statement, then ordered newest first), or both bounds. `signature` adds a `:signature`
    parameter the error's signature must equal.
    """
    k = key_expr(track)
    err = error_expr(track)
    where = [state_predicate(track, ["failed"])]
    if before is not None:
        where.append(f"{k} < {lit(before)}")
    if after is not None:
        where.append(f"{k} > {lit(after)}")
    if search:
        where.append(search_condition(track, lit(like_pattern(search))))
    if signature:
        where.append(f"{signature_sql(err)} = :signature")
    if keys is not None:
        where.append(f"{k} IN ({', '.join(lit(v) for v in keys)})")
    if rowids is not None:
        where.append(rowid_range(rowids))
    sql = (f"SELECT {k}, {text_preview(label_expr(track), 200)}, {error_preview(err)}, {when_expr(track)}, "
           f"{raw_expr(track)} FROM {q(track.table)} WHERE {' AND '.join(where)} "
           f"ORDER BY {k} {'ASC' if after is not None else 'DESC'} LIMIT {int(limit)}")
    if after is not None:
        sql = f"SELECT * FROM ({sql}) ORDER BY 1 DESC LIMIT {int(limit)}"
    return sql


def number_seconds_sql(expr: str, unit: str = "auto") -> str:
    """SQL turning a numeric epoch `expr` stored in `unit` into seconds (magnitude-tested for 'auto')."""
    if unit != "auto":
        return f"({expr} / {UNITS[unit]!r})"
    cases = " ".join(f"WHEN abs({expr}) >= {floor:.0f} THEN {UNITS[u]!r}" for floor, u in MAGNITUDES)
    return f"({expr} / CASE {cases} ELSE 1.0 END)"


def seconds_sql(expr: str, unit: str = "auto") -> str:
    """SQL for the epoch seconds of a stored timestamp: text through julianday(), numbers by `unit`.

    Naive text is read as UTC here: use it for durations (differences), not for comparing with the clock.
    """
    return (f"(CASE WHEN typeof({expr}) IN ('integer', 'real') THEN {number_seconds_sql(expr, unit)} "
            f"ELSE (julianday({expr}) - 2440587.5) * 86400.0 END)")


def since_sql(expr: str, cutoff: float, tz: str = "utc", time_format: str = "space", unit: str = "auto",
              newest: object = None) -> str:
    """SQL true where the timestamp `expr` is at or after `cutoff` (epoch seconds): one range an index on
    `expr` answers.

    `newest` is a value the column holds (its MAX): when it is a number the column holds epoch numbers
    (in `unit`, else in the unit its magnitude says), and the cutoff is a number in that unit; in SQLite
    every number sorts below every text, so `< ''` keeps text out. Otherwise stamps compare as text in
    the writer's own format.
    """
    if isinstance(newest, int | float) and not isinstance(newest, bool):
        scale = UNITS[unit_of(newest) if unit == "auto" else unit]
        return f"({expr} >= {cutoff * scale!r} AND {expr} < '')"
    return f"{expr} >= '{format_ts(cutoff, tz, time_format)}'"
