"""Epoch numbers in s, ms, µs or ns (litequeue stores `time.time_ns()`), and times ahead of the clock."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from factories import FIXED_NOW, fixed_clock, litequeue_db
from writers import run_cli

from batchtop.core.errors import ProfileError
from batchtop.core.fmt import ago
from batchtop.core.profiles.model import Action
from batchtop.core.profiles.userfile import dump_profile, parse_profiles
from batchtop.core.source import Source
from batchtop.core.targets import Target, target_condition
from batchtop.core.timeutil import parse_ts
from batchtop.core.tracker import source_status

T = 1_767_268_800.25  # 2026-01-01 12:00:00.25 UTC


@pytest.mark.parametrize("stored", [T, T * 1e3, T * 1e6, T * 1e9, int(T * 1e9), str(int(T * 1e6))])
def test_every_epoch_unit_is_told_by_its_magnitude(stored: object) -> None:
    assert parse_ts(stored) == pytest.approx(T, abs=1e-3)


def test_a_declared_unit_wins_over_the_magnitude() -> None:
    # 1e9 ms is 1970-01-12: a magnitude guess would read it as seconds (2001).
    assert parse_ts(1e9, unit="ms") == pytest.approx(1e6)
    assert parse_ts(int(T * 1e6), unit="us") == pytest.approx(T)


def test_litequeue_nanosecond_times_give_dates_rate_and_stale_items(tmp_path: Path) -> None:
    path = litequeue_db(tmp_path / "queue.db", done=30, failed=3, ready=10, locked=2, gap=20.0)
    source = Source(path, clock=fixed_clock(FIXED_NOW))
    result = source.poll()
    assert result.error is None, result.error
    (track,) = result.snapshot.profile.tracks
    assert (track.started, track.finished, track.created, track.time_unit) == (
        "lock_time",
        "done_time",
        "in_time",
        "ns",
    )
    assert "read as nanoseconds" in " ".join(result.snapshot.profile.notes)
    (snap,) = result.snapshot.tracks
    assert snap.last_finished == pytest.approx(FIXED_NOW, abs=1e-3)
    assert snap.in_flight_starts == pytest.approx((FIXED_NOW - 7200, FIXED_NOW - 7200))
    assert [f.when for f in snap.recent_failures] == pytest.approx([FIXED_NOW - 20 * i for i in range(3)])
    status = source_status(source, FIXED_NOW).tracks[0]
    # Seeded from done_time at open: 16 items finished in the last 300 s (one every 20 s).
    assert status.rate_per_min == pytest.approx(3.0, rel=0.1)
    assert status.stale == 2  # locked two hours ago, peers take 10 s
    # A requeue of stale items selects exactly those rows (their lock_time compared in nanoseconds).
    requeue = Action("requeue", "back to ready", ("running",), (("status", 0), ("lock_time", None)))
    where = target_condition(
        replace(track, actions=(requeue,)), requeue, Target.stale(), cutoff=FIXED_NOW - 600
    )
    stale = source.run(lambda conn: conn.execute(f"SELECT message_id FROM [Queue] WHERE {where}").fetchall())
    assert sorted(stale) == [("msg-00033",), ("msg-00034",)]
    source.close()
    # The saved profile keeps the unit, and reads back to the same track.
    out = run_cli("profile", str(path))
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert 'time_unit = "ns"' in text
    (back,) = parse_profiles(text, "user:p.toml")
    assert back.tracks[0].time_unit == "ns" and back.tracks[0].finished == "done_time"


def test_a_profile_time_unit_is_parsed_dumped_and_checked(tmp_path: Path) -> None:
    base = 'name = "q"\n[[track]]\ntable = "jobs"\nstatus = "state"\nfinished = "ended"\ntime_unit = "us"\n'
    (profile,) = parse_profiles(base, "user:p.toml")
    assert profile.tracks[0].time_unit == "us"
    assert 'time_unit = "us"' in dump_profile(profile)
    with pytest.raises(ProfileError, match="time_unit"):
        parse_profiles(base.replace('"us"', '"fortnights"'), "user:p.toml")
    # Microseconds that a magnitude guess reads right too, and the profile applied to a real file.
    db = tmp_path / "jobs.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT, ended INTEGER)")
    conn.executemany(
        "INSERT INTO jobs (state, ended) VALUES (?, ?)",
        [("done", int((FIXED_NOW - 60 * i) * 1e6)) for i in range(5)],
    )
    conn.commit()
    conn.close()
    source = Source(db, forced=profile, clock=fixed_clock(FIXED_NOW))
    snap = source.poll().snapshot.tracks[0]
    assert snap.last_finished == pytest.approx(FIXED_NOW)
    source.close()


def test_a_time_ahead_of_the_clock_is_never_shown_as_0s_ago() -> None:
    from batchtop.tui.widgets.cells import age

    now = FIXED_NOW
    assert ago(now, now - 95) == "1m 35s ago"
    assert ago(now, now + 1) == "0s ago"  # within mtime granularity
    assert ago(now, now + 7200) == "in 2h 00m (ahead of the clock)"
    assert ago(now, None) == "never"
    assert age(now, now + 7200, " ago").plain == "in 2h 00m (ahead of the clock)"
    assert age(now, now - 5, " ago").plain == "5s ago"
