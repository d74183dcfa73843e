"""SQL built from profiles: quoting, state predicates and the small aggregate queries a poll runs.

Identifiers are always quoted and values embedded as escaped literals, so every predicate can be shown to
the user and written to the action journal exactly as it ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from batchtop.core.profiles.model import STATES, RawValue, Track

#: Characters of long text columns fetched for lists (hazards.md rule 11).
LIST_CHARS = 400


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
        if flight and state == "pending":
            clauses.append(f"({base} AND NOT {flight})")
        elif flight and state == "running":
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


def signature_sql(expr: str) -> str:
    """`bt_signature` of an error column, as SQL.

    The argument is cast to a BLOB: sqlite3 decodes a TEXT argument of a Python function strictly, so a
    single invalid UTF-8 value would fail the whole statement; `signature()` decodes bytes leniently.
    """
    return f"bt_signature(CAST(substr({expr}, 1, {LIST_CHARS}) AS BLOB))"


def failures_sql(
    track: Track,
    *,
    limit: int,
    before: RawValue = None,
    search: str | None = None,
    signature: bool = False,
    keys: Sequence[RawValue] | None = None,
) -> str:
    """Newest failed items, keyset-paged on the key (never OFFSET: it degrades with size)."""
    k = key_expr(track)
    label = col(track, track.label) or k
    err = col(track, track.error) or "NULL"
    when = col(track, track.finished) or col(track, track.started) or col(track, track.created) or "NULL"
    where = [state_predicate(track, ["failed"])]
    if before is not None:
        where.append(f"{k} < {lit(before)}")
    if search:
        pattern = lit("%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        where.append(f"({err} LIKE {pattern} ESCAPE '\\' OR {label} LIKE {pattern} ESCAPE '\\')")
    if signature:
        where.append(f"{signature_sql(err)} = :signature")
    if keys is not None:
        where.append(f"{k} IN ({', '.join(lit(v) for v in keys)})")
    return (
        f"SELECT {k}, {text_preview(label, 200)}, {text_preview(err)}, {when}, {raw_expr(track)} "
        f"FROM {q(track.table)} WHERE {' AND '.join(where)} ORDER BY {k} DESC LIMIT {int(limit)}"
    )
