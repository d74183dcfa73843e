"""Chunk files as one run: grouping by pattern or directory, and the combined progress of a set."""

from __future__ import annotations

import time
from pathlib import Path

from factories import failures_db, topics_db

from batchtop.core.chunks import combine, group_paths, name_pattern
from batchtop.core.monitor import Monitor


def test_names_with_digits_group_by_pattern_per_directory() -> None:
    paths = [f"/r/run-{i:04d}.db" for i in range(1, 100)] + [
        "/r/other.db",
        "/s/run-0001.db",
        "/r/llm_results_20260101_120000.db",
        "/r/llm_results_20260102_080000.db",
    ]
    sets = group_paths(paths)
    assert [(s.name, s.directory, len(s.paths)) for s in sets] == [
        ("run-*.db", "/r", 99),
        ("other.db", "/r", 1),
        ("run-0001.db", "/s", 1),
        ("llm_results_*_*.db", "/r", 2),
    ]
    assert name_pattern("results_chunk_12.db") == "results_chunk_*.db"


def test_explicit_patterns_and_directories() -> None:
    paths = ["/r/a_1.db", "/r/b_2.db", "/r/c.db", "/q/d.db"]
    assert [s.name for s in group_paths(paths, patterns=["?_*.db"])] == ["?_*.db", "c.db", "d.db"]
    assert [(s.name, len(s.paths)) for s in group_paths(paths, by="dir")] == [("r/", 3), ("d.db", 1)]
    assert len(group_paths(paths, by="none")) == 4


def test_combined_progress_adds_counts_and_rates_and_takes_the_most_urgent_state(tmp_path: Path) -> None:
    now = time.time()
    failures_db(tmp_path / "run-0001.db", {"rate": 2}, done=3)
    topics_db(tmp_path / "run-0002.db", now=now, items=60, completed=30, failed=4, in_flight=2)
    (tmp_path / "run-0003.db").write_text("not a database")
    monitor = Monitor([str(tmp_path)])
    monitor.rescan()
    monitor.poll_all()
    statuses = monitor.statuses()
    monitor.close()
    (chunk_set,) = group_paths([s.path for s in statuses])
    c = combine(chunk_set.name, statuses)
    assert (c.files, c.errors) == (3, 1)
    assert c.total == sum(t.total for s in statuses for t in s.tracks)
    assert c.counts["failed"] == 2 + 4 and c.remaining == c.counts["pending"] + c.counts["running"] > 0
    rates = [t.rate_per_min for s in statuses for t in s.tracks if t.rate_per_min is not None]
    assert c.rate_per_min == sum(rates)
    assert c.state == "active"  # the live file, not the finished one nor the broken one
    lo, hi = c.eta
    assert lo < c.remaining * 60 / c.rate_per_min < hi


def test_a_set_adds_its_trends_and_keeps_the_newest_change_and_its_profiles(tmp_path: Path) -> None:
    from batchtop.core.chunks import add_series

    assert add_series([(1, 2, 3), (10,), ()]) == (1, 2, 13)
    now = time.time()
    for i in range(3):
        topics_db(tmp_path / f"run-{i}.db", now=now, items=30, completed=10 + i, failed=1, seed=i)
    monitor = Monitor([str(tmp_path)])
    monitor.rescan()
    monitor.poll_all()
    statuses = monitor.statuses()
    monitor.close()
    c = combine("run-*.db", statuses)
    tracks = [t for s in statuses for t in s.tracks]
    assert c.sparkline == add_series(t.sparkline for t in tracks) and sum(c.sparkline) > 0
    assert c.last_change == max(t.last_change for t in tracks if t.last_change is not None)
    assert c.profiles == ("topic_completions",) or len(c.profiles) == 1
