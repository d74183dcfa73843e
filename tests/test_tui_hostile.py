"""Hostile table names, column names and values on every screen: shown literally, nothing runs, and no
control character reaches the terminal (hazards.md rules 1 and 2; issue 7 item 2).

One database carries markup (`[@click=app.quit]x`), OSC 52, SGR, C1 and bidi payloads in its file name,
in a table name, in column names and in values; a journaled reset quotes one of them. The app opens it
on the overview, source, failures, item, tables and journal screens. On each: no rendered segment holds
a click action, the text is shown literally, and the bytes the screen would write to a terminal hold no
OSC, BEL, C1 or bidi character (only Textual's own CSI sequences).
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from factories import FIXED_NOW, HOSTILE_NAME, OSC52, hostile_db, pin_mtimes
from rich.console import Console
from textual.geometry import Region
from textual.widgets import DataTable

from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.screens.item import ItemScreen
from batchtop.tui.screens.journal import JournalScreen
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.screens.tables import TablesScreen

pytestmark = pytest.mark.anyio
SIZE = (160, 45)

CLICK_COLUMN = "[@click=app.quit]x"
OSC_COLUMN = "\x1b]52;c;SGVsbG8=\x07"
CLICK_TABLE = "[@click=app.bell]tbl \x1b]52;c;SGVsbG8=\x07"
#: Characters that must never be written to the terminal from database text.
FORBIDDEN = re.compile("[\x00\x07\x08\x0b\x0c\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069]")
#: Textual's own escape sequences (CSI: cursor moves, colours, modes); anything else after ESC is a leak.
CSI = re.compile(r"\x1b\[[0-9;:?<>=]*[ -/]*[@-~]")


def hostile_columns_db(directory: Path) -> Path:
    """The hostile topics database, plus columns and a table whose names carry markup and OSC 52."""
    path = hostile_db(directory / HOSTILE_NAME, big=2000)
    conn = sqlite3.connect(path)
    conn.execute(f'ALTER TABLE topic_completions ADD COLUMN "{CLICK_COLUMN}" TEXT')
    conn.execute(f'ALTER TABLE topic_completions ADD COLUMN "{OSC_COLUMN}" TEXT')
    conn.execute(
        f'UPDATE topic_completions SET "{CLICK_COLUMN}" = ?, "{OSC_COLUMN}" = ?',
        ("[@click=app.quit]cell[/]", OSC52),
    )
    conn.execute(
        f'CREATE TABLE "{CLICK_TABLE}" (id INTEGER PRIMARY KEY, "{CLICK_COLUMN}" TEXT, "{OSC_COLUMN}" TEXT)'
    )
    conn.execute(f'INSERT INTO "{CLICK_TABLE}" VALUES (1, ?, ?)', ("[@click=app.bell]v[/]", OSC52))
    conn.commit()
    conn.close()
    pin_mtimes([path], FIXED_NOW - 4)
    return path


def journal_hostile_reset(db: Path, journal_path: Path) -> None:
    """Reset the failed items whose error is an OSC 52 payload: the journal's target quotes it."""
    from batchtop.core.actions import Target, apply, plan
    from batchtop.core.journal import Journal
    from batchtop.core.signature import signature
    from batchtop.core.source import Source

    source = Source(db)
    source.poll(force=True)
    conn = sqlite3.connect(db)
    error = conn.execute(
        "SELECT error_message FROM topic_completions WHERE status = 'failed' AND error_message LIKE '%52;c;%'"
    ).fetchone()[0]
    conn.close()
    apply(
        plan(source, "topics", None, Target.group(signature(error)), now=FIXED_NOW),
        journal=Journal(journal_path),
        source=source,
    )
    source.close()
    pin_mtimes([db], FIXED_NOW - 4)


def click_meta(screen) -> list[dict]:
    """Style meta of every rendered segment on `screen` that would run an action when clicked."""
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


def terminal_output(app) -> str:
    """Exactly what the screen's full repaint writes to a terminal."""
    console = Console(
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        width=SIZE[0],
        height=SIZE[1],
        legacy_windows=False,
    )
    return app.screen._compositor.render_update(full=True).render_segments(console)


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def assert_safe(app, *literal: str) -> None:
    """Nothing clickable, no control character in the output or the screenshot, `literal` shown as is."""
    assert click_meta(app.screen) == []
    out = terminal_output(app)
    assert not FORBIDDEN.search(out), FORBIDDEN.search(out)
    assert "\x1b" not in CSI.sub("", out), "an escape sequence other than Textual's own reached the output"
    shot = app.export_screenshot()
    assert not FORBIDDEN.search(shot) and "\x1b" not in shot
    text = screen_text(app)
    for piece in literal:
        assert piece in text, f"{piece!r} not shown literally in:\n{text}"
    assert "SGVsbG8" not in text or "\x1b]52" not in out
    # The title and subtitle are strings Textual shows as they are: they must be sanitised already.
    assert not FORBIDDEN.search(app.screen.sub_title or "") and "\x1b" not in (app.screen.sub_title or "")


async def settle(pilot, until, condition) -> None:
    await until(pilot, condition)
    await pilot.pause(0.2)


@pytest.mark.slow
async def test_hostile_names_and_values_are_inert_on_every_screen(
    in_tmp, make_app, ready, until, tmp_path_factory, monkeypatch
):
    db = hostile_columns_db(in_tmp)
    journal = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    journal_hostile_reset(db, journal)
    app = make_app(".", journal_path=journal)
    rang: list[str] = []
    monkeypatch.setattr(app, "bell", lambda: rang.append("bell"))
    path = str(db.resolve())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert_safe(app, "[@click=app.quit]x[b]")  # the file name, on the overview

        app.open_source(path)
        await settle(pilot, until, lambda: isinstance(app.screen, SourceScreen))
        assert_safe(app, "[@click=app.quit]x[/]")  # a value: a label among the recent failures

        await pilot.press("f")
        await settle(
            pilot,
            until,
            lambda: (
                isinstance(app.screen, FailuresScreen)
                and app.screen.query_one("#fx-items", DataTable).row_count > 0
            ),
        )
        assert_safe(app, "x [/] y")

        key = app.screen.query_one("#fx-items").cursor_item
        app.open_item(path, "topics", key)
        await settle(
            pilot, until, lambda: isinstance(app.screen, ItemScreen) and app.screen.detail is not None
        )
        assert_safe(app, CLICK_COLUMN, "[@click=app.quit]cell[/]")  # column names and values, literally

        app.open_tables(path)
        await settle(
            pilot, until, lambda: isinstance(app.screen, TablesScreen) and app.screen.page is not None
        )
        tables = app.screen
        tables.show_table(CLICK_TABLE)
        await settle(pilot, until, lambda: tables.page is not None and tables.page.table == CLICK_TABLE)
        assert_safe(app, "[@click=app.bell]tbl", CLICK_COLUMN, "[@click=app.bell]v[/]")
        rows = tables.query_one("#tb-rows", DataTable)
        for x in range(2, 60, 3):  # every header cell and the first row: nothing runs
            await pilot.click(rows, offset=(x, 0))
            await pilot.click(rows, offset=(x, 1))
        assert app.is_running and isinstance(app.screen, TablesScreen)

        app.open_journal(path)
        await settle(
            pilot,
            until,
            lambda: (
                isinstance(app.screen, JournalScreen)
                and app.screen.query("#jr-table")
                and app.screen.query_one("#jr-table", DataTable).row_count > 0
            ),
        )
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert_safe(app, "\ufffd]<n>;c;SGVsbG")  # the reset's target quotes the OSC 52 error, made inert
        for y in range(0, 6):
            await pilot.click("#jr-table", offset=(40, y))
        assert app.is_running
    assert rang == []
