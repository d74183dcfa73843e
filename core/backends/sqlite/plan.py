"""SQLite's dry run of an action (`core.preview.Plan`): count, samples and the exact predicate, read on
the source's read-only connection in bounded statements. Nothing is written."""

from __future__ import annotations

import time
from typing import Any

from batchtop.core.backends.base import SourceLike
from batchtop.core.backends.sqlite.reads import fetch, stale_threshold
from batchtop.core.backends.sqlite.sql import col, error_preview, key_expr, q, raw_expr, text_preview
from batchtop.core.backends.sqlite.write_session import READ_ONLY, RowState, identity_of, in_list, row_states
from batchtop.core.errors import FileReplaced, NoAction, ReadOnlyMode
from batchtop.core.journal import norm
from batchtop.core.preview import MAX_ROWS, SAMPLES, Plan, SampleRow
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.signature import headline
from batchtop.core.snapshot import preview
from batchtop.core.targets import Target, resolve, target_condition


def plan(
    source: SourceLike,
    track: str | Track | None,
    action: str | None,
    target: Target,
    *,
    read_only: bool = False,
    now: float | None = None,
) -> Plan:
    """Preview an action: count, samples and the exact predicate. Nothing is written.

    Raises:
        ReadOnlyMode: read-only mode (nothing is opened).
        NoAction: the track offers no such action (the message says why).
        FileReplaced / FileMissing: the file changed since the source last read it.
        Locked (and other SourceErrors): the read failed; nothing was written.
    """
    if read_only:
        raise ReadOnlyMode(READ_ONLY)
    if not source.is_open:  # closed by a write (see `write_session.quiet`), or quiescent: refresh first
        result = source.poll()
        if result.error is not None:
            raise result.error
    trk, act = resolve(source, track, action, target)
    if target.kind == "keys" and not target.keys:
        raise NoAction("no item selected")
    if source.identity is None or identity_of(source.path) != source.identity:
        raise FileReplaced("file was replaced since the last refresh; nothing written (refresh and retry)")
    when = time.time() if now is None else now

    def read(conn: Any) -> Plan:
        cutoff = None
        if target.kind == "stale":
            older = target.older_than if target.older_than is not None else stale_threshold(conn, trk)
            cutoff = when - older
        columns = [r[1] for r in fetch(conn, f"PRAGMA table_info({q(trk.table)})")] if target.kind == "where" else None
        cond = target_condition(trk, act, target, cutoff, path=source.path, columns=columns, now=when)
        k, t = key_expr(trk), q(trk.table)
        not_eligible: list[RowState] = []
        if target.kind == "keys":
            found = row_states(conn, trk, target.keys, cond)
            keys = [found[norm(x)][0].key for x in target.keys if norm(x) in found and found[norm(x)][1]]
            not_eligible = [found[norm(x)][0] if norm(x) in found else RowState(x, "missing", "")
                            for x in target.keys if norm(x) not in found or not found[norm(x)][1]]
            count = len(keys)
            predicate = f"{in_list(trk, keys)} AND {cond}" if keys else "0"
        else:
            keys = [r[0] for r in fetch(conn, f"SELECT {k} FROM {t} WHERE {cond} ORDER BY {k} LIMIT {MAX_ROWS + 1}")]
            count = len(keys) if len(keys) <= MAX_ROWS else int(fetch(conn, f"SELECT COUNT(*) FROM {t} WHERE {cond}")[0][0])
            keys = keys[:MAX_ROWS]
            predicate = cond
        return Plan(source.path, source.identity or (0, 0), source.profile.name if source.profile else "",
                    trk, act, target, cond, predicate, count, tuple(keys), _samples(conn, trk, keys[:SAMPLES]),
                    tuple(not_eligible), cutoff, when, source)

    return source.run(read)


def _samples(conn: Any, track: Track, keys: list[RawValue]) -> tuple[SampleRow, ...]:
    if not keys:
        return ()
    k = key_expr(track)
    label = col(track, track.label) or k
    err = col(track, track.error) or "NULL"
    rows = fetch(conn, f"SELECT {k}, {text_preview(label, 200)}, {error_preview(err)}, {raw_expr(track)} "
                       f"FROM {q(track.table)} WHERE {in_list(track, keys)} ORDER BY {k}")
    return tuple(SampleRow(key, preview(lab, ll, lk, 160)[0], preview(headline(e) if ek == "text" else e, el, ek, 400)[0],
                           preview(raw, None, None, 40)[0])
                 for key, lab, ll, lk, e, el, ek, raw in rows)
