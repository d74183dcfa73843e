"""Previews of actions on PostgreSQL: the same `Plan` as SQLite, read in the source's read-only session.

`plan()` counts the rows, shows a few and gives the exact condition `write.apply()` will run; nothing is
written to make it. Error groups are matched on signatures computed here from the error text (PostgreSQL
has no `bt_signature`) and become an explicit key list.
"""

from __future__ import annotations

import time
from typing import Any

from batchtop.core import errors
from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres.conn import fetch
from batchtop.core.backends.postgres.reads import derive_stale
from batchtop.core.backends.postgres.sql import error_signature
from batchtop.core.backends.sqlite.sql import LIST_CHARS, label_expr, q, raw_expr
from batchtop.core.backends.sqlite.write_session import READ_ONLY, RowState, chunks, norm
from batchtop.core.errors import NoAction
from batchtop.core.preview import MAX_ROWS, SAMPLES, Plan, SampleRow
from batchtop.core.profiles.model import Action, RawValue, Track
from batchtop.core.snapshot import classify, preview
from batchtop.core.targets import Target, resolve

# -- plan ---------------------------------------------------------------------------------------------


def condition(
    track: Track, action: Action, target: Target, cutoff: float | None, table: Any, where: str | None = None
) -> str:
    """Still in the action's from-states, AND the filter / stale condition (as `targets.target_condition`);
    `where` is a `where` target's filter, compiled (`filter_sql.compile_for`)."""
    if target.kind == "where" and where is None:
        raise ValueError("a where target needs its compiled filter")  # never every row in the from-states
    states = action.from_states
    if target.kind in ("group", "match", "failed"):
        states = tuple(s for s in states if s == "failed")
        if not states:
            raise NoAction(f"{action.name} does not apply to failed items")
    parts = [pg.state_predicate(track, states)]
    if target.kind == "match":
        parts.append(pg.search_condition(track, target.text or ""))
    elif target.kind == "where":
        parts.append(f"({where})")
    elif target.kind == "stale":
        if not track.started or cutoff is None:
            raise NoAction(f"{track.name} has no start time: stale items cannot be told")
        parts.append(f"{q(track.started)} < {pg.time_literal(table, track.started, cutoff, track)}")
    return " AND ".join(parts)


def group_keys(conn: Any, track: Track, sig: str, cond: str) -> list[RawValue]:
    """Keys of rows matching `cond` whose error has signature `sig` (at most MAX_ROWS + 1)."""
    err = pg.error_expr(track)
    if err == "NULL":
        return []
    k, text = pg.key_expr(track), f"CAST({err} AS text)"
    rows = fetch(
        conn,
        f"SELECT {k}, left({text}, {LIST_CHARS}), right({text}, {LIST_CHARS}), length({text}) "
        f"FROM {q(track.table)} WHERE {cond} ORDER BY {k} LIMIT {10 * MAX_ROWS}",
    )
    return [r[0] for r in rows if error_signature(r[1], r[2], r[3]) == sig][: MAX_ROWS + 1]


def row_states(
    conn: Any, track: Track, keys: list[RawValue], cond: str | None = None
) -> dict[Any, tuple[RowState, bool]]:
    """Current state of `keys` (missing ones omitted), and whether each still meets `cond`."""
    k, fl = pg.key_expr(track), pg.flight(track) or "FALSE"
    ok = f"COALESCE(({cond}), FALSE)" if cond else "FALSE"
    out: dict[Any, tuple[RowState, bool]] = {}
    for chunk in chunks(keys):
        for key, raw, flying, eligible in fetch(
            conn,
            f"SELECT {k}, {raw_expr(track)}, {fl}, {ok} FROM {q(track.table)} WHERE {pg.keys_in(track, chunk)}",
        ):
            state, label = classify(track, raw, flying)
            if state != classify(track, raw)[0]:
                label += ", started"
            out[norm(key)] = (RowState(key, state, label), bool(eligible))
    return out


def _samples(conn: Any, track: Track, table: Any, keys: list[RawValue]) -> tuple[SampleRow, ...]:
    if not keys:
        return ()
    k = pg.key_expr(track)
    err = q(track.error) if track.error else "NULL"
    rows = fetch(
        conn,
        f"SELECT {k}, {pg.text_preview(label_expr(track), table, 200)}, "
        f"{pg.text_preview(err, table)}, {raw_expr(track)} FROM {q(track.table)} "
        f"WHERE {pg.keys_in(track, keys)} ORDER BY {k}",
    )
    return tuple(
        SampleRow(
            key, preview(lab, ll, lk, 160)[0], preview(e, el, ek, 400)[0], preview(raw, None, None, 40)[0]
        )
        for key, lab, ll, lk, e, el, ek, raw in rows
    )


def plan(
    source: Any,
    track: str | Track | None,
    action: str | None,
    target: Target,
    *,
    read_only: bool = False,
    now: float | None = None,
) -> Plan:
    """Preview an action on a PostgreSQL source (see `batchtop.core.preview.plan`). Nothing is written."""
    if read_only:
        raise errors.ReadOnlyMode(READ_ONLY)
    if source.profile is None or source.identity is None:
        result = source.poll()
        if result.error is not None:
            raise result.error
    trk, act = resolve(source, track, action, target)
    if target.kind == "keys" and not target.keys:
        raise NoAction("no item selected")
    when = time.time() if now is None else now
    table = source.table(trk.table)
    where = None
    if target.kind == "where":
        # Before the read: a `sig:` term runs reads of its own through the source.
        from batchtop.core.backends.postgres.filter_sql import compile_for
        from batchtop.core.filters import parse

        where = compile_for(source, trk, parse(target.text or ""), now=when, path=source.path, text=target.text or "")[0]

    def read(conn: Any) -> Plan:
        cutoff = None
        if target.kind == "stale":
            older = target.older_than if target.older_than is not None else derive_stale(conn, trk)
            cutoff = when - older
        cond = condition(trk, act, target, cutoff, table, where)
        k, t = pg.key_expr(trk), q(trk.table)
        not_eligible: list[RowState] = []
        if target.kind in ("keys", "group"):
            wanted = (
                list(target.keys)
                if target.kind == "keys"
                else group_keys(conn, trk, target.signature or "", cond)
            )
            found = row_states(conn, trk, wanted, cond)
            keys = [found[norm(x)][0].key for x in wanted if norm(x) in found and found[norm(x)][1]]
            not_eligible = [
                found[norm(x)][0] if norm(x) in found else RowState(x, "missing", "")
                for x in wanted
                if norm(x) not in found or not found[norm(x)][1]
            ]
            count = len(keys)
            keys = keys[:MAX_ROWS]
            predicate = f"{pg.keys_in(trk, keys)} AND {cond}" if keys else "FALSE"
        else:
            keys = [
                r[0]
                for r in fetch(conn, f"SELECT {k} FROM {t} WHERE {cond} ORDER BY {k} LIMIT {MAX_ROWS + 1}")
            ]
            count = (
                len(keys)
                if len(keys) <= MAX_ROWS
                else int(fetch(conn, f"SELECT COUNT(*) FROM {t} WHERE {cond}")[0][0])
            )
            keys = keys[:MAX_ROWS]
            predicate = cond
        return Plan(
            source.path,
            source.identity or (0, 0),
            source.profile.name if source.profile else "",
            trk,
            act,
            target,
            cond,
            predicate,
            count,
            tuple(keys),
            _samples(conn, trk, table, keys[:SAMPLES]),
            tuple(not_eligible),
            cutoff,
            when,
            source,
        )

    return source.run(read)
