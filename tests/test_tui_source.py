"""The source screen: what a person learns about one database, live, and where its keys lead."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from factories import demo_dir, hostile_dir, schema_db, topics_db

from batchtop.tui.screens.overview import OverviewScreen
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.widgets.keyed_table import KeyedTable
from batchtop.tui.widgets.track_panel import TrackPanel

pytestmark = pytest.mark.anyio
SIZE = (160, 60)


def text_of(app) -> str:
    """What the terminal shows now, plus the off-screen part of the source screen's scroll area."""
    from rich.console import Console

    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    screen = app.screen
    for widget in screen.query("Static, TrackPanel"):
        if widget.display:
            console.print(widget.content)
    for table in screen.query(KeyedTable):
        for cells in table._cells.values():
            console.print(" | ".join(getattr(c, "plain", "") for c in cells))
    return console.export_text()


async def open_source(pilot, name: str) -> SourceScreen:
    app = pilot.app
    table = app.screen.query_one(KeyedTable)
    key = next(k for k in table.row_keys if Path(k.split("\x00")[0]).name == name)
    table.move_to_key(key)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, SourceScreen)
    return app.screen


async def test_topics_source_shows_states_raw_values_metrics_and_resume(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_source(pilot, "completion_tracking.db")
        text = text_of(app)
        assert "completion_tracking.db" in text and "profile topic_completions (builtin)" in text
        assert "journal wal" in text
        track = " | ".join(c.plain for c in app.screen.query_one("#tracks", KeyedTable)._cells["topics"]
                          if hasattr(c, "plain"))
        assert "482" in track and "380" in track and "30" in track and "8" in track and "900" in track
        for raw in ("pending", "completed", "failed", "skipped"):
            assert raw in text
        assert "cost" in text and "$" in text
        assert "it would pick up 482: 482 pending + 0 stale running" in text
        assert "a reset of the failures would add 30" in text
        assert "note: in flight = pending with started_at set" in text


async def test_docstore_shows_sessions_and_why_failures_are_not_resettable(in_tmp, make_app, ready, until):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_source(pilot, "documentation.db")
        await until(pilot, lambda: bool(screen.query("#sessions")) and bool(screen.query_one("#sessions")._cells))
        text = text_of(app)
        assert len(screen.query(TrackPanel)) == 2
        assert "2 sessions" in text and "in_progress" in text
        assert "completed_at is never set" in text
        assert "failures are never written" in text
        assert "journal delete" in text


async def test_crashed_job_shows_its_stale_running_item(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_source(pilot, "yt-builder.db")
        text = text_of(app)
        assert "■ interrupted" in text
        assert "1 stale" in text and "oldest started" in text
        assert "it would pick up 4: 3 pending + 1 stale running" in text


async def test_escape_goes_back_and_enter_on_a_track_opens_its_failures(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_source(pilot, "completion_tracking.db")
        await pilot.press("f")
        await pilot.pause()
        try:
            from batchtop.tui.screens.failures import FailuresScreen
        except ImportError:  # the failures view is another module; until it exists a notice says so
            assert isinstance(app.screen, SourceScreen)
        else:
            assert isinstance(app.screen, FailuresScreen)
            await pilot.press("escape")
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_the_source_screen_updates_live(in_tmp, make_app, ready, until):
    db = topics_db(in_tmp / "live.db", items=20, completed=5, failed=0, skipped=0, in_flight=0)
    app = make_app(".", poll_interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_source(pilot, "live.db")
        conn = sqlite3.connect(db)
        conn.execute("UPDATE topic_completions SET status = 'failed', error_message = 'boom' WHERE id <= 2")
        conn.commit()
        conn.close()
        table = screen.query_one("#tracks", KeyedTable)
        await until(pilot, lambda: table._cells["topics"][6].plain == "2", timeout=1.5)
        await until(pilot, lambda: "boom" in text_of(app), timeout=1.5)


async def test_a_locked_database_says_so_and_the_ui_stays_responsive(in_tmp, make_app, ready, until):
    db = schema_db("jobs", in_tmp / "jobs.db", items=10, completed=4, failed=1)
    app = make_app(".", poll_interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # The job holds an EXCLUSIVE lock (rollback journal): readers get "database is locked".
        holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        # ... while writing (its -journal appears: the poll gate sees the files change and polls).
        holder.execute("UPDATE jobs SET rowid = rowid WHERE rowid = (SELECT min(rowid) FROM jobs)")
        release = threading.Event()
        try:
            table = app.screen.query_one(KeyedTable)
            await until(pilot, lambda: "locked" in app.views[str(db)].status.error_kind if
                        app.views[str(db)].status.error_kind else False, timeout=3)
            await pilot.pause(0.2)
            row = " | ".join(getattr(c, "plain", "") for c in table._cells[f"{db}\x00jobs"])
            assert "✖ locked" in row
            await pilot.press("enter")  # the UI answers while the poll thread waits on the lock
            assert isinstance(app.screen, SourceScreen)
            assert "locked by the job, retrying" in text_of(app)
        finally:
            release.set()
            holder.execute("COMMIT")
            holder.close()
        await until(pilot, lambda: app.views[str(db)].status.error is None, timeout=3)


async def test_hostile_content_is_shown_literally(in_tmp, make_app, ready):
    paths = hostile_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.screen.query_one(KeyedTable)
        table.move_to_key(f"{paths['values']}\x00topics")
        await pilot.press("enter")
        await pilot.pause()
        text = text_of(app)
        assert "[@click=app.quit]x[/]" in text and "x [/] y" in text
        assert "\x1b" not in text and "\u202e" not in text and "\u009b" not in text and "\x00" not in text
        assert "[31mDBTEXT" in text  # the escape character is replaced, the rest is shown as it is
        assert app.is_running


async def test_a_tick_or_refresh_while_the_screen_is_torn_down_does_not_crash(in_tmp, make_app, ready):
    """The 1 s tick once hit a source screen whose widgets were gone (NoMatches) and crashed the app."""
    from batchtop.tui.widgets.status_line import StatusLine

    topics_db(in_tmp / "completion_tracking.db")
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_source(pilot, "completion_tracking.db")
        await screen.query_one(StatusLine).remove()
        app._tick()
        app._dirty.add(screen.path)
        app._flush_views()
        await pilot.pause()
        assert app.is_running and app.screen is screen
