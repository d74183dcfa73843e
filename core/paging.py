"""How reads of failed rows are paged and chunked, on any backend: sizes, pauses, and running a reader
on a source (`runner`: `Source.run`, so the source lock is free between chunks) or a plain connection.

No SQL here: the statements are the backend's (`backends.sqlite.failures`, `backends.postgres.failures`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

T = TypeVar("T")

#: Member keys kept per error group: groups up to this size page exactly by key, bigger ones by bounded scans.
KEYS_CAP = 2_000
#: Keys fetched per `read_failures(keys=...)` statement.
KEYS_PER_READ = 500
#: `progress(rows_read)`; it may raise to abandon the pass (the cache is left as it was).
Progress = Callable[[int], None]
#: Rows read per statement at most (grouping and page scans): each statement is a read transaction of
#: its own, and 2,000 rows (a signature each) take ~5 ms where 20,000 took ~60 ms (1M-row table), during
#: which a busy WAL job cannot restart its WAL.
CHUNK = 2_000
#: Seconds between two chunks: lets a rollback-journal writer in (readers and writers block each other).
PAUSE = 0.005
#: First chunk of a page scan (doubles up to CHUNK while too few rows match).
SCAN_START = 1_000


class Runs(Protocol):
    """Anything that runs a reader on its connection (a source)."""

    def run(self, reader: Callable[[Any], T]) -> T: ...


#: A source (whose lock is then released between chunks), or a plain connection (an SQLite one: the
#: statements are then SQLite's).
Db = Runs | Any


class Run(Protocol):
    """What `runner` returns: runs a reader on a database's connection and returns what it read."""

    def __call__(self, reader: Callable[[Any], T]) -> T: ...


def runner(db: Db) -> Run:
    """A function running a reader on `db`: `Source.run`, or a plain call with the connection."""
    run = getattr(db, "run", None)
    if run is not None:
        return cast(Run, run)
    conn = db  # no `run`: a plain connection

    def direct(reader: Callable[[Any], T]) -> T:
        return reader(conn)

    return direct


def sqlite_order(value: Any) -> tuple[int, Any]:
    """A sort key giving SQLite's order of values in Python: NULL < numbers < text < blobs."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


