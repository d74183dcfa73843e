"""Which source arguments are database URLs, and how a URL is shown (a leaf: the journal and the monitor
need it without the backends' sources)."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(arg: str) -> bool:
    """True for a source argument naming a PostgreSQL database rather than a file, glob or directory."""
    return arg.lower().startswith(URL_SCHEMES)


#: Query parameters of a URL that carry secrets (never shown).
SECRET_PARAMS = frozenset({"password", "sslpassword"})


def display_url(url: str) -> str:
    """The URL without its password (in the authority or the query): safe to print, log and journal."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unparsable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}" if user else host
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_PARAMS],
        quote_via=quote,
        safe="/",
    )
    # Built by hand: urlunsplit drops the empty authority of `postgresql:///db` (host from PGHOST).
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
