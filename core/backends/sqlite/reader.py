"""The SQLite reader: one database file's read-only connection, its identity, and the change gate.

The rules of hazards.md are applied here: readers open `file:` URIs built by `Path.as_uri()` with
`mode=ro` (never a bare path, which would create a missing file); a WAL database whose `-shm` is missing
(nobody has it open) is read through a short-lived connection that creates no sidecar: `immutable=1` when
there is no `-wal` to read, else a heap-memory WAL index (see `connect_quiescent`); the file identity is
checked on every poll; `PRAGMA data_version` gates every query; and the file itself is only ever opened for
a header sniff while we hold no connection to it.

`SqliteReader.gate` answers, per poll, a frozen `Gated`: whether anything is worth reading and why; the
read itself (`reading`) hands out the connection to read with. What was read is none of its business
(`backends.sqlite.snapshot_read`), nor what it adds up to (`core.tracker`).
"""

from __future__ import annotations

import os
import sqlite3
import stat as stat_mod
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from batchtop.core import errors
from batchtop.core.backends.sqlite.errors import map_sqlite_error
from batchtop.core.backends.sqlite.reads import fetch
from batchtop.core.signature import cached_signature

SQLITE_HEADER = b"SQLite format 3\x00"
SIDECARS = ("-wal", "-shm", "-journal")
#: Busy timeouts (s): rollback-journal readers and the job block each other, so wait briefly and
#: treat a timeout as "try at the next tick" rather than ever holding the job up.
BUSY_ROLLBACK, BUSY_WAL = 0.2, 1.0
#: A VFS without shared-memory methods. With `locking_mode=EXCLUSIVE` set before the first read, SQLite
#: then keeps the WAL index in private heap memory instead of the -shm ("Use of WAL Without
#: Shared-Memory", sqlite.org/wal.html), so the -wal of a copied run directory is read, and no file is
#: created. The "-none" VFSes take no file locks either: the job is never blocked by us.
NO_SHM_VFS = "win32-none" if os.name == "nt" else "unix-none"
#: Error kinds after which the file was rewritten in place (same inode) under our connection: reopen.
REOPEN_AFTER = ("empty", "not-a-database", "damaged")

T = TypeVar("T")
#: What `SqliteReader.run` hands a reader.
Connection = sqlite3.Connection

#: One file's identity: (st_ino, st_size, st_mtime_ns), or None when it does not exist.
FileStat = tuple[int, int, int] | None
#: A database's identity: its file, `-wal` and `-journal` (`-shm` is mmapped: writes need not touch it).
Identity = tuple[FileStat, FileStat, FileStat]


def uri_for(path: str | Path, *, immutable: bool = False, mode: str = "ro") -> str:
    """A `file:` URI that opens exactly `path` (`?`, `#`, `%` in names are percent-encoded)."""
    uri = Path(path).resolve().as_uri() + f"?mode={mode}"
    return uri + "&immutable=1" if immutable else uri


def connect_ro(path: str | Path, *, immutable: bool = False, timeout: float = BUSY_WAL,
               vfs: str | None = None) -> sqlite3.Connection:
    """A read-only connection set up as hazards.md rule 3 says.

    `readonly_shm=1`: SQLite never writes the job's -shm through this connection (a plain `mode=ro`
    reader rewrote it, running WAL recovery on the -shm a crashed job left behind, and stamping read
    marks). With no live writer SQLite then reads the WAL into private memory instead.
    """
    uri = uri_for(path, immutable=immutable) + ("" if immutable or vfs else "&readonly_shm=1")
    uri += f"&vfs={vfs}" if vfs else ""
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout, check_same_thread=False)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    conn.create_function("bt_signature", 1, cached_signature, deterministic=True)
    return conn


def connect_quiescent(path: str | Path) -> sqlite3.Connection:
    """A short-lived reader of a WAL database that nobody has open (no -shm), creating no file.

    With no -wal, or an empty one, the database file is all there is: `immutable=1`. A -wal with frames
    (a copied run directory: the job's last commits were never checkpointed) must be read too, or the
    counts are those of the last checkpoint (0 done where sqlite3 reads 60); but a plain `mode=ro` reader
    would create the -shm next to the user's database, and `readonly_shm=1` cannot open without one. A
    VFS without shared memory in exclusive locking mode reads the WAL into heap memory instead.

    Raises:
        WalWithoutShm: this SQLite has no such VFS, so the -wal cannot be read without creating a file.
    """
    try:
        wal_bytes = os.stat(os.fspath(path) + "-wal").st_size
    except OSError:
        wal_bytes = 0
    if not wal_bytes:
        return connect_ro(path, immutable=True)
    try:
        conn = connect_ro(path, vfs=NO_SHM_VFS, timeout=0)
    except sqlite3.OperationalError as exc:
        if "no such vfs" not in str(exc):
            raise
        raise errors.WalWithoutShm(
            f"the -wal holds {wal_bytes:,} bytes of commits but the -shm is missing, and this SQLite cannot "
            "read them without creating it: counts not shown (they would be stale); open the job once, "
            "or copy the -shm too") from None
    try:
        # Before the first read, so SQLite never asks the VFS for shared memory (it has none).
        fetch(conn, "PRAGMA locking_mode=EXCLUSIVE")
    except BaseException:
        conn.close()
        raise
    return conn


def file_identity(path: str) -> Identity:
    """The identity of a database and its sidecars: `stat` only, never an open."""
    out: list[FileStat] = []
    for suffix in ("", "-wal", "-journal"):
        try:
            st = os.stat(path + suffix)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return out[0], out[1], out[2]


def last_write(path: str) -> float | None:
    """Newest mtime of the database and its sidecars (stat only: never opens them)."""
    times = []
    for suffix in ("", "-wal", "-journal"):
        try:
            times.append(os.stat(path + suffix).st_mtime)
        except OSError:
            pass
    return max(times) if times else None


def sniff(path: str, size: int) -> bool:
    """Check the SQLite header; returns True for WAL mode. Only called while no connection is held."""
    if size == 0:
        raise errors.EmptyDatabase("empty database, no progress tables")
    with open(path, "rb") as f:  # noqa: PTH123 - a plain read of 100 bytes, before any connection
        header = f.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        raise errors.NotADatabase("not an SQLite database (or encrypted)")
    return header[18] == 2 and header[19] == 2


@dataclass(frozen=True)
class Gated:
    """What the gate found at one poll."""

    #: Read a snapshot now (False: nothing changed, or parked and the files are as they were).
    read: bool
    #: The data changed since the last read (or may have: reopened, forced); False when only work left
    #: over (chunks to count, a retry after an error) asks for the read.
    changed: bool = False
    #: The change token moved since a previous read: a commit of the job's, seen by us.
    wrote: bool = False
    #: Read through a short-lived connection (a WAL database nobody has open).
    quiescent: bool = False
    events: tuple[str, ...] = ()
    queries: int = 0


class SqliteReader:
    """One database file's read-only connection, identity and change gate.

    `lock` is held by whoever uses the connection (the source's poll and reads, a write's quiet period).
    `on_replaced` is called when the file was replaced (another inode): what was derived from it is void;
    `on_closed` after the connection was closed (what held descriptors of its files can let them go now).
    """

    def __init__(self, path: str, *, on_replaced: Callable[[], None] = lambda: None,
                 on_closed: Callable[[], None] = lambda: None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._on_replaced = on_replaced
        self._on_closed = on_closed
        self._conn: sqlite3.Connection | None = None
        self._quiescent = False
        #: The change token of the last read: the quiescent files' stat signature, or `data_version`.
        self._signature: tuple | None = None
        self._data_version: int | None = None
        #: The token the gate saw, stored by `reading` once the read succeeded.
        self._pending: tuple | int | None = None
        #: The file identity when parked: no read until it changes.
        self._parked: Identity | None = None
        self.identity: tuple[int, int] | None = None
        self.wal: bool | None = None
        #: Newest file time seen by the last gate (stat only).
        self.last_write: float | None = None

    # -- connection ---------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def quiescent(self) -> bool:
        return self._quiescent

    @property
    def readable(self) -> bool:
        """A file was opened: reads can run (through the connection, or a short-lived one)."""
        return self.identity is not None and (self._conn is not None or self._quiescent)

    def close(self) -> None:
        """Close the connection (the next gate reopens)."""
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._on_closed()
            self._data_version = None

    def interrupt(self) -> None:
        """Abort a read in progress from another thread (quitting must not wait for a 10M-row count)."""
        conn = self._conn
        if conn is not None:
            conn.interrupt()

    def park(self) -> None:
        """Close the connection; the gate then lets no read through until the files' stats change."""
        with self.lock:
            self._parked = file_identity(self.path)
            self.close()

    def failed(self) -> None:
        """A read failed: the next gate reads whatever the token says, and no transaction stays open."""
        self._data_version = None
        if self._conn is not None and self._conn.in_transaction:
            self._conn.rollback()

    def closed_under_us(self, exc: BaseException) -> bool:
        """`exc` came from the job opening or closing the database under our read, not from a lasting cause:
        the job deleted its -shm under our live connection, or SQLite could not open a sidecar
        (`SQLITE_CANTOPEN`) of a file we may read (the job was creating or removing its -wal meanwhile).
        Worth one immediate retry."""
        if not isinstance(exc, sqlite3.OperationalError):
            return False
        if self.wal and self._conn is not None and not os.path.exists(self.path + "-shm"):
            return True
        return (getattr(exc, "sqlite_errorname", "") or "").startswith("SQLITE_CANTOPEN") and os.access(
            self.path, os.R_OK)

    def run(self, reader: Callable[[sqlite3.Connection], T]) -> T:
        """Run `reader(conn)` on the connection (a short-lived one when quiescent); errors as BatchtopError.
        The caller holds `lock` and has checked `readable`."""
        try:
            conn = self._conn if self._conn is not None else connect_quiescent(self.path)
        except Exception as exc:
            raise map_sqlite_error(exc, self.path) from exc
        try:
            return reader(conn)
        except Exception as exc:
            raise map_sqlite_error(exc, self.path) from exc
        finally:
            if conn is not self._conn:
                conn.close()

    # -- the gate -----------------------------------------------------------------------------------

    def gate(self, force: bool, again: bool = False) -> Gated:
        """Stat the file, (re)open it when needed, and compare the change token with the last read's.

        `again`: read even when the token did not move (the last poll failed, or left chunks to count).
        Raises a BatchtopError when the file is missing, not a regular file, or not a database.
        """
        events: list[str] = []
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.identity is not None:
                self.close()
                self._quiescent = False
                raise errors.Deleted("file deleted") from None
            raise errors.NotFound("file not found (waiting for it to appear)") from None
        if not stat_mod.S_ISREG(st.st_mode):
            raise errors.NotRegularFile("not a regular file")
        self.last_write = last_write(self.path)
        identity = (st.st_dev, st.st_ino)
        if self._parked is not None:
            if not force and file_identity(self.path) == self._parked:
                return Gated(False)
            self._parked = None
        if self.identity != identity or (self._conn is None and not self._quiescent):
            self.close()
            events += self._open(st)
            force = True
        elif self._quiescent and os.path.exists(self.path + "-shm"):
            events += self._open(st)  # the job came back: read it live from now on
            force = True
        if self._quiescent:
            sig = self._quiet_signature(st)
            if not force and sig == self._signature and not again:
                return Gated(False, events=tuple(events))
            self._pending = sig
            return Gated(True, changed=force or sig != self._signature,
                         wrote=self._signature is not None and sig != self._signature,
                         quiescent=True, events=tuple(events))
        conn = self._conn
        assert conn is not None
        (version,) = fetch(conn, "PRAGMA data_version")[0]
        if not force and version == self._data_version and not again:
            return Gated(False, events=tuple(events), queries=1)
        self._pending = version
        return Gated(True, changed=force or version != self._data_version,
                     wrote=self._data_version is not None and version != self._data_version,
                     events=tuple(events), queries=1)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection to read the gated change with; the token is kept only once the read succeeded.

        Quiescent: a short-lived connection taking no lock, so if the job came back during the read (a
        -shm, a changed file), the next poll reads again rather than trust this one.
        """
        if not self._quiescent:
            assert self._conn is not None
            yield self._conn
            assert isinstance(self._pending, int)
            self._data_version = self._pending
            return
        sig = self._pending
        quiet = connect_quiescent(self.path)
        try:
            yield quiet
        finally:
            quiet.close()
        after = os.stat(self.path)
        settled = not os.path.exists(self.path + "-shm") and self._quiet_signature(after) == sig
        self._signature = sig if settled and isinstance(sig, tuple) else None

    def _open(self, st: os.stat_result) -> list[str]:
        events = []
        old = self.identity
        self.identity = (st.st_dev, st.st_ino)
        if old is not None and old != self.identity:
            events.append("file replaced: reopened")
            self._on_replaced()
        self.wal = sniff(self.path, st.st_size)
        # A WAL database without its -shm is quiescent (the job is not running): connecting normally
        # would create -wal/-shm owned by us, which can stop the job from opening it later.
        self._quiescent = self.wal and not os.path.exists(self.path + "-shm")
        if not self._quiescent:
            self._conn = connect_ro(self.path, timeout=BUSY_WAL if self.wal else BUSY_ROLLBACK)
        return events

    def _quiet_signature(self, st: os.stat_result) -> tuple:
        """What a quiescent database's content depends on: the file and its -wal (stat only)."""
        try:
            wal = os.stat(self.path + "-wal")
            wal_sig: tuple | None = (wal.st_ino, wal.st_size, wal.st_mtime_ns)
        except OSError:
            wal_sig = None
        return st.st_size, st.st_mtime_ns, wal_sig
