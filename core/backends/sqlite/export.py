"""The export's SELECT list on SQLite (`core.export` writes the rows; PostgreSQL's list is
`backends.postgres.export`)."""

from __future__ import annotations

from collections.abc import Callable

from batchtop.core.backends.sqlite.sql import (
    col,
    error_expr,
    key_expr,
    label_expr,
    raw_expr,
    signature_arg,
    when_expr,
)
from batchtop.core.profiles.model import Track


def select(track: Track, secret: Callable[[Track, str | None], bool], label_chars: int, error_chars: int) -> str:
    """key, label, raw, in flight, error, its length and kind, the signature's argument, time, metrics
    (`secret` columns read as the key / NULL; BLOBs as NULL: an export never decodes bytes)."""
    k = key_expr(track)
    label = key_expr(track) if secret(track, track.label) else label_expr(track)
    err = "NULL" if secret(track, track.error) else error_expr(track)
    flight = f"COALESCE(({track.in_flight}), 0)" if track.in_flight else "0"
    metrics = [col(track, m.column) or "NULL" for m in track.metrics if not secret(track, m.column)]
    parts = [
        k,
        f"CASE WHEN typeof({label}) = 'blob' THEN NULL ELSE substr({label}, 1, {label_chars}) END",
        raw_expr(track),
        flight,
        f"CASE WHEN typeof({err}) = 'blob' THEN NULL ELSE substr({err}, 1, {error_chars}) END",
        f"length({err})",
        f"typeof({err})",
        signature_arg(err),
        when_expr(track),
        *metrics,
    ]
    return ", ".join(parts)
