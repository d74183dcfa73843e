"""Small named exceptions, and the mapping from SQLite errors to specific, sanitised messages."""

from __future__ import annotations

import errno
import sqlite3
from typing import overload

from batchtop.core.sanitize import clean, clean_line


class BatchtopError(Exception):
    """Base class: every error batchtop reports to a person carries a clear message."""

    #: Short machine-readable kind, used by `--json` output and tests.
    kind: str = "error"
    #: Whether polling again later may succeed (locked, missing, ...).
    transient: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(clean_line(message))

    @property
    def message(self) -> str:
        """The sanitised message."""
        return str(self)


class SourceError(BatchtopError):
    """A database could not be read (the source stays listed and is retried)."""


class NotFound(SourceError):
    kind = "missing"
    transient = True


class Deleted(SourceError):
    kind = "deleted"
    transient = True


class NotRegularFile(SourceError):
    kind = "not-a-file"


class EmptyDatabase(SourceError):
    kind = "empty"
    transient = True


class NotADatabase(SourceError):
    kind = "not-a-database"
    transient = True


class Damaged(SourceError):
    kind = "damaged"
    transient = True


class Locked(SourceError):
    kind = "locked"
    transient = True


class Recovering(SourceError):
    kind = "recovering"
    transient = True


class PermissionDenied(SourceError):
    kind = "permission"
    transient = True


class ReadOnlyDirectory(SourceError):
    kind = "read-only-directory"
    transient = True


class WalWithoutShm(SourceError):
    """A WAL database's -wal holds commits, its -shm is missing, and they cannot be read read-only."""

    kind = "wal-unreadable"
    transient = True


class UnknownSchema(SourceError):
    kind = "unknown-schema"
    transient = True


class SchemaChanged(SourceError):
    kind = "schema-changed"
    transient = True


class IOFailure(SourceError):
    kind = "io-error"
    transient = True


class ProfileError(BatchtopError):
    """A user profile file is invalid."""

    kind = "profile"


class ActionError(BatchtopError):
    """A write was refused or failed; nothing was changed."""

    kind = "action"


class Busy(ActionError):
    """The job holds the write lock: nothing was applied."""

    kind = "busy"
    transient = True


class ReadOnlyMode(ActionError):
    kind = "read-only-mode"


class FileReplaced(ActionError):
    kind = "replaced"


class NoAction(ActionError):
    """The track offers no such action (or none at all: the message says why)."""

    kind = "no-action"


class NothingToDo(ActionError):
    """Nothing matched, or there is nothing to undo."""

    kind = "nothing"


class FileMissing(ActionError):
    """The database file is gone: nothing written, and it is never recreated."""

    kind = "missing"


class WriteFailed(ActionError):
    """SQLite refused the write (I/O error, disk full, damaged file): rolled back, nothing written."""

    kind = "write-failed"


class JournalError(ActionError):
    """The action journal could not be written: the action was rolled back (nothing written)."""

    kind = "journal"


class SecretValue(BatchtopError):
    """A secret column or table was asked for: it is never read."""

    kind = "secret"


class FilterError(BatchtopError):
    """A filter that cannot be parsed or compiled; `position` is the 0-based offset of the bad token."""

    kind = "bad-filter"

    def __init__(self, message: str, position: int, text: str = "") -> None:
        super().__init__(f"bad filter at {position + 1}: {message}")
        self.position = position
        self.reason = message
        self.text = text

    def caret(self) -> str:
        """The filter with a `^` under the bad token (two lines; for a terminal or a dialog)."""
        return f"{clean(self.text)}\n{' ' * min(self.position, len(self.text))}^"


class Abandoned(Exception):
    """Raised by a progress callback to stop a long chunked read whose result nobody wants any more (a
    cancelled worker); `core.groups` leaves its cache as it was. Not a `BatchtopError`: never shown."""


#: A write refused because the job holds the lock (SQLite and PostgreSQL say the same).
BUSY = "busy, not applied: the job holds the write lock (try again in a moment)"


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
