"""The export's SELECT list on PostgreSQL: the same columns as `core.export` reads on SQLite."""

from __future__ import annotations

from collections.abc import Callable

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.sqlite.sql import col, label_expr, raw_expr, when_expr
from batchtop.core.profiles.model import Track
from batchtop.core.schema import Table


def select(
    track: Track, table: Table | None, secret: Callable[[Track, str | None], bool], label_chars: int, error_chars: int
) -> str:
    """key, label, raw, in flight, error, its length and kind, the signature's argument, time, metrics
    (`secret` columns read as the key / NULL, bytea as NULL: an export never decodes bytes)."""
    k = pg.key_expr(track)
    label = k if secret(track, track.label) else label_expr(track)
    err = "NULL" if secret(track, track.error) else pg.error_expr(track)
    metrics = [col(track, m.column) or "NULL" for m in track.metrics if not secret(track, m.column)]

    def text(expr: str, chars: int) -> str:
        return "NULL" if pg.type_of(table, expr) == "BYTEA" else f"left(CAST({expr} AS text), {chars})"

    blob = pg.type_of(table, err) == "BYTEA"
    sig_arg = "NULL" if blob or err == "NULL" else pg.error_head(err)
    parts = [
        k,
        text(label, label_chars),
        raw_expr(track),
        pg.flight(track) or "FALSE",
        text(err, error_chars),
        f"octet_length({err})" if blob else f"length(CAST({err} AS text))",
        "'blob'" if blob else f"CASE WHEN {err} IS NULL THEN 'null' ELSE 'text' END",
        sig_arg,
        when_expr(track),
        *metrics,
    ]
    return ", ".join(parts)
