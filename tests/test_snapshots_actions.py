"""Screenshots of the action flow: the preview modal (small, and with the count to type), the journal with
a cohort, and the source screen's recent-actions panel. Deterministic: fixed clock, UTC, fixed size,
journal ids and times rewritten to fixed values, file times pinned.

Update with `pytest tests/test_snapshots_actions.py --snapshot-update` after checking the report.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from action_history import topics_history
from conftest import wait_for, wait_ready
from factories import FIXED_NOW, failures_db, hostile_db, pin_mtimes
from test_tui_actions import open_failures, open_source, preview_ready, settle
from textual.pilot import Pilot

from batchtop.tui.screens.journal import JournalScreen
from batchtop.tui.widgets.cohort_panel import CohortPanel
from batchtop.tui.widgets.paged_table import PagedTable

SIZE = (150, 45)


pytestmark = pytest.mark.usefixtures("utc")  # times are shown in local time: pin it


def steps(*actions: Callable[[Pilot], Awaitable[None]]) -> Callable[[Pilot], Awaitable[None]]:
    async def run(pilot: Pilot) -> None:
        await wait_ready(pilot)
        for action in actions:
            await action(pilot)
        await settle(pilot)

    return run


def failures_of(name: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run(pilot: Pilot) -> None:
        await open_failures(pilot, Path(name))

    return run


def press(*keys: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run(pilot: Pilot) -> None:
        await pilot.press(*keys)
        await settle(pilot)

    return run


async def focus_items(pilot: Pilot) -> None:
    pilot.app.screen.query_one("#fx-items", PagedTable).focus()
    await pilot.pause()


async def previewed(pilot: Pilot) -> None:
    await preview_ready(pilot)


def source_of(name: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run(pilot: Pilot) -> None:
        screen = await open_source(pilot, name)
        panel = screen.query_one(CohortPanel)
        await wait_for(pilot, lambda: bool(panel.lines))

    return run


async def cohort_read(pilot: Pilot) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, JournalScreen))
    await settle(pilot)
    await pilot.press("enter")
    screen = pilot.app.screen
    await wait_for(pilot, lambda: bool(screen._cohorts) and "reading…" not in screen._cohorts.values())


class TestPreview:
    @pytest.mark.slow
    def test_marked_items(self, in_tmp, make_app, snap_compare):
        """Two marked items: count, samples, the exact predicate, the rule for rows that change meanwhile."""
        # The file's time is the data's last change: at the fixed clock, not the real one (ahead of it).
        pin_mtimes([failures_db(in_tmp / "f.db", {"rate": 6, "timeout": 4, "json": 2}, mode="delete")], FIXED_NOW)
        run = steps(failures_of("f.db"), focus_items, press("space", "down", "down", "space", "x"), previewed)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=run)

    @pytest.mark.slow
    def test_large_group_needs_the_count_typed(self, in_tmp, make_app, snap_compare):
        """A group of 130 on the groups table: confirm stays disabled until 130 is typed (12 so far)."""
        pin_mtimes([failures_db(in_tmp / "big.db", {"rate": 130, "timeout": 5}, mode="delete")], FIXED_NOW)
        run = steps(failures_of("big.db"), press("x"), previewed, press("1", "2"))
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=run)


    def test_hostile_group(self, in_tmp, make_app, snap_compare):
        """A group whose signature holds markup, escapes and bidi characters: title, samples and the
        predicate's literals are shown inert (placeholders for control characters), nothing runs."""
        hostile_db(in_tmp / "hostile.db", big=2000)
        run = steps(failures_of("hostile.db"), press("down", "x"), previewed)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=run)


class TestJournal:
    def test_journal_with_cohort(self, in_tmp, make_app, snap_compare, tmp_path_factory, monkeypatch):
        """Newest first (a group reset, an undo, the reset it undid); Enter: what became of the group."""
        db = failures_db(in_tmp / "f.db", {"rate": 8, "timeout": 4}, mode="delete")
        journal = tmp_path_factory.mktemp("journal") / "journal.jsonl"
        monkeypatch.setenv("HOME", str(journal.parent))  # the title shows the journal as ~/journal.jsonl
        topics_history(db, journal)
        run = steps(press("J"), cohort_read)
        assert snap_compare(make_app(".", journal_path=journal), terminal_size=SIZE, run_before=run)

    def test_source_cohort_panel(self, in_tmp, make_app, snap_compare, tmp_path_factory):
        """The source screen: after reset #ab12cd34, 3 done · 1 pending · 1 running · 2 failed again · 1 new."""
        db = failures_db(in_tmp / "f.db", {"rate": 8, "timeout": 4}, mode="delete")
        journal = tmp_path_factory.mktemp("journal") / "journal.jsonl"
        topics_history(db, journal)
        run = steps(source_of("f.db"))
        assert snap_compare(make_app(".", journal_path=journal), terminal_size=SIZE, run_before=run)
