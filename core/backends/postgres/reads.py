"""The snapshot reads on PostgreSQL: schema, counts, in-flight starts, newest failures, metrics, history seed.

Each function runs a few bounded statements and fetches every row (`conn.fetch`), inside the poll's one
short READ ONLY transaction. They mirror `batchtop.core.snapshot` and `batchtop.core.schema` statement for
statement, so a table shows the same counts on either backend.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres.conn import fetch
from batchtop.core.backends.sqlite.sql import q
from batchtop.core.counting import Counted
from batchtop.core.profiles.model import STATES, UNMAPPED, RawValue, Track
from batchtop.core.sanitize import display
from batchtop.core.schema import Column, Schema, Table
from batchtop.core.signature import headline
from batchtop.core.snapshot import (
    DEFAULT_STALE,
    IN_FLIGHT_LIMIT,
    MIN_STALE,
    SNAPSHOT_FAILURES,
    FailureRow,
    MetricValue,
    RawCount,
    TrackSnapshot,
    classify,
    preview,
)
from batchtop.core.timeutil import parse_ts

SCHEMA_SQL = """
SELECT c.oid, c.relname, a.attname, format_type(a.atttypid, NULL), a.attnotnull,
       COALESCE((SELECT bool_or(i.indisprimary) FROM pg_index i
                 WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum), FALSE) AS pk,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum) AS indexed
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND pg_table_is_visible(c.oid)
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY c.relname, a.attnum
LIMIT 20000
"""


def read_schema(conn: Any) -> tuple[Schema, dict[str, int]]:
    """The tables visible on the session's search_path, and each table's oid (its identity)."""
    rows = fetch(conn, SCHEMA_SQL)
    columns: dict[str, list[Column]] = {}
    indexed: dict[str, set[str]] = {}
    oids: dict[str, int] = {}
    for oid, table, name, kind, notnull, pk, has_index in rows:
        oids[table] = int(oid)
        columns.setdefault(table, []).append(Column(name, str(kind).upper(), bool(notnull), 1 if pk else 0))
        if has_index:
            indexed.setdefault(table, set()).add(name)
    tables = {t: Table(t, tuple(cols), frozenset(indexed.get(t, ()))) for t, cols in columns.items()}
    version = zlib.crc32(repr(sorted((t, oids[t], tb.columns) for t, tb in tables.items())).encode())
    return Schema(tables, version), oids


def table_oids(conn: Any, tables: list[str]) -> dict[str, int | None]:
    """Current oid of each table (None: gone), in one statement: a dropped and recreated table is new."""
    if not tables:
        return {}
    parts = ", ".join(f"to_regclass({pg.lit(q(t))})::oid" for t in tables)
    row = fetch(conn, f"SELECT {parts}")[0]
    return {t: (int(v) if v is not None else None) for t, v in zip(tables, row)}


def read_metrics(conn: Any, track: Track) -> tuple[MetricValue, ...]:
    """Metric totals of a track (one full scan)."""
    sql = pg.metrics_sql(track)
    if sql is None:
        return ()
    row = fetch(conn, sql)[0]
    return tuple(
        MetricValue(m.label, m.unit, float(v) if isinstance(v, int | float) else None, m.agg)
        for m, v in zip(track.metrics, row)
    )


def read_in_flight(conn: Any, track: Track, pending: list[RawValue]) -> dict[RawValue, int]:
    """In-flight rows per pending raw value."""
    sql = pg.in_flight_sql(track, pending)
    return {v: int(n) for v, n in fetch(conn, sql)} if sql else {}


def read_failures(
    conn: Any,
    track: Track,
    table: Table | None,
    *,
    limit: int,
    before: RawValue = None,
    after: RawValue = None,
    search: str | None = None,
    keys: list[RawValue] | None = None,
    key_range: tuple[int, int] | None = None,
) -> list[FailureRow]:
    """A keyset page of failed items, newest first (older than `before`, or nearest newer than `after`);
    `key_range` [from, to): only keys there (where chunked counts found the newest failures)."""
    if not any(s == "failed" for s in track.states.values()) and track.error is None:
        return []
    sql = pg.failures_sql(
        track, table, limit=limit, before=before, after=after, search=search, keys=keys, key_range=key_range
    )
    rows = fetch(conn, sql)
    out = []
    for key, lab, lab_len, lab_kind, err, err_len, err_kind, when, raw in rows:
        label, _ = preview(lab, lab_len, lab_kind, 160)
        # Lists show a traceback's exception line, as on SQLite.
        error, n = preview(
            headline(err) if err_kind == "text" and err is not None else err, err_len, err_kind, 400
        )
        out.append(
            FailureRow(key, label, error, n, parse_ts(when, track.tz, track.time_unit), display(str(raw), 40))
        )
    return out


def derive_stale(conn: Any, track: Track, key_range: tuple[int, int] | None = None) -> float:
    """Stale after 5x the mean duration of the last 200 finished peers (computed here: any column type);
    `key_range` [from, to): where chunked counts found them (no walk over millions of pending rows)."""
    if track.stale_after:
        return track.stale_after
    if not (track.started and track.finished):
        return DEFAULT_STALE
    s, f = q(track.started), q(track.finished)
    bound = pg.key_range_sql(track, key_range)
    rows = fetch(
        conn,
        f"SELECT {s}, {f} FROM {q(track.table)} WHERE {f} IS NOT NULL AND {s} IS NOT NULL{bound} "
        f"ORDER BY {pg.key_expr(track)} DESC LIMIT 200",
    )
    spans = [
        b - a
        for x, y in rows
        if (a := parse_ts(x, track.tz, track.time_unit)) is not None
        and (b := parse_ts(y, track.tz, track.time_unit)) is not None
    ]
    mean = sum(spans) / len(spans) if spans else 0.0
    return max(MIN_STALE, 5.0 * mean) if mean > 0 else DEFAULT_STALE


def read_finished_times(
    conn: Any,
    track: Track,
    table: Table | None,
    now: float,
    horizon: float,
    key_range: tuple[int, int] | None = None,
) -> list[float]:
    """Completion times of the last `horizon` seconds (seeds the history at open)."""
    if not track.finished:
        return []
    f = q(track.finished)
    cutoff = pg.time_literal(table, track.finished, now - horizon, track)
    bound = pg.key_range_sql(track, key_range)
    rows = fetch(
        conn, f"SELECT {f} FROM {q(track.table)} WHERE {f} >= {cutoff}{bound} ORDER BY {f} DESC LIMIT 5000"
    )
    return [t for (v,) in rows if (t := parse_ts(v, track.tz, track.time_unit)) is not None]


def read_track(
    conn: Any,
    track: Track,
    table: Table | None,
    metrics: tuple[MetricValue, ...] | None,
    counted: Counted | None = None,
    stale: Callable[[tuple[int, int] | None], float] | None = None,
) -> tuple[TrackSnapshot, int]:
    """Counts, raw values, metrics, in-flight starts and newest failures of one track (as
    `snapshot.read_track`); returns the snapshot and the number of statements run.

    `counted`: the totals of chunked counts (`postgres.counting`): rows per raw value, in-flight rows,
    metric sums, start times of running rows and the newest finish time come from the chunks, and the
    newest failures and stale peers are read within the key ranges the chunks found them in.
    `stale(key_range)`: the derived stale threshold (lets the caller cache it).
    """
    counts = dict.fromkeys(STATES, 0)
    unmapped = 0
    raw: dict[tuple[str, str], int] = {}
    if counted is not None:
        rows = counted.rows
        flying = counted.flying
        queries = 0
    else:
        rows = fetch(conn, pg.counts_sql(track))
        pending = [v for v, _ in rows if track.states.get(v, track.default_state) == "pending"]
        flying = read_in_flight(conn, track, pending)
        queries = 1 + (1 if track.in_flight and pending else 0)
    for value, n in rows:
        state, label = classify(track, value)
        if state == UNMAPPED:  # a value the profile does not map: counted apart, never as pending
            unmapped += int(n)
            raw[(label, state)] = raw.get((label, state), 0) + int(n)
            continue
        started = min(int(flying.get(value, 0)), int(n)) if state == "pending" else 0
        if started:
            counts["running"] += started
            raw[(f"{label} (started)", "running")] = started
        counts[state] += int(n) - started
        if int(n) - started:
            raw[(label, state)] = raw.get((label, state), 0) + int(n) - started
    if counted is not None:
        metrics = tuple(
            MetricValue(
                m.label,
                m.unit,
                (total / n if m.agg == "avg" else total) if total is not None and n else None,
                m.agg,
            )
            for m, (total, n) in zip(track.metrics, counted.metrics)
        )
    elif metrics is None:
        metrics = read_metrics(conn, track)
        queries += 1 if track.metrics else 0
    raw_counts = tuple(sorted((RawCount(k[0], k[1], n) for k, n in raw.items()), key=lambda r: -r.count))

    starts: tuple[float, ...] = ()
    stale_after = None
    if track.started and counts["running"]:
        if counted is not None and counted.starts is not None:
            starts = counted.starts
        else:
            s = q(track.started)
            found = fetch(
                conn,
                f"SELECT {s} FROM {q(track.table)} WHERE {pg.state_predicate(track, ['running'])} "
                f"AND {s} IS NOT NULL ORDER BY {s} LIMIT {IN_FLIGHT_LIMIT}",
            )
            starts = tuple(
                sorted(t for (v,) in found if (t := parse_ts(v, track.tz, track.time_unit)) is not None)
            )
            queries += 1
        peers = counted.settled_range if counted is not None else None
        stale_after = stale(peers) if stale is not None else derive_stale(conn, track, peers)
        queries += 1
    last_finished = None
    if counted is not None:  # from the chunks (None until one holding a finished row is counted)
        last_finished = counted.last_finished
    elif track.finished:
        (value,) = fetch(conn, f"SELECT MAX({q(track.finished)}) FROM {q(track.table)}")[0]
        last_finished = parse_ts(value, track.tz, track.time_unit)
        queries += 1
    failures: list[FailureRow] = []
    if counts["failed"]:
        failures = read_failures(
            conn,
            track,
            table,
            limit=SNAPSHOT_FAILURES,
            key_range=counted.failed_range if counted is not None else None,
        )
        queries += 1
    snap = TrackSnapshot(
        track.name,
        track.table,
        counts,
        raw_counts,
        metrics,
        in_flight_starts=starts,
        stale_after=stale_after,
        last_finished=last_finished,
        recent_failures=tuple(failures),
        note=track.note,
        unmapped=unmapped,
        counted=counted.progress if counted is not None else 1.0,
    )
    return snap, queries
