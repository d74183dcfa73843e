"""The SQLite reads a poll runs: the bounded aggregate statements that build a `snapshot.TrackSnapshot`.

Each reader runs a handful of bounded statements and fetches every row before returning, so no read
transaction outlives the call (hazards.md rule 4). The snapshot dataclasses are `batchtop.core.snapshot`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from batchtop.core.backends.sqlite.sql import (
    col,
    counts_sql,
    failures_sql,
    in_flight_sql,
    key_expr,
    metrics_sql,
    q,
    rowid_range,
    seconds_sql,
    since_sql,
    state_predicate,
)
from batchtop.core.counting import Counted
from batchtop.core.profiles.model import STATES, UNMAPPED, Profile, RawValue, State, Track
from batchtop.core.sanitize import display
from batchtop.core.signature import headline
from batchtop.core.snapshot import (
    DEFAULT_STALE,
    IN_FLIGHT_LIMIT,
    MIN_STALE,
    SNAPSHOT_FAILURES,
    FailureRow,
    MetricValue,
    RawCount,
    SessionRow,
    TrackSnapshot,
    classify,
    preview,
)
from batchtop.core.timeutil import parse_ts


def fetch(conn: sqlite3.Connection, sql: str, params: Sequence | dict = ()) -> list[tuple]:
    """Run one statement and fetch every row, so no read transaction stays open."""
    cur = conn.execute(sql, params)
    try:
        return cur.fetchall()
    finally:
        cur.close()


def read_failures(
    conn: sqlite3.Connection, track: Track, *, limit: int, before: RawValue = None, after: RawValue = None,
    search: str | None = None, signature: str | None = None, keys: Sequence[RawValue] | None = None,
    rowids: tuple[int, int] | None = None,
) -> list[FailureRow]:
    """A keyset page of failed items, newest first: older than `before`, or the `limit` nearest newer
    than `after` (see `sql.failures_sql` for the other filters; `rowids` bounds the rows read when
    the chunked counts know where the newest failures are)."""
    if not track.failures_recorded and track.error is None and not _has_failed_values(track):
        return []
    sql = failures_sql(track, limit=limit, before=before, after=after, search=search,
                       signature=signature is not None, keys=keys, rowids=rowids)
    rows = fetch(conn, sql, {"signature": signature} if signature is not None else ())
    out = []
    for key, lab, lab_len, lab_kind, err, err_len, err_kind, when, raw in rows:
        label, _ = preview(lab, lab_len, lab_kind, 160)
        # Lists show a traceback's exception line; the item screen reads the whole text.
        error, n = preview(headline(err) if err_kind == "text" else err, err_len, err_kind, 400)
        out.append(FailureRow(key, label, error, n, parse_ts(when, track.tz, track.time_unit), display(str(raw), 40)))
    return out


def _has_failed_values(track: Track) -> bool:
    return any(s == State.FAILED for s in track.states.values())


def read_track(
    conn: sqlite3.Connection, track: Track, now: float, sessions_before: int,
    metrics: tuple[MetricValue, ...] | None = None,
    in_flight: Callable[[list[RawValue]], dict[RawValue, int]] | None = None,
    counted: Counted | None = None,
    derive_stale: Callable[[], float] | None = None,
) -> tuple[TrackSnapshot, int]:
    """Counts, raw values, metrics, in-flight starts and newest failures of one track.

    Args:
        metrics: Metric totals to reuse instead of scanning for them (they are read on a slower
            cadence than the counts: see `Source`).
        in_flight: Returns in-flight counts per pending raw value (lets the caller cache them too);
            by default they are read with `read_in_flight`.
        counted: The totals of a chunked count (`core.counting`): rows per raw value, the share of the
            table they cover, in-flight counts, metric sums and in-flight start times, instead of one
            `GROUP BY` and three scans here.
        derive_stale: Returns the derived stale threshold (lets the caller cache it).

    Returns the snapshot and the number of statements run.
    """
    counts = dict.fromkeys(STATES, 0)
    unmapped = 0
    raw: dict[tuple[str, str], int] = {}
    rows = counted.rows if counted is not None else fetch(conn, counts_sql(track))
    pending = [v for v, _ in rows if track.states.get(v, track.default_state) == State.PENDING]
    if counted is not None:
        flying = counted.flying
    else:
        flying = (in_flight or (lambda values: read_in_flight(conn, track, values)))(pending)
    for value, n in rows:
        state, label = classify(track, value)
        if state == UNMAPPED:
            unmapped += int(n)
            raw[(label, state)] = raw.get((label, state), 0) + int(n)
            continue
        # In-flight counts may come from an earlier poll (they are cached): never more than the rows.
        started = min(int(flying.get(value, 0)), int(n)) if state == State.PENDING else 0
        if started:
            counts["running"] += started
            raw[(f"{label} (started)", "running")] = started
        counts[state] += int(n) - started
        if int(n) - started:
            raw[(label, state)] = raw.get((label, state), 0) + int(n) - started
    queries = 0 if counted is not None else 1 + (1 if track.in_flight and pending else 0)
    if counted is not None:
        metrics = tuple(
            MetricValue(m.label, m.unit, (total / n if m.agg == "avg" else total) if total is not None and n
                        else None, m.agg)
            for m, (total, n) in zip(track.metrics, counted.metrics))
    elif metrics is None:
        metrics = read_metrics(conn, track)
        queries += 1 if track.metrics else 0
    raw_counts = tuple(sorted((RawCount(k[0], k[1], n) for k, n in raw.items()), key=lambda r: -r.count))

    starts: tuple[float, ...] = ()
    stale_after = None
    started_col = col(track, track.started)
    if started_col and counts["running"]:
        if counted is not None and counted.starts is not None:
            starts = counted.starts
        else:
            rows = fetch(conn, f"SELECT {started_col} FROM {q(track.table)} WHERE {state_predicate(track, ['running'])} "
                               f"AND {started_col} IS NOT NULL ORDER BY {started_col} LIMIT {IN_FLIGHT_LIMIT}")
            starts = tuple(sorted(t for (v,) in rows if (t := parse_ts(v, track.tz, track.time_unit)) is not None))
            queries += 1
        stale_after = track.stale_after or (derive_stale() if derive_stale else _derive_stale(conn, track))
        queries += 1

    last_finished = None
    finished = col(track, track.finished)
    if counted is not None:  # from the chunks (None until one holding a finished row is counted)
        last_finished = counted.last_finished
    elif finished:
        (value,) = fetch(conn, f"SELECT MAX({finished}) FROM {q(track.table)}")[0]
        last_finished = parse_ts(value, track.tz, track.time_unit)
        queries += 1

    failures: list[FailureRow] = []
    if counts["failed"]:
        failures = read_failures(conn, track, limit=SNAPSHOT_FAILURES,
                                 rowids=counted.failed_range if counted is not None else None)
        queries += 1
    attempted = counts["pending"] if (not track.failures_recorded and sessions_before > 1) else 0
    snap = TrackSnapshot(track.name, track.table, counts, raw_counts, metrics, starts, stale_after,
                         last_finished, tuple(failures), attempted, track.note, unmapped,
                         counted.progress if counted is not None else 1.0)
    return snap, queries


def read_in_flight(conn: sqlite3.Connection, track: Track, pending: list[RawValue]) -> dict[RawValue, int]:
    """In-flight rows per pending raw value (visits every pending row: run it on a cadence)."""
    sql = in_flight_sql(track, pending)
    return {v: int(n) for v, n in fetch(conn, sql)} if sql else {}


def read_metrics(conn: sqlite3.Connection, track: Track) -> tuple[MetricValue, ...]:
    """Metric totals of a track (one full scan)."""
    sql = metrics_sql(track)
    if sql is None:
        return ()
    row = fetch(conn, sql)[0]
    return tuple(MetricValue(m.label, m.unit, float(v) if isinstance(v, int | float) else None, m.agg)
                 for m, v in zip(track.metrics, row))


def stale_threshold(conn: sqlite3.Connection, track: Track, rowids: tuple[int, int] | None = None) -> float:
    """Seconds after which an in-flight item is stale: the track's own setting, else derived from peers
    (`rowids`: where the chunked counts found the newest finished rows)."""
    return track.stale_after or _derive_stale(conn, track, rowids)


def _derive_stale(conn: sqlite3.Connection, track: Track, rowids: tuple[int, int] | None = None) -> float:
    """Stale after 5x the mean duration of the last 200 finished peers (bounded below)."""
    started, finished = col(track, track.started), col(track, track.finished)
    if not (started and finished):
        return DEFAULT_STALE
    unit = track.time_unit
    (mean,) = fetch(
        conn,
        f"SELECT AVG({seconds_sql('f', unit)} - {seconds_sql('s', unit)}) FROM (SELECT {started} AS s, "
        f"{finished} AS f FROM {q(track.table)} WHERE {finished} IS NOT NULL AND {started} IS NOT NULL "
        + (f"AND {rowid_range(rowids)} " if rowids else "")
        + f"ORDER BY {key_expr(track)} DESC LIMIT 200)",
    )[0]
    if not isinstance(mean, int | float) or mean <= 0:
        return DEFAULT_STALE
    return max(MIN_STALE, 5.0 * mean)


def read_finished_times(conn: sqlite3.Connection, track: Track, now: float, horizon: float,
                        rowids: tuple[int, int] | None = None) -> list[float]:
    """Completion times of the last `horizon` seconds (seeds the history at open).

    `rowids`: where the chunked counts found the newest settled rows: a large table's unindexed finish
    column is then read there only (the seed is a head start for the rate, not a count)."""
    finished = col(track, track.finished)
    if not finished:
        return []
    bound = f" AND {rowid_range(rowids)}" if rowids else ""
    # The newest value says how the column stores times (text, or epoch numbers in some unit), so the
    # cutoff is one indexable range (this runs once, at open).
    (newest,) = fetch(conn, f"SELECT MAX({finished}) FROM {q(track.table)} WHERE 1{bound}")[0]
    since = since_sql(finished, now - horizon, track.tz, track.time_format, track.time_unit, newest)
    rows = fetch(conn, f"SELECT {finished} FROM {q(track.table)} WHERE {since}{bound} "
                       f"ORDER BY {finished} DESC LIMIT 5000")
    return [t for (v,) in rows if (t := parse_ts(v, track.tz, track.time_unit)) is not None]


def read_sessions(conn: sqlite3.Connection, profile: Profile, limit: int = 20) -> tuple[list[SessionRow], int]:
    """Newest sessions and how many there are."""
    spec = profile.sessions
    if spec is None:
        return [], 0
    k = "rowid" if spec.key == "rowid" else q(spec.key)
    cols = [q(c) if c else "NULL" for c in (spec.started, spec.finished, spec.status)]
    extra = [f"substr({q(c)}, 1, 200)" for c in spec.columns]
    rows = fetch(conn, f"SELECT {k}, {', '.join(cols + extra)} FROM {q(spec.table)} ORDER BY {k} DESC LIMIT {limit}")
    (n,) = fetch(conn, f"SELECT COUNT(*) FROM {q(spec.table)}")[0]
    out = [
        SessionRow(r[0], parse_ts(r[1], spec.tz), parse_ts(r[2], spec.tz), display(str(r[3] or ""), 40),
                   tuple((c, display(str(v), 80) if v is not None else "") for c, v in zip(spec.columns, r[4:])))
        for r in rows
    ]
    return out, int(n)
