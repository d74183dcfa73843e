"""Chunked counts of large tables: exact after any mix of commits, O(changes) with the WAL, never one long read."""

from __future__ import annotations

import os
import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from batchtop.core.backends.sqlite import reader as reader_mod
from batchtop.core.backends.sqlite import snapshot_read as snapshot_read_mod
from batchtop.core.backends.sqlite.sql import counts_sql
from batchtop.core.backends.sqlite.waltail import WalTail
from batchtop.core.counting import CHUNK, CHUNKED_FROM
from batchtop.core.source import Source

ROWS = CHUNKED_FROM + 3 * CHUNK + 123  # large enough to be chunked: 11 chunks
STATUSES = ("pending", "done", "failed")


def job_db(path: Path, journal: str, rows: int = ROWS) -> sqlite3.Connection:
    """A job's queue of `rows` items, and the job's connection (kept open: the database is live)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT, status TEXT, error TEXT)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO jobs (name, status, error) VALUES (?, ?, ?)",
                     ((f"item {i}", STATUSES[i % 3], "boom" if i % 3 == 2 else None) for i in range(rows)))
    conn.execute("COMMIT")
    return conn


def truth(conn: sqlite3.Connection) -> dict[str, int]:
    return {s: n for s, n in conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY 1")}


def settle(source: Source, limit: int = 200) -> Counter[str]:
    """Poll until no chunk is left to count; the counts per state."""
    for _ in range(limit):
        result = source.poll()
        assert result.error is None, result.error
        if not result.more:
            break
    else:
        raise AssertionError("chunks never finished")
    assert result.snapshot is not None
    track = result.snapshot.tracks[0]
    assert track.counted == 1.0
    return Counter({k: v for k, v in track.counts.items() if v})


def expected(conn: sqlite3.Connection) -> Counter[str]:
    return Counter({("pending" if s == "pending" else s): n for s, n in truth(conn).items()})


def random_commit(job: sqlite3.Connection, rng: random.Random) -> None:
    (high,) = job.execute("SELECT max(id) FROM jobs").fetchone()
    kind = rng.choice(("one", "many", "insert", "delete", "checkpoint", "long-text"))
    job.execute("BEGIN IMMEDIATE")
    if kind == "one":
        job.execute("UPDATE jobs SET status = ? WHERE id = ?", (rng.choice(STATUSES), rng.randint(1, high)))
    elif kind == "many":
        ids = [(rng.choice(STATUSES), rng.randint(1, high)) for _ in range(rng.randint(2, 600))]
        job.executemany("UPDATE jobs SET status = ? WHERE id = ?", ids)
    elif kind == "insert":
        job.executemany("INSERT INTO jobs (name, status) VALUES (?, 'pending')",
                        ((f"new {i}",) for i in range(rng.randint(1, 3000))))
    elif kind == "delete":
        lo = rng.randint(1, high)
        job.execute("DELETE FROM jobs WHERE id BETWEEN ? AND ?", (lo, lo + rng.randint(0, 2000)))
    elif kind == "long-text":
        # A record spilling to overflow pages, its status changed after the long text.
        rowid = rng.randint(1, high)
        job.execute("UPDATE jobs SET error = ? WHERE id = ?", ("x" * 9000, rowid))
        job.execute("COMMIT")
        job.execute("BEGIN IMMEDIATE")
        job.execute("UPDATE jobs SET status = 'failed' WHERE id = ?", (rowid,))
    job.execute("COMMIT")
    if kind == "checkpoint":
        job.execute(f"PRAGMA wal_checkpoint({rng.choice(('PASSIVE', 'RESTART', 'TRUNCATE'))})")


@pytest.mark.slow
@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_counts_stay_exact_through_random_commits(tmp_path: Path, journal: str) -> None:
    job = job_db(tmp_path / "q.db", journal)
    source = Source(tmp_path / "q.db")
    try:
        assert settle(source) == expected(job)
        assert source.counters, "a table this large is counted in chunks"
        rng = random.Random(7)
        for _ in range(25):
            for _ in range(rng.randint(1, 3)):  # several commits between two polls
                random_commit(job, rng)
            assert settle(source) == expected(job)
    finally:
        source.close()
        job.close()


def test_one_changed_row_recounts_one_chunk_through_the_wal(tmp_path: Path) -> None:
    job = job_db(tmp_path / "q.db", "wal")
    source = Source(tmp_path / "q.db")
    statements: list[str] = []
    original = reader_mod.connect_ro

    def traced(*args, **kwargs):
        conn = original(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    reader_mod.connect_ro = traced
    try:
        settle(source)
        counter = source.counters["jobs"]
        for rowid in (5, ROWS // 2, ROWS - 1):
            reads, statements[:] = counter.reads, []
            job.execute("UPDATE jobs SET status = 'done' WHERE id = ?", (rowid,))
            assert settle(source) == expected(job)
            # Only the chunk holding the row (and the newest, for inserts) is read again ...
            assert counter.reads - reads <= 2
            # ... and never the whole table in one statement.
            track = source.profile.tracks[0]  # type: ignore[union-attr]
            assert counts_sql(track) not in statements
    finally:
        reader_mod.connect_ro = original
        source.close()
        job.close()


def test_a_first_pass_shows_partial_counts_then_exact_and_records_no_throughput(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(snapshot_read_mod, "FIRST_BUDGET", 0.0)  # one chunk per poll
    monkeypatch.setattr(snapshot_read_mod, "OPENING_BUDGET", 0.0)
    job = job_db(tmp_path / "q.db", "wal")
    source = Source(tmp_path / "q.db")
    try:
        first = source.poll()
        track = first.snapshot.tracks[0]  # type: ignore[union-attr]
        assert first.more > 0 and 0 < track.counted < 1 and track.total < ROWS
        assert source.histories["jobs"].rate_per_min(source._clock()) in (None, 0, 0.0)
        assert settle(source) == expected(job)
    finally:
        source.close()
        job.close()


def test_without_rowid_and_small_tables_are_counted_in_one_statement(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT, error TEXT) WITHOUT ROWID")
    with conn:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO jobs VALUES (?, ?, NULL)", ((f"k{i}", STATUSES[i % 3]) for i in range(ROWS)))
    conn.close()
    source = Source(path)
    try:
        assert settle(source) == Counter({"pending": ROWS // 3 + 1, "done": ROWS // 3, "failed": ROWS // 3})
        assert not source.counters
    finally:
        source.close()


def test_the_wal_reader_reports_touched_rows_and_closes_its_descriptors_only_when_told(tmp_path: Path) -> None:
    job = job_db(tmp_path / "q.db", "wal", rows=10)
    tail = WalTail(str(tmp_path / "q.db"))
    assert tail.start()
    job.execute("UPDATE jobs SET status = 'done' WHERE id = 3")
    assert 3 in (tail.poll() or (set(), []))[0]
    assert tail.poll() == (set(), [])  # nothing new
    fds = [fd for fd, _ in tail._fds.values()]
    job.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    job.execute("UPDATE jobs SET status = 'failed' WHERE id = 4")
    touched = tail.poll()
    assert touched is None or 4 in touched[0]  # a reset WAL is read again or reported unknown
    tail.close()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    job.close()


def _topics(path: Path, rows: int) -> sqlite3.Connection:
    """A prompt_optimizer-like table (in-flight rows, two metrics) large enough to be chunked."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute(
        "CREATE TABLE topic_completions (id INTEGER PRIMARY KEY, topic_path TEXT UNIQUE, status TEXT, "
        "started_at DATETIME, completed_at DATETIME, flashcard_count INTEGER, cost_usd REAL, error_message TEXT)")
    conn.execute("BEGIN")
    for i in range(rows):
        status = ("completed", "failed", "pending")[i % 3] if i < rows - 500 else "pending"
        started = f"2026-12-01 10:{i % 60:02d}:00" if status != "pending" or i % 97 == 0 else None
        done = started if status != "pending" else None
        conn.execute("INSERT INTO topic_completions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (i + 1, f"t/{i}", status, started, done, 3 if done else None, 0.01 * (i % 7) if done else None,
                      "boom" if status == "failed" else None))
    conn.execute("COMMIT")
    return conn


def test_a_chunked_track_reads_the_same_counts_metrics_and_in_flight_starts_as_one_scan(
        tmp_path: Path, monkeypatch) -> None:
    job = _topics(tmp_path / "t.db", ROWS)
    try:
        chunked = Source(tmp_path / "t.db")
        settle(chunked)
        assert chunked.counters, "counted in chunks"
        monkeypatch.setattr(snapshot_read_mod, "CHUNKED_FROM", 10**12)
        whole = Source(tmp_path / "t.db")
        settle(whole)
        assert not whole.counters
        a, b = chunked.snapshot.tracks[0], whole.snapshot.tracks[0]  # type: ignore[union-attr]
        assert a.counts == b.counts and a.counts["running"] > 0
        assert a.raw_counts == b.raw_counts
        assert [(m.label, round(m.value or 0, 6)) for m in a.metrics] == [
            (m.label, round(m.value or 0, 6)) for m in b.metrics]
        assert a.in_flight_starts == b.in_flight_starts and a.in_flight_starts
        assert a.stale(1e12) == b.stale(1e12) == len(a.in_flight_starts)
        assert a.last_finished == b.last_finished is not None
        assert [f.key for f in a.recent_failures] == [f.key for f in b.recent_failures]
        assert len(a.recent_failures) == 20
        chunked.close()
        whole.close()
    finally:
        job.close()


def test_the_first_commits_into_an_empty_wal_are_read_exactly_not_as_unknown(tmp_path: Path) -> None:
    job = job_db(tmp_path / "q.db", "wal", rows=ROWS)
    job.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL, as a job that just opened its queue
    tail = WalTail(str(tmp_path / "q.db"))
    try:
        assert tail.start()
        job.execute("UPDATE jobs SET status = 'done' WHERE id = 4321")
        assert tail.poll() == ({4321}, [])
        # A row that grows until its leaf page splits rewrites the table's interior page, first seen now:
        # its earlier image comes from the database file, so the moved rows are a bounded range.
        job.execute("UPDATE jobs SET error = ? WHERE id = 9000", ("x" * 3000,))
        touched = tail.poll()
        assert touched is not None and 9000 in touched[0]
        assert all(lo is not None and hi is not None for lo, hi in touched[1])
        assert tail.lost == 0
    finally:
        tail.close()
        job.close()


def test_frames_written_and_truncated_away_between_two_looks_are_reported_unknown(tmp_path: Path) -> None:
    job = job_db(tmp_path / "q.db", "wal", rows=ROWS)
    tail = WalTail(str(tmp_path / "q.db"))
    try:
        job.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert tail.start()
        job.execute("UPDATE jobs SET status = 'done' WHERE id = 7")
        assert tail.poll() == ({7}, [])
        job.execute("INSERT INTO jobs (name, status) VALUES ('late', 'pending')")
        job.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # copied into the file and cut from the WAL
        assert tail.poll() is None  # we never saw that insert: "unknown", so everything is recounted
    finally:
        tail.close()
        job.close()


def test_a_leaf_split_after_start_is_a_bounded_range_with_the_interior_pages_read_at_start(tmp_path: Path) -> None:
    job = job_db(tmp_path / "q.db", "wal", rows=ROWS)
    roots = tuple(r for (r,) in job.execute("SELECT rootpage FROM sqlite_master WHERE type = 'table'"))
    tail = WalTail(str(tmp_path / "q.db"))
    try:
        assert tail.start(roots) and tail._complete  # every interior page known, the lowest level unparsed
        job.execute("UPDATE jobs SET error = ? WHERE id = 9000", ("x" * 3000,))  # its leaf page splits
        touched = tail.poll()
        assert touched is not None and 9000 in touched[0]
        assert touched[1] and all(lo is not None and hi is not None for lo, hi in touched[1])
        assert any(lo < 9000 <= hi for lo, hi in touched[1])  # type: ignore[operator]
        assert tail.lost == 0
    finally:
        tail.close()
        job.close()


def test_the_cli_prints_exact_counts_of_a_table_it_is_still_counting(tmp_path: Path, monkeypatch, capsys) -> None:
    import json

    from batchtop.tui.cli import main

    monkeypatch.setattr(snapshot_read_mod, "OPENING_BUDGET", 0.0)  # one chunk per poll
    monkeypatch.setattr(snapshot_read_mod, "FIRST_BUDGET", 0.0)
    job = job_db(tmp_path / "q.db", "wal")
    try:
        assert main(["status", "--json", str(tmp_path / "q.db")]) == 0
        (track,) = json.loads(capsys.readouterr().out)["sources"][0]["tracks"]
        assert Counter({k: v for k, v in track["counts"].items() if v}) == expected(job)
    finally:
        job.close()


@pytest.mark.anyio
async def test_the_overview_says_counting_until_the_first_pass_ends(tmp_path: Path, monkeypatch, make_app, ready,
                                                                  until) -> None:
    from batchtop.tui.widgets.keyed_table import KeyedTable
    from batchtop.tui.widgets.totals import Totals

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(snapshot_read_mod, "OPENING_BUDGET", 0.0)  # one chunk per poll ...
    monkeypatch.setattr(snapshot_read_mod, "FIRST_BUDGET", 0.0)
    monkeypatch.setattr(snapshot_read_mod, "FIRST_DUTY", 0.05)  # ... with long gaps: the pass takes seconds
    job = job_db(tmp_path / "q.db", "wal")
    truth_now = expected(job)
    settled = truth_now["done"] + truth_now["failed"]
    app = make_app(".")
    try:
        async with app.run_test(size=(160, 30)) as pilot:
            await ready(pilot)

            def row() -> str:
                t = app.screen.query_one(KeyedTable)
                return "|".join(getattr(c, "plain", str(c)) for c in t._cells[t.row_keys[0]])

            await until(pilot, lambda: "◌ counting" in row(), timeout=5)
            assert f"{settled:,}/{ROWS:,}" not in row()  # partial counts, and the row says so ...
            summary = app.screen.query_one(Totals).summary
            assert summary is not None and ("counting", 1) in summary.states  # ... and the totals
            await until(pilot, lambda: "counting" not in row(), timeout=20)
            assert f"{settled:,}/{ROWS:,}" in row()
    finally:
        job.close()
