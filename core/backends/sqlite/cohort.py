"""SQLite's read of a cohort: where the rows of a journaled action are now (counted by `core.cohort.tally`)."""

from __future__ import annotations

import sqlite3
from typing import Any

from batchtop.core.backends.sqlite.reads import fetch
from batchtop.core.backends.sqlite.sql import col, key_expr, q, raw_expr, signature_arg
from batchtop.core.backends.sqlite.write_session import chunks, flight_expr, in_list
from batchtop.core.cohort import Cohort, tally
from batchtop.core.journal import Entry
from batchtop.core.profiles.model import Track
from batchtop.core.signature import signature


def cohort(conn: sqlite3.Connection, track: Track, entry: Entry) -> Cohort:
    """Count the current states of `entry`'s affected rows (read-only, bounded statements)."""
    err = signature_arg(col(track, track.error)) if track.error else "NULL"
    rows: list[tuple[Any, Any, Any, str]] = []
    for chunk in chunks(entry.affected):
        rows += [(key, raw, flight, signature(error)) for key, raw, flight, error in
                 fetch(conn, f"SELECT {key_expr(track)}, {raw_expr(track)}, {flight_expr(track)}, {err} "
                             f"FROM {q(track.table)} WHERE {in_list(track, chunk)}")]
    return tally(track, entry, rows)
