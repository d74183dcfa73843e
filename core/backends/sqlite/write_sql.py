"""The SQL of an SQLite action, built once: `actions.apply()` runs these statements and the preview
(`Plan.statements()`) shows their texts, so the two cannot drift apart.

Keys are written as literals (`in_list`), so a statement's text is exactly what SQLite executes. One
exception: a condition target's keys are found (`matching_keys`) in short key-range pages of the same
condition (`keyset.scan`, so a large match never holds a long read lock beside the job); the preview
shows that step as the one `find_keys` statement those pages add up to.
"""

from __future__ import annotations

from typing import Any

from batchtop.core.backends.sqlite.reads import fetch
from batchtop.core.backends.sqlite.sql import col, key_expr, lit, q, signature_sql
from batchtop.core.backends.sqlite.write_session import chunks, in_list, sql_lit
from batchtop.core.backends.statement import Statement
from batchtop.core.profiles.model import Action, RawValue, Track


def before_columns(track: Track, action: Action) -> tuple[str, ...]:
    """Assigned columns, plus the raw state column (never a secret column: `resolve` refuses those)."""
    cols = [c for c, _ in action.assign]
    if track.raw and track.raw not in cols:
        cols.append(track.raw)
    return tuple(cols)


def keeps_signature(track: Track, action: Action) -> bool:
    """Whether the before-image ends with the error's signature.

    Cohorts compare error signatures before and after. When the action clears the error column its
    before-image holds the text; otherwise (skip) the signature is journaled.
    """
    return bool(track.error) and track.error not in before_columns(track, action)


def find_keys(track: Track, condition: str, cap: int) -> Statement:
    """The first `cap` keys (in key order) of the rows matching `condition`."""
    k = key_expr(track)
    return Statement("find-keys", f"SELECT {k} FROM {q(track.table)} WHERE {condition} ORDER BY {k} LIMIT {cap}")


def chunk_statements(track: Track, action: Action, keys: list[RawValue], condition: str) -> tuple[Statement, Statement]:
    """For one key chunk: the before-image read, then the conditional UPDATE returning the keys written."""
    k, t = key_expr(track), q(track.table)
    where = f"{in_list(track, keys)} AND {condition}"
    err = signature_sql(col(track, track.error) or "NULL") if keeps_signature(track, action) else "NULL"
    columns = ", ".join(q(c) for c in before_columns(track, action))
    sets = ", ".join(f"{q(c)} = {lit(v)}" for c, v in action.assign)
    return (Statement("before-image", f"SELECT {k}, {columns}, {err} FROM {t} WHERE {where}"),
            Statement("update", f"UPDATE {t} SET {sets} WHERE {where} RETURNING {k}"))


def write_statements(track: Track, action: Action, keys: list[RawValue], condition: str, cap: int,
                     by_condition: bool) -> list[Statement]:
    """Every statement of the write, in order: find the keys (condition targets), then per key chunk
    the before-image and the UPDATE."""
    out = [find_keys(track, condition, cap)] if by_condition else []
    for chunk in chunks(keys):
        out += chunk_statements(track, action, chunk, condition)
    return out


def matching_keys(conn: Any, track: Track, condition: str, cap: int) -> list[RawValue]:
    """Run `find_keys` as short key-range pages: the first `cap` keys matching `condition` now."""
    from batchtop.core.backends.keyset import scan

    keys: list[RawValue] = []
    if cap <= 0:
        return keys
    for page in scan(conn, track, condition, {}, key_expr(track), page=min(cap, 5_000)):
        keys += [r[0] for r in page]
        if len(keys) >= cap:
            return keys[:cap]
    return keys


def shows_change(conn: Any, track: Track, action: Action, keys: list[RawValue]) -> bool | None:
    """After a COMMIT error ended the transaction: True if every row holds the values we wrote."""
    same = " AND ".join(f"{q(c)} IS {sql_lit(v)}" for c, v in action.assign)
    hits = sum(int(fetch(conn, f"SELECT COUNT(*) FROM {q(track.table)} WHERE {in_list(track, c)} AND {same}")[0][0])
               for c in chunks(keys))
    if hits == len(keys):
        return True
    return False if hits == 0 else None
