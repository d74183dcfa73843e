"""DirectoryWatcher: directory events mapped to databases, prompt stop, missing directories, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batchtop.core import watch
from batchtop.core.watch import DirectoryWatcher, changed_databases, database_for, plan_watches


class Recorder:
    """Collects on_change calls and lets a test wait for a path to show up."""

    def __init__(self) -> None:
        self.seen: set[Path] = set()
        self.cond = threading.Condition()

    def __call__(self, paths: set[Path]) -> None:
        with self.cond:
            self.seen |= paths
            self.cond.notify_all()

    def wait_for(self, path: Path, timeout: float = 2.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: path in self.seen, timeout)


Start = Callable[..., tuple[DirectoryWatcher, Recorder, threading.Thread]]


@pytest.fixture
def start() -> Iterator[Start]:
    started: list[tuple[DirectoryWatcher, threading.Thread]] = []

    def _start(
        dirs: list[tuple[Path, bool]], **kwargs: object
    ) -> tuple[DirectoryWatcher, Recorder, threading.Thread]:
        rec = Recorder()
        watcher = DirectoryWatcher(dirs, rec, **kwargs)  # type: ignore[arg-type]
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        started.append((watcher, thread))
        time.sleep(0.2)  # let watchfiles set up its inotify watches
        return watcher, rec, thread

    yield _start
    for watcher, thread in started:
        watcher.stop()
        thread.join(2)


def test_database_for_and_changed_databases(tmp_path: Path) -> None:
    assert database_for(tmp_path / "x.db-wal") == tmp_path / "x.db"
    assert database_for(tmp_path / "x.db-journal") == tmp_path / "x.db"
    assert database_for(tmp_path / "x.db-shm") == tmp_path / "x.db"
    assert database_for(tmp_path / "x.db") == tmp_path / "x.db"
    assert database_for("-wal") == Path("-wal")
    assert changed_databases({(1, str(tmp_path / "a.db-wal")), (2, str(tmp_path / "a.db"))}) == {
        tmp_path / "a.db"
    }
    assert changed_databases([tmp_path / "b.sqlite-shm", str(tmp_path / "n.txt")]) == {
        tmp_path / "b.sqlite",
        tmp_path / "n.txt",
    }


def test_write_in_watched_dir_reports_the_database(tmp_path: Path, start: Start) -> None:
    _, rec, _ = start([(tmp_path, False)])
    (tmp_path / "x.db-wal").write_bytes(b"frame")
    assert rec.wait_for(tmp_path / "x.db")
    assert tmp_path / "x.db-wal" not in rec.seen
    (tmp_path / "y.db").write_bytes(b"")
    assert rec.wait_for(tmp_path / "y.db")


def test_stop_ends_run_promptly(tmp_path: Path, start: Start) -> None:
    watcher, _, thread = start([(tmp_path, False)])
    began = time.monotonic()
    watcher.stop()
    thread.join(2)
    assert not thread.is_alive() and time.monotonic() - began < 0.5


def test_stop_event_ends_run_promptly(tmp_path: Path, start: Start) -> None:
    event = threading.Event()
    _, _, thread = start([(tmp_path, False), (tmp_path / "sub", True)], stop_event=event)
    began = time.monotonic()
    event.set()
    thread.join(2)
    assert not thread.is_alive() and time.monotonic() - began < 0.5


def test_missing_directory_is_watched_once_it_appears(tmp_path: Path, start: Start) -> None:
    target = tmp_path / "runs" / "today"
    watcher, rec, thread = start([(target, False)])
    assert thread.is_alive()
    assert watcher.watching == [(tmp_path, False)]
    (tmp_path / "noise.txt").write_bytes(b"")  # not on the way to the missing directory
    (tmp_path / "runs").mkdir()
    assert rec.wait_for(tmp_path / "runs")
    target.mkdir()
    assert rec.wait_for(target)
    deadline = time.monotonic() + 2
    while watcher.watching != [(target, False)] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watcher.watching == [(target, False)]
    time.sleep(0.1)
    (target / "job.db-journal").write_bytes(b"")
    assert rec.wait_for(target / "job.db")
    assert tmp_path / "noise.txt" not in rec.seen


def test_deleted_and_recreated_directory_is_watched_again(tmp_path: Path, start: Start) -> None:
    target = tmp_path / "w"
    target.mkdir()
    watcher, rec, _ = start([(target, False)])
    target.rmdir()
    deadline = time.monotonic() + 3
    while watcher.watching != [(tmp_path, False)] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watcher.watching == [(tmp_path, False)]
    target.mkdir()
    while watcher.watching != [(target, False)] and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    (target / "a.db-wal").write_bytes(b"")
    assert rec.wait_for(target / "a.db")


def test_recursive_and_flat_directories_together(tmp_path: Path, start: Start) -> None:
    flat, deep = tmp_path / "flat", tmp_path / "deep"
    (flat / "sub").mkdir(parents=True)
    (deep / "a" / "b").mkdir(parents=True)
    _, rec, _ = start([(flat, False), (deep, True)])
    (flat / "sub" / "hidden.db").write_bytes(b"")
    (deep / "a" / "b" / "z.db-wal").write_bytes(b"")
    (flat / "top.db").write_bytes(b"")
    assert rec.wait_for(deep / "a" / "b" / "z.db") and rec.wait_for(flat / "top.db")
    assert flat / "sub" / "hidden.db" not in rec.seen


def test_watchfiles_error_calls_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_watch(*args: object, **kwargs: object) -> None:
        raise OSError(28, "OS file watch limit reached")

    monkeypatch.setattr(watch, "RustNotify", failing_watch)
    errors: list[BaseException] = []
    watcher = DirectoryWatcher([(tmp_path, False)], lambda paths: None, on_error=errors.append)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    thread.join(2)
    assert not thread.is_alive()
    assert len(errors) == 1 and "watch limit" in str(errors[0])


def test_plan_watches(tmp_path: Path) -> None:
    (tmp_path / "deep" / "x").mkdir(parents=True)
    plan = plan_watches(
        [
            (tmp_path / "deep", True),
            (tmp_path / "deep" / "x", False),  # covered by the recursive watch
            (tmp_path / "deep" / "later", False),  # missing, but the recursive watch sees it appear
            (tmp_path / "gone" / "a", False),  # missing: its nearest ancestor stands in
            (tmp_path / "gone" / "b", False),
        ]
    )
    assert [(w.path, w.recursive, w.stands_for) for w in plan] == [
        (tmp_path / "deep", True, ()),
        (tmp_path, False, (tmp_path / "gone" / "a", tmp_path / "gone" / "b")),
    ]


def test_the_watch_wakes_fast_only_after_a_change(tmp_path: Path, start: Start) -> None:
    watcher, rec, _ = start([(tmp_path, False)], step_ms=200, fast_step_ms=10, fast_for=0.5)
    assert watcher._step() == 200  # nothing changed yet: the slow, cheap step
    (tmp_path / "x.db-wal").write_bytes(b"frame")
    assert rec.wait_for(tmp_path / "x.db")
    assert watcher._step() == 10
    # Fast: a second commit is handed over within a few fast steps, not two slow ones.
    began = time.monotonic()
    (tmp_path / "y.db-wal").write_bytes(b"frame")
    assert rec.wait_for(tmp_path / "y.db")
    assert time.monotonic() - began < 0.2
    time.sleep(0.6)
    assert watcher._step() == 200


def test_a_storm_of_writes_takes_the_watch_off_for_a_while(tmp_path: Path, start: Start) -> None:
    """A job writing its -wal without a break: the watch is taken off (no inotify event costs the job),
    reports its directory when it is put back (new files are then found by a rescan), and still
    reports changes once the storm is over."""
    watcher, rec, _ = start([(tmp_path, False)], fast_step_ms=10, storm_s=0.2, pause_s=0.3)
    wal = tmp_path / "job.db-wal"
    with wal.open("ab") as f:
        ended = time.monotonic() + 1.5
        while time.monotonic() < ended:
            f.write(b"frame")
            f.flush()
            time.sleep(0.002)
    assert rec.wait_for(tmp_path / "job.db")
    assert watcher.pauses >= 1
    assert rec.wait_for(tmp_path)  # reported as the watch came back
    time.sleep(0.5)  # the storm is over: the watch is on again
    with rec.cond:
        rec.seen.clear()
    (tmp_path / "new.db").write_bytes(b"")
    assert rec.wait_for(tmp_path / "new.db")
