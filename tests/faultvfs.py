"""A fault-injecting SQLite VFS for the stdlib `sqlite3` module, through ctypes.

`FaultVFS` wraps the default ("unix") VFS of the very libsqlite3 that `_sqlite3` is linked against, and
fails the Nth xWrite, xSync or xTruncate on the files of one database (the database itself, its `-wal`
and its `-journal`) with SQLITE_IOERR_WRITE / _FSYNC / _TRUNCATE, as a failing disk would. While it is
installed it is the process's default VFS, so batchtop's own `sqlite3.connect(...)` calls go through it
unchanged: no seam in the code under test.

Why not apsw: an apsw VFS is registered in the SQLite that apsw carries (the PyPI wheels embed their own
amalgamation; here SQLite 3.54 beside the system's 3.40 that `sqlite3` uses). Two copies of SQLite in one
process share nothing, so an apsw VFS can never see a connection the `sqlite3` module opened; using it
would mean running batchtop's write path on a different SQLite through an adapter, i.e. not testing it.

How: a copy of the default `sqlite3_vfs` struct under a new name whose xOpen calls the real xOpen and
then points the new file's `pMethods` at a copy of its `sqlite3_io_methods` with xWrite, xSync and
xTruncate wrapped (every other method is the real one; the file struct is the real one, so the real
methods find their state where they expect it). Only available where `_sqlite3` links a shared
libsqlite3 (Linux distributions, pyenv builds); `available()` says why not otherwise.
"""

from __future__ import annotations

import ctypes as C
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SQLITE_OK = 0
SQLITE_IOERR_WRITE = 10 | (3 << 8)
SQLITE_IOERR_FSYNC = 10 | (4 << 8)
SQLITE_IOERR_TRUNCATE = 10 | (6 << 8)

_ptr = C.c_void_p
# The name is a pointer, never c_char_p: SQLite reads URI parameters past its NUL, and finds a journal's
# database by walking back from the journal name's address: a copy would lose both.
X_OPEN = C.CFUNCTYPE(C.c_int, _ptr, _ptr, _ptr, C.c_int, _ptr)
X_WRITE = C.CFUNCTYPE(C.c_int, _ptr, _ptr, C.c_int, C.c_int64)
X_TRUNCATE = C.CFUNCTYPE(C.c_int, _ptr, C.c_int64)
X_SYNC = C.CFUNCTYPE(C.c_int, _ptr, C.c_int)


class Vfs(C.Structure):
    _fields_ = [("iVersion", C.c_int), ("szOsFile", C.c_int), ("mxPathname", C.c_int), ("pNext", _ptr),
                ("zName", C.c_char_p), ("pAppData", _ptr), ("xOpen", _ptr)] + [
        (name, _ptr) for name in ("xDelete", "xAccess", "xFullPathname", "xDlOpen", "xDlError", "xDlSym",
                                  "xDlClose", "xRandomness", "xSleep", "xCurrentTime", "xGetLastError",
                                  "xCurrentTimeInt64", "xSetSystemCall", "xGetSystemCall", "xNextSystemCall")]


class IoMethods(C.Structure):
    _fields_ = [("iVersion", C.c_int)] + [
        (name, _ptr) for name in ("xClose", "xRead", "xWrite", "xTruncate", "xSync", "xFileSize", "xLock",
                                  "xUnlock", "xCheckReservedLock", "xFileControl", "xSectorSize",
                                  "xDeviceCharacteristics", "xShmMap", "xShmLock", "xShmBarrier",
                                  "xShmUnmap", "xFetch", "xUnfetch")]


class File(C.Structure):
    _fields_ = [("pMethods", C.POINTER(IoMethods))]


def _linked_library() -> str | None:
    """The path of the shared libsqlite3 this process has loaded for `_sqlite3`, if any."""
    import _sqlite3  # noqa: F401  (loads the library)

    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "libsqlite3" in os.path.basename(path) and path.startswith("/"):
                    return path
    except OSError:
        return None
    return None


def available() -> str | None:
    """None when the shim can be installed here, else why not."""
    path = _linked_library()
    if path is None:
        return "the sqlite3 module does not link a shared libsqlite3 (no /proc/self/maps entry)"
    lib = C.CDLL(path)
    lib.sqlite3_libversion.restype = C.c_char_p
    if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
        return f"{path} is not the SQLite the sqlite3 module uses"
    return None


class FaultVFS:
    """Fail the `fail_at`-th write, sync or truncate (counted from 1) of the files of `db`.

    `calls` logs every counted call as (operation, file suffix: '' for the database, '-wal', ...), so a
    sweep can first count the calls of a clean run (fail_at=None) and then fail each one in turn.
    """

    def __init__(self, db: str | os.PathLike[str], fail_at: int | None = None,
                 ops: tuple[str, ...] = ("write", "sync", "truncate")) -> None:
        self.db = os.path.realpath(db)
        self.fail_at, self.ops = fail_at, ops
        self.calls: list[tuple[str, str]] = []
        self.failed: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self._lib = C.CDLL(_linked_library() or "libsqlite3.so.0")
        self._lib.sqlite3_vfs_find.restype = C.POINTER(Vfs)
        self._lib.sqlite3_vfs_find.argtypes = [C.c_char_p]
        self._lib.sqlite3_vfs_register.argtypes = [C.POINTER(Vfs), C.c_int]
        self._lib.sqlite3_vfs_unregister.argtypes = [C.POINTER(Vfs)]
        self._real = self._lib.sqlite3_vfs_find(None)  # the default VFS ("unix")
        self._real_open = X_OPEN(self._real.contents.xOpen)
        self._vfs = Vfs()
        C.memmove(C.byref(self._vfs), self._real, C.sizeof(Vfs))
        self._name = C.create_string_buffer(b"batchtop-faulty")
        self._vfs.zName = C.cast(self._name, C.c_char_p)
        self._vfs.pNext = None
        self._open_cb = X_OPEN(self._open)
        self._vfs.xOpen = C.cast(self._open_cb, _ptr)
        #: address of a real io_methods table -> (our copy, real xWrite/xTruncate/xSync, callbacks)
        self._tables: dict[int, tuple] = {}
        #: address of an open sqlite3_file -> its suffix, for the files of `db`
        self._files: dict[int, str] = {}

    # -- installation --------------------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[FaultVFS]:
        """The default VFS of the process while the block runs (connections opened inside use it)."""
        rc = self._lib.sqlite3_vfs_register(C.byref(self._vfs), 1)
        assert rc == SQLITE_OK, rc
        try:
            yield self
        finally:
            self._lib.sqlite3_vfs_unregister(C.byref(self._vfs))
            # A file still open here keeps pointing at our methods: keep them alive for the process.
            _KEEP.append(self)

    # -- the shim ------------------------------------------------------------------------------

    def _suffix(self, name: int | None) -> str | None:
        if not name:
            return None
        text = os.fsdecode(C.string_at(name))
        for suffix in ("", "-wal", "-journal", "-shm"):
            if text == self.db + suffix:
                return suffix
        return None

    def _open(self, vfs, name, file, flags, out_flags) -> int:
        rc = self._real_open(C.cast(self._real, _ptr), name, file, flags, out_flags)
        suffix = self._suffix(name)
        if rc != SQLITE_OK or suffix is None or not file:
            return rc
        f = File.from_address(file)
        if not f.pMethods:
            return rc
        real = C.addressof(f.pMethods.contents)
        if real not in self._tables:
            self._tables[real] = self._wrap(f.pMethods.contents)
        f.pMethods = C.pointer(self._tables[real][0])
        with self._lock:
            self._files[file] = suffix
        return rc

    def _wrap(self, real: IoMethods) -> tuple:
        table = IoMethods()
        C.memmove(C.byref(table), C.byref(real), C.sizeof(IoMethods))
        write, truncate, sync = X_WRITE(real.xWrite), X_TRUNCATE(real.xTruncate), X_SYNC(real.xSync)

        def on_write(file, buf, amount, offset):
            return self._count(file, "write", SQLITE_IOERR_WRITE) or write(file, buf, amount, offset)

        def on_truncate(file, size):
            return self._count(file, "truncate", SQLITE_IOERR_TRUNCATE) or truncate(file, size)

        def on_sync(file, flags):
            return self._count(file, "sync", SQLITE_IOERR_FSYNC) or sync(file, flags)

        callbacks = (X_WRITE(on_write), X_TRUNCATE(on_truncate), X_SYNC(on_sync))
        table.xWrite, table.xTruncate, table.xSync = (C.cast(cb, _ptr) for cb in callbacks)
        return table, write, truncate, sync, callbacks

    def _count(self, file: int, op: str, error: int) -> int:
        """The error to return instead of doing the call, or 0 to do it."""
        with self._lock:
            suffix = self._files.get(file)
            if suffix is None or op not in self.ops:
                return 0
            self.calls.append((op, suffix))
            if self.fail_at is not None and len(self.calls) == self.fail_at:
                self.failed = (op, suffix)
                return error
        return 0


_KEEP: list[FaultVFS] = []
