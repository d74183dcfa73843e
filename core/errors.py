"""Every named exception batchtop raises, one module for all (each backend maps its driver's errors to
these: `backends.sqlite.errors`, `backends.postgres.conn`)."""

from __future__ import annotations

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


class TooSparse(Exception):
    """A chunked count's key span needs more than its chunk budget (PostgreSQL keys far apart): the track
    is counted in one statement instead. Internal: never shown to a person."""
