"""Fault injection through the real CLI: disk full during `batchtop reset` and `batchtop undo`, and a
database truncated under a running monitor.

Disk full is RLIMIT_FSIZE set in the CLI's own process (preexec_fn, SIGXFSZ ignored: a write past the
limit fails with EFBIG, which SQLite reports as an I/O or disk-full error). After each fault: the result
is all-or-nothing (every target row changed, or none), `PRAGMA integrity_check` is ok, the exit code and
message tell the truth (no traceback), and the action journal records an action only if it happened.
The core-level sweep over every write point is tests/test_actions_faults.py.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from actions_support import integrity, make_jobs, rows
from writers import make_writer

from batchtop.core.monitor import Monitor

TARGETS = 200


def _cli(args: list[str], limit: int | None) -> subprocess.CompletedProcess[bytes]:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    env = dict(os.environ, NO_COLOR="1", TERM="dumb")
    return subprocess.run(
        [sys.executable, "-m", "batchtop.tui.cli", *args],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
        preexec_fn=limited,
    )


def _failed(db: Path) -> set[int]:
    return {r[0] for r in rows(db, "SELECT job_id FROM jobs WHERE status = 'failed'")}


def _journal_actions(journal: Path) -> list[dict]:
    """The journal's action entries, each with its final status (the entry is written ahead of the
    COMMIT as 'applied'; a later status line marks it 'aborted' when the COMMIT fails)."""
    if not journal.exists():
        return []
    lines = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    actions = {e["id"]: dict(e) for e in lines if e.get("kind") == "action"}
    for e in lines:
        if e.get("kind") == "status" and e["id"] in actions:
            actions[e["id"]]["status"] = e["status"]
    return list(actions.values())


#: Limits relative to the database size: inside it (the page writes fail), just above it (the rollback
#: journal fills up), and far above (everything but a big journal entry fits).
@pytest.mark.parametrize("where", ["inside-db", "db-size", "journal-room"])
def test_reset_under_disk_full_is_all_or_nothing(tmp_path: Path, where: str) -> None:
    db = make_jobs(tmp_path / "jobs.db", failed=TARGETS, done=100, queued=0, mode="delete")
    journal = tmp_path / "state" / "journal.jsonl"
    size = db.stat().st_size
    limit = {"inside-db": size // 2, "db-size": size, "journal-room": size + 8192}[where]
    before = _failed(db)
    out = _cli(["reset", str(db), "--all-failed", "--yes", "--journal", str(journal)], limit)
    err = out.stderr.decode()
    assert "Traceback" not in err, err[-2000:]
    assert integrity(db) == "ok"
    after = _failed(db)
    assert after in (before, set()), f"partial reset: {len(before - after)} of {len(before)}"
    entries = _journal_actions(journal)
    if after == before:
        assert out.returncode != 0, "nothing was reset but the CLI said it was"
        assert err.strip(), "no message for the failed write"
        assert not any(e.get("status") == "applied" and e.get("affected") for e in entries)
    else:
        assert out.returncode == 0, err
        assert entries and entries[-1]["status"] == "applied" and len(entries[-1]["affected"]) == TARGETS


@pytest.mark.parametrize("where", ["inside-db", "db-size"])
def test_undo_under_disk_full_is_all_or_nothing(tmp_path: Path, where: str) -> None:
    db = make_jobs(tmp_path / "jobs.db", failed=TARGETS, done=100, queued=0, mode="delete")
    journal = tmp_path / "journal.jsonl"
    failed = _failed(db)
    done = _cli(["reset", str(db), "--all-failed", "--yes", "--journal", str(journal)], None)
    assert done.returncode == 0 and _failed(db) == set(), done.stderr
    size = db.stat().st_size
    limit = size // 2 if where == "inside-db" else size
    out = _cli(["undo", "--yes", "--journal", str(journal)], limit)
    err = out.stderr.decode()
    assert "Traceback" not in err, err[-2000:]
    assert integrity(db) == "ok"
    after = _failed(db)
    assert after in (set(), failed), f"partial undo: {len(after)} of {len(failed)}"
    if after == set():
        assert out.returncode != 0 and err.strip()
    # The undo can still be made once the disk has room again.
    again = _cli(["undo", "--yes", "--journal", str(journal)], None)
    assert _failed(db) == failed, (again.returncode, again.stderr)


def _truncate_elsewhere(path: Path, size: int) -> None:
    """Truncate from another process (never open() a database we hold a connection to: rule 8)."""
    subprocess.run([sys.executable, "-c", f"import os; os.truncate({str(path)!r}, {size})"], check=True)


def test_database_truncated_while_monitored_then_restored(tmp_path: Path) -> None:
    victim = tmp_path / "victim.db"
    make_writer("topics", victim, journal="delete").setup(completed=300, failed=50, skipped=5)
    good = tmp_path / "good.db"
    make_writer("topics", good, journal="delete").setup(
        completed=5, failed=2, skipped=1, pending=1, in_flight=1
    )
    backup = tmp_path.parent / f"{tmp_path.name}-victim.bak"
    shutil.copyfile(victim, backup)
    monitor = Monitor([str(victim), str(good)])
    monitor.rescan()
    monitor.poll_all()
    assert all(s.error is None for s in monitor.statuses())
    first_total = {os.path.basename(s.path): s for s in monitor.statuses()}["victim.db"].tracks[0].total
    for size in (victim.stat().st_size // 2, 0):
        _truncate_elsewhere(victim, size)
        monitor.poll_all(force=True)
        by = {os.path.basename(s.path): s for s in monitor.statuses()}
        error = by["victim.db"].error or ""
        assert ("damaged" if size else "empty database") in error, (size, error)
        assert by["good.db"].error is None and by["good.db"].tracks[0].total == 10
    subprocess.run(
        [sys.executable, "-c", f"import shutil; shutil.copyfile({str(backup)!r}, {str(victim)!r})"],
        check=True,
    )
    for _ in range(3):
        monitor.poll_all(force=True)
    recovered = {os.path.basename(s.path): s for s in monitor.statuses()}["victim.db"]
    assert recovered.error is None, recovered.error
    assert recovered.tracks[0].total == first_total
    monitor.close()
    backup.unlink()
