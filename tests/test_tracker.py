"""The run tracker derives history and status from snapshots alone: no database, no source, no lock."""

from __future__ import annotations

import threading
from dataclasses import FrozenInstanceError

import pytest

from batchtop.core.history import RunState
from batchtop.core.profiles.builtin import TOPICS
from batchtop.core.profiles.model import STATES
from batchtop.core.snapshot import Snapshot, TrackSnapshot
from batchtop.core.timeutil import FUTURE_SLACK
from batchtop.core.tracker import RunTracker

T0 = 1_800_000_000.0
TRACK = TOPICS.tracks[0]


def track_snap(*, done: int = 0, pending: int = 0, running: int = 0, failed: int = 0, counted: float = 1.0,
               starts: tuple[float, ...] = (), stale_after: float | None = None,
               last_finished: float | None = None) -> TrackSnapshot:
    counts = dict.fromkeys(STATES, 0) | {"done": done, "pending": pending, "running": running, "failed": failed}
    return TrackSnapshot(TRACK.name, TRACK.table, counts, (), (), in_flight_starts=starts, stale_after=stale_after,
                         last_finished=last_finished, counted=counted)


def snapshot(at: float, *tracks: TrackSnapshot) -> Snapshot:
    return Snapshot("/x/q.db", at, (1, 2), "wal", TOPICS, tracks)


def status(tracker: RunTracker, snap: Snapshot, now: float):  # noqa: ANN201 - TrackStatus
    return tracker.status(snap.tracks[0], now, TRACK)


def run(tracker: RunTracker, points: list[tuple[float, int]], total: int = 100) -> Snapshot:
    """Snapshots at T0 + t with `done` settled items, each preceded by a write the gate saw."""
    snap = snapshot(T0)
    for t, done in points:
        tracker.file_time(T0 + t)
        snap = snapshot(T0 + t, track_snap(done=done, pending=total - done))
        tracker.update(snap)
    return snap


def test_steady_progress_with_recent_writes_is_active_with_an_eta() -> None:
    tracker = RunTracker("/x/q.db")
    snap = run(tracker, [(t, t // 10) for t in range(0, 301, 10)])
    st = status(tracker, snap, T0 + 302)
    assert st.activity.state == RunState.ACTIVE
    assert st.rate_per_min == pytest.approx(6.0, rel=0.1)
    assert st.eta is not None and st.eta[0] > 0
    assert st.source == "/x/q.db" and st.resume.pending == 70


def test_no_progress_for_minutes_while_work_remains_is_stalled_without_an_eta() -> None:
    tracker = RunTracker("/x/q.db")
    snap = run(tracker, [(t, t // 10) for t in range(0, 301, 10)])
    st = status(tracker, snap, T0 + 300 + 120)
    assert st.activity.state == RunState.STALLED
    assert st.eta is None


def test_nothing_pending_or_running_is_finished() -> None:
    tracker = RunTracker("/x/q.db")
    snap = run(tracker, [(0, 90), (10, 100)], total=100)
    st = status(tracker, snap, T0 + 3600)
    assert st.activity.state == RunState.FINISHED
    assert st.eta == (0.0, 0.0)


def test_stale_in_flight_items_and_no_fresh_ones_are_interrupted() -> None:
    tracker = RunTracker("/x/q.db")
    tracker.file_time(T0)
    snap = snapshot(T0, track_snap(done=10, pending=5, running=2, starts=(T0 - 4000, T0 - 3900), stale_after=600))
    tracker.update(snap)
    st = status(tracker, snap, T0 + 900)
    assert st.activity.state == RunState.INTERRUPTED
    assert st.stale == 2 and st.resume.picks_up == 7


def test_an_empty_table_is_waiting() -> None:
    tracker = RunTracker("/x/q.db")
    snap = snapshot(T0, track_snap())
    tracker.update(snap)
    assert status(tracker, snap, T0).activity.state == RunState.WAITING


def test_a_file_time_ahead_of_the_clock_is_skew_and_a_commit_we_saw_counts() -> None:
    tracker = RunTracker("/x/q.db")
    tracker.file_time(T0 + 3600)  # a file time an hour in the future: skew, not a write
    assert tracker.write_time(T0) is None
    tracker.file_time(T0 + FUTURE_SLACK)  # within the slack: trusted
    assert tracker.write_time(T0) == T0 + FUTURE_SLACK
    tracker.file_time(T0 - 500)
    tracker.saw_write(T0 - 20)  # a commit our poll saw, later than the file time says
    assert tracker.write_time(T0) == T0 - 20
    tracker.saw_write(T0 - 900)
    assert tracker.write_time(T0) == T0 - 500  # whichever is later


def test_a_server_tracker_takes_the_last_change_as_the_write_time() -> None:
    tracker = RunTracker("pg://db", file_times=False)
    first = snapshot(T0, track_snap(done=3, pending=7, last_finished=T0 - 50))
    tracker.update(first)
    assert tracker.last_change == T0 - 50  # the newest completion, not the first poll's time
    assert tracker.write_time(T0) == T0 - 50
    tracker.update(snapshot(T0 + 10, track_snap(done=3, pending=7, last_finished=T0 - 40)))
    assert tracker.last_change == T0 + 10  # a new newest completion is a change too
    assert tracker.write_time(T0 + 20) == T0 + 10


def test_the_last_change_is_the_file_time_at_first_then_when_the_counts_change() -> None:
    tracker = RunTracker("/x/q.db")
    tracker.file_time(T0 - 300)
    tracker.update(snapshot(T0, track_snap(done=1, pending=9)))
    assert tracker.last_change == T0 - 300
    tracker.update(snapshot(T0 + 5, track_snap(done=1, pending=9)))
    assert tracker.last_change == T0 - 300  # same counts: no change
    tracker.update(snapshot(T0 + 9, track_snap(done=2, pending=8)))
    assert tracker.last_change == T0 + 9


def test_partial_counts_are_neither_a_change_nor_throughput() -> None:
    tracker = RunTracker("/x/q.db")
    tracker.update(snapshot(T0, track_snap(done=1, pending=1, counted=0.1)))
    tracker.update(snapshot(T0 + 5, track_snap(done=50, pending=10, counted=0.5)))
    assert tracker.last_change == T0
    assert tracker.state.history(TRACK.name).events == ()
    st = tracker.status(track_snap(done=50, pending=10, counted=0.5), T0 + 5, TRACK)
    assert st.eta is None and st.note is not None and st.note.startswith("counting: 50%")


def test_seeds_come_with_a_snapshot_and_are_asked_for_once_until_a_reset() -> None:
    tracker = RunTracker("/x/q.db")
    assert TRACK.name not in tracker.seeded
    tracker.update(snapshot(T0, track_snap(done=100, pending=10)),
                   {TRACK.name: tuple(T0 - 300 + 3 * i for i in range(100))})
    assert TRACK.name in tracker.seeded
    assert tracker.state.history(TRACK.name).rate_per_min(T0) == pytest.approx(20.0, rel=0.05)
    tracker.reset()  # the file was replaced: another run's history
    assert tracker.seeded == frozenset() and tracker.state.histories == {}


def test_a_published_state_never_changes_and_a_status_needs_no_lock() -> None:
    tracker = RunTracker("/x/q.db")
    run(tracker, [(0, 0), (10, 5)])
    before = tracker.state
    events = before.history(TRACK.name).events
    run(tracker, [(20, 9), (30, 12)])
    assert before.history(TRACK.name).events == events  # the old state is as it was handed out
    assert tracker.state.history(TRACK.name).events != events
    with pytest.raises(FrozenInstanceError):
        before.last_change = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        before.histories["other"] = before.history(TRACK.name)  # type: ignore[index]

    # One thread polls (updates), another builds statuses meanwhile: never an error, never a lock.
    stop, failures = threading.Event(), []

    def poll() -> None:
        for i in range(2000):
            tracker.file_time(T0 + 40 + i)
            tracker.update(snapshot(T0 + 40 + i, track_snap(done=12 + i % 50, pending=50)))
        stop.set()

    def show() -> None:
        while not stop.is_set():
            try:
                snap = track_snap(done=20, pending=50)
                tracker.status(snap, T0 + 100, TRACK)
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)
                return

    threads = [threading.Thread(target=poll), threading.Thread(target=show)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures


def test_the_end_of_a_first_pass_is_not_a_change_of_the_data() -> None:
    tracker = RunTracker("/x/q.db")
    tracker.file_time(T0 - 300)
    tracker.update(snapshot(T0, track_snap(done=1, pending=1, counted=0.1)))
    tracker.update(snapshot(T0 + 5, track_snap(done=50, pending=10, counted=1.0)))
    assert tracker.last_change == T0 - 300  # "changed 5m ago" stays: batchtop counted, the job wrote nothing
    tracker.update(snapshot(T0 + 9, track_snap(done=51, pending=9)))
    assert tracker.last_change == T0 + 9
