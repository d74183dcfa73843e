"""Layout at the sizes people use (issue 7 item 14): 80x24 keeps what matters, wide terminals cut no name,
every screen has a status line and a subtitle, the footer says what p does now, modals show their keys."""

from __future__ import annotations

import pytest
from factories import demo_dir

from batchtop.tui.dialogs.help import HelpScreen
from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.screens.item import ItemScreen
from batchtop.tui.screens.journal import JournalScreen
from batchtop.tui.screens.overview_rows import CHROME, PAD, PRIORITY, REQUIRED, layout
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.screens.tables import TablesScreen
from batchtop.tui.widgets.keyed_table import KeyedTable
from batchtop.tui.widgets.status_line import StatusLine

pytestmark = pytest.mark.anyio


def lines(app) -> list[str]:
    """What the terminal shows now, one string per row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def header_line(app) -> str:
    return next(line for line in lines(app) if "Source" in line and "ETA" in line)


def test_the_required_columns_always_fit_and_the_rest_drop_by_priority():
    for width in (80, 100, 120, 160, 200):
        lay = layout(width)
        keys = [k for k, _ in lay.widths]
        assert all(k in keys for k, _, _ in PRIORITY[:REQUIRED])
        assert sum(w + PAD for _, w in lay.widths) <= width - CHROME
        shown = [k for k, _, _ in PRIORITY if k in keys]
        assert shown == [k for k, _, _ in PRIORITY][: len(shown)]  # a prefix of the priority order
    assert len(layout(80).widths) < len(layout(200).widths) == len(PRIORITY)


async def test_80x24_overview_shows_progress_settled_failed_rate_and_eta(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.pause(0.2)
        head = header_line(app)
        for label in ("Source", "State", "Progress", "Settled", "Failed", "Rate", "ETA"):
            assert label in head
        row = next(line for line in lines(app) if "418/900" in line)  # completion_tracking.db's topics
        assert "46%" in row and "30" in row and "8.40" in row and "48–69 min" in row
        assert all(len(line) <= 80 for line in lines(app))
        # The Track column is gone: a source with two tracks names them in the source column.
        assert any("› relations" in line for line in lines(app))
        totals = "\n".join(lines(app)[1:4])
        # The totals word the rate and the ETA as the table does.
        assert "rate 8.40/min" in totals and "ETA 48–69 min" in totals


@pytest.mark.slow
async def test_a_wide_terminal_cuts_no_name_and_a_resize_keeps_the_cursor(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=(200, 30)) as pilot:
        await ready(pilot)
        await pilot.pause(0.2)
        text = "\n".join(lines(app))
        for name in (
            "llm_results_20260101_100000.db",
            "completion_tracking.db",
            "documentation_store",
            "topic_completions",
            "relationships",
        ):
            assert name in text
        assert "Last 10m" in header_line(app) and "Profile" in header_line(app)
        table = app.screen.query_one(KeyedTable)
        key = table.row_keys[3]
        table.move_to_key(key)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.5)
        assert "Profile" not in header_line(app) and "ETA" in header_line(app)
        assert app.screen.query_one(KeyedTable).cursor_key == key
        assert app.screen.query_one(KeyedTable).has_focus


async def test_the_footer_says_resume_while_paused(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=(160, 30)) as pilot:
        await ready(pilot)
        assert "p Pause" in lines(app)[-1] and "Resume" not in lines(app)[-1]
        await pilot.press("p")
        await pilot.pause(0.2)
        assert app.paused and "p Resume" in lines(app)[-1] and "Pause" not in lines(app)[-1]
        await pilot.press("p")
        await pilot.pause(0.2)
        assert not app.paused and "p Pause" in lines(app)[-1]


@pytest.mark.slow
async def test_every_screen_has_a_status_line_and_a_subtitle_and_modals_show_their_keys(
    in_tmp, make_app, ready, until
):
    paths = demo_dir(in_tmp)
    db = next(str(p.resolve()) for p in paths if str(p).endswith("completion_tracking.db"))
    app = make_app(".")
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)

        async def check(kind, words: tuple[str, ...]) -> None:
            await until(pilot, lambda: isinstance(app.screen, kind) and bool(app.screen.query(StatusLine)))
            await pilot.pause(0.3)
            screen = app.screen
            assert screen.query_one(StatusLine).info is not None
            assert any("● LIVE" in line for line in lines(app)[-3:])
            title = lines(app)[0]
            assert screen.sub_title and all(w in title for w in words), title

        assert app.screen.sub_title == "overview"
        app.open_source(db)
        await check(SourceScreen, ("completion_tracking.db",))
        app.open_failures(db, "topics")
        await check(FailuresScreen, ("failures", "topics", "completion_tracking.db"))
        app.open_item(db, "topics", 1)
        await check(ItemScreen, ("item 1", "topics"))
        app.open_tables(db)
        await check(TablesScreen, ("tables", "completion_tracking.db"))
        app.open_journal(db)
        await check(JournalScreen, ("journal", "completion_tracking.db"))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.2)
        footer = lines(app)[-1]
        assert "esc Close" in footer and "Back" not in footer and "Undo" not in footer
