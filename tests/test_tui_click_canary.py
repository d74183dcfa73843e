"""A click on every rendered payload runs nothing (issue 11: "a canary action and a canary directory").

A hostile database carries click markup (`[@click=app.canary(...)]`, with a leading space too, which
`escape()` let through), a `screenshot` action aimed at a canary directory, Rich `[link=...]` markup and
OSC 8 hyperlinks in its file name, labels, error texts, column names, cell values and a table name; a
journaled reset quotes one of the errors. The app registers a canary action, proves it would fire (a
markup Static we mount ourselves, clicked the same way), then visits the overview, source, failures
(groups and items), item, tables and journal screens, and on each one clicks at every place a payload
renders (found on the rendered screen by its visible `CANARY` marker). The canary never runs, the
canary directory stays empty, no rendered segment carries an action or a link, and the app keeps
running.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from factories import FIXED_NOW, pin_mtimes
from rich.cells import cell_len
from textual.geometry import Region
from textual.widgets import DataTable, Static

from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.screens.item import ItemScreen
from batchtop.tui.screens.journal import JournalScreen
from batchtop.tui.screens.overview import OverviewScreen
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.screens.tables import TablesScreen

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # ~15 s: about a hundred clicks, each given time to act
SIZE = (160, 45)
#: Clicks per screen at most (each payload is usually visible a handful of times).
MAX_CLICKS = 40


def payloads(where: str, canary_dir: Path) -> str:
    """Every way text could become clickable, each with a visible `CANARY` marker to click on."""
    return (f"[@click=app.canary('{where}')]CANARY-{where}[/] "
            f"[ @click=app.canary('{where}-sp')]CANARY-sp[/] "
            f"[@click=app.screenshot('canary.svg','{canary_dir}')]CANARY-shot[/] "
            f"[link=https://canary.example/{where}]CANARY-link[/link] "
            f"\x1b]8;;https://canary.example/osc8\x1b\\CANARY-osc8\x1b]8;;\x1b\\")


def build(directory: Path, canary_dir: Path) -> tuple[Path, str, str, str]:
    """The hostile database; (path, hostile column, hostile table, the error a journaled reset quotes)."""
    path = directory / "[@click=app.canary('file')]CANARY-file.db"
    column = "[@click=app.canary('column')]CANARY-col"
    table = "[@click=app.canary('table')]CANARY-tbl [link=https://canary.example]x[/link]"
    err_a, err_b = payloads("errorA", canary_dir), payloads("errorB", canary_dir)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE topic_completions (id INTEGER PRIMARY KEY, topic_path TEXT, status TEXT, "
                 "started_at DATETIME, completed_at DATETIME, error_message TEXT, "
                 f'"{column}" TEXT)')
    from datetime import datetime, timezone

    def utc(t: float) -> str:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    rows = []
    for i in range(6):
        t = FIXED_NOW - 600 + i * 30
        rows.append((payloads(f"label{i}", canary_dir), "failed", utc(t - 20), utc(t), err_a if i < 2 else err_b,
                     payloads(f"cell{i}", canary_dir)))
        rows.append((f"topic {i}", "completed", utc(t - 20), utc(t), None, payloads("cellok", canary_dir)))
    rows.append((payloads("pending", canary_dir), "pending", None, None, None, None))
    conn.executemany(f'INSERT INTO topic_completions (topic_path, status, started_at, completed_at, error_message, '
                     f'"{column}") VALUES (?, ?, ?, ?, ?, ?)', rows)
    conn.execute(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, "{column}" TEXT, "{payloads("hdr", canary_dir)}" TEXT)')
    conn.execute(f'INSERT INTO "{table}" VALUES (1, ?, ?)', (payloads("tcell", canary_dir), err_a))
    conn.commit()
    conn.close()
    pin_mtimes([path], FIXED_NOW - 4)
    return path, column, table, err_a


def journal_reset(db: Path, error: str, journal_path: Path) -> None:
    """Reset the group of `error`: the journal's target then quotes the hostile signature."""
    from batchtop.core.actions import Target, apply, plan
    from batchtop.core.journal import Journal
    from batchtop.core.signature import signature
    from batchtop.core.source import Source

    source = Source(db)
    assert source.poll(force=True).error is None
    outcome = apply(plan(source, "topics", None, Target.group(signature(error)), now=FIXED_NOW),
                    journal=Journal(journal_path), source=source)
    assert outcome.count == 2
    source.close()
    pin_mtimes([db], FIXED_NOW - 4)


def marker_cells(app, marker: str = "CANARY") -> list[tuple[int, int]]:
    """Screen cells (x, y) where `marker` starts, from what the screen renders."""
    found = []
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        x = 0
        for segment in strip:
            text = segment.text
            start = text.find(marker)
            while start != -1:
                found.append((x + cell_len(text[:start]) + 1, y))
                start = text.find(marker, start + 1)
            x += cell_len(text)
    return found


def active_segments(screen) -> list[object]:
    """Rendered segments that would run an action or open a link when clicked."""
    found = []
    for widget in screen.walk_children():
        if not widget.display or not widget.size.area:
            continue
        for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height)):
            for segment in strip:
                style = segment.style
                if style is None:
                    continue
                if any(str(k).startswith("@") for k in (style.meta or {})) or style.link:
                    found.append((type(widget).__name__, segment.text, style.meta, style.link))
    return found


async def click_payloads(pilot, screen_type: type, hits: list, canary_dir: Path, least: int = 1) -> int:
    """Click every payload on the current screen; come back when a click opened another screen."""
    app = pilot.app
    home = app.screen
    assert isinstance(home, screen_type), app.screen
    assert active_segments(home) == []
    cells = marker_cells(app)[:MAX_CLICKS]
    assert len(cells) >= least, f"no payload rendered on {screen_type.__name__}"
    for x, y in cells:
        await pilot.click(None, offset=(x, y))
        await pilot.pause(0.05)
        while app.screen is not home and len(app.screen_stack) > 1:
            app.pop_screen()  # a click on a row opened it (the normal behaviour): back to the tour
            await pilot.pause(0.05)
        assert app.is_running, f"a click at {(x, y)} on {screen_type.__name__} stopped the app"
        assert hits == [], f"a click at {(x, y)} on {screen_type.__name__} ran the canary: {hits}"
        assert list(canary_dir.iterdir()) == [], f"a click at {(x, y)} wrote into the canary directory"
    return len(cells)


async def settle(pilot, until, condition) -> None:
    await until(pilot, condition)
    await pilot.pause(0.2)


async def test_a_click_on_every_rendered_payload_runs_nothing(in_tmp, make_app, ready, until, tmp_path_factory):
    canary_dir = tmp_path_factory.mktemp("canary")
    db, column, table, err_a = build(in_tmp, canary_dir)
    journal = tmp_path_factory.mktemp("journal") / "journal.jsonl"
    journal_reset(db, err_a, journal)
    app = make_app(".", journal_path=journal)
    hits: list[tuple] = []
    app.action_canary = lambda *args: hits.append(args)
    path = str(db.resolve())
    clicks = {}
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # Positive controls: the canary runs as an action, and a click on rendered markup does reach it.
        await app.run_action("app.canary('probe')")
        assert hits == [("probe",)]
        control = Static("[@click=app.canary('control')]CONTROL[/]", markup=True)
        await app.screen.mount(control)
        await pilot.pause(0.1)
        (x, y), = marker_cells(app, "CONTROL")
        await pilot.click(None, offset=(x, y))
        await pilot.pause(0.05)
        assert hits == [("probe",), ("control",)], "the click method cannot trigger a markup action"
        await control.remove()
        hits.clear()

        clicks["overview"] = await click_payloads(pilot, OverviewScreen, hits, canary_dir)

        app.open_source(path)
        await settle(pilot, until, lambda: isinstance(app.screen, SourceScreen))
        clicks["source"] = await click_payloads(pilot, SourceScreen, hits, canary_dir)

        await pilot.press("f")
        await settle(pilot, until, lambda: isinstance(app.screen, FailuresScreen)
                     and app.screen.query_one("#fx-items", DataTable).row_count > 0)
        clicks["failures"] = await click_payloads(pilot, FailuresScreen, hits, canary_dir)

        key = app.screen.query_one("#fx-items").cursor_item
        app.open_item(path, "topics", key)
        await settle(pilot, until, lambda: isinstance(app.screen, ItemScreen) and app.screen.detail is not None)
        clicks["item"] = await click_payloads(pilot, ItemScreen, hits, canary_dir)

        app.open_tables(path)
        await settle(pilot, until, lambda: isinstance(app.screen, TablesScreen) and app.screen.page is not None)
        tables = app.screen
        clicks["tables list"] = await click_payloads(pilot, TablesScreen, hits, canary_dir)
        tables.show_table(table)
        await settle(pilot, until, lambda: tables.page is not None and tables.page.table == table)
        clicks["hostile table"] = await click_payloads(pilot, TablesScreen, hits, canary_dir, least=3)

        app.open_journal(path)
        await settle(pilot, until, lambda: isinstance(app.screen, JournalScreen) and app.screen.query("#jr-table")
                     and app.screen.query_one("#jr-table", DataTable).row_count > 0)
        await pilot.press("enter")
        await pilot.pause(0.3)
        clicks["journal"] = await click_payloads(pilot, JournalScreen, hits, canary_dir)
        assert app.is_running
    assert hits == [] and list(canary_dir.iterdir()) == []
    print(f"clicks per screen: {clicks}")
