"""Actions against a real job process: moved items, held locks, busy loops, undo, replaced files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from actions_support import make_jobs, make_topics, rows, sha, spawn

from batchtop.core.actions import Target, apply, plan
from batchtop.core.backends.sqlite import write_session
from batchtop.core.errors import Busy, FileReplaced, Locked, NothingToDo
from batchtop.core.journal import Journal
from batchtop.core.source import Source
from batchtop.core.undo import undo

# Races against real job processes: out of the fast loop.
pytestmark = pytest.mark.slow

# (schema, journal mode): each schema in both modes, so the lock behaviour of both is exercised.
CASES = [("jobs", "delete"), ("jobs", "wal"), ("topics", "wal"), ("topics", "delete")]
TABLE = {"jobs": ("jobs", "job_id"), "topics": ("topic_completions", "id")}


def build(schema: str, path: Path, mode: str, failed: int = 20) -> Path:
    if schema == "jobs":
        return make_jobs(path, failed=failed, done=10, queued=2, mode=mode)
    return make_topics(path, failed=failed, done=10, pending=2, mode=mode)


def opened(path: Path) -> Source:
    source = Source(path)
    assert source.poll(force=True).error is None
    return source


def make_plan(path: Path, target: Target):
    source = opened(path)
    try:
        return plan(source, None, None, target)
    finally:
        source.close()


def job(*args: str, timeout: float = 30) -> dict:
    out = subprocess.run(spawn(*args), capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def row(path: Path, schema: str, key: int) -> tuple:
    table, k = TABLE[schema]
    return rows(path, f"SELECT * FROM {table} WHERE {k} = ?", (key,))[0]


def table(path: Path, schema: str) -> list[tuple]:
    t, k = TABLE[schema]
    return rows(path, f"SELECT * FROM {t} ORDER BY {k}")


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.jsonl")


@pytest.mark.parametrize("schema,mode", CASES)
def test_items_the_job_moved_after_the_preview_are_not_touched(tmp_path: Path, journal: Journal, schema: str,
                                                               mode: str) -> None:
    db = build(schema, tmp_path / "job.db", mode)
    one = make_plan(db, Target.items([1]))
    many = make_plan(db, Target.items(range(2, 12)))
    assert (one.count, many.count) == (1, 10)
    job("move", str(db), schema, "1,2,3")  # the job picks these up between preview and reset
    moved = [row(db, schema, k) for k in (1, 2, 3)]
    verb = "reset" if schema == "topics" else "retried"
    now = "running" if schema == "jobs" else "running (pending, started)"

    outcome = apply(one, journal=journal)
    assert outcome.count == 0 and outcome.entry_id is None
    assert outcome.summary() == f"0 {verb}: status changed to {now}"
    assert journal.entries() == []  # nothing written, nothing journaled

    outcome = apply(many, journal=journal)
    assert outcome.summary() == f"{verb} 8 of 10; 2 had changed (now {now})"
    assert sorted(outcome.affected) == list(range(4, 12))
    assert [row(db, schema, k) for k in (1, 2, 3)] == moved  # untouched, byte for byte
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("mode,how", [("wal", "immediate"), ("delete", "exclusive")])
def test_a_job_holding_the_write_lock_gives_busy_within_two_seconds(tmp_path: Path, journal: Journal, mode: str,
                                                                    how: str) -> None:
    db = build("jobs", tmp_path / "job.db", mode)
    the_plan = make_plan(db, Target.all_failed())
    before = table(db, "jobs")
    holder = subprocess.Popen(spawn("hold", str(db), "3", how), stdout=subprocess.PIPE, text=True)
    try:
        assert "locked" in holder.stdout.readline()
        started = time.monotonic()
        with pytest.raises(Busy) as err:
            apply(the_plan, journal=journal)
        waited = time.monotonic() - started
        assert err.value.message.startswith("busy, not applied")
        assert waited < 2.2, waited
        print(f"Busy after {waited:.3f} s ({mode}, job holds {how})")
    finally:
        assert holder.wait(10) == 0  # the job committed normally after we gave up
    assert "committed" in holder.stdout.read()
    assert table(db, "jobs") == before and journal.entries() == []
    assert apply(the_plan, journal=journal).count == 20  # and works once the job let go


def test_a_reader_blocking_our_commit_aborts_cleanly(tmp_path: Path, journal: Journal) -> None:
    """Rollback journal: a job's open read transaction stops our COMMIT; we roll back and say so."""
    db = build("jobs", tmp_path / "job.db", "delete")
    the_plan = make_plan(db, Target.all_failed())
    before = table(db, "jobs")
    reader = subprocess.Popen(spawn("hold", str(db), "3", "shared"), stdout=subprocess.PIPE, text=True)
    try:
        assert "locked" in reader.stdout.readline()
        started = time.monotonic()
        with pytest.raises(Busy):
            apply(the_plan, journal=journal)
        assert time.monotonic() - started < 2.2
    finally:
        assert reader.wait(10) == 0
    assert table(db, "jobs") == before
    (entry,) = journal.entries()  # journaled before COMMIT, then marked aborted
    assert entry.status == "aborted" and "COMMIT failed" in entry.status_note
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("schema,mode", [("topics", "wal"), ("jobs", "delete")])
def test_the_jobs_commits_never_fail_because_of_us(tmp_path: Path, journal: Journal, schema: str, mode: str) -> None:
    db = build(schema, tmp_path / "job.db", mode, failed=40)
    loop = subprocess.Popen(spawn("loop", str(db), "4", schema), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    applied = 0
    source = opened(db)
    try:
        time.sleep(0.3)
        for i in range(1, 9):
            text = "Timeout" if schema == "topics" else "exited"
            target = Target.items([i]) if i <= 6 else Target.matching(text)
            for _ in range(20):  # our reader waits 0.2 s at most in rollback mode: "locked, retrying"
                try:
                    the_plan = plan(source, None, None, target)
                    break
                except Locked:
                    time.sleep(0.05)
            else:
                pytest.fail("the preview read was locked out for a whole second")
            applied += apply(the_plan, journal=journal).count  # the source is left open meanwhile
            time.sleep(0.15)
    finally:
        source.close()
        out, err = loop.communicate(timeout=30)
    report = json.loads(out.splitlines()[-1])
    assert loop.returncode == 0 and report["errors"] == [], report
    assert report["commits"] > 50, report
    assert applied >= 7
    print(f"{schema}/{mode}: job made {report['commits']} commits with 0 errors; we reset {applied} rows")


@pytest.mark.parametrize("schema,mode", [("topics", "wal"), ("jobs", "delete")])
def test_undo_restores_untouched_rows_and_leaves_what_the_job_moved(tmp_path: Path, journal: Journal, schema: str,
                                                                   mode: str) -> None:
    db = build(schema, tmp_path / "job.db", mode)
    original = {r[0]: r for r in table(db, schema)}
    the_plan = make_plan(db, Target.all_failed())
    outcome = apply(the_plan, journal=journal)
    assert outcome.count == 20
    job("move", str(db), schema, "3,5,7")
    moved = {k: row(db, schema, k) for k in (3, 5, 7)}

    result = undo(journal, track=the_plan.track)
    now = "running" if schema == "jobs" else "running (pending, started)"
    assert result.summary() == f"restored 17; 3 already moved by the job, left alone (now {now})"
    current = {r[0]: r for r in table(db, schema)}
    for key, old in original.items():
        assert current[key] == (moved[key] if key in moved else old)
    (undo_entry, action_entry) = journal.entries()
    assert undo_entry.kind == "undo" and undo_entry.undoes == action_entry.id
    assert action_entry.status == "undone"

    again = undo(journal, action_entry.id, track=the_plan.track)
    assert again.status == "already-undone" and again.undo_id is None
    assert "already undone" in again.summary()
    assert {r[0]: r for r in table(db, schema)} == current
    with pytest.raises(NothingToDo):
        undo(journal)
    assert len(journal.entries()) == 2


@pytest.mark.parametrize("mode", ["wal", "delete"])
@pytest.mark.parametrize("when", ["before-connect", "after-connect", "at-begin"])
def test_a_file_replaced_after_the_preview_is_refused(tmp_path: Path, journal: Journal,
                                                      monkeypatch: pytest.MonkeyPatch, mode: str, when: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = build("topics", data / "job.db", mode)
    other = build("topics", tmp_path / "other.db", mode, failed=3)
    keep = tmp_path / "old-inode.db"
    os.link(db, keep)  # to hash the replaced file afterwards
    the_plan = make_plan(db, Target.all_failed())
    hashes = (sha(keep), sha(other))
    connects: list[str] = []
    real = sqlite3.connect

    class Spy:
        def __getattr__(self, name: str) -> object:
            return getattr(sqlite3, name)

        def connect(self, database: str, *a: object, **kw: object) -> sqlite3.Connection:
            connects.append(database)
            conn = real(database, *a, **kw)
            if when == "after-connect":
                os.replace(other, db)  # the job swaps the file while our connection is open
            elif when == "at-begin":  # ... or just before our BEGIN IMMEDIATE takes the lock
                conn.set_trace_callback(lambda sql: sql.startswith("BEGIN") and os.path.exists(other)
                                        and os.replace(other, db))
            return conn

    monkeypatch.setattr(write_session, "sqlite3", Spy())
    if when == "before-connect":
        os.replace(other, db)
    listing = sorted(os.listdir(data))
    with pytest.raises(FileReplaced) as err:
        apply(the_plan, journal=journal)
    assert err.value.message == "file was replaced since the preview; nothing written"
    assert len(connects) == (0 if when == "before-connect" else 1)  # never opened when seen in time
    assert (sha(keep), sha(db)) == hashes  # neither file changed
    assert journal.entries() == []
    stray = sorted(set(os.listdir(data)) - set(listing))
    if when == "at-begin" and mode == "wal":
        # SQLite opens a WAL's sidecars by name when the lock is taken, so a swap in that instant can
        # leave an empty -wal (no frame: nothing written) and its -shm; they are harmless to the job.
        assert stray in ([], ["job.db-shm", "job.db-wal"]) and os.path.getsize(data / "job.db-wal") == 0
    else:
        assert stray == []
