"""Contention per screen: a rollback-journal job with a 0.2 s busy timeout gets zero "database is locked"
while the TUI, polling every 100 ms, sits on each screen in turn (hazards.md: "rollback-mode job with a
0.2 s busy timeout while the TUI sits on any screen": 6-26 per 1,000 commits were seen on source and
failures before the read transactions were made tiny).

Each screen gets its own job process (a real separate writer, tests/writers.py) so a failure names the
screen that held a lock.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from writers import finish_writer, make_writer, start_writer

from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.screens.item import ItemScreen
from batchtop.tui.screens.journal import JournalScreen
from batchtop.tui.screens.overview import OverviewScreen
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.screens.tables import TablesScreen

COMMITS_PER_SCREEN = 150

#: (stop, screen class expected, keys that get there from the previous stop)
TOUR = [
    ("overview", OverviewScreen, []),
    ("source", SourceScreen, ["enter"]),
    ("failures", FailuresScreen, ["f"]),
    ("one group's items", FailuresScreen, ["g", "enter"]),
    ("item", ItemScreen, ["enter"]),
    ("tables", TablesScreen, ["escape", "escape", "escape", "t"]),
    ("journal", JournalScreen, ["escape", "J"]),
]


async def _job_on(pilot, path: Path, screen: type) -> dict:
    """Run one job process to completion while the app stays on `screen`; its report."""
    proc = start_writer(
        "jobs",
        path,
        "--journal",
        "delete",
        "--commits",
        str(COMMITS_PER_SCREEN),
        "--interval-ms",
        "1",
        "--busy-timeout",
        "0.2",
    )
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        await pilot.pause(0.05)  # the app keeps polling (every 100 ms) and re-reading its screen
        assert isinstance(pilot.app.screen, screen), pilot.app.screen
    return finish_writer(proc)


@pytest.mark.slow
def test_rollback_job_gets_zero_busy_on_every_screen(tmp_path: Path, make_app) -> None:
    path = tmp_path / "jobs.db"
    make_writer("jobs", path, journal="delete").setup()
    app = make_app(str(path), poll_interval=0.1, clock=time.time)

    async def tour() -> dict[str, dict]:
        reports = {}
        async with app.run_test(size=(140, 40)) as pilot:
            deadline = time.monotonic() + 15
            while not app.polled_all and time.monotonic() < deadline:
                await pilot.pause(0.05)
            for stop, screen, keys in TOUR:
                for key in keys:
                    await pilot.press(key)
                    await pilot.pause(0.3)
                assert isinstance(app.screen, screen), (screen, app.screen)
                reports[stop] = await _job_on(pilot, path, screen)
        return reports

    reports = asyncio.run(tour())
    locked = {name: r["locked"] for name, r in reports.items()}
    assert all(r["commits"] == COMMITS_PER_SCREEN for r in reports.values())
    assert locked == dict.fromkeys(locked, 0), f"'database is locked' in the job per screen: {locked}"
