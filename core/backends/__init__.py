"""Storage backends: what batchtop needs from a kind of database, behind one small protocol (`base`).

Each kind of database has one package that alone knows it: `sqlite/` (SQLite files: SQL building, reads,
chunked counts, the WAL reader, writes, undo, error mapping) and `postgres/` (PostgreSQL tables). A source
(`core.source.Source`, `postgres.source.PgSource`) carries its backend object as `source.backend`, and
everything above (profiles, snapshots, history, status, actions, journal, groups, filters, screens)
reaches the database through it, never through a backend's modules. Shared by both: `keyset` (bounded
keyset scans with the backend's anchors), `statement` (a statement as the preview shows it), `urls`.
A command-line source that is a `postgresql://` URL opens a PostgreSQL source, anything else an SQLite one.
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
