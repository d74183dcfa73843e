"""SQLite's reads for the error groups (`batchtop.core.groups.GroupCache`): the grouping pass in short
keyset chunks, the check of the rows below the high-water mark, and the sample rows.

Every statement reads at most `chunk` rows in key order (`WHERE <failed> AND key > ? ORDER BY key LIMIT
chunk`) and only what the grouping needs: the key, the first `LIST_CHARS` characters of the error, a
timestamp, a checksum and the epoch minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchtop.core import group_rate
from batchtop.core.backends.sqlite.reads import fetch, read_failures
from batchtop.core.backends.sqlite.sql import (
    error_expr,
    key_expr,
    q,
    seconds_sql,
    signature_arg,
    state_predicate,
    when_expr,
)
from batchtop.core.paging import KEYS_CAP, KEYS_PER_READ, Progress, sqlite_order
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.signature import cached_signature
from batchtop.core.snapshot import FailureRow
from batchtop.core.timeutil import parse_ts

MINUTE = group_rate.MINUTE


def minute_sql(when: str, unit: str = "auto") -> str:
    """SQL for the epoch minute of the timestamp `when` (NULL when there is none)."""
    if when == "NULL":
        return "NULL"
    # Rounded first: julianday() arithmetic puts 12:00:00 at 11:59:59.99998, a minute early.
    return f"(CAST(round({seconds_sql(when, unit)}) AS INTEGER) / {MINUTE})"


def _checksum(track: Track) -> str:
    """Per-row number summed to notice members that changed (keys and error lengths)."""
    k, err = key_expr(track), error_expr(track)
    return (f"(CASE typeof({k}) WHEN 'integer' THEN {k} WHEN 'real' THEN {k} "
            f"ELSE length(CAST({k} AS BLOB)) END + ifnull(length({err}), 0))")


def earlier(a: Any, b: Any) -> bool:
    """a < b for timestamps as stored (same-typed values compare directly; else parsed)."""
    try:
        return a < b
    except TypeError:
        return (parse_ts(a) or 0.0) < (parse_ts(b) or 0.0)


#: Accumulator of one group: [count, first_when, last_when, max_key, min_key, member keys or None,
#: failures per epoch minute bucket (`group_rate`), bucket width in minutes].
Acc = list


@dataclass
class _Pass:
    groups: dict[str, Acc]
    rows: int = 0
    statements: int = 0
    checksum: float = 0.0
    high: Any = None


def scan(run: Callable, track: Track, after: Any, *, chunk: int, pause: float,
          progress: Progress | None, start: int = 0,
          on_chunk: Callable[[dict[str, Acc], int], None] | None = None) -> _Pass:
    """Group the failed rows with key > `after` (all of them when `after` is None), chunk by chunk."""
    k = key_expr(track)
    when = when_expr(track)
    base = (f"SELECT {k}, {signature_arg(error_expr(track))}, {when}, {_checksum(track)}, "
            f"{minute_sql(when, track.time_unit)} "
            f"FROM {q(track.table)} WHERE {state_predicate(track, ['failed'])}")
    tail = f" ORDER BY {k} LIMIT {int(chunk)}"
    out = _Pass({}, high=after)
    groups = out.groups
    params: tuple[Any, ...]
    while True:
        if out.high is None:
            sql, params = base + tail, ()
        else:
            sql, params = base + f" AND {k} > ?" + tail, (out.high,)
        rows = run(lambda conn, s=sql, p=params: fetch(conn, s, p))
        out.statements += 1
        checksum = 0.0
        for key, err, when, ck, minute in rows:
            sig = cached_signature(err)
            acc = groups.get(sig)
            if acc is None:
                groups[sig] = [1, when, when, key, key, [key], {} if minute is None else {minute: 1}, 1]
            else:
                acc[0] += 1
                if minute is not None:
                    hist, width = acc[6], acc[7]
                    b = minute - minute % width
                    hist[b] = hist.get(b, 0) + 1
                if when is not None:
                    if acc[1] is None or earlier(when, acc[1]):
                        acc[1] = when
                    if acc[2] is None or earlier(acc[2], when):
                        acc[2] = when
                acc[3] = key
                members = acc[5]
                if members is not None:
                    if len(members) < KEYS_CAP:
                        members.append(key)
                    else:
                        acc[5] = None
            if ck is not None:
                checksum += ck
        for acc in groups.values():  # bounded: a group's buckets widen rather than grow past the cap
            if len(acc[6]) > group_rate.MAX_BUCKETS:
                acc[6], acc[7] = group_rate.coarsen(acc[6], acc[7])
        out.rows += len(rows)
        out.checksum += checksum
        if rows:
            out.high = rows[-1][0]
        if progress is not None:
            progress(start + out.rows)
        if on_chunk is not None:
            on_chunk(groups, out.rows)
        # A NULL last key cannot continue a keyset (rows with NULL keys come first and are few).
        if len(rows) < chunk or out.high is None:
            return out
        if pause > 0:
            time.sleep(pause)


def check(run: Callable, track: Track, high: Any, *, chunk: int, pause: float) -> tuple[tuple[int, float], int]:
    """Count and checksum of the failed rows at or below `high` (and of NULL keys), and the statements
    run. Read in key order, `chunk` rows a statement, each its own short read: one aggregate over
    every failed row held a read beside a busy job for 50-350 ms (its WAL could not be checkpointed)."""
    k, t, failed = key_expr(track), q(track.table), state_predicate(track, ["failed"])
    rows = run(lambda conn: fetch(conn, f"SELECT COUNT(*), TOTAL({_checksum(track)}) FROM {t} "
                                        f"WHERE {failed} AND {k} IS NULL"))
    count, total, statements = int(rows[0][0]), float(rows[0][1]), 1
    after: Any = None
    while high is not None:
        inner = (f"SELECT {k} AS k_, {_checksum(track)} AS c_ FROM {t} WHERE {failed} AND {k} <= ?"
                 + ("" if after is None else f" AND {k} > ?") + f" ORDER BY {k} LIMIT {int(chunk)}")
        params = (high,) if after is None else (high, after)
        rows = run(lambda conn, s=inner, p=params: fetch(
            conn, f"SELECT COUNT(*), TOTAL(c_), MAX(k_) FROM ({s})", p))
        statements += 1
        n = int(rows[0][0])
        count, total, after = count + n, total + float(rows[0][1]), rows[0][2]
        if n < chunk:
            break
        if pause > 0:
            time.sleep(pause)
    return (count, total), statements


def samples(run: Callable, track: Track, keys: list[RawValue]) -> tuple[dict[Any, FailureRow], int]:
    """The sample rows of the groups shown, by `sqlite_order(key)`."""
    out: dict[Any, FailureRow] = {}
    n = 0
    for i in range(0, len(keys), KEYS_PER_READ):
        part = keys[i:i + KEYS_PER_READ]
        rows = run(lambda conn, p=part: read_failures(conn, track, limit=len(p), keys=p))
        n += 1
        out.update((sqlite_order(r.key), r) for r in rows)
    return out, n
