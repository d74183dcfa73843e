"""Storage backends: what batchtop needs from a kind of database, behind one small protocol (`base`).

SQLite files are read by `batchtop.core.source` (to move here as `backends/sqlite/`); PostgreSQL tables by
`backends/postgres/`. A command-line source that is a `postgresql://` URL goes to the latter.
"""

from __future__ import annotations

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(arg: str) -> bool:
    """True for a source argument naming a PostgreSQL database rather than a file, glob or directory."""
    return arg.lower().startswith(URL_SCHEMES)
