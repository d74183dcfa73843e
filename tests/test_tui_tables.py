"""The read-only table view for databases no profile describes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable

from batchtop.core.source import Source
from batchtop.tui.app import STYLESHEET
from batchtop.tui.screens.tables import PAGE, TablesScreen

MARKER = "tok-SECRET-MARKER-91f3"


class TablesApp(App[None]):
    CSS_PATH = STYLESHEET  # the screens' styling is the app's

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.views: dict = {}

    def on_mount(self) -> None:
        self.push_screen(TablesScreen(self.source))


@pytest.fixture
def unknown_db(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, api_key TEXT);
        CREATE TABLE user_credentials (id INTEGER PRIMARY KEY, value TEXT);
    """)
    conn.executemany("INSERT INTO notes (body, api_key) VALUES (?, ?)",
                     [(f"note [b]{i}[/b] \x1b[31m", MARKER) for i in range(PAGE + 50)])
    conn.execute("INSERT INTO user_credentials (value) VALUES (?)", (MARKER,))
    conn.commit()
    conn.close()
    return path


def _text(table: DataTable) -> str:
    return "\n".join(" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count))


@pytest.mark.anyio
async def test_rows_page_forward_and_secrets_are_never_shown(unknown_db: Path) -> None:
    source = Source(unknown_db)
    result = source.poll()
    assert result.error is not None and result.error.kind == "unknown-schema"
    app = TablesApp(source)
    async with app.run_test(size=(140, 40)) as pilot:
        for _ in range(50):
            await pilot.pause(0.05)
            rows = app.screen.query_one("#tb-rows", DataTable)
            if rows.row_count:
                break
        tables = app.screen.query_one("#tb-tables", DataTable)
        assert tables.row_count == 2
        assert rows.row_count == PAGE
        shown = _text(rows)
        assert "note [b]0[/b]" in shown  # literal, not markup
        assert "\x1b" not in shown
        assert MARKER not in shown
        await pilot.press("n")
        for _ in range(50):
            await pilot.pause(0.05)
            if rows.row_count == 50:
                break
        assert rows.row_count == 50
        # The secret table is refused, not read.
        app.screen.show_table("user_credentials")
        await pilot.pause(0.3)
        assert rows.row_count == 0 or MARKER not in _text(rows)
    source.close()


@pytest.mark.anyio
async def test_source_screen_opens_the_table_view_with_t(unknown_db: Path, make_app) -> None:
    app = make_app(str(unknown_db))
    async with app.run_test(size=(140, 40)) as pilot:
        for _ in range(60):
            await pilot.pause(0.05)
            if app.source_of(str(unknown_db)) and app.source_of(str(unknown_db)).error:
                break
        app.open_source(str(unknown_db))
        await pilot.pause(0.2)
        await pilot.press("t")
        await pilot.pause(0.3)
        assert isinstance(app.screen, TablesScreen)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, TablesScreen)


@pytest.mark.anyio
async def test_a_hostile_file_name_is_sanitised_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "x\x1b]52;c;QUJD\x07[@click=app.quit]y.db"
    sqlite3.connect(path).executescript("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);")
    source = Source(path)
    source.poll()
    app = TablesApp(source)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause(0.3)
        assert "\x1b" not in app.screen.sub_title and "\x07" not in app.screen.sub_title
        assert "[@click=app.quit]" in app.screen.sub_title  # shown literally
        assert app.is_running
    source.close()
