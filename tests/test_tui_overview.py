"""The overview as a user drives it: rows, navigation, filter, sort, pause, interval, live updates, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from factories import demo_dir, empty_file, hostile_dir, not_a_database, topics_db

from batchtop.tui.dialogs.help import HelpScreen
from batchtop.tui.screens.overview import OverviewScreen
from batchtop.tui.screens.overview_rows import split_key
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.widgets.keyed_table import KeyedTable
from batchtop.tui.widgets.status_line import StatusLine

pytestmark = pytest.mark.anyio
SIZE = (160, 45)


def table(app) -> KeyedTable:
    return app.screen.query_one(KeyedTable)


def row_text(app, key: str) -> str:
    """The visible text of one row (cells joined by '|')."""
    t = table(app)
    return "|".join(getattr(c, "plain", str(c)) for c in t._cells[key])


def screen_text(app) -> str:
    """What the terminal shows now, as plain text (one line per row)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def names(app) -> list[str]:
    """Source names of the rows, in display order (one per source)."""
    out: list[str] = []
    for key in table(app).row_keys:
        name = Path(split_key(key)[0]).name
        if name not in out:
            out.append(name)
    return out


async def test_polls_that_finish_before_the_screen_is_mounted_are_shown(in_tmp, make_app, ready, until,
                                                                        monkeypatch):
    # On a loaded machine the first polls can finish before the first screen is ready to be fed: what
    # they read must still reach the screen (it once waited for the next change, 60 s in tests).
    from batchtop.tui.screens.live import LiveScreen

    def late_ready(screen: LiveScreen) -> None:
        screen.set_timer(1.0, lambda: setattr(screen, "ready", True))

    monkeypatch.setattr(LiveScreen, "on_mount", late_ready)
    topics_db(in_tmp / "topics.db")
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.polled_all)
        assert not app.screen.ready  # the polls really came first
        await ready(pilot)
        assert any("topic_compl" in row_text(app, k) for k in table(app).row_keys)


async def test_every_source_and_track_has_a_row(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        keys = table(app).row_keys
        tracks = {(Path(p).name, t) for p, t in map(split_key, keys)}
        assert ("documentation.db", "tables") in tracks and ("documentation.db", "relationships") in tracks
        assert len(keys) == 9
        topics = row_text(app, next(k for k in keys if "completion_tracking" in k))
        assert "topic_compl" in topics and "● active" in topics and "418/900" in topics
        jobs = row_text(app, next(k for k in keys if "yt-builder" in k))
        assert "■ interrupted" in jobs
        assert "◐ stalled" in row_text(app, next(k for k in keys if "smarthistory" in k))
        assert "cost so far $" in str(app.screen.query_one("Totals").render().renderables[1])


async def test_open_a_source_and_come_back_to_the_same_row(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("down", "down", "down")
        before = table(app).cursor_key
        await pilot.press("enter")
        assert isinstance(app.screen, SourceScreen)
        assert app.screen.path == split_key(before)[0]
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        assert table(app).cursor_key == before


async def test_a_click_on_a_row_opens_it(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        third = table(app).row_keys[2]
        # Row 0 of the table body is at y=1 inside the table (the header is y=0).
        await pilot.click(KeyedTable, offset=(5, 1 + 2))
        await pilot.pause()
        assert isinstance(app.screen, SourceScreen)
        assert app.screen.path == split_key(third)[0]


async def test_filter_narrows_the_list_and_escape_restores_it(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"chunk")
        await pilot.pause()
        assert names(app) == ["results_chunk_0.db", "results_chunk_1.db", "results_chunk_2.db"]
        await pilot.press("enter")  # back to the list, filter kept
        assert names(app) == ["results_chunk_0.db", "results_chunk_1.db", "results_chunk_2.db"]
        await pilot.press("escape")
        assert len(names(app)) == 8


async def test_sort_by_state_puts_problems_first_and_S_reverses(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert names(app) == sorted(names(app), key=str.casefold)
        await pilot.press("s")
        assert app.screen.sort == "state"
        first_two = names(app)[:2]
        assert set(first_two) == {"llm_results_20260101_100000.db", "yt-builder.db"}  # both interrupted
        await pilot.press("S")
        assert names(app)[-2:] == list(reversed(first_two)) or set(names(app)[-2:]) == set(first_two)
        assert "reversed" in str(table(app).border_subtitle)


async def test_problems_only(in_tmp, make_app, ready):
    demo_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("e")
        shown = names(app)
        assert "yt-builder.db" in shown and "smarthistory.db" in shown
        assert "results_chunk_2.db" not in shown  # active, no failure yet


@pytest.mark.slow
async def test_pause_stops_polls_and_resume_restarts_them(in_tmp, make_app, ready, until):
    topics_db(in_tmp / "a.db")
    app = make_app(".", poll_interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        source = next(iter(app.monitor.sources.values()))
        await until(pilot, lambda: source.polls >= 3)
        await pilot.press("p")
        await until(pilot, lambda: app.in_flight == 0)
        paused_at = source.polls
        await pilot.pause(1.0)
        assert source.polls == paused_at
        assert "PAUSED" in str(app.screen.query_one(StatusLine).render())
        await pilot.press("p")
        await until(pilot, lambda: source.polls > paused_at + 1, timeout=3)


async def test_plus_and_minus_change_the_poll_interval(in_tmp, make_app, ready):
    topics_db(in_tmp / "a.db")
    app = make_app(".", poll_interval=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("plus")
        assert app.poll_interval == 2.0
        await pilot.press("minus", "minus")
        assert app.poll_interval == 0.5
        await pilot.pause()
        assert "poll every 0.5s" in str(app.screen.query_one(StatusLine).render())


async def test_a_commit_shows_up_within_a_second(in_tmp, make_app, ready, until):
    db = topics_db(in_tmp / "live.db", items=20, completed=5, failed=0, skipped=0, in_flight=0)
    app = make_app(".", poll_interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        key = table(app).row_keys[0]
        assert "5/20" in row_text(app, key)
        conn = sqlite3.connect(db)
        conn.execute("UPDATE topic_completions SET status = 'completed', completed_at = '2026-01-01 11:59:59' "
                     "WHERE id IN (SELECT id FROM topic_completions WHERE status = 'pending' LIMIT 3)")
        conn.commit()
        conn.close()
        await until(pilot, lambda: "8/20" in row_text(app, key), timeout=1.0)


@pytest.mark.slow
async def test_cursor_and_scroll_never_move_on_refresh(in_tmp, make_app, ready, until):
    for i in range(25):
        topics_db(in_tmp / f"db{i:02d}.db", items=10, completed=i % 10, failed=0, skipped=0, in_flight=0, seed=i)
    app = make_app(".", poll_interval=0.5)
    async with app.run_test(size=(160, 24)) as pilot:
        await ready(pilot)
        await pilot.press(*["down"] * 20)
        t = table(app)
        key, scroll = t.cursor_key, t.scroll_y
        assert scroll > 0
        db = in_tmp / "db20.db"
        conn = sqlite3.connect(db)
        conn.execute("UPDATE topic_completions SET status = 'failed' WHERE status = 'pending'")
        conn.commit()
        conn.close()
        await until(pilot, lambda: "10/10" in row_text(app, f"{db}\x00topics"), timeout=10)
        assert (t.cursor_key, t.scroll_y) == (key, scroll)
        # A refresh with nothing new updates no cell at all.
        app.screen.refresh_views(set())
        assert t.last_updates == 0


async def test_new_files_appear_live(in_tmp, make_app, ready, until):
    topics_db(in_tmp / "first.db")
    app = make_app(".", watch=True, poll_interval=5.0)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert names(app) == ["first.db"]
        topics_db(in_tmp / "second.db")
        await until(pilot, lambda: names(app) == ["first.db", "second.db"], timeout=4)


async def test_errors_are_shown_in_the_row_with_the_path(in_tmp, make_app, ready):
    not_a_database(in_tmp / "notes.db")
    empty_file(in_tmp / "empty.db")
    app = make_app(".", str(in_tmp / "later.db"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        rows = {Path(split_key(k)[0]).name: row_text(app, k) for k in table(app).row_keys}
        assert "not an SQLite database" in rows["notes.db"] and "✖ not SQLite" in rows["notes.db"]
        assert "empty database" in rows["empty.db"]
        assert "file not found (waiting for it to appear)" in rows["later.db"]
        assert "later.db\nlater.db" in rows["later.db"]  # the name, then the (relative) path
        assert app.is_running


async def test_empty_state_says_what_is_watched(in_tmp, make_app, ready):
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        text = str(app.screen.query_one("#empty").render())
        assert "No database found yet." in text and "Watching: ." in text


def click_meta(screen) -> list[dict]:
    """Style meta of every rendered segment of every widget on `screen` that would run an action on click."""
    from textual.geometry import Region

    found = []
    for widget in screen.walk_children():
        if not widget.display or not widget.size.area:
            continue
        for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)):
            for segment in strip:
                meta = segment.style.meta if segment.style else {}
                if any(k.startswith("@") for k in meta):
                    found.append(meta)
    return found


@pytest.mark.slow
async def test_clicking_hostile_content_runs_no_action(in_tmp, make_app, ready):
    hostile_dir(in_tmp)
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert click_meta(app.screen) == []
        t = table(app)
        for y in range(1, 8):  # every row (two of them are two lines high), name and message columns
            for x in (3, 80):
                await pilot.click(KeyedTable, offset=(x, y))
                if isinstance(app.screen, SourceScreen):
                    assert click_meta(app.screen) == []
                    await pilot.click("#heading", offset=(5, 0))
                    await pilot.press("escape")
        assert app.is_running and isinstance(app.screen, OverviewScreen)
        assert len(t.row_keys) == 3


async def test_help_lists_the_keys_and_escape_closes_it(in_tmp, make_app, ready):
    topics_db(in_tmp / "a.db")
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for word in ("Filter", "Sort", "Pause", "Slower", "Faster", "Quit", "Open"):
            assert word in text
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_refresh_is_skipped_while_a_modal_is_open(in_tmp, make_app, ready, until):
    db = topics_db(in_tmp / "a.db", items=20, completed=5, failed=0, skipped=0, in_flight=0)
    app = make_app(".", poll_interval=0.25)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        key = table(app).row_keys[0]
        await pilot.press("question_mark")
        conn = sqlite3.connect(db)
        conn.execute("UPDATE topic_completions SET status = 'completed' WHERE id <= 20")
        conn.commit()
        conn.close()
        overview = app.screen_stack[0]
        await until(pilot, lambda: app.views[str(db)].status.tracks[0].settled == 20, timeout=10)
        await pilot.pause(0.3)
        assert "5/20" in "|".join(c.plain for c in overview.query_one(KeyedTable)._cells[key][5:6])
        await pilot.press("escape")
        await until(pilot, lambda: "20/20" in row_text(app, key), timeout=10)


async def test_q_quits_from_the_source_screen(in_tmp, make_app, ready):
    topics_db(in_tmp / "a.db")
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, SourceScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0



async def test_the_command_palette_offers_the_screen_actions(in_tmp, make_app, ready):
    topics_db(in_tmp / "a.db")
    app = make_app(".")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Pause", "Filter", "Sort", "Problems only", "Help", "Slower", "Faster", "Open"} <= titles
        pause = next(c for c in app.get_system_commands(app.screen) if c.title == "Pause")
        await pause.callback()
        assert app.paused
