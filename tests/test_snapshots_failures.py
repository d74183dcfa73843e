"""Screenshots of the failures and item screens: deterministic data (fixed clock, UTC), fixed size.

Hostile content (markup, `x [/] y`, ESC/OSC 52/OSC 8/C1/bidi characters, invalid UTF-8) must show
literally, or as placeholders, and never run or break anything.
Update with `pytest tests/test_snapshots_failures.py --snapshot-update` after checking the report.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from factories import docstore_pending_db, failures_db, hostile_db, secret_jobs_db
from test_tui_failures import ScreenApp, settle, source_of
from textual.pilot import Pilot

from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.screens.item import ItemScreen

SIZE = (140, 40)
COUNTS = {"rate": 26, "timeout": 7, "missing": 5, "json": 3, "exit": 1}


pytestmark = pytest.mark.usefixtures("utc")  # times are shown in local time: pin it


def keys(*presses: str) -> Callable[[Pilot], Awaitable[None]]:
    """Settle, press keys one by one letting reads finish in between, settle again."""

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        for key in presses:
            await pilot.press(key)
            await settle(pilot)

    return run


def failures(path: Path, track: str = "topics") -> ScreenApp:
    source = source_of(path)
    return ScreenApp(lambda: FailuresScreen(source, track))


def item(path: Path, track: str, key: object) -> ScreenApp:
    source = source_of(path)
    return ScreenApp(lambda: ItemScreen(source, track, key))


class TestFailures:
    def test_groups_and_newest(self, tmp_path: Path, snap_compare) -> None:
        """Groups with counts, share bars and times; below, all failures newest first."""
        app = failures(failures_db(tmp_path / "f.db", COUNTS, mode="delete"))
        assert snap_compare(app, terminal_size=SIZE, run_before=keys())

    def test_group_items(self, tmp_path: Path, snap_compare) -> None:
        """Enter on the second group: its items, the cursor in the item list."""
        app = failures(failures_db(tmp_path / "f.db", COUNTS, mode="delete"))
        assert snap_compare(app, terminal_size=SIZE, run_before=keys("down", "enter"))

    @pytest.mark.slow
    def test_search(self, tmp_path: Path, snap_compare) -> None:
        """`/` then text and Enter: matches in error texts and labels."""
        app = failures(failures_db(tmp_path / "f.db", COUNTS, mode="delete"))
        assert snap_compare(app, terminal_size=SIZE, run_before=keys("slash", *"delimiter", "enter"))

    def test_hostile(self, tmp_path: Path, snap_compare) -> None:
        """Markup, escapes, bidi, NUL, invalid UTF-8 and 5 MB values in labels and errors: shown inert."""
        app = failures(hostile_db(tmp_path / "hostile.db"))
        assert snap_compare(app, terminal_size=SIZE, run_before=keys())

    def test_hostile_group(self, tmp_path: Path, snap_compare) -> None:
        """The items of a group whose signature holds markup."""
        app = failures(hostile_db(tmp_path / "hostile.db"))
        assert snap_compare(app, terminal_size=SIZE, run_before=keys("enter"))

    def test_writer_never_records_failures(self, tmp_path: Path, snap_compare) -> None:
        """DocumentationStore: no failures by construction; the screen says why and what is pending."""
        p = docstore_pending_db(tmp_path / "docs.db")
        assert snap_compare(failures(p, "tables"), terminal_size=SIZE, run_before=keys())

    def test_no_failures(self, tmp_path: Path, snap_compare) -> None:
        """Nothing failed: a short, clear empty state."""
        app = failures(failures_db(tmp_path / "ok.db", {}, mode="delete"))
        assert snap_compare(app, terminal_size=SIZE, run_before=keys())


class TestItem:
    def test_failed_job_with_secrets_and_hostile_error(self, tmp_path: Path, snap_compare) -> None:
        """Secrets hidden (and counted), a BLOB as size and hex, a multi-line hostile error shown inert."""
        app = item(secret_jobs_db(tmp_path / "jobs.db"), "jobs", "job-1")
        assert snap_compare(app, terminal_size=SIZE, run_before=keys())

    def test_invalid_utf8(self, tmp_path: Path, snap_compare) -> None:
        """Invalid UTF-8 in the error: U+FFFD, no error."""
        app = item(secret_jobs_db(tmp_path / "jobs.db"), "jobs", "job-4")
        assert snap_compare(app, terminal_size=SIZE, run_before=keys())

    def test_stale_error_of_a_completed_job(self, tmp_path: Path, snap_compare) -> None:
        """A completed job keeps an old error: marked stale, not shown as the item's error."""
        app = item(secret_jobs_db(tmp_path / "jobs.db"), "jobs", "job-2")
        assert snap_compare(app, terminal_size=SIZE, run_before=keys())

    def test_long_value_paged(self, tmp_path: Path, snap_compare) -> None:
        """A 5 MB error: the first chunk and how many bytes remain."""
        db = hostile_db(tmp_path / "hostile.db")
        c = sqlite3.connect(db)
        (key,) = c.execute("SELECT id FROM topic_completions WHERE length(error_message) > 1000000").fetchone()
        c.close()
        assert snap_compare(item(db, "topics", key), terminal_size=SIZE, run_before=keys())
