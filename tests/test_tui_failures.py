"""Pilot tests of the failures and item screens: navigation, search, paging, live updates, empty states."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from factories import (
    FAMILY_SIGNATURES,
    SECRET_MARKER,
    add_failures,
    docstore_pending_db,
    failures_db,
    fixed_clock,
    secret_jobs_db,
)
from rich.text import Text
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input
from textual.worker import WorkerCancelled

from batchtop.core.source import Source
from batchtop.tui.app import STYLESHEET
from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.screens.item import ItemScreen
from batchtop.tui.widgets.keyed_table import ColumnSpec, KeyedTable
from batchtop.tui.widgets.paged_table import PagedTable, PageRow

SIZE = (140, 40)


def sync(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async pilot test with asyncio (no async pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args: object, **kwargs: object) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class ScreenApp(App[None]):
    """A bare app that pushes one screen on mount (no app shell, no polling, no watch)."""

    CSS_PATH = STYLESHEET  # the screens' styling is the app's

    def __init__(self, make: Callable[[], Screen]) -> None:
        super().__init__()
        self._make = make
        #: LiveScreen reads the batchtop app's `views` when a screen resumes; nothing to show here.
        self.views: dict = {}
        self.cursor_blink = False

    def on_mount(self) -> None:
        self.push_screen(self._make())


pytestmark = pytest.mark.usefixtures("utc")  # times are shown in local time: pin it


def source_of(path: Path) -> Source:
    source = Source(path, clock=fixed_clock())
    result = source.poll(force=True)
    assert result.error is None, result.error
    return source


async def settle(pilot: Pilot) -> None:
    """Wait for every worker (and the messages they post) to finish."""
    for _ in range(20):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # superseded by a newer read of the same group: wait for that one
            continue
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers):
            return


def screen_text(app: App) -> str:
    return "\n".join("".join(s.text for s in strip) for strip in app.screen._compositor.render_strips())


COUNTS = {"rate": 260, "timeout": 70, "missing": 50, "json": 30, "exit": 1}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return failures_db(tmp_path / "f.db", COUNTS, mode="delete")


@pytest.mark.slow
@sync
async def test_groups_items_item_and_back(db: Path) -> None:
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        groups = screen.query_one("#fx-groups", KeyedTable)
        assert groups.row_keys == [FAMILY_SIGNATURES[f] for f in COUNTS]
        text = screen_text(app)
        assert "411 failed · 5 error groups" in text and "All failures, newest first" in text
        items = screen.query_one("#fx-items", PagedTable)
        assert items.items[0] == 411 and len(items.items) == 100
        # Second group: timeouts.
        await pilot.press("down", "enter")
        await settle(pilot)
        assert screen.current_group == FAMILY_SIGNATURES["timeout"] and app.focused is items
        assert len(items.items) == 70 and items.at_end
        assert "Group: APITimeoutError" in screen_text(app)
        first = items.cursor_item
        await pilot.press("down", "enter")
        await settle(pilot)
        item = app.screen
        assert isinstance(item, ItemScreen) and item.key == items.items[1] != first
        text = screen_text(app)
        assert "APITimeoutError: Request timed out" in text and "error_message · text" in text
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and screen.current_group is not None and items.cursor_item == item.key
        await pilot.press("escape")  # leave the group
        await settle(pilot)
        assert screen.current_group is None and app.focused is groups and items.items[0] == 411
        await pilot.press("escape")  # back out of the screen
        await pilot.pause()
        assert not isinstance(app.screen, FailuresScreen)
    source.close()


@pytest.mark.slow
@sync
async def test_search_and_escape(db: Path) -> None:
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"timed out", "enter")
        await settle(pilot)
        items = screen.query_one("#fx-items", PagedTable)
        assert screen.current_search == "timed out" and len(items.items) == 70
        assert "Search: timed out" in screen_text(app)
        # Labels are searched too; nothing found says so.
        await pilot.press("slash")  # back to the box
        screen.query_one("#fx-search", Input).value = "Data/json/"
        await pilot.press("enter")
        await settle(pilot)
        assert len(items.items) == 30
        await pilot.press("slash")
        screen.query_one("#fx-search", Input).value = "no such thing"
        await pilot.press("enter")
        await settle(pilot)
        assert items.items == [] and "no failed item matches this search" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert screen.current_search is None and len(items.items) == 100
        assert isinstance(app.screen, FailuresScreen)
    source.close()


@pytest.mark.slow
@sync
async def test_paging_down_past_the_first_page_and_back(db: Path) -> None:
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        items = screen.query_one("#fx-items", PagedTable)
        everything = list(range(411, 0, -1))
        items.focus()

        async def press(key: str, times: int) -> None:
            for _ in range(times):
                await pilot.press(key)
                if items.fetching:  # the cursor waits at the window's edge while a page is read
                    await settle(pilot)
            await settle(pilot)

        await press("down", 95)
        assert items.cursor_item == everything[95] and items.fetches == 2 and items.at_start
        await press("ctrl+end", 5)  # to the very end: 411 rows, at most 300 held
        assert items.cursor_item == everything[-1] and items.at_end and not items.at_start
        assert items.row_count == items.window_size == 300
        assert items.items == everything[-300:]
        await press("up", 20)
        assert items.cursor_item == everything[-21]
        await press("ctrl+home", 5)  # back to the newest, fetched again page by page
        assert items.cursor_item == 411 and items.at_start and items.cursor_row == 0
        assert items.items == everything[:items.row_count]
    source.close()


@sync
async def test_live_update_in_place(db: Path) -> None:
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        groups = screen.query_one("#fx-groups", KeyedTable)
        await pilot.press("down", "down")
        assert groups.cursor_key == FAMILY_SIGNATURES["missing"]
        w = sqlite3.connect(db)
        add_failures(w, {"missing": 250, "exit": 3})
        w.close()
        assert source.poll().changed
        screen.action_regroup()  # regrouping is rate-limited; the key skips the wait
        screen.refresh_views({source.path})
        await settle(pilot)
        # Re-sorted in place: the cursor stays on the group it was on, now first.
        assert groups.row_keys[0] == FAMILY_SIGNATURES["missing"]
        assert groups.cursor_key == FAMILY_SIGNATURES["missing"] and groups.cursor_row == 0
        assert "664 failed" in screen_text(app)
        assert screen.query_one("#fx-items", PagedTable).items[0] == 669  # 5 done rows hold 412-416
    source.close()


def shown_keys(table: KeyedTable) -> list[str]:
    """Row keys in the order the table really draws them (its own index, not its bookkeeping)."""
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


@pytest.mark.slow
@sync
async def test_rows_arriving_above_the_cursor_keep_order_cursor_and_acted_item_in_step(db: Path) -> None:
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        items = screen.query_one("#fx-items", PagedTable)
        await pilot.press("tab", *["down"] * 7)
        highlighted = items.cursor_item
        assert highlighted == 404
        for round_ in range(3):  # several polls, each bringing newer failures above the cursor
            w = sqlite3.connect(db)
            add_failures(w, {"rate": 2, "json": 1})
            w.close()
            assert source.poll().changed
            screen.refresh_views({source.path})
            newest = 411 + 5 + 3 * (round_ + 1)  # 5 done rows hold 412-416
            for _ in range(40):  # the list is re-read at most once a second (RELOAD_GAP)
                await settle(pilot)
                if items.items and items.items[0] == newest:
                    break
                await pilot.pause(0.05)
            # Newest first, as drawn; the bookkeeping agrees with the drawing; the cursor stays put.
            assert shown_keys(items) == [repr(k) for k in items.items]
            assert items.items == sorted(items.items, reverse=True)
            assert items.items[0] == newest
            assert items.cursor_item == highlighted
            assert shown_keys(items)[items.cursor_row] == repr(highlighted)
        await pilot.press("space")  # marks exactly the highlighted item
        assert screen.selected_keys() == [highlighted]
        await pilot.press("enter")  # opens exactly the highlighted item
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen) and app.screen.key == highlighted
    source.close()


@pytest.mark.slow
@pytest.mark.parametrize("view", ["group", "search"])
@sync
async def test_rows_arriving_inside_a_group_or_a_search_keep_cursor_and_acted_item_in_step(
    db: Path, view: str
) -> None:
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        items = screen.query_one("#fx-items", PagedTable)
        if view == "group":
            await pilot.press("down", "enter")  # the timeouts' group
        else:
            await pilot.press("slash", *"timed out", "enter")
        await settle(pilot)
        assert len(items.items) == 70
        await pilot.press(*["down"] * 4)
        highlighted = items.cursor_item
        assert highlighted == items.items[4]
        for _ in range(2):  # new timeouts (in the view) and other failures (not in it) arrive above
            w = sqlite3.connect(db)
            added = add_failures(w, {"timeout": 2, "rate": 1})
            w.close()
            assert source.poll().changed
            screen.refresh_views({source.path})
            if view == "group":
                screen.action_regroup()  # regrouping is rate-limited; the key skips the wait
            timeouts, other = added[0::2], added[1]  # the families are interleaved: timeout, rate, timeout
            for _ in range(150):  # re-read at most once a second (RELOAD_GAP), after the regroup
                await settle(pilot)
                if items.items and items.items[0] == max(timeouts):
                    break
                await pilot.pause(0.05)
            assert shown_keys(items) == [repr(k) for k in items.items]
            assert items.items == sorted(items.items, reverse=True)
            assert items.items[:2] == sorted(timeouts, reverse=True) and other not in items.items
            assert items.cursor_item == highlighted
            assert shown_keys(items)[items.cursor_row] == repr(highlighted)
        await pilot.press("space")
        assert screen.selected_keys() == [highlighted]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ItemScreen) and app.screen.key == highlighted
    source.close()


class TableApp(App[None]):
    """A bare app holding one paged table."""

    def compose(self) -> ComposeResult:
        yield PagedTable((ColumnSpec("key", "Key", 10),))


@sync
async def test_a_reload_asked_while_a_page_is_read_follows_it() -> None:
    """A stale read in flight must not be the last word: the reload asked meanwhile runs after it (the
    group's list read before the regroup ended, then the regroup's re-read)."""
    data = [3, 2, 1]
    gate = threading.Event()
    gate.set()

    def fetch(before: object, after: object, limit: int) -> list[PageRow]:
        rows = [PageRow(k, (Text(str(k)),)) for k in data[:limit]]  # what the database held at the read
        assert gate.wait(10)
        return rows

    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(PagedTable)
        table.load(fetch)
        await settle(pilot)
        assert table.items == [3, 2, 1]
        gate.clear()
        table.reload()  # reads [3, 2, 1], held up
        await pilot.pause(0.1)
        assert table.fetching
        data.insert(0, 4)  # new rows; the caller asks again while the old read is in flight
        table.reload()
        gate.set()
        await settle(pilot)
        assert table.items == [4, 3, 2, 1] and not table.fetching


@sync
async def test_marks_and_targets_for_actions(db: Path) -> None:
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        assert screen.selected_keys() == []  # the groups table has focus
        await pilot.press("tab")
        assert screen.selected_keys() == [411]
        await pilot.press("space", "down", "down", "space")
        assert sorted(screen.selected_keys()) == [409, 411]
        assert "2 marked" in screen_text(app)
        await pilot.press("space")
        assert screen.selected_keys() == [411]
    source.close()


@sync
async def test_writer_without_failures_is_explained(tmp_path: Path) -> None:
    p = docstore_pending_db(tmp_path / "docs.db")
    source = source_of(p)
    app = ScreenApp(lambda: FailuresScreen(source, "tables"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "This writer never records failures; 2 items are pending (attempted in an earlier session)" in text
        assert not app.screen.query_one("#fx-items").display
    source.close()


@sync
async def test_no_failures(tmp_path: Path) -> None:
    source = source_of(failures_db(tmp_path / "ok.db", {}, mode="delete"))
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "No failed items in topics: nothing to triage." in screen_text(app)
    source.close()


@sync
async def test_item_screen_pages_a_long_value_and_hides_secrets(tmp_path: Path) -> None:
    db = secret_jobs_db(tmp_path / "jobs.db", big=40_000)
    source = source_of(db)
    app = ScreenApp(lambda: ItemScreen(source, "jobs", "job-1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ItemScreen) and screen.column == "error"
        text = screen_text(app)
        assert "2 secret columns hidden (never read): token, credentials_json" in text
        assert SECRET_MARKER not in text
        # Choose the long `log` column, then page through it.
        table = screen.query_one("#it-columns", KeyedTable)
        table.move_to_key("log")
        await settle(pilot)
        assert screen.chunk is not None and screen.chunk.offset == 0 and screen.chunk.more == 40_000 - 16_384
        assert "… 23,616 more bytes" in screen_text(app)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        assert screen.chunk.offset == 2 * 16_384 and screen.chunk.more == 0
        assert screen.chunk.text.endswith("TAIL!")
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert screen.chunk.offset == 16_384
        # The BLOB: hex only.
        table.move_to_key("payload")
        await settle(pilot)
        assert screen.chunk.text.startswith("00000000  00 01 02")
    source.close()


CHILD = r"""
import sys, time
sys.path.insert(0, {tests!r})
from factories import fixed_clock
from test_tui_failures import ScreenApp
from batchtop.core.source import Source
from batchtop.tui.screens.failures import FailuresScreen
source = Source({db!r}, clock=fixed_clock())
source.poll(force=True)
ScreenApp(lambda: FailuresScreen(source, "topics")).run()
"""


@pytest.mark.slow
def test_no_escape_reaches_a_real_terminal(tmp_path: Path) -> None:
    """hazards.md rule 12: under a pty, walk groups, items and item details of the hostile database and
    check that no payload byte sequence (ESC, OSC 52, OSC 8, C1, bidi, NUL) is ever written."""
    import fcntl
    import pty
    import select
    import struct
    import sys
    import termios

    from factories import FORBIDDEN_BYTES, hostile_db

    db = hostile_db(tmp_path / "hostile.db")
    code = CHILD.format(tests=str(Path(__file__).parent), db=str(db))
    pid, fd = pty.fork()
    if pid == 0:  # child: the app on the pty
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-c", code])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    out = bytearray()

    def drain(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                out.extend(chunk)

    try:
        drain(6.0)
        keys = [b"\r"]  # open the first group
        for _ in range(10):  # every item's detail, and back
            keys += [b"\x1b[B", b"\r", b"\x1b"]
        keys += [b"\x1b", b"\t"]
        for key in keys:
            os.write(fd, key)
            drain(0.35)
        os.write(fd, b"\x11")  # ctrl+q
        drain(3.0)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    assert b"Failures" in out and b"characters 1" in out, bytes(out[-2000:])  # item details were shown
    for forbidden in FORBIDDEN_BYTES:
        assert forbidden not in out, forbidden


@pytest.mark.slow
@sync
async def test_million_failures_group_in_the_background(tmp_path: Path) -> None:
    """1M failed rows: the newest page shows at once, grouping shows progress, keys keep working."""
    from factories import big_failures_db

    source = source_of(big_failures_db(tmp_path / "m.db", 1_000_000))
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        items = screen.query_one("#fx-items", PagedTable)
        bar = screen.query_one("#fx-progress")
        deadline = time.monotonic() + 60
        while (not items.items or bar.has_class("hidden")) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        assert items.items[0] == 1_000_000 and not bar.has_class("hidden")
        assert "grouping…" in screen_text(app)
        # While the worker groups, the item list still pages.
        assert screen.groups_panel.grouping
        await pilot.press("tab", "ctrl+end")
        while items.fetching:
            await pilot.pause(0.05)
        await pilot.pause()
        assert items.cursor_item == 999_901 and len(items.items) == 200
        await settle(pilot)
        assert bar.has_class("hidden") and "1,000,000 failed · 7 error groups" in screen_text(app)
    source.close()
