"""Failures over time per error group: histograms filled by the grouping pass itself (no row kept, nothing
read twice), bounded whatever the span, kept up to date by the incremental refresh, and shown as a
sparkline per group in the failures screen."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from factories import FAMILY_SIGNATURES, FIXED_NOW, add_failures, failures_db, fixed_clock, litequeue_db

from batchtop.core import group_rate
from batchtop.core.groups import GroupCache
from batchtop.core.source import Source
from batchtop.core.timeutil import parse_ts
from batchtop.tui.app import STYLESHEET


def groups_of(path: Path, **kw):
    source = Source(path, clock=fixed_clock())
    assert source.poll().error is None
    cache = GroupCache(source.profile.tracks[0])
    return source, cache, {g.signature: g for g in cache.refresh(source, pause=0, **kw).groups}


def test_each_group_counts_its_failures_per_minute(tmp_path: Path) -> None:
    path = failures_db(tmp_path / "a.db", {"rate": 6, "timeout": 2})  # one failure a minute up to now
    source, _, groups = groups_of(path)
    with sqlite3.connect(path) as conn:
        times = dict(conn.execute("SELECT id, completed_at FROM topic_completions WHERE status = 'failed'"))
    source.close()
    rate, timeout = groups[FAMILY_SIGNATURES["rate"]], groups[FAMILY_SIGNATURES["timeout"]]
    assert sum(n for _, n in rate.buckets) == 6 and sum(n for _, n in timeout.buckets) == 2
    assert rate.bucket_seconds == 60.0
    expected = sorted({parse_ts(t) // 60 * 60 for t in times.values()})
    assert sorted(t for g in (rate, timeout) for t, _ in g.buckets) == expected
    # On one axis for both: every failure in a cell, the newest (a rate limit, at `now`) on the right.
    series = group_rate.group_series([rate, timeout], 12)
    assert sum(series[rate.signature]) == 6 and sum(series[timeout.signature]) == 2
    assert series[rate.signature][-1] > 0 and len(series[rate.signature]) == 12
    assert series[timeout.signature][-1] == 0


def test_a_long_run_keeps_a_bounded_number_of_wider_buckets(tmp_path: Path) -> None:
    path = failures_db(tmp_path / "a.db", {"rate": 1})
    n = 5_000  # one failure a minute for 3.5 days: 5,000 distinct minutes in one group
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO topic_completions (topic_path, status, completed_at, error_message) "
            "VALUES (?, 'failed', datetime(?, 'unixepoch'), 'RateLimitError: 429 Too Many Requests')",
            [(f"t{i}", FIXED_NOW - 60 * i) for i in range(n)])
    source, _, groups = groups_of(path, chunk=700)
    source.close()
    big = max(groups.values(), key=lambda g: g.count)
    assert big.count >= n
    assert len(big.buckets) <= group_rate.MAX_BUCKETS and big.bucket_seconds >= 60 * 8
    assert sum(c for _, c in big.buckets) == big.count  # nothing lost by widening
    first, last = big.buckets[0][0], big.buckets[-1][0]
    assert first <= FIXED_NOW - 60 * (n - 1) and last <= FIXED_NOW < last + big.bucket_seconds


def test_the_incremental_refresh_adds_new_failures_to_their_buckets(tmp_path: Path) -> None:
    path = failures_db(tmp_path / "a.db", {"timeout": 3})
    source = Source(path, clock=fixed_clock())
    source.poll()
    cache = GroupCache(source.profile.tracks[0])
    cache.refresh(source, pause=0)
    later = FIXED_NOW + 3600
    with sqlite3.connect(path) as conn:
        add_failures(conn, {"timeout": 2}, now=later)
    report = cache.refresh(source, pause=0)
    source.close()
    assert report.how == "delta"
    (group,) = report.groups
    assert group.count == 5 and sum(n for _, n in group.buckets) == 5
    assert group.buckets[-1][0] == later - 60  # the newest failure, a minute before `later`
    merged, width = group_rate.merge({1: 2, 3: 1}, 1, {2: 5, 7: 1}, 2)
    assert (merged, width) == ({0: 2, 2: 6, 6: 1}, 2)


def test_epoch_nanoseconds_are_bucketed_by_their_unit(tmp_path: Path) -> None:
    path = litequeue_db(tmp_path / "queue.db", done=5, failed=4, ready=1, locked=0, gap=20.0)
    source, _, groups = groups_of(path)
    source.close()
    buckets = [b for g in groups.values() for b in g.buckets]
    assert sum(n for _, n in buckets) == 4
    assert all(FIXED_NOW - 3600 < t <= FIXED_NOW for t, _ in buckets)


def test_the_failures_screen_draws_a_sparkline_per_group(tmp_path: Path) -> None:
    from textual.app import App

    from batchtop.tui.screens.failures import FailuresScreen
    from batchtop.tui.widgets.groups_panel import RATE_CELLS
    from batchtop.tui.widgets.keyed_table import KeyedTable
    from batchtop.tui.widgets.sparkline import Sparkline

    path = failures_db(tmp_path / "a.db", {"rate": 6, "timeout": 3})
    source = Source(path, clock=fixed_clock())
    source.poll(force=True)

    class One(App[None]):
        CSS_PATH = STYLESHEET  # the screens' styling is the app's
        views: dict = {}
        cursor_blink = False

        def on_mount(self) -> None:
            self.push_screen(FailuresScreen(source, "topics"))

    async def run() -> None:
        app = One()
        async with app.run_test(size=(160, 40)) as pilot:
            for _ in range(100):
                await pilot.pause(0.05)
                table = app.screen.query_one("#fx-groups", KeyedTable)
                if table.row_keys:
                    break
            cells = {key: dict(zip([c.key for c in table.specs], table._cells[key])) for key in table.row_keys}
            for key, row in cells.items():
                spark = row["rate"]
                assert isinstance(spark, Sparkline) and spark.width == RATE_CELLS
                assert sum(spark.values) == (6 if key == FAMILY_SIGNATURES["rate"] else 3)
            assert "over time:" in str(app.screen.query_one("#fx-group-detail").render())

    asyncio.run(run())
    source.close()
