"""The poll gate: an unchanged source costs no query and posts nothing; every commit is still shown (also two
within one mtime tick); a slow source holds up no other; new files are found by a cheap rescan."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from factories import topics_db

from batchtop.core.backends.sqlite.reader import file_identity
from batchtop.core.identity import Gate
from batchtop.core.monitor import Monitor
from batchtop.tui.messages import Polled
from batchtop.tui.polling import Poller

DDL = (
    "CREATE TABLE jobs (job_id INTEGER PRIMARY KEY, run_id TEXT, status TEXT, progress INTEGER, "
    "error TEXT, started_at TEXT, finished_at TEXT)"
)


def jobs_db(path: Path, done: int, journal: str = "WAL") -> sqlite3.Connection:
    """A jobs database whose 'job' keeps its connection open (a WAL one is then read live)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute(DDL)
    conn.executemany(
        "INSERT INTO jobs (run_id, status, progress) VALUES (?, ?, ?)",
        [(f"run-{i}", "completed" if i < done else "queued", 0) for i in range(10)],
    )
    return conn


def wait(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


class Run:
    """A poller on its own thread, and what it posted."""

    def __init__(self, monitor: Monitor, interval: float, hot: float) -> None:
        self.monitor = monitor
        self.posts: list[Polled] = []
        self.poller = Poller(monitor, time.time, self.posts.append, interval=interval)
        self.poller.gate.hot_seconds = hot
        self.thread = threading.Thread(target=self.poller.run, daemon=True)

    def done(self, path: Path) -> int | None:
        """The 'done' count of the latest posted view of `path`."""
        for message in reversed(self.posts):
            if message.view.path == str(path) and message.view.snapshot is not None:
                return message.view.snapshot.tracks[0].counts["done"]
        return None

    def idle(self) -> None:
        """Wait until every hot period has ended and no poll runs."""
        wait(
            lambda: (
                self.poller.in_flight == 0
                and all(s.hot_until < time.monotonic() for s in self.poller.gate.states.values())
            )
        )


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(interval: float = 0.05, hot: float = 0.3) -> Run:
        monitor = Monitor([str(tmp_path)])
        monitor.rescan()
        r = Run(monitor, interval, hot)
        r.poller.add(list(monitor.sources))
        r.thread.start()
        runs.append(r)
        return r

    yield start
    for r in runs:
        r.poller.stop()
        r.thread.join(5)
        r.monitor.close()


def test_an_unchanged_source_runs_no_query_and_posts_nothing_then_a_commit_is_shown(tmp_path, run):
    db = tmp_path / "a.db"
    job = jobs_db(db, done=3)
    r = run()
    wait(lambda: r.done(db) == 3)
    r.idle()
    source = r.monitor.sources[str(db)]
    statements: list[str] = []
    source.reader._conn.set_trace_callback(statements.append)
    polls, posts, sweeps = source.polls, len(r.posts), r.poller.sweeps
    wait(lambda: r.poller.sweeps >= sweeps + 8)
    assert statements == [] and source.polls == polls and len(r.posts) == posts
    # A commit by another process is shown.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute(\"UPDATE jobs SET status = 'completed'\"); c.commit()",
            str(db),
        ],
        check=True,
    )
    wait(lambda: r.done(db) == 10)
    job.close()


def test_a_second_commit_within_the_same_mtime_tick_is_shown(tmp_path, run):
    db = tmp_path / "r.db"
    job = jobs_db(db, done=3, journal="DELETE")  # rollback journal: an UPDATE rewrites pages in place
    r = run(hot=1.0)
    wait(lambda: r.done(db) == 3)
    job.execute("UPDATE jobs SET status = 'completed' WHERE job_id = 4")
    wait(lambda: r.done(db) == 4)
    seen = os.stat(db)
    before = file_identity(str(db))
    job.execute("UPDATE jobs SET status = 'completed' WHERE job_id = 5")
    # As if it landed within the same mtime tick: same size, same mtime, so the file looks unchanged.
    os.utime(db, ns=(seen.st_atime_ns, seen.st_mtime_ns))
    assert file_identity(str(db)) == before
    wait(lambda: r.done(db) == 5, timeout=3)
    job.close()


def test_a_slow_source_does_not_delay_another(tmp_path, run):
    slow_db, fast_db = tmp_path / "slow.db", tmp_path / "fast.db"
    slow_job, fast_job = jobs_db(slow_db, done=1), jobs_db(fast_db, done=2)
    r = run()
    wait(lambda: r.done(slow_db) == 1 and r.done(fast_db) == 2)
    slow = r.monitor.sources[str(slow_db)]
    with slow.lock:  # stands for a long read or a lock wait: the slow source's poll blocks
        slow_job.execute("UPDATE jobs SET status = 'completed'")
        wait(lambda: r.poller.gate.states[str(slow_db)].in_flight)
        fast_job.execute("UPDATE jobs SET status = 'completed'")
        wait(lambda: r.done(fast_db) == 10, timeout=3)
        assert r.done(slow_db) == 1
    wait(lambda: r.done(slow_db) == 10)
    slow_job.close()
    fast_job.close()


def test_a_slow_poll_backs_off_by_its_cost_and_a_failing_one_retries_with_backoff(tmp_path):
    path = tmp_path / "x.db"
    path.write_bytes(b"x" * 10)
    gate = Gate(interval=1.0, hot_seconds=0.0)
    gate.add(str(path))
    assert gate.sweep(0.0) == [(str(path), False)]
    gate.finished(str(path), 0.5, cost=0.5, changed=True, failed=False)  # a 0.5 s poll: wait 5 s
    path.write_bytes(b"y" * 20)
    assert gate.sweep(1.0) == [] and gate.sweep(5.4) == []
    assert gate.sweep(5.6) == [(str(path), False)]
    gate.finished(str(path), 5.6, cost=0.0, changed=True, failed=True)
    assert gate.sweep(6.0) == []  # unchanged and failing: retried after one interval, then 2, 4 ...
    assert gate.sweep(6.7) == [(str(path), False)]
    gate.finished(str(path), 6.7, cost=0.0, changed=True, failed=True)
    assert gate.sweep(8.0) == [] and gate.sweep(8.8) == [(str(path), False)]
    gate.finished(str(path), 8.8, cost=0.0, changed=True, failed=True)
    path.write_bytes(b"z" * 30)  # ... but at once when its files change
    assert gate.sweep(9.0) == [(str(path), False)]


def test_watch_events_of_a_busy_job_wait_for_the_gap_but_the_user_does_not(tmp_path):
    # A job committing thousands of times a second sends watch events all the time: were each one
    # allowed to skip the wait after a poll, the source was polled back to back (80 % of a core, and
    # the job's WAL could not restart). The chunked-count gap (`more`) and the cost backoff hold.
    path = tmp_path / "x.db"
    path.write_bytes(b"x" * 10)
    gate = Gate(interval=1.0, hot_seconds=3.0)
    gate.add(str(path))
    assert gate.sweep(0.0) == [(str(path), False)]
    gate.finished(str(path), 0.05, cost=0.05, changed=True, failed=False, more=0.05)  # 0.95 s gap
    for t in (0.1, 0.3, 0.6, 0.9):
        path.write_bytes(b"y" * int(t * 100))
        gate.want([str(path)], t, urgent=False)
        assert gate.sweep(t, full=False) == [] and gate.sweep(t) == []
    assert gate.sweep(1.01) == [(str(path), False)]  # as soon as the gap ends
    gate.finished(str(path), 1.06, cost=0.05, changed=True, failed=False, more=0.05)
    gate.want([str(path)], 1.1)  # the user pressed r, or an action wrote: now
    assert gate.sweep(1.1, full=False) == [(str(path), False)]


def test_a_server_source_has_no_files_and_is_polled_at_every_sweep_long_after_its_last_change():
    # A PostgreSQL URL has no file to stat: were it gated like a file it would never be polled again
    # once its hot period ended, and the job's commits would never reach the screen.
    url = "postgresql://watcher@db.example/batchtop"
    gate = Gate(interval=1.0, hot_seconds=3.0)
    gate.add(url, files=False)
    for t in (0.0, 10.0, 100.0, 1000.0):
        assert gate.sweep(t) == [(url, False)]
        gate.finished(url, t, cost=0.001, changed=False, failed=False)
    assert gate.sweep(1000.005) == []  # still paced by its own cost
    gate.finished(url, 1001.0, cost=2.0, changed=False, failed=False)  # a slow server: 20 s apart
    assert gate.sweep(1010.0) == [] and gate.sweep(1021.5) == [(url, False)]


def test_a_quick_rescan_lists_nothing_until_a_directory_changes(tmp_path):
    topics_db(tmp_path / "a.db")
    past = time.time() - 60
    os.utime(tmp_path, (past, past))  # out of the racy window
    monitor = Monitor([str(tmp_path)])
    assert [s.name for s in monitor.rescan()] == ["a.db"]
    assert monitor.discovery.unchanged()
    assert monitor.rescan(quick=True) == []
    topics_db(tmp_path / "b.db")
    assert not monitor.discovery.unchanged()
    assert [s.name for s in monitor.rescan(quick=True)] == ["b.db"]


@pytest.mark.slow
@pytest.mark.anyio
async def test_an_idle_app_marks_nothing_dirty_and_a_new_file_is_found_without_the_watch(
    in_tmp, make_app, ready, until
):
    topics_db(in_tmp / "a.db")
    app = make_app(".", poll_interval=0.1, watch=False)
    posted: list[object] = []
    post = app.poller.post
    app.poller.post = lambda m: (posted.append(m), post(m))
    app.poller.gate.hot_seconds = 3.0
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        posted.clear()
        source = app.source_of(str(in_tmp / "a.db"))
        polls = source.polls
        # Hot after its first read: polled (data_version only) at every sweep, but nothing is posted.
        await until(pilot, lambda: source.polls >= polls + 3)
        assert posted == [] and not app._dirty and not app._flush_pending
        await until(
            pilot,
            lambda: (
                app.poller.in_flight == 0
                and all(s.hot_until < time.monotonic() for s in app.poller.gate.states.values())
            ),
        )
        polls, sweeps = source.polls, app.poller.sweeps
        await until(pilot, lambda: app.poller.sweeps >= sweeps + 5)
        assert source.polls == polls  # no longer hot: not polled at all
        assert posted == [] and not app._dirty and not app._flush_pending
        topics_db(in_tmp / "b.db")  # found by the timed (quick) rescan
        await until(pilot, lambda: str(in_tmp / "b.db") in app.views and app.polled_all, timeout=6)
