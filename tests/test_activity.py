"""Activity that agrees with itself: "active" only while the job writes, no ETA for a job that is not
moving, and in-flight rows nobody will finish read as interrupted."""

from __future__ import annotations

import time
from pathlib import Path

from factories import FIXED_NOW, fixed_clock, persist_queue_db, pin_mtimes, schema_db
from writers import make_writer

from batchtop.core.history import History
from batchtop.core.source import Source
from batchtop.core.tracker import source_status

T0 = 1_800_000_000.0


def test_an_old_burst_gives_no_eta_once_progress_stops() -> None:
    h = History()
    for t in range(0, 121, 5):  # a burst: one item every 5 s for two minutes ...
        h.record(T0 + t, t // 5)
    assert h.eta(T0 + 125, remaining=40) is not None
    # ... then nothing for ten minutes: the 15-minute window still holds the burst, the others are empty.
    assert h.rate_per_min(T0 + 720, 900.0) > 0
    assert h.eta(T0 + 720, remaining=40) is None


def test_a_stalled_or_interrupted_track_has_no_eta(tmp_path: Path) -> None:
    # A topics run whose last completion and write were six minutes ago; work remains.
    path = schema_db(
        "topics",
        tmp_path / "completion_tracking.db",
        now=FIXED_NOW,
        items=60,
        ago=360.0,
        span=900.0,
        completed=30,
        failed=2,
        in_flight=0,
    )
    source = Source(path, clock=fixed_clock(FIXED_NOW))
    assert source.poll().error is None
    (track,) = source_status(source, FIXED_NOW).tracks
    history = source.histories["topics"]
    source.close()
    assert track.activity.state in ("stalled", "interrupted")
    assert history.rate_per_min(FIXED_NOW, 900.0) > 0  # the 15-minute window still sees the run ...
    assert track.eta is None  # ... but a run that is not moving has no ETA


def test_active_ends_when_writes_stop(tmp_path: Path) -> None:
    path = tmp_path / "completion_tracking.db"
    writer = make_writer("topics", path, journal="wal")
    writer.setup(completed=0, failed=0, skipped=0, pending=30, in_flight=0)
    offset = [0.0]
    source = Source(path, clock=lambda: time.time() + offset[0])
    source.poll()
    for i in range(6):  # the job commits every 0.2 s while we watch
        writer.finish(i, "completed")
        time.sleep(0.2)
        assert source.poll().changed
    assert source_status(source, time.time()).tracks[0].activity.state == "active"
    writer.close()
    offset[0] = 20.0  # twenty seconds without a write, a hundred usual gaps
    assert not source.poll().changed
    (track,) = source_status(source, time.time() + offset[0]).tracks
    source.close()
    assert track.activity.state == "stalled" and track.eta is None


def test_a_prebuilt_database_that_never_changes_is_not_active_for_minutes(tmp_path: Path) -> None:
    # Built a moment ago (its completion times and file time end "now"), then never written again.
    path = schema_db(
        "topics",
        tmp_path / "completion_tracking.db",
        now=FIXED_NOW,
        items=30,
        span=3600.0,
        completed=15,
        failed=1,
        in_flight=0,
    )
    clock = [FIXED_NOW + 45]
    source = Source(path, clock=lambda: clock[0])
    assert source.poll().error is None
    states = []
    for later in (45, 90, 300):
        clock[0] = FIXED_NOW + later
        source.poll()
        states.append(source_status(source, clock[0]).tracks[0].activity.state)
    source.close()
    assert states == ["stalled", "stalled", "stalled"]


def test_dead_in_flight_rows_with_no_start_time_end_as_interrupted(tmp_path: Path) -> None:
    # persist-queue records no time when a worker takes an item: two items a dead worker took stay 2.
    path = persist_queue_db(tmp_path / "queue.db", now=FIXED_NOW)
    source = Source(path, clock=fixed_clock(FIXED_NOW))
    assert source.poll().error is None
    first = source_status(source, FIXED_NOW + 120).tracks[0]
    later = source_status(source, FIXED_NOW + 3600).tracks[0]
    source.close()
    assert first.counts["running"] == 2
    assert first.activity.state == "stalled"  # two minutes: maybe a long item
    assert later.activity.state == "interrupted"  # an hour with nothing written: nobody is working
    assert "2 in-flight item(s)" in later.activity.reason and later.eta is None


def test_the_demo_jobs_keep_their_activity(tmp_path: Path) -> None:
    # Files written 2 s ago are active at first sight; a file quiet for 9 minutes with work left is not.
    live = schema_db("topics", tmp_path / "live.db", now=FIXED_NOW, items=40, completed=10, in_flight=2)
    quiet = schema_db("llm", tmp_path / "quiet.db", now=FIXED_NOW, items=40, completed=10)
    pin_mtimes([live], FIXED_NOW - 2)
    pin_mtimes([quiet], FIXED_NOW - 540)
    for path, expected in ((live, "active"), (quiet, "stalled")):
        source = Source(path, clock=fixed_clock(FIXED_NOW))
        source.poll()
        assert source_status(source, FIXED_NOW).tracks[0].activity.state == expected, path
        source.close()
