"""SQLite's errors mapped to batchtop's (`batchtop.core.errors`): specific, sanitised messages, one mapper
for reads and writes."""

from __future__ import annotations

import errno
import sqlite3
from typing import overload

from batchtop.core.errors import (
    BUSY,
    ActionError,
    BatchtopError,
    Busy,
    Damaged,
    IOFailure,
    Locked,
    NotADatabase,
    NotFound,
    PermissionDenied,
    ReadOnlyDirectory,
    Recovering,
    SchemaChanged,
    SourceError,
    WriteFailed,
)


def _code_name(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", None)
    return name or ""


@overload
def map_sqlite_error(exc: BaseException, path: str = "", *, what: None = None) -> BatchtopError: ...


@overload
def map_sqlite_error(exc: BaseException, path: str = "", *, what: str) -> ActionError: ...


def map_sqlite_error(exc: BaseException, path: str = "", *, what: str | None = None) -> BatchtopError:
    """Turn an exception raised on an SQLite file into a specific, sanitised BatchtopError.

    Args:
        exc: what the read or the write raised.
        path: the database file.
        what: for an error during a write, the step that failed ("opening the file", "COMMIT"): the
            result is then an ActionError (Busy, or WriteFailed saying it was rolled back). Without
            it, the error is a read's: a SourceError (the source stays listed and is retried).
    """
    if isinstance(exc, BatchtopError):
        return exc
    if what is not None:
        return _write_error(exc, what)
    if isinstance(exc, PermissionError):
        return PermissionDenied("permission denied")
    if isinstance(exc, FileNotFoundError):
        return NotFound("file not found (waiting for it to appear)")
    if isinstance(exc, OSError):
        if exc.errno in (errno.EACCES, errno.EPERM):
            return PermissionDenied("permission denied")
        return IOFailure(f"I/O error: {exc.strerror or exc}")
    if not isinstance(exc, sqlite3.Error):
        return SourceError(f"internal error while reading: {type(exc).__name__}: {exc}")
    text = str(exc)
    low = text.lower()
    name = _code_name(exc)
    if name == "SQLITE_NOTADB" or "file is not a database" in low:
        return NotADatabase("not an SQLite database (or encrypted)")
    if name.startswith("SQLITE_CORRUPT") or "malformed" in low:
        return Damaged("database is damaged (malformed); nothing was written")
    if name.startswith("SQLITE_READONLY_CANTINIT") or name.startswith("SQLITE_READONLY_DIRECTORY"):
        return ReadOnlyDirectory("read-only directory: the job's -shm is missing and cannot be created")
    if name.startswith("SQLITE_READONLY_RECOVERY"):
        # A read-only connection cannot rebuild the WAL index; the job does it when it next opens.
        return Recovering("waiting for the job to rebuild its WAL index")
    if name == "SQLITE_READONLY_ROLLBACK":
        return Recovering("waiting for the job to recover an interrupted write (hot journal)")
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED") or "database is locked" in low:
        return Locked("locked by the job, retrying")
    if name.startswith("SQLITE_PERM") or name.startswith("SQLITE_AUTH"):
        return PermissionDenied("permission denied")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in low:
        return PermissionDenied("cannot open the file (permission denied or directory not readable)")
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in low:
        return IOFailure("I/O error while reading")
    if name == "SQLITE_FULL":
        return IOFailure("disk full")
    if "no such table" in low or "no such column" in low or name == "SQLITE_SCHEMA":
        return SchemaChanged(f"schema changed: {text}")
    return SourceError(f"SQLite error: {text}")


def _write_error(exc: BaseException, what: str) -> ActionError:
    """A specific, sanitised ActionError for an SQLite error during the write step `what`."""
    name = _code_name(exc)
    low = str(exc).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in low:
        return Busy(BUSY)
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in low:
        return WriteFailed(f"cannot open the file for writing ({name or exc}); nothing written")
    detail = {"SQLITE_FULL": "disk full",
              # The second cause: a reader of this process opened the WAL's -shm read-only (see `quiet`).
              "SQLITE_READONLY": "the file or its directory is read-only, or a read-only connection of "
                                 "batchtop to it is still open"}.get(name, f"{name or 'SQLite error'}: {exc}")
    if name.startswith("SQLITE_IOERR"):
        detail = f"I/O error ({name})"
    elif name.startswith("SQLITE_CORRUPT"):
        detail = "database is damaged"
    elif name.startswith("SQLITE_READONLY") and name != "SQLITE_READONLY":
        detail = f"read-only ({name})"
    return WriteFailed(f"{what} failed: {detail}; rolled back, nothing written")
