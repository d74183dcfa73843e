"""Snapshot tests of every screen and state, at a fixed size, with a fixed clock and no directory watch.

Update after an intended change with `pytest tests/test_snapshots.py --snapshot-update` and look at the
report (snapshot_report.html) before committing the new SVGs.
"""

from __future__ import annotations

from pathlib import Path

from conftest import wait_for, wait_ready
from factories import demo_dir, empty_file, hostile_dir, not_a_database

from batchtop.tui.widgets.keyed_table import KeyedTable

SIZE = (160, 45)


def open_row(name: str, *keys: str):
    """A `run_before` that waits for the first reads, then opens the row of the source called `name`."""

    async def run(pilot) -> None:
        await wait_ready(pilot)
        table = pilot.app.screen.query_one(KeyedTable)
        key = next(k for k in table.row_keys if Path(k.split("\x00")[0]).name == name)
        table.move_to_key(key)
        await pilot.press("enter", *keys)
        screen = pilot.app.screen
        # The sessions table is mounted once the profile is known, and filled right after.
        await wait_for(pilot, lambda: not screen.query("#sessions") or bool(screen.query_one("#sessions")._cells))
        await pilot.pause()

    return run


class TestOverview:
    def test_demo(self, in_tmp, make_app, snap_compare):
        """All five schemas: active, stalled, interrupted (crashed), failures, costs, sparklines."""
        demo_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=wait_ready)

    def test_sorted_by_state_problems_only(self, in_tmp, make_app, snap_compare):
        demo_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=wait_ready, press=["s", "e"])

    def test_filtered(self, in_tmp, make_app, snap_compare):
        demo_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=wait_ready,
                            press=["slash", *"chunk"])

    def test_grouped_chunks(self, in_tmp, make_app, snap_compare):
        """`g`: the llm chunk files as one combined row, opened (space) to list its files under it."""
        demo_dir(in_tmp)

        async def run(pilot) -> None:
            await wait_ready(pilot)
            await pilot.press("g")
            table = pilot.app.screen.query_one(KeyedTable)
            table.move_to_key(next(k for k in table.row_keys if k.startswith("\x01")))
            await pilot.press("space")
            await pilot.pause()

        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=run)

    def test_paused(self, in_tmp, make_app, snap_compare):
        demo_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=wait_ready, press=["p"])

    def test_empty(self, in_tmp, make_app, snap_compare):
        """No database: what is watched, and what to try."""
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=wait_ready)

    def test_errors(self, in_tmp, make_app, snap_compare):
        """Not a database, an empty file, a missing path: each says so in its row, with its path."""
        not_a_database(in_tmp / "notes.db")
        empty_file(in_tmp / "empty.db")
        app = make_app(".", str(in_tmp / "later.db"))
        assert snap_compare(app, terminal_size=SIZE, run_before=wait_ready)

    def test_hostile(self, in_tmp, make_app, snap_compare):
        """Markup, escapes, C1, bidi and invalid UTF-8 in names, values and error text, shown literally."""
        hostile_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=wait_ready)

    def test_help(self, in_tmp, make_app, snap_compare):
        demo_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=wait_ready, press=["question_mark"])


class TestSource:
    def test_topics(self, in_tmp, make_app, snap_compare):
        demo_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=open_row("completion_tracking.db"))

    def test_docstore_sessions(self, in_tmp, make_app, snap_compare):
        demo_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=(160, 60), run_before=open_row("documentation.db"))

    def test_crashed_jobs(self, in_tmp, make_app, snap_compare):
        demo_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=open_row("yt-builder.db"))

    def test_hostile(self, in_tmp, make_app, snap_compare):
        paths = hostile_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=open_row(paths["values"].name))

    def test_error(self, in_tmp, make_app, snap_compare):
        hostile_dir(in_tmp)
        assert snap_compare(make_app("."), terminal_size=SIZE, run_before=open_row("notdb [@click=app.quit]q[b].db"))
