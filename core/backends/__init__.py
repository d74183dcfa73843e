"""Storage backends: what batchtop needs from a kind of database, behind one small protocol (`base`).

SQLite files are read by `batchtop.core.source` (to move here as `backends/sqlite/`); PostgreSQL tables by
`backends/postgres/`. A command-line source that is a `postgresql://` URL goes to the latter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchtop.core.profiles.model import Profile

from batchtop.core.backends.urls import is_url


def open_source(arg: str, *, profiles: Sequence[Profile] = (), **options: Any) -> Any:
    """A source for one command-line argument: a PostgreSQL database for a URL, else an SQLite file."""
    if is_url(arg):
        from batchtop.core.backends.postgres.source import PgSource

        return PgSource(arg, profiles=profiles, **options)
    from batchtop.core.source import Source

    return Source(arg, profiles=profiles, **options)
