"""Connections to PostgreSQL: read-only sessions, the change token, URL redaction and error mapping.

Every read session is set up so that it cannot write and cannot hold the job up:
`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`, a short `statement_timeout`, a `lock_timeout`,
and `idle_in_transaction_session_timeout` (the server ends a transaction we would ever leave open).
Connections run in autocommit; a poll's reads share one explicit `REPEATABLE READ READ ONLY` transaction
that ends before the poll returns.

The change token is `pg_current_snapshot()`: its xmin, xmax and in-progress list change whenever any
transaction that wrote anything commits or aborts, so equal tokens prove that nothing our reads could
see has changed. It costs one tiny statement (no table is touched, nothing is installed on the user's
database) and is exact as of the commit; it changes on writes to other databases of the cluster too,
which only costs an extra (full) read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from batchtop.core import errors

#: Read statements are cancelled by the server after this long (ms); counting by state took 0.4 s at
#: 1M rows (benchmarks/bench_postgres.py), so a 10M-row table still fits.
STATEMENT_TIMEOUT_MS = 15000
#: A read never waits for a lock longer than this (ms); DDL by the job makes us wait, not it.
LOCK_TIMEOUT_MS = 1000
#: The server ends a transaction of ours left idle this long (ms): a safety net, ours last milliseconds.
IDLE_TX_TIMEOUT_MS = 10000
CONNECT_TIMEOUT_S = 5


def password_of(url: str) -> str | None:
    """The password a URL carries, if any (used only to scrub it from error messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.password:
        return parts.password
    return next((v for k, v in parse_qsl(parts.query) if k.lower() == "password"), None)


def scrub(text: str, url: str) -> str:
    """`text` with the URL's password (raw or percent-encoded) and `password=...` settings removed."""
    secret = password_of(url)
    if secret:
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, "***")
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)


def connect(url: str, *, read_only: bool = True, application_name: str = "batchtop") -> Any:
    """An autocommit psycopg connection; read-only sessions cannot write (the server refuses)."""
    import psycopg

    conn = psycopg.connect(
        url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=application_name
    )
    try:
        settings = [
            "SET standard_conforming_strings = on",
            "SET TimeZone = 'UTC'",
            f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}",
            f"SET lock_timeout = {LOCK_TIMEOUT_MS}",
            f"SET idle_in_transaction_session_timeout = {IDLE_TX_TIMEOUT_MS}",
        ]
        if read_only:
            settings.insert(0, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        for statement in settings:
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn


def plain(value: Any) -> Any:
    """Driver values as the rest of batchtop expects them: NUMERIC sums as float, the rest unchanged."""
    return float(value) if isinstance(value, Decimal) else value


def fetch(conn: Any, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple]:
    """Run one statement and fetch every row, NUMERIC values as floats."""
    with conn.cursor() as cur:
        cur.execute(sql, params or None)
        if cur.description is None:
            return []
        return [tuple(plain(v) for v in row) for row in cur.fetchall()]


def change_token(conn: Any) -> str:
    """`pg_current_snapshot()` as text (see the module docstring for why it is exact and cheap)."""
    return str(fetch(conn, "SELECT pg_current_snapshot()::text")[0][0])


def map_error(exc: BaseException, url: str) -> errors.BatchtopError:
    """A specific, sanitised error for a psycopg failure while reading; the password never appears."""
    import psycopg
    from psycopg import errors as pg

    if isinstance(exc, errors.BatchtopError):
        return exc
    text = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url)
    if isinstance(exc, pg.InsufficientPrivilege):
        return errors.PermissionDenied(f"permission denied: {text}")
    if isinstance(exc, pg.UndefinedTable | pg.UndefinedColumn):
        return errors.SchemaChanged(f"schema changed: {text}")
    if isinstance(exc, pg.QueryCanceled):
        return errors.Locked(f"query cancelled (statement or lock timeout), retrying: {text}")
    if isinstance(exc, pg.LockNotAvailable | pg.DeadlockDetected | pg.SerializationFailure):
        return errors.Locked("locked by the job, retrying")
    if isinstance(exc, pg.InvalidPassword | pg.InvalidAuthorizationSpecification):
        return errors.PermissionDenied(f"authentication failed: {text}")
    if isinstance(exc, pg.InvalidCatalogName):
        return errors.NotFound(f"database does not exist: {text}")
    if isinstance(exc, psycopg.OperationalError):
        # Connection failures carry no SQLSTATE: tell them apart by the server's message.
        low = text.lower()
        if (
            "authentication failed" in low
            or ("role" in low and "does not exist" in low)
            or "no password" in low
        ):
            return errors.PermissionDenied(f"authentication failed: {text}")
        if "database" in low and "does not exist" in low:
            return errors.NotFound(f"database does not exist: {text}")
        return errors.IOFailure(f"cannot reach the server: {text}")
    if isinstance(exc, psycopg.Error):
        return errors.SourceError(f"PostgreSQL error: {text}")
    return errors.SourceError(f"internal error while reading: {type(exc).__name__}: {scrub(str(exc), url)}")
