"""An I/O error at each write point of a bulk reset and of an undo, injected by a failing VFS.

tests/faultvfs.py installs a VFS shim in the libsqlite3 the `sqlite3` module uses (the process default
while a write runs, so batchtop's own write connection goes through it, unchanged). A clean run counts
every xWrite, xSync and xTruncate on the database, its `-journal` and its `-wal`; then each of them in
turn fails with SQLITE_IOERR_*. After every fault: all-or-nothing (every target row written, or none),
`PRAGMA integrity_check` is ok once the job reopens the file (SQLite rolls back a hot journal), and the
outcome tells the truth: an Outcome only when the rows show the change, an ActionError saying nothing was
written otherwise, and the action journal records an applied action only if it happened.

Complements tests/test_actions_faults.py (RLIMIT_FSIZE: EFBIG at file sizes, a coarser sweep) with a
sweep over every single call, syncs and truncates included.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from actions_support import integrity, make_jobs, make_topics, rows
from faultvfs import FaultVFS, available

from batchtop.core.actions import Target, apply, plan
from batchtop.core.errors import ActionError
from batchtop.core.journal import Journal
from batchtop.core.source import Source
from batchtop.core.undo import undo

pytestmark = pytest.mark.skipif(available() is not None, reason=f"no fault VFS here: {available()}")

TARGETS = 300
SCHEMA = {"wal": ("topic_completions", "id"), "delete": ("jobs", "job_id")}


def build(mode: str, path: Path) -> Path:
    if mode == "wal":
        return make_topics(path, failed=TARGETS, done=200, pending=0, mode="wal")
    return make_jobs(path, failed=TARGETS, done=200, queued=0, mode="delete")


def failed_keys(db: Path, mode: str) -> set[int]:
    table, key = SCHEMA[mode]
    return {r[0] for r in rows(db, f"SELECT {key} FROM {table} WHERE status = 'failed'")}


def reset(db: Path, journal: Journal, vfs: FaultVFS | None):
    """The bulk reset of every failed item, through `vfs` when given: its Outcome or ActionError."""
    source = Source(db)
    assert source.poll(force=True).error is None
    the_plan = plan(source, None, None, Target.all_failed())
    assert the_plan.count == TARGETS
    try:
        if vfs is None:
            return apply(the_plan, journal=journal, source=source)
        with vfs.installed():
            return apply(the_plan, journal=journal, source=source)
    except ActionError as exc:
        return exc
    finally:
        source.close()


def revert(db: Path, journal: Journal, vfs: FaultVFS | None):
    source = Source(db)
    assert source.poll(force=True).error is None
    try:
        with vfs.installed():
            return undo(journal, source=source)
    except ActionError as exc:
        return exc
    finally:
        source.close()


def check(db: Path, mode: str, journal: Journal, result, *, kind: str, before: set[int], after: set[int],
          where: str) -> str:
    """All-or-nothing, integrity ok, a truthful result and journal; returns 'applied' or 'refused'."""
    assert integrity(db) == "ok", where  # opened read-write like the job: a hot journal is rolled back
    now = failed_keys(db, mode)
    assert now in (before, after), f"{where}: partial write, {len(now ^ before)} of {len(before ^ after)} rows"
    entries = [e for e in journal.entries() if e.kind == kind]
    undone = [e.status for e in journal.entries() if e.kind == "action"] if kind == "undo" else None
    assert journal.damaged_lines == 0, where
    if isinstance(result, ActionError):
        assert now == before, f"{where}: {result.message!r} but the rows changed"
        assert "nothing written" in result.message or "rolled back" in result.message, (where, result.message)
        assert not any(e.status == "applied" for e in entries), f"{where}: journal claims a write that failed"
        assert undone in (None, ["applied"]), f"{where}: the reset reads {undone} after a failed undo"
        return "refused"
    assert now == after, f"{where}: reported {result!r} but the rows did not change"
    assert [e.status for e in entries] == ["applied"], where
    assert undone in (None, ["undone"]), f"{where}: the reset reads {undone} after its undo"
    return "applied"


def sweep(tmp_path: Path, mode: str, operation: str) -> dict[str, int]:
    """Count the calls of a clean run, then fail each in turn; a tally of outcomes by failed call."""
    pristine = build(mode, tmp_path / "pristine.db")
    targets = failed_keys(pristine, mode)
    assert len(targets) == TARGETS

    def run(i: int, fail_at: int | None) -> tuple[FaultVFS, str]:
        d = tmp_path / f"run{i}"
        d.mkdir()
        db = d / "job.db"
        shutil.copy(pristine, db)
        journal = Journal(d / "journal.jsonl")
        vfs = FaultVFS(db, fail_at)
        if operation == "reset":
            result = reset(db, journal, vfs)
            before, after = targets, set()
        else:
            done = reset(db, journal, None)
            assert not isinstance(done, ActionError) and failed_keys(db, mode) == set(), done
            result = revert(db, journal, vfs)
            before, after = set(), targets
        told = result.message if isinstance(result, ActionError) else result.summary()
        where = f"{operation} ({mode}) failing call {fail_at} ({vfs.failed}): {told!r}"
        kind = "action" if operation == "reset" else "undo"
        return vfs, check(db, mode, journal, result, kind=kind, before=before, after=after, where=where)

    clean, outcome = run(0, None)
    assert outcome == "applied" and clean.calls, "the clean run wrote nothing through the VFS"
    tally: dict[str, int] = {}
    for n in range(1, len(clean.calls) + 1):
        vfs, outcome = run(n, n)
        assert vfs.failed is not None, f"call {n} of {len(clean.calls)} never came"
        op, suffix = vfs.failed
        key = f"{op} {suffix or 'db'}: {outcome}"
        tally[key] = tally.get(key, 0) + 1
    print(f"{operation} {mode}: {len(clean.calls)} calls -> {tally}")
    return tally


@pytest.mark.slow
@pytest.mark.parametrize("operation", ["reset", "undo"])
@pytest.mark.parametrize("mode", ["wal", "delete"])
def test_an_io_error_at_every_write_point_is_all_or_nothing(tmp_path: Path, mode: str, operation: str) -> None:
    tally = sweep(tmp_path, mode, operation)
    side = "-wal" if mode == "wal" else "-journal"
    # The sweep failed writes and syncs of the journal or WAL (before anything reached the database)...
    assert tally.get(f"write {side}: refused") and tally.get(f"sync {side}: refused"), tally
    if mode == "delete":  # ...and, in rollback mode, writes and syncs of the database file itself.
        assert tally.get("write db: refused") and tally.get("sync db: refused"), tally
