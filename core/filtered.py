"""Filters: parsed once (`Filter`), compiled for a track in the source's backend's SQL, and the rows they
select read in bounded keyset chunks (`backends.keyset.scan`).

The SQL is the backend's: SQLite's (`backends.sqlite.filter_sql`, also for a plain connection) or
PostgreSQL's (`backends.postgres.filter_sql`, whose `sig:` reads the table's errors). Nothing here holds
SQL text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchtop.core.backends import keyset
from batchtop.core.backends.keyset import scan
from batchtop.core.backends.sqlite import failures as sqlite_pages
from batchtop.core.backends.sqlite import filter_sql as sqlite_filter
from batchtop.core.errors import FilterError
from batchtop.core.filters import Node, parse, terms
from batchtop.core.paging import Db
from batchtop.core.profiles.model import RawValue, Track
from batchtop.core.snapshot import FailureRow


@dataclass(frozen=True)
class Filter:
    """A parsed filter; `condition()` compiles it for one track."""

    text: str
    node: Node | None

    @classmethod
    def parse(cls, text: str) -> Filter:
        """Parse `text` (raises FilterError with the position of the bad token)."""
        return cls(text, parse(text))

    @property
    def empty(self) -> bool:
        return self.node is None

    def fields(self) -> set[str]:
        """Field names used (lower case; '' for bare words)."""
        return {(t.field or "").lower() for t in terms(self.node)}

    def condition(
        self,
        track: Track,
        *,
        now: float,
        path: str | None = None,
        columns: Sequence[str] | None = None,
        inline: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        """SQLite's condition and parameters for rows of `track` (see `filter_sql.compile_filter`)."""
        return sqlite_filter.compile_sqlite(
            self.node, track, now=now, path=path, columns=columns, inline=inline, text=self.text
        )


def columns_of(db: Db, table: str) -> list[str]:
    """Column names of `table` on an SQLite source or connection (for column terms: `cost_usd>0.05`)."""
    return sqlite_filter.columns_of(db, table)


def compile_for(
    db: Db, track: Track, flt: Filter, *, now: float, path: str | None = None, inline: bool = False
) -> tuple[str, dict[str, Any]]:
    """`flt.condition` with the table's columns read first, in the source's backend's SQL (SQLite's, or
    PostgreSQL's, whose `sig:` reads the table's errors)."""
    backend = getattr(db, "backend", None)
    if backend is None:
        return sqlite_filter.compile_for(db, track, flt.node, now=now, path=path, text=flt.text, inline=inline)
    return backend.compile_filter(db, track, flt.node, now=now, path=path, text=flt.text, inline=inline)


def filter_failures(
    db: Db,
    track: Track,
    text: str,
    *,
    before: RawValue = None,
    after: RawValue = None,
    limit: int = 50,
    path: str | None = None,
    now: float | None = None,
) -> list[FailureRow]:
    """A keyset page of the failed items a filter selects, newest first (the failures screen's `/`).

    A drop-in for `failure_pages.search_failures`: a plain word still finds failures whose error or
    label contains it. Older than `before`, or the `limit` nearest newer than `after`.

    Raises:
        FilterError: the text is not a valid filter (its message points at the bad token).
    """
    if not track.failures_recorded:
        return []
    flt = Filter.parse(text)
    sql, params = compile_for(db, track, flt, now=time.time() if now is None else now, path=path)
    cond = f"({sql}) AND {failed_predicate(db, track)}"
    newer = after is not None
    keys: list[RawValue] = []
    for page in scan(
        db,
        track,
        cond,
        params,
        key_of(db, track),
        page=limit,
        newest_first=not newer,
        start=after if newer else before,
    ):
        keys += [r[0] for r in page]
        if len(keys) >= limit:
            break
    keys = keys[:limit]
    if not keys:
        return []
    backend = getattr(db, "backend", None)
    if backend is None:
        return sqlite_pages.read_keys(db, track, keys)
    return backend.read_keys(db, track, keys)


__all__ = ["Filter", "FilterError", "columns_of", "compile_for", "filter_failures"]


def key_of(db: Db, track: Track) -> str:
    """The track's key expression in the source's SQL."""
    return keyset.dialect_of(db).key_expr(track)


def failed_predicate(db: Db, track: Track) -> str:
    """Failed rows, in the source's SQL."""
    return keyset.dialect_of(db).state_predicate(track, ["failed"])
