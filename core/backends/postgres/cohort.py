"""Cohorts on PostgreSQL: what became of the rows a journaled action wrote ("did the fix work?").

The rows are looked up by key in chunks (`write_session.chunks`), in the source's read-only session; each failed
row's error signature is computed here from its first and last LIST_CHARS characters (as the error
groups do, `plan.error_signature`) and the counting is `batchtop.core.cohort.tally`, shared with SQLite.
"""

from __future__ import annotations

from typing import Any

from batchtop.core.backends.postgres import sql as pg
from batchtop.core.backends.postgres.conn import fetch
from batchtop.core.backends.postgres.sql import error_signature
from batchtop.core.backends.sqlite.sql import LIST_CHARS, q, raw_expr
from batchtop.core.backends.sqlite.write_session import chunks
from batchtop.core.cohort import Cohort, tally
from batchtop.core.journal import Entry
from batchtop.core.profiles.model import Track


def cohort(conn: Any, track: Track, entry: Entry) -> Cohort:
    """Count the current states of `entry`'s affected rows (bounded key lookups, read-only)."""
    if track.error:
        text = f"CAST({q(track.error)} AS text)"
        err = f"left({text}, {LIST_CHARS}), right({text}, {LIST_CHARS}), length({text})"
    else:
        err = "NULL, NULL, NULL"
    flight = pg.flight(track) or "FALSE"
    rows = []
    for chunk in chunks(list(entry.affected)):
        for key, raw, flying, head, tail, length in fetch(
            conn,
            f"SELECT {pg.key_expr(track)}, {raw_expr(track)}, {flight}, {err} FROM {q(track.table)} "
            f"WHERE {pg.keys_in(track, chunk)}",
        ):
            rows.append((key, raw, flying, error_signature(head, tail, length)))
    return tally(track, entry, rows)
