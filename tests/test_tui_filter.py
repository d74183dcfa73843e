"""The failures screen's `/` speaks the filter language: fields, AND/OR/NOT, a bad filter explained where
it is wrong, and `X` (reset everything listed) targets exactly what the filter lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import FAMILY_SIGNATURES, failures_db
from test_tui_failures import SIZE, ScreenApp, screen_text, settle, source_of, sync
from textual.widgets import Input

from batchtop.core.actions import plan
from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.widgets.paged_table import PagedTable

pytestmark = pytest.mark.usefixtures("utc")


async def type_filter(pilot, screen: FailuresScreen, text: str) -> PagedTable:
    await pilot.press("slash")
    screen.query_one("#fx-search", Input).value = text
    await pilot.press("enter")
    await settle(pilot)
    return screen.query_one("#fx-items", PagedTable)


@pytest.mark.slow
@sync
async def test_filter_fields_and_bad_filters_on_the_failures_screen(tmp_path: Path) -> None:
    db = failures_db(tmp_path / "f.db", {"rate": 20, "timeout": 7, "missing": 5}, mode="delete")
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FailuresScreen)
        items = await type_filter(pilot, screen, "timed out")  # a plain word: the old search
        assert len(items.items) == 7
        items = await type_filter(pilot, screen, "timeout OR label:missing")
        assert len(items.items) == 12
        items = await type_filter(pilot, screen, f'NOT sig:"{FAMILY_SIGNATURES["rate"]}" key<=12')
        assert sorted(items.items) == [2, 3, 5, 6, 8, 9, 11, 12]
        # `X` would reset exactly what is listed: the plan counts the same rows.
        listed = screen.listed_target()
        assert listed.kind == "where"
        assert plan(source, "topics", "reset", listed).count == len(items.items)
        await type_filter(pilot, screen, "state:failed (timeout")
        text = screen_text(app)
        assert "bad filter at 14: this ( is never closed" in text
    source.close()


@sync
async def test_export_key_writes_what_is_listed_and_says_where(tmp_path: Path, monkeypatch) -> None:
    import csv

    monkeypatch.chdir(tmp_path)
    db = failures_db(tmp_path / "f.db", {"rate": 6, "timeout": 3}, mode="delete")
    source = source_of(db)
    app = ScreenApp(lambda: FailuresScreen(source, "topics"))
    said: list[str] = []
    app.notify = lambda message, **kw: said.append(message)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await type_filter(pilot, screen, "timeout")
        await pilot.press("e")
        await pilot.pause()
        box = app.screen.query_one("#export-path", Input)
        assert box.value.startswith(str(tmp_path / "batchtop-f-topics-")) and box.value.endswith(".csv")
        box.value = str(tmp_path / "timeouts.csv")
        await pilot.press("enter")
        await settle(pilot)
        assert said == [f"Exported 3 rows to {tmp_path / 'timeouts.csv'}"]
        table = list(csv.DictReader((tmp_path / "timeouts.csv").open()))
        assert [r["signature"] for r in table] == [FAMILY_SIGNATURES["timeout"]] * 3
        await pilot.press("e")  # the same name again: never overwritten
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "timeouts.csv")
        await pilot.press("enter")
        await settle(pilot)
        assert "exists (never overwritten)" in said[-1]
    source.close()
