"""The SQL of a PostgreSQL action, built once: `write.apply()` runs these statements and the preview
(`Plan.statements()`) shows their texts, so the two cannot drift apart.

Keys and values are written as literals (`sql.lit`), never bound as parameters, so the text shown is the
text the server executes.
"""

from __future__ import annotations

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.sqlite.sql import LIST_CHARS, q
from batchtop.core.backends.sqlite.write_session import chunks
from batchtop.core.backends.statement import Statement
from batchtop.core.preview import Plan
from batchtop.core.profiles.model import Action, RawValue, Track


def before_columns(track: Track, action: Action) -> tuple[str, ...]:
    """Assigned columns, plus the raw state column."""
    return tuple(dict.fromkeys([c for c, _ in action.assign] + ([track.raw] if track.raw else [])))


def keeps_signature(track: Track, action: Action) -> bool:
    """Whether the before-image ends with the error text's head, tail and length (for its signature):
    only when the action does not journal the error column itself."""
    return bool(track.error) and track.error not in before_columns(track, action)


def by_condition(plan: Plan) -> bool:
    """Keys found at write time (an error group is planned as an explicit key list on PostgreSQL)."""
    return plan.target.kind not in ("keys", "group")


def find_keys(track: Track, condition: str, cap: int) -> Statement:
    """Select and lock the first `cap` keys (in key order) of the rows matching `condition`."""
    k = pg.key_expr(track)
    return Statement("find-keys",
                     f"SELECT {k} FROM {q(track.table)} WHERE {condition} ORDER BY {k} LIMIT {cap} FOR UPDATE")


def chunk_statements(track: Track, action: Action, keys: list[RawValue], condition: str) -> tuple[Statement, Statement]:
    """For one key chunk: the locking before-image read, then the conditional UPDATE returning the keys."""
    where = f"{pg.keys_in(track, keys)} AND {condition}"
    err = f"CAST({q(track.error)} AS text)" if keeps_signature(track, action) and track.error else "NULL"
    sig_cols = f"left({err}, {LIST_CHARS}), right({err}, {LIST_CHARS}), length({err})"
    columns = ", ".join(q(c) for c in before_columns(track, action))
    image = f"SELECT {pg.key_expr(track)}, {columns}, {sig_cols} FROM {q(track.table)} WHERE {where} FOR UPDATE"
    return Statement("before-image", image), Statement("update", pg.update_sql(track, action.assign, where))


def plan_statements(plan: Plan) -> list[Statement]:
    """Every statement of the plan's write, in order (key lists as selected at preview time)."""
    out = [find_keys(plan.track, plan.condition, plan.cap)] if by_condition(plan) else []
    for chunk in chunks(list(plan.keys)):
        out += chunk_statements(plan.track, plan.action, chunk, plan.condition)
    return out
