"""Keyset pages of failed items on any backend: the newest, one error group's, and a search's.

A page never runs an unbounded scan (hazards.md rule 4): the backend reads it in bounded statements
(SQLite: `backends.sqlite.failures`; PostgreSQL: `backends.postgres.failures`). `db` is a source (its
`backend` reads the page, each statement through `source.run`, so the source lock is free between
chunks) or a plain SQLite connection. No SQL here.
"""

from __future__ import annotations

from collections.abc import Sequence

from batchtop.core.backends.sqlite import failures as sqlite_pages
from batchtop.core.paging import Db
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.snapshot import FailureRow


def failure_page(db: Db, track: Track, *, before: RawValue = None, after: RawValue = None,
                 limit: int = 50) -> list[FailureRow]:
    """Failed items next to an anchor, newest first: older than `before`, or the nearest newer than `after`."""
    if not track.failures_recorded:
        return []
    backend = getattr(db, "backend", None)
    if backend is None:
        return sqlite_pages.failure_page(db, track, before=before, after=after, limit=limit)
    return backend.failure_page(db, track, before=before, after=after, limit=limit)


def group_items(db: Db, track: Track, signature_: str, *, before: RawValue = None, after: RawValue = None,
                limit: int = 50, members: Sequence[RawValue] | None = None,
                bounds: tuple[RawValue, RawValue] | None = None) -> list[FailureRow]:
    """A keyset page of the failed items whose error has `signature_`, newest first.

    Args:
        members: The group's keys in SQLite order, when known (`GroupCache.members`): the page is then
            read by key. Otherwise failed rows are scanned in bounded chunks next to the anchor.
        bounds: Lowest and highest key of the group, when known: the scan stops there.
    """
    if not track.failures_recorded:
        return []
    backend = getattr(db, "backend", None)
    if backend is None:
        return sqlite_pages.group_items(db, track, signature_, before=before, after=after, limit=limit,
                                        members=members, bounds=bounds)
    return backend.group_items(db, track, signature_, before=before, after=after, limit=limit,
                               members=members, bounds=bounds)


def search_failures(db: Db, track: Track, text: str, *, before: RawValue = None, after: RawValue = None,
                    limit: int = 50) -> list[FailureRow]:
    """A keyset page of failed items whose error or label contains `text` (SQLite's LIKE: ASCII
    case-insensitive; PostgreSQL's ILIKE)."""
    if not track.failures_recorded:
        return []
    if not text:
        return failure_page(db, track, before=before, after=after, limit=limit)
    backend = getattr(db, "backend", None)
    if backend is None:
        return sqlite_pages.search_failures(db, track, text, before=before, after=after, limit=limit)
    return backend.failure_page(db, track, before=before, after=after, limit=limit, search=text)
