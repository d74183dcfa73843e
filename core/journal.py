"""The action journal: every applied write, kept outside the watched database, as JSON lines.

One line per record, appended with `O_APPEND` under an exclusive `flock` and fsynced before the action's
COMMIT (so nothing is ever applied unjournaled). A record never changes once written; later facts about
it (aborted because the COMMIT failed, undone by a later undo) are further lines that readers fold in.
Reading skips lines that do not parse (a torn last line after a crash or a full disk) and counts them.

Values are stored exactly, so that undo can restore them: TEXT that is not valid UTF-8 and BLOBs are
hex-encoded objects, and a value too large to journal is replaced by its length and digest (such rows are
then reported as not restorable rather than restored wrongly).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import secrets
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchtop.core.backends.urls import is_url
from batchtop.core.errors import JournalError
from batchtop.core.profiles.model import RawValue

#: Journal record format version.
VERSION = 1
#: Values longer than this (bytes) are journaled as length + sha256 only.
VALUE_LIMIT = 1 << 20
#: Statuses of an action record.
STATUSES = ("applied", "aborted", "undone")


class RawText(bytes):
    """TEXT whose bytes are not valid UTF-8, kept byte-exact (restored with `CAST(X'..' AS TEXT)`)."""


def text_factory(data: bytes) -> str | RawText:
    """`sqlite3` text factory for write connections: exact strings, never U+FFFD replacements."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return RawText(data)


def encode_value(value: Any) -> Any:
    """A JSON-safe form of one SQLite value (see `decode_value`)."""
    kind = type(value)
    if kind is int or value is None or (kind is str and len(value) <= VALUE_LIMIT // 4):
        return value  # the common case, first: this runs for every journaled value, under the write lock
    if isinstance(value, RawText):
        return {"$text": value.hex()} if len(value) <= VALUE_LIMIT else _omitted(bytes(value))
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return {"$blob": data.hex()} if len(data) <= VALUE_LIMIT else _omitted(data)
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, str) and len(value) > VALUE_LIMIT // 4 and len(value.encode()) > VALUE_LIMIT:
        return _omitted(value.encode())
    return value


def _omitted(data: bytes) -> dict[str, Any]:
    return {"$omitted": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def decode_value(value: Any) -> Any:
    """The SQLite value of an `encode_value` result (an omitted value decodes to `Omitted`)."""
    if isinstance(value, dict):
        if "$text" in value:
            return RawText(bytes.fromhex(value["$text"]))
        if "$blob" in value:
            return bytes.fromhex(value["$blob"])
        if "$float" in value:
            return float(value["$float"])
        if "$omitted" in value:
            return Omitted(int(value["$omitted"]), str(value.get("sha256", "")))
    return value


@dataclass(frozen=True)
class Omitted:
    """A before-image value too large to journal: its row cannot be restored by undo."""

    length: int
    sha256: str


def default_path(env: Mapping[str, str] | None = None) -> Path:
    """`$BATCHTOP_JOURNAL`, else `$XDG_STATE_HOME/batchtop/journal.jsonl`, else `~/.local/state/...`."""
    env = os.environ if env is None else env
    if env.get("BATCHTOP_JOURNAL"):
        return Path(env["BATCHTOP_JOURNAL"]).expanduser()
    state = env.get("XDG_STATE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "batchtop" / "journal.jsonl"


def new_id() -> str:
    """A short unique id: 8 hex characters."""
    return secrets.token_hex(4)


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What a journal line says about an action or undo, the same written (`Record`) and read (`Entry`)."""

    #: "action" or "undo".
    kind: str
    id: str
    time: float
    db: str
    profile: str
    track: str
    table: str
    key: str
    action: str
    description: str
    target: str
    predicate: str
    planned: int
    #: Columns of each before-image row.
    columns: tuple[str, ...]
    #: For an undo record: the id of the action it undid.
    undoes: str | None = None


#: Facts' fields, with the converter a journal line's value goes through when it is read.
_FACTS: dict[str, tuple[Any, Any]] = {
    "kind": (str, "action"), "id": (str, ""), "time": (float, 0.0), "db": (str, ""), "profile": (str, ""),
    "track": (str, ""), "table": (str, ""), "key": (str, "rowid"), "action": (str, ""),
    "description": (str, ""), "target": (str, ""), "predicate": (str, ""), "planned": (int, 0),
    "columns": (tuple, ()),
}


@dataclass(frozen=True, kw_only=True)
class Record(Facts):
    """One action or undo as it is journaled, built with keywords; `to_json()` gives the line's object.

    Values (keys, before-images, assigned values) are already encoded (`encode_value`), so the record is
    JSON-safe as it stands. An undo record has no before-images, signatures or assignments, and names the
    action it undid in `undoes`.
    """

    identity: tuple[int, ...]
    #: Encoded keys the write changed, in order; `before` and `signatures` are aligned with it.
    affected: tuple[Any, ...]
    before: tuple[tuple[Any, ...], ...] = ()
    signatures: tuple[str | None, ...] = ()
    #: Column -> encoded value the action wrote.
    after: tuple[tuple[str, Any], ...] = ()
    status: str = "applied"
    v: int = VERSION

    def to_json(self) -> dict[str, Any]:
        """The record as the journal stores it (the on-disk format: these keys in this order)."""
        out: dict[str, Any] = {
            "v": self.v, "kind": self.kind, "id": self.id, "time": self.time, "db": self.db,
            "identity": list(self.identity), "profile": self.profile, "track": self.track, "table": self.table,
            "key": self.key, "action": self.action, "description": self.description, "target": self.target,
            "predicate": self.predicate, "planned": self.planned, "affected": list(self.affected),
            "columns": list(self.columns), "before": [list(row) for row in self.before],
            "signatures": list(self.signatures), "after": [list(pair) for pair in self.after],
        }
        if self.undoes is not None:
            out["undoes"] = self.undoes
        out["status"] = self.status
        return out


@dataclass(frozen=True, kw_only=True)
class Entry(Facts):
    """One journaled action (or undo) as read back: values decoded, its current status folded in."""

    identity: tuple[int, int]
    #: Keys the write changed, in order; `before` and `signatures` are aligned with it.
    affected: tuple[RawValue, ...]
    before: tuple[tuple[Any, ...], ...]
    #: Error signature of each affected row before the write (for cohorts), or None.
    signatures: tuple[str | None, ...]
    #: Column -> value the action wrote.
    after: tuple[tuple[str, RawValue], ...]
    status: str
    #: Why the record was aborted, or which undo undid it.
    status_note: str = ""

    def summary(self) -> dict[str, Any]:
        """Plain JSON-safe facts for listings (no before-images: they may hold error text)."""
        return {
            "id": self.id, "kind": self.kind, "time": self.time, "time_text": _iso(self.time),
            "db": self.db, "identity": list(self.identity), "profile": self.profile, "track": self.track,
            "table": self.table, "action": self.action, "target": self.target, "predicate": self.predicate,
            "planned": self.planned, "affected": len(self.affected), "status": self.status,
            "undoes": self.undoes, "status_note": self.status_note,
        }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


class Journal:
    """An append-only JSON-lines file of actions. Nothing is created until the first append."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None):
        self.path = Path(path).expanduser() if path is not None else default_path(env)
        #: Lines skipped by the last read because they did not parse (torn or damaged).
        self.damaged_lines = 0
        # Parsed entries, keyed by the file's (inode, size, mtime): the UI asks often, the file rarely changes.
        self._cache: tuple[tuple[int, int, int], list[Entry]] | None = None

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # -- writing ------------------------------------------------------------------------------------

    def check_outside(self, db_path: str) -> None:
        """Refuse a journal that is the database itself or one of its sidecars."""
        mine = os.path.abspath(self.path)
        db = os.path.abspath(db_path)
        if mine in {db, db + "-wal", db + "-shm", db + "-journal"}:
            raise JournalError("the action journal must be kept outside the database and its sidecars; "
                               "nothing written")

    def begin(self, record: Record | dict[str, Any]) -> PendingRecord:
        """Append `record` (fsynced) and keep the journal locked until the caller settles it.

        Raises:
            JournalError: the record could not be written durably (nothing was left behind).
        """
        data = record.to_json() if isinstance(record, Record) else record
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            start = self._write(fd, data)
        except BaseException:
            os.close(fd)
            raise
        return PendingRecord(self, fd, start, data["id"])

    def append(self, record: Record | dict[str, Any]) -> None:
        """Append one record durably (a status line, say)."""
        self.begin(record).settle()

    def mark(self, entry_id: str, status: str, note: str = "") -> None:
        """Record a later status of `entry_id` ("aborted")."""
        self.append({"v": VERSION, "kind": "status", "id": entry_id, "status": status, "time": time.time(),
                     "note": note})

    def _open(self) -> int:
        try:
            created = not self.path.exists()
            if created:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # O_NONBLOCK: a FIFO at the journal path must fail, not hang.
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the action journal {self.path}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise JournalError(f"the action journal {self.path} is not a regular file")
        if created:
            _fsync_dir(self.path.parent)
        return fd

    def _write(self, fd: int, record: dict[str, Any]) -> int:
        data = (json.dumps(record, ensure_ascii=True, allow_nan=False, separators=(",", ":")) + "\n").encode()
        start = os.fstat(fd).st_size
        # A torn line left by a crash must stay a line of its own, or it would swallow this record.
        if start and os.pread(fd, 1, start - 1) != b"\n":
            data = b"\n" + data
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        except OSError as exc:
            _truncate(fd, start)
            raise JournalError(f"cannot write the action journal {self.path}: {exc.strerror or exc}") from exc
        return start

    # -- reading ------------------------------------------------------------------------------------

    def _records(self) -> Iterator[dict[str, Any]]:
        self.damaged_lines = 0
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - the journal, never a database file
        except FileNotFoundError:
            return
        except OSError as exc:
            raise JournalError(f"cannot read the action journal {self.path}: {exc.strerror or exc}") from exc
        with f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    self.damaged_lines += 1
                    continue
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    yield record
                else:
                    self.damaged_lines += 1

    def entries(self, *, db: str | None = None, limit: int | None = None) -> list[Entry]:
        """Actions and undos, newest first, with statuses folded in (optionally for one database)."""
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        if stamp is not None and self._cache is not None and self._cache[0] == stamp:
            entries = self._cache[1]
        else:
            entries = self._read_entries()
            if stamp is not None:
                self._cache = (stamp, entries)
        if db is not None:
            # A PostgreSQL source is journaled by its URL (without password), a file by its absolute path.
            wanted = db if is_url(db) else os.path.abspath(db)
            entries = [e for e in entries if e.db == wanted]
        return entries[:limit] if limit is not None else list(entries)

    def _read_entries(self) -> list[Entry]:
        records: dict[str, dict[str, Any]] = {}
        notes: dict[str, tuple[str, str]] = {}
        for rec in self._records():
            if rec.get("kind") == "status":
                notes[rec["id"]] = (str(rec.get("status", "")), str(rec.get("note", "")))
            elif rec.get("kind") in ("action", "undo"):
                records[rec["id"]] = rec
        folded: dict[str, dict[str, Any]] = {}
        for entry_id, rec in records.items():
            status, note = notes.get(entry_id, (str(rec.get("status", "applied")), ""))
            folded[entry_id] = {**rec, "status": status, "status_note": note}
        # An undo that committed marks the action it undid.
        for rec in list(folded.values()):
            target = folded.get(rec.get("undoes") or "")
            if rec["kind"] == "undo" and rec["status"] == "applied" and target and target["status"] == "applied":
                target["status"], target["status_note"] = "undone", f"undone by {rec['id']}"
        entries = [_entry(rec) for rec in folded.values()]
        entries.sort(key=lambda e: e.time, reverse=True)
        return entries

    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id (or the only one starting with it)."""
        entries = self.entries()
        exact = [e for e in entries if e.id == entry_id]
        if exact:
            return exact[0]
        prefix = [e for e in entries if entry_id and e.id.startswith(entry_id)]
        return prefix[0] if len(prefix) == 1 else None

    def latest_undoable(self, db: str | None = None) -> Entry | None:
        """The newest applied action (not an undo) that has not been undone."""
        return next((e for e in self.entries(db=db) if e.kind == "action" and e.status == "applied"), None)


class PendingRecord:
    """A journal record written and fsynced, whose write has not committed yet (the journal stays locked)."""

    def __init__(self, journal: Journal, fd: int, start: int, entry_id: str) -> None:
        self._journal, self._fd, self._start, self.id = journal, fd, start, entry_id

    def settle(self) -> None:
        """The write committed: the record stands; unlock."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def abort(self, note: str) -> bool:
        """The write did not commit: append an 'aborted' line, else cut the record off (still locked).

        Returns:
            True when the journal now tells the truth.
        """
        if self._fd < 0:
            return False
        try:
            self._journal._write(self._fd, {"v": VERSION, "kind": "status", "id": self.id, "status": "aborted",
                                            "time": time.time(), "note": note})
            return True
        except JournalError:
            # No room for one more line (disk full): we still hold the lock and the record is the tail.
            return _truncate(self._fd, self._start)
        finally:
            self.settle()


def _truncate(fd: int, size: int) -> bool:
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
        return True
    except OSError:
        return False


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _entry(rec: dict[str, Any]) -> Entry:
    ident = rec.get("identity") or (0, 0)
    facts = {name: convert(rec.get(name, default)) for name, (convert, default) in _FACTS.items()}
    return Entry(
        **facts, identity=(int(ident[0]), int(ident[1])), undoes=rec.get("undoes"),
        affected=tuple(decode_value(k) for k in rec.get("affected", ())),
        before=tuple(tuple(decode_value(v) for v in row) for row in rec.get("before", ())),
        signatures=tuple(rec.get("signatures", ())),
        after=tuple((c, decode_value(v)) for c, v in rec.get("after", ())),
        status=str(rec.get("status", "applied")), status_note=str(rec.get("status_note", "")),
    )


def norm(value: Any) -> Any:
    """A hashable form under which a key typed by a person ('5') meets the stored key (5)."""
    return bytes(value) if isinstance(value, bytes) else str(value)
