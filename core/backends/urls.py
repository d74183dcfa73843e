"""Which source arguments are database URLs (a leaf: the journal and the monitor need it without the
backends' sources)."""

from __future__ import annotations

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(arg: str) -> bool:
    """True for a source argument naming a PostgreSQL database rather than a file, glob or directory."""
    return arg.lower().startswith(URL_SCHEMES)
