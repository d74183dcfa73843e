"""Failures across chunk files in the TUI: one row per cause over every file of a set, opened in its
largest file, reset in every file with one preview (one journal entry per file, each undoable), exported
from every file to one file."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest
from factories import FAMILY_SIGNATURES, failures_db

from batchtop.core.chunks import GroupBy
from batchtop.core.journal import Journal
from batchtop.core.undo import undo
from batchtop.tui.dialogs.export_path import ExportPathDialog
from batchtop.tui.dialogs.set_preview import SetPreviewScreen
from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.screens.overview_groups import is_group_key
from batchtop.tui.screens.set_failures import SetFailuresScreen
from batchtop.tui.widgets.keyed_table import KeyedTable

pytestmark = pytest.mark.anyio
SIZE = (180, 50)
RATE = FAMILY_SIGNATURES["rate"]


def chunk_set(root: Path, rate: tuple[int, ...] = (4, 3, 1)) -> list[Path]:
    """Three chunk files: `rate` failures in each, `timeout` in the first and `missing` in the second."""
    extra = [{"timeout": 2}, {"missing": 5}, {}]
    return [failures_db(root / f"results_chunk_{i + 1}.db", {"rate": n, **extra[i]}) for i, n in enumerate(rate)]


def failed_rate(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM topic_completions WHERE status = 'failed' "
                            "AND error_message LIKE 'RateLimitError%'").fetchone()[0]


async def open_set(pilot, until) -> SetFailuresScreen:
    app = pilot.app
    table = app.screen.query_one(KeyedTable)
    (key,) = [k for k in table.row_keys if is_group_key(k)]
    table.move_to_key(key)
    await pilot.press("f")
    await until(pilot, lambda: isinstance(app.screen, SetFailuresScreen) and app.screen.report is not None
                and not app.screen._grouping)
    return app.screen


async def test_a_cause_over_many_files_is_one_row_and_opens_in_its_largest_file(in_tmp, make_app, ready, until):
    chunk_set(in_tmp)
    app = make_app(".")
    app.group_by = GroupBy("pattern")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = await open_set(pilot, until)
        table = screen.query_one("#sf-groups", KeyedTable)
        assert table.row_keys[0] == RATE  # the largest cause first
        cells = [getattr(c, "plain", "") for c in table._cells[RATE]]
        assert cells[0] == "8" and "53.3%" in cells[1] and cells[3] == "3"  # 8 of 15 failures, 3 files
        assert "results_chunk_1.db 4" in cells[6]
        detail = str(screen.query_one("#sf-detail").render())
        assert "results_chunk_1.db 4 · results_chunk_2.db 3 · results_chunk_3.db 1" in detail
        assert "15 failures · 3 causes · in 3 of 3 files" in str(screen.query_one("#sf-status").render())
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, FailuresScreen))
        assert app.screen.source.path.endswith("results_chunk_1.db") and app.screen.current_group == RATE


async def test_reset_of_a_cause_in_every_file_is_one_preview_and_one_journal_entry_per_file(
        in_tmp, make_app, ready, until, tmp_path_factory):
    paths = chunk_set(in_tmp)
    journal_path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    app = make_app(".", journal_path=journal_path)
    app.group_by = GroupBy("pattern")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_set(pilot, until)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, SetPreviewScreen) and app.screen.state == "ready")
        preview = app.screen
        assert preview.total == 8 and len(preview.plans) == 3 and not preview.problems
        files = str(preview.query_one("#sp-files").render())
        assert "results_chunk_1.db" in files and "results_chunk_3.db" in files
        assert [failed_rate(p) for p in paths] == [4, 3, 1]  # nothing written before the confirmation
        await pilot.press("y")
        await until(pilot, lambda: preview.state == "done")
        assert sum(o.count for o in preview.outcomes) == 8
        assert "8 of 8 rows written in 3 file(s)" in preview.status_text
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SetFailuresScreen))
        await until(pilot, lambda: RATE not in app.screen.query_one("#sf-groups", KeyedTable).row_keys)
    assert [failed_rate(p) for p in paths] == [0, 0, 0]
    entries = Journal(journal_path).entries()
    assert sorted(Path(e.db).name for e in entries) == [p.name for p in paths]
    # Undo one file: only that file's rows come back.
    one = next(e for e in entries if Path(e.db).name == "results_chunk_2.db")
    undo(Journal(journal_path), one.id)
    assert [failed_rate(p) for p in paths] == [0, 3, 0]


async def test_a_large_reset_over_files_needs_the_total_typed(in_tmp, make_app, ready, until):
    paths = chunk_set(in_tmp, rate=(60, 50, 10))
    app = make_app(".")
    app.group_by = GroupBy("pattern")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_set(pilot, until)
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, SetPreviewScreen) and app.screen.state == "ready")
        preview = app.screen
        assert preview.total == 120 and not preview.can_confirm
        await pilot.press("y")  # not yet: the total must be typed
        assert preview.state == "ready" and [failed_rate(p) for p in paths] == [60, 50, 10]
        await pilot.press(*"120")
        await pilot.press("enter")
        await until(pilot, lambda: preview.state == "done")
    assert [failed_rate(p) for p in paths] == [0, 0, 0]


async def test_export_of_a_cause_from_every_file_to_one_file(in_tmp, make_app, ready, until):
    chunk_set(in_tmp)
    app = make_app(".")
    app.group_by = GroupBy("pattern")
    out = in_tmp / "out" / "rate.csv"
    out.parent.mkdir()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_set(pilot, until)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExportPathDialog))
        app.screen.query_one("#export-path").value = str(out)
        await pilot.press("enter")
        await until(pilot, lambda: out.exists() and any("Exported" in str(n.message) for n in app._notifications))
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {r["signature"] for r in rows} == {RATE}
    assert sorted({Path(r["source"]).name for r in rows}) == ["results_chunk_1.db", "results_chunk_2.db",
                                                               "results_chunk_3.db"]


async def test_every_source_at_once_and_read_only_refuses(in_tmp, make_app, ready, until):
    paths = chunk_set(in_tmp)
    app = make_app(".", read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("F")  # not grouped: every source shown
        await until(pilot, lambda: isinstance(app.screen, SetFailuresScreen) and app.screen.report is not None
                    and not app.screen._grouping)
        assert app.screen.report.failed == 15 and len(app.screen.paths) == 3
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, SetFailuresScreen)  # refused: no preview
        assert any("read-only" in str(n.message) for n in app._notifications)
    assert [failed_rate(p) for p in paths] == [4, 3, 1]


@pytest.mark.slow
async def test_a_new_cause_in_several_chunk_files_is_exactly_one_alert(in_tmp, until, tmp_path_factory):
    """Default alert kinds: known causes failing again say nothing; a new one in two files at once, then
    in a third, is told once."""
    from factories import add_failures, fixed_clock

    from batchtop.core.monitor import Monitor
    from batchtop.tui.alerting import AlertSettings
    from batchtop.tui.factory import create_app

    paths = chunk_set(in_tmp)
    clock = fixed_clock()
    app = create_app(Monitor(["."], clock=clock), clock=clock, watch=False, poll_interval=0.1,
                     journal_path=tmp_path_factory.mktemp("j") / "j.jsonl", alerts=AlertSettings.parse())
    written: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        app.alerts.notifier.write = written.append
        await until(pilot, lambda: app.polled_all)
        await pilot.pause(0.8)  # the signatures of every file are grouped: the baseline
        for p in paths:  # known causes fail again in every file: no alert by default
            with sqlite3.connect(p) as conn:
                add_failures(conn, {"rate": 2, "timeout": 1})
        await pilot.pause(0.8)
        for p in paths[:2]:  # a new cause, in two files
            with sqlite3.connect(p) as conn:
                add_failures(conn, {"json": 3})
        await until(pilot, lambda: any(e.kind == "new-signature" for e in app.alerts.events))
        with sqlite3.connect(paths[2]) as conn:  # ... and then in the third
            add_failures(conn, {"json": 1})
        await pilot.pause(1.0)
        told = [e for e in app.alerts.events if e.notified]
        assert [e.kind for e in told] == ["new-signature"], told
        assert FAMILY_SIGNATURES["json"] in told[0].message
        assert written.count("\a") == 1
