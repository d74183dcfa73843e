"""Faults during a bulk reset: I/O errors at every write point, and an action journal that cannot be written.

After each fault: all-or-nothing (every target row changed, or none), `PRAGMA integrity_check` is ok,
and the outcome or exception tells the truth, journal included.

I/O errors come from RLIMIT_FSIZE in a child process (SIGXFSZ ignored, so a write past the limit fails
with EFBIG): the limit is swept over sizes just above the current sizes of the database, the action
journal, and the (empty) `-wal` / `-journal`, so writes fail at different points of the transaction.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from actions_support import integrity, make_jobs, make_topics, rows

from batchtop.core.actions import Target, apply, plan
from batchtop.core.errors import JournalError
from batchtop.core.journal import Journal
from batchtop.core.source import Source

TARGETS = 300
CHILD = r"""
import json, resource, signal, sys
from batchtop.core.actions import Target, apply, plan
from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Journal
from batchtop.core.source import Source

db, journal, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
source = Source(db)
assert source.poll(force=True).error is None
the_plan = plan(source, None, None, Target.all_failed())
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
try:
    outcome = apply(the_plan, journal=Journal(journal))
    print(json.dumps({"ok": True, "affected": outcome.count, "entry": outcome.entry_id,
                      "warnings": list(outcome.warnings)}))
except BatchtopError as exc:
    print(json.dumps({"ok": False, "kind": exc.kind, "message": exc.message}))
"""
SCHEMA = {"wal": ("topics", "topic_completions", "id"), "delete": ("jobs", "jobs", "job_id")}


def build(mode: str, path: Path) -> Path:
    if mode == "wal":
        return make_topics(path, failed=TARGETS, done=200, pending=0, mode="wal")
    return make_jobs(path, failed=TARGETS, done=200, queued=0, mode="delete")


def seed_journal(path: Path, size: int) -> Path:
    """An existing journal of about `size` bytes. Chosen larger than what SQLite writes before our journal
    (a WAL's 32 KB -shm; the rollback -journal of the UPDATE) so some limits fail our journal write, and
    smaller than what the COMMIT writes, so others let the journal through and fail the COMMIT."""
    Journal(path).append({"v": 1, "kind": "action", "id": "seed0000", "time": 0.0, "db": "/elsewhere.db",
                          "identity": [0, 0], "affected": [1], "columns": ["status"], "before": [["x" * size]],
                          "after": [["status", "pending"]], "status": "applied"})
    return path


def failed_keys(db: Path, mode: str) -> set[int]:
    _, table, key = SCHEMA[mode]
    return {r[0] for r in rows(db, f"SELECT {key} FROM {table} WHERE status = 'failed'")}


@pytest.mark.slow
@pytest.mark.parametrize("mode,seed", [("wal", 40_000), ("delete", 52_000)])
def test_io_errors_at_every_write_point_are_all_or_nothing(tmp_path: Path, mode: str, seed: int) -> None:
    pristine = build(mode, tmp_path / "pristine.db")
    journal0 = seed_journal(tmp_path / "pristine.jsonl", seed)
    targets = failed_keys(pristine, mode)
    assert len(targets) == TARGETS
    db_size, journal_size = pristine.stat().st_size, journal0.stat().st_size
    limits = sorted({1, 4096, db_size + 1, journal_size + 1, 1 << 30} | set(range(16384, db_size + 16384, 8192)))
    seen: dict[str, int] = {}
    for i, limit in enumerate(limits):
        run = tmp_path / f"run{i}"
        run.mkdir()
        db, journal_path = run / "job.db", run / "journal.jsonl"
        shutil.copy(pristine, db)
        shutil.copy(journal0, journal_path)
        child = subprocess.run([sys.executable, "-c", CHILD, str(db), str(journal_path), str(limit)],
                               capture_output=True, text=True, timeout=60)
        assert child.returncode == 0, child.stderr
        result = json.loads(child.stdout.splitlines()[-1])
        where = f"limit {limit} ({mode}): {result}"
        # The parent opens read-write, as the job would: SQLite rolls back any hot journal first.
        assert integrity(db) == "ok", where
        left = failed_keys(db, mode)
        journal = Journal(journal_path)
        new = [e for e in journal.entries() if not e.id.startswith("seed")]
        if result["ok"]:
            assert result["affected"] == TARGETS and not left & targets, where
            assert [(e.id, e.status, len(e.affected)) for e in new] == [(result["entry"], "applied", TARGETS)], where
            seen["applied"] = seen.get("applied", 0) + 1
        else:
            assert left == targets, where  # nothing changed
            assert all(e.status == "aborted" for e in new), where  # journaled only as aborted, if at all
            assert "nothing written" in result["message"] or "rolled back" in result["message"], where
            point = "commit" if "COMMIT" in result["message"] else result["kind"]
            seen[point] = seen.get(point, 0) + 1
        assert journal.damaged_lines == 0, where
    print(f"{mode}: {len(limits)} limits -> {seen}")
    # The sweep hit SQLite's writes before the journal, the journal write, the COMMIT, and success.
    assert all(seen.get(k) for k in ("write-failed", "journal", "commit", "applied")), seen


@pytest.mark.parametrize("mode", ["wal", "delete"])
@pytest.mark.parametrize("bad", ["parent-is-a-file", "directory", "fifo", "device"])
def test_an_unwritable_action_journal_rolls_the_write_back(tmp_path: Path, mode: str, bad: str) -> None:
    import os

    db = build(mode, tmp_path / "job.db")
    targets = failed_keys(db, mode)
    if bad == "parent-is-a-file":
        (tmp_path / "file").write_text("x")
        journal = Journal(tmp_path / "file" / "journal.jsonl")
    elif bad == "directory":
        (tmp_path / "dir").mkdir()
        journal = Journal(tmp_path / "dir")
    elif bad == "fifo":
        os.mkfifo(tmp_path / "fifo")
        journal = Journal(tmp_path / "fifo")
    else:
        journal = Journal("/dev/full")
    source = Source(db)
    assert source.poll(force=True).error is None
    the_plan = plan(source, None, None, Target.all_failed())
    with pytest.raises(JournalError) as err:
        apply(the_plan, journal=journal)
    source.close()
    assert "journal" in err.value.message
    assert failed_keys(db, mode) == targets and integrity(db) == "ok"
