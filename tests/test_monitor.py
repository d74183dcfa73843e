"""Monitor: new files picked up, missing directories as notices, open connections capped."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from batchtop.core.monitor import Monitor

DDL = ("CREATE TABLE jobs (job_id INTEGER PRIMARY KEY, run_id TEXT, status TEXT, progress INTEGER, "
       "error TEXT, started_at TEXT, finished_at TEXT)")


def _jobs_db(path: Path, done: int) -> sqlite3.Connection:
    """A WAL jobs database whose 'job' keeps its connection open (so it is read live)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(DDL)
    conn.executemany("INSERT INTO jobs (run_id, status, progress) VALUES (?, ?, ?)",
                     [(f"run-{i}", "completed" if i < done else "queued", 0) for i in range(10)])
    return conn


def test_connections_are_capped_and_parked_sources_still_see_commits(tmp_path: Path) -> None:
    jobs = [_jobs_db(tmp_path / f"run_{i:02d}.db", done=i % 10) for i in range(12)]
    monitor = Monitor([str(tmp_path)], max_open=4)
    monitor.rescan()
    results = monitor.poll_all()
    assert len(results) == 12 and all(r.error is None for _, r in results)
    assert sum(s.is_open for s in monitor.sources.values()) <= 4
    # Every source still reports its counts, open or parked.
    done = sorted(s.snapshot.tracks[0].counts["done"] for s in monitor.sources.values())
    assert done == sorted(i % 10 for i in range(12))
    # A commit to a parked database is seen at the next poll.
    parked = next(s for s in monitor.sources.values() if not s.is_open)
    index = int(Path(parked.path).stem.split("_")[1])
    jobs[index].execute("UPDATE jobs SET status = 'completed' WHERE status = 'queued'")
    result = monitor.poll(parked)
    assert result.changed and result.snapshot.tracks[0].counts["done"] == 10
    # An untouched parked source costs no query.
    other = next(s for s in monitor.sources.values() if not s.is_open and s is not parked)
    assert monitor.poll(other).queries == 0
    monitor.close()
    for conn in jobs:
        conn.close()


def test_new_files_are_picked_up_and_missing_directories_are_notices(tmp_path: Path) -> None:
    watched = tmp_path / "runs"
    watched.mkdir()
    monitor = Monitor([str(watched), str(tmp_path / "not-yet") + "/", str(tmp_path / "later.db")])
    monitor.rescan()
    assert [Path(p).name for p in monitor.sources] == ["later.db"]  # a missing file is a source...
    assert any("not-yet" in n and "does not exist" in n for n in monitor.notices)  # ...a missing dir is not
    assert not (tmp_path / "later.db").exists()  # and nothing is created
    _jobs_db(watched / "a.db", done=3).close()
    added = monitor.rescan()
    assert [Path(s.path).name for s in added] == ["a.db"]
    monitor.close()
