"""What the detector's bounded row samples say about a column (`ColumnStats`), and how much they read.

Each backend takes the samples its own way (SQLite: `backends.sqlite.sample`, the first and last rows in
rowid order; PostgreSQL: `backends.postgres.sample`); never a table scan, always a LIMIT.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Rows read from each end of a table for status values.
SAMPLE_ROWS = 10_000
#: Rows read from each end of a table for column statistics (these read whole values: keep it small).
STATS_ROWS = 500
#: Columns summarised in one statistics statement.
MAX_STATS_COLUMNS = 64


@dataclass(frozen=True)
class ColumnStats:
    """What a sample says about one column."""

    rows: int
    nulls: int
    #: Longest text value in characters (None when no text was seen).
    max_len: int | None
    #: Some value is stored as a number (epoch timestamps, say).
    numeric: bool
    #: Some text value has 'T' where ISO 8601 puts it ('2026-01-01T10:00').
    iso: bool
    #: Largest magnitude of a number stored in the column (tells epoch s from ms, µs, ns).
    max_number: float | None = None

    @property
    def mostly_null(self) -> bool:
        """NULL in at least half of the sampled rows."""
        return self.rows > 0 and self.nulls * 2 >= self.rows


