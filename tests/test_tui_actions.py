"""Reset and retry by keypress (issue 4), driven through the real app on real databases.

Each test checks the database with sqlite3 after the keys: what the preview promised is what was
written, rows the job moved meanwhile are left alone, read-only mode changes no byte, and a job holding
the write lock gives "busy, not applied" quickly while the UI keeps running.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from actions_support import dir_state, make_smarthistory, rows, spawn
from conftest import wait_for, wait_ready
from factories import FIXED_NOW, docstore_pending_db, failures_db, fixed_clock
from textual.notifications import Notify
from textual.pilot import Pilot

from batchtop.core.monitor import Monitor
from batchtop.tui.app import BatchtopApp
from batchtop.tui.dialogs.preview import PreviewScreen
from batchtop.tui.dialogs.undo import UndoScreen
from batchtop.tui.factory import create_app
from batchtop.tui.screens.failures import FailuresScreen
from batchtop.tui.screens.journal import JournalScreen
from batchtop.tui.screens.source import SourceScreen
from batchtop.tui.widgets.cohort_panel import CohortPanel
from batchtop.tui.widgets.keyed_table import KeyedTable
from batchtop.tui.widgets.paged_table import PagedTable

SIZE = (150, 45)
READ_ONLY = "read-only mode: actions are disabled"


# Times are shown in local time: pin it.
pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("utc")]


class Said:
    """Records every toast (run_test does not show them, but the messages still go through)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, message: object) -> None:
        if isinstance(message, Notify):
            self.messages.append(message.notification.message)

    def count(self, text: str) -> int:
        return sum(text in m for m in self.messages)


def build(directory: Path, journal: Path, *, read_only: bool = False) -> BatchtopApp:
    """The app as the CLI builds it, deterministic: fixed clock, no watch, one poll per minute."""
    clock = fixed_clock()
    return create_app(Monitor([str(directory)], clock=clock), clock=clock, watch=False, poll_interval=60.0,
                      read_only=read_only, journal_path=journal, show_timings=False, cursor_blink=False)


async def settle(pilot: Pilot, timeout: float = 10.0) -> None:
    """Let reads in flight finish (polls, grouping, pages, cohorts) and the screen catch up."""
    deadline = time.monotonic() + timeout
    await pilot.pause()
    while pilot.app.reading and time.monotonic() < deadline:
        await pilot.pause(0.02)
    await pilot.pause()


async def open_failures(pilot: Pilot, db: Path, track: str = "topics") -> FailuresScreen:
    app = pilot.app
    app.open_failures(str(db.resolve()), track)
    await wait_for(pilot, lambda: isinstance(app.screen, FailuresScreen))
    await settle(pilot)
    return app.screen


async def open_source(pilot: Pilot, name: str) -> SourceScreen:
    app = pilot.app
    table = app.screen.query_one(KeyedTable)
    table.move_to_key(next(k for k in table.row_keys if Path(k.split("\x00")[0]).name == name))
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, SourceScreen))
    await settle(pilot)
    return app.screen


async def preview_ready(pilot: Pilot) -> PreviewScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.state != "planning")
    screen = app.screen
    assert screen.state == "ready", screen.status_text
    return screen


async def mark(pilot: Pilot, screen: FailuresScreen, n: int) -> list[object]:
    """Focus the item list and mark its first `n` items with space."""
    items = screen.query_one("#fx-items", PagedTable)
    items.focus()
    await pilot.pause()
    keys = items.items[:n]
    for i in range(n):
        await pilot.press("space", *(["down"] if i < n - 1 else []))
    return keys


def text_of(widget: object, width: int = 140) -> str:
    """What a Static shows, as plain text (its content rendered by Rich, wrapped at `width`)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(widget.content)  # type: ignore[attr-defined]
    return console.export_text()


def statuses(db: Path, keys: list[object]) -> list[str]:
    marks = ",".join("?" * len(keys))
    return [r[0] for r in rows(db, f"SELECT status FROM topic_completions WHERE id IN ({marks}) ORDER BY id",
                               tuple(keys))]


def journal_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
async def test_mark_reset_cohort_undo_and_nothing_left_to_undo(tmp_path: Path) -> None:
    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 6, "timeout": 4}, mode="delete")
    journal = tmp_path / "journal.jsonl"
    app, said = build(watched, journal), Said()
    async with app.run_test(size=SIZE, message_hook=said) as pilot:
        await wait_ready(pilot)
        await open_source(pilot, "f.db")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, FailuresScreen))
        await settle(pilot)
        failures = app.screen
        keys = await mark(pilot, failures, 3)
        assert failures.sub_title.endswith(" · 3 marked")
        assert "3 marked" in text_of(failures.query_one("#fx-status"))

        await pilot.press("x")
        preview = await preview_ready(pilot)
        assert preview.plan is not None and preview.plan.count == 3 and not preview.plan.needs_typed_confirmation
        shown = text_of(preview.query_one("#pv-plan"))
        assert preview.plan.predicate.startswith('"id" IN (') and "\"status\" IN ('failed')" in shown
        assert "3 match now" in shown and "Predicate (exactly as written" in shown
        assert statuses(db, keys) == ["failed"] * 3  # nothing written before the confirmation
        await pilot.press("enter")
        await wait_for(pilot, lambda: preview.state == "done")
        assert "reset 3 of 3" in preview.status_text and said.count("reset 3 of 3") == 1
        assert statuses(db, keys) == ["pending"] * 3
        await pilot.press("enter")  # close
        await wait_for(pilot, lambda: app.screen is failures)
        await settle(pilot)
        assert "marked" not in failures.sub_title and not failures.items_panel.marked  # spent

        await pilot.press("escape")  # back to the source screen: the cohort of the reset
        source = app.screen
        assert isinstance(source, SourceScreen)
        panel = source.query_one(CohortPanel)
        await wait_for(pilot, lambda: bool(panel.lines) and panel.lines[0].cohort is not None)
        entry_id = panel.lines[0].entry.id
        text = text_of(panel)
        assert f"after reset #{entry_id}: 3 pending" in text and panel.display

        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UndoScreen))
        undo = app.screen
        assert f"#{entry_id}" in text_of(undo.query_one("#ud-title"))
        assert statuses(db, keys) == ["pending"] * 3
        await pilot.press("enter")
        await wait_for(pilot, lambda: undo.state == "done")
        assert undo.status_text.endswith("restored 3")
        assert statuses(db, keys) == ["failed"] * 3
        errors = rows(db, "SELECT error_message FROM topic_completions WHERE id = ?", (keys[0],))
        assert errors[0][0] and errors[0][0].startswith(("RateLimitError", "APITimeoutError"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is source)
        await wait_for(pilot, lambda: "undone" in text_of(panel))

        before = dir_state(watched)
        await pilot.press("u")  # nothing left to undo: said, nothing opened, nothing written
        await wait_for(pilot, lambda: said.count("nothing to undo on f.db") == 1)
        assert app.screen is source and dir_state(watched) == before
    kinds = [(r["kind"], r["status"]) for r in journal_lines(journal)]
    assert kinds == [("action", "applied"), ("undo", "applied")]
    app.monitor.close()


@pytest.mark.slow
async def test_group_reset_needs_the_count_typed(tmp_path: Path) -> None:
    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "big.db", {"rate": 130, "timeout": 5}, mode="delete")
    app = build(watched, tmp_path / "journal.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        failures = await open_failures(pilot, db)
        await pilot.press("enter")  # the largest group: its items
        await settle(pilot)
        assert failures.current_group and failures.current_group.startswith("RateLimitError")
        await pilot.press("X")  # everything listed: the whole group
        preview = await preview_ready(pilot)
        assert preview.plan is not None and preview.plan.count == 130 and preview.plan.target.kind == "group"
        assert preview.plan.needs_typed_confirmation and not preview.can_confirm
        await pilot.press("enter")  # refused: nothing typed yet
        await pilot.press(*"129")
        assert not preview.can_confirm and preview.query_one("#pv-confirm").disabled
        await pilot.press("enter")  # the wrong count: still nothing
        await pilot.pause(0.2)
        assert preview.state == "ready"
        assert rows(db, "SELECT COUNT(*) FROM topic_completions WHERE status = 'pending'")[0][0] == 0
        await pilot.press("backspace", "backspace", "backspace", *"130")
        assert preview.can_confirm and not preview.query_one("#pv-confirm").disabled
        await pilot.press("enter")
        await wait_for(pilot, lambda: preview.state == "done")
        assert "reset 130 of 130" in preview.status_text
        counts = dict(rows(db, "SELECT substr(error_message, 1, 5), COUNT(*) FROM topic_completions "
                               "WHERE status = 'failed' GROUP BY 1"))
        assert counts == {"APITi": 5}
        await pilot.press("escape")
        await settle(pilot)
        await wait_for(pilot, lambda: failures.groups_panel.report is not None and failures.groups_panel.report.failed == 5)
    app.monitor.close()


@pytest.mark.slow
async def test_row_moved_by_the_job_between_preview_and_confirm_is_left_alone(tmp_path: Path) -> None:
    import sqlite3

    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 4, "timeout": 4}, mode="wal")
    app = build(watched, tmp_path / "journal.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        failures = await open_failures(pilot, db)
        keys = await mark(pilot, failures, 3)
        await pilot.press("x")
        preview = await preview_ready(pilot)
        assert preview.plan is not None and preview.plan.count == 3
        moved = keys[1]
        conn = sqlite3.connect(db, timeout=5)  # the job picks one item up, as the writer does
        conn.execute("UPDATE topic_completions SET status = 'pending', started_at = '2026-01-01 11:59:00', "
                     "completed_at = NULL, error_message = NULL WHERE id = ?", (moved,))
        conn.commit()
        conn.close()
        await pilot.press("y")
        await wait_for(pilot, lambda: preview.state == "done")
        assert "reset 2 of 3; 1 had changed (now running" in preview.status_text
    row = rows(db, "SELECT status, started_at, error_message FROM topic_completions WHERE id = ?", (moved,))
    assert row == [("pending", "2026-01-01 11:59:00", None)]  # untouched: still in flight
    assert statuses(db, [k for k in keys if k != moved]) == ["pending", "pending"]
    app.monitor.close()


@pytest.mark.slow
async def test_profiles_without_a_safe_action_say_why_and_write_nothing(tmp_path: Path) -> None:
    watched = tmp_path / "w"
    watched.mkdir()
    smart = make_smarthistory(watched / "smart.db")
    docs = docstore_pending_db(watched / "docs.db")
    journal = tmp_path / "journal.jsonl"
    before = dir_state(watched)
    app, said = build(watched, journal), Said()
    async with app.run_test(size=SIZE, message_hook=said) as pilot:
        await wait_ready(pilot)
        failures = await open_failures(pilot, smart, "sessions")
        await pilot.press("x")
        await pilot.press("tab", "x", "X")
        await pilot.pause()
        assert said.count("a session row records a past run; nothing re-reads it") == 3
        assert not failures.check_action("skip", ())  # no skip action: the key is hidden
        await pilot.press("escape")
        await open_failures(pilot, docs, "tables")
        await pilot.press("x")
        await pilot.pause()
        assert said.count("DocumentationStore never records failures") == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, FailuresScreen))
        await open_source(pilot, "docs.db")
        await pilot.press("R")
        await pilot.pause()
        assert said.count("DocumentationStore never records failures") == 2
        assert not any(isinstance(s, PreviewScreen) for s in app.screen_stack)
    app.monitor.close()
    assert dir_state(watched) == before and not journal.exists()


@pytest.mark.slow
async def test_read_only_every_action_key_on_every_screen_changes_no_byte(tmp_path: Path) -> None:
    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 6, "timeout": 4}, mode="wal")
    journal = tmp_path / "journal.jsonl"
    before = dir_state(watched)
    app, said = build(watched, journal, read_only=True), Said()
    async with app.run_test(size=SIZE, message_hook=said) as pilot:
        await wait_ready(pilot)
        presses = 0
        await pilot.press("u")  # overview
        presses += 1
        await pilot.press("J")  # the journal is only read (it does not exist: nothing is created)
        await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen))
        await pilot.press("u", "enter", "r", "escape")
        await open_source(pilot, "f.db")
        await pilot.press("R", "u", "J")
        presses += 2
        await wait_for(pilot, lambda: isinstance(app.screen, JournalScreen))
        await pilot.press("escape", "f")
        await wait_for(pilot, lambda: isinstance(app.screen, FailuresScreen))
        await settle(pilot)
        await pilot.press("x", "X", "k", "u")  # groups table
        presses += 4
        await pilot.press("enter")  # into a group
        await settle(pilot)
        await pilot.press("space", "x", "X", "k", "u")  # items, one marked
        presses += 4
        await pilot.press("slash", *"Rate", "enter")  # a search
        await settle(pilot)
        await pilot.press("x", "X", "k")
        presses += 3
        await pilot.pause()
        assert said.count(READ_ONLY) == presses
        assert not any(isinstance(s, PreviewScreen | UndoScreen) for s in app.screen_stack)
        # The second guard: a preview pushed anyway is refused by core before anything is opened.
        from batchtop.core.actions import Target
        from batchtop.core.journal import Journal

        forced = PreviewScreen(app.source_of(str(db.resolve())), "topics", None, Target.all_failed(),
                               journal=Journal(journal), now=FIXED_NOW, read_only=True)
        app.push_screen(forced)
        await wait_for(pilot, lambda: forced.state == "failed")
        assert READ_ONLY in forced.status_text
    app.monitor.close()
    assert dir_state(watched) == before and not journal.exists()
    assert db.exists()


@pytest.mark.slow
async def test_busy_job_gives_busy_not_applied_quickly_and_the_ui_keeps_running(tmp_path: Path) -> None:
    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 4, "timeout": 4}, mode="wal")
    journal = tmp_path / "journal.jsonl"
    app = build(watched, journal)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        failures = await open_failures(pilot, db)
        keys = await mark(pilot, failures, 2)
        await pilot.press("x")
        preview = await preview_ready(pilot)
        holder = subprocess.Popen(spawn("hold", str(db), "8", "immediate"), stdout=subprocess.PIPE, text=True)
        try:
            assert "locked" in await asyncio.to_thread(holder.stdout.readline)  # type: ignore[union-attr]
            started = time.monotonic()
            await pilot.press("enter")
            worst = 0.0
            while preview.state == "applying":
                tick = time.monotonic()
                await pilot.pause(0.05)
                worst = max(worst, time.monotonic() - tick)
                assert time.monotonic() - started < 3.0, "no answer within 3 s"
            took = time.monotonic() - started
            assert preview.status_text.startswith("✖ busy, not applied"), preview.status_text
            assert took < 3.0 and worst < 0.5, (took, worst)
            assert preview.state == "ready"  # the plan stands: Enter may try again later
            assert "Enter tries again" in preview.status_text
            assert statuses(db, keys) == ["failed", "failed"]
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is failures)
        finally:
            holder.terminate()
            holder.wait(5)
    assert not journal_lines(journal) and statuses(db, keys) == ["failed", "failed"]
    app.monitor.close()


async def test_requeue_stale_running_items_from_the_source_screen(tmp_path: Path) -> None:
    import sqlite3

    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 3}, mode="delete")
    conn = sqlite3.connect(db)
    conn.executemany("INSERT INTO topic_completions (id, topic_path, status, started_at) VALUES (?, ?, 'pending', ?)",
                     [(100, "Data/a.json", "2026-01-01 09:00:00"), (101, "Data/b.json", "2026-01-01 09:01:00")])
    conn.commit()
    conn.close()
    app = build(watched, tmp_path / "journal.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await open_source(pilot, "f.db")
        await pilot.press("R")
        preview = await preview_ready(pilot)
        assert preview.plan is not None and preview.plan.action.name == "requeue" and preview.plan.count == 2
        assert preview.plan.stale_cutoff is not None and preview.plan.stale_cutoff < FIXED_NOW
        await pilot.press("enter")
        await wait_for(pilot, lambda: preview.state == "done")
        assert "requeued 2 of 2" in preview.status_text
    assert rows(db, "SELECT started_at FROM topic_completions WHERE id >= 100") == [(None,), (None,)]
    app.monitor.close()


@pytest.mark.slow
async def test_preview_retries_while_the_job_locks_even_reads(tmp_path: Path) -> None:
    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 4}, mode="delete")  # rollback journal: EXCLUSIVE stops reads
    app = build(watched, tmp_path / "journal.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        failures = await open_failures(pilot, db)
        holder = subprocess.Popen(spawn("hold", str(db), "1.5", "exclusive"), stdout=subprocess.PIPE, text=True)
        try:
            assert "locked" in await asyncio.to_thread(holder.stdout.readline)  # type: ignore[union-attr]
            await pilot.press("X")
            await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen))
            preview = app.screen
            seen: set[str] = set()
            deadline = time.monotonic() + 6
            while preview.state == "planning" and time.monotonic() < deadline:
                seen.add(preview.status_text)
                await pilot.pause(0.02)
            assert any(s.startswith("locked by the job, retrying (attempt 2 of 5)") for s in seen), seen
            assert preview.state == "ready" and preview.plan is not None and preview.plan.count == 4
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is failures)
        finally:
            holder.wait(10)
    assert rows(db, "SELECT COUNT(*) FROM topic_completions WHERE status = 'failed'") == [(4,)]
    app.monitor.close()


async def test_escape_while_the_preview_waits_for_the_lock_closes_it_and_later_news_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan worker still reports after Escape: what it posts to the closed modal is dropped, no crash."""
    from batchtop.core.errors import Locked
    from batchtop.tui.dialogs import preview as preview_dialog

    closed, finished = threading.Event(), threading.Event()

    def locked_until_closed(*args: object, on_retry, **kwargs: object):
        try:
            on_retry(1, Locked("locked by the job, retrying"))
            closed.wait(10)
            on_retry(2, Locked("locked by the job, retrying"))  # to a modal that is gone
            raise Locked("locked by the job")
        finally:
            finished.set()

    monkeypatch.setattr(preview_dialog, "plan_retrying", locked_until_closed)
    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 4}, mode="delete")
    app = build(watched, tmp_path / "journal.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        failures = await open_failures(pilot, db)
        await pilot.press("X")
        await wait_for(pilot, lambda: isinstance(app.screen, PreviewScreen) and "attempt 2" in app.screen.status_text)
        preview = app.screen
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is failures and not preview.is_running)
        closed.set()
        await wait_for(pilot, finished.is_set)
        await pilot.pause(0.1)
        assert app.screen is failures and preview.state == "planning"
        assert preview.status_text == "locked by the job, retrying (attempt 2 of 5)"  # attempt 3 was dropped
    assert rows(db, "SELECT COUNT(*) FROM topic_completions WHERE status = 'failed'") == [(4,)]
    app.monitor.close()


async def test_an_undo_that_finds_the_database_busy_restores_nothing_and_enter_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchtop.core.actions import Target, apply, plan
    from batchtop.core.errors import Busy
    from batchtop.core.journal import Journal
    from batchtop.core.source import Source
    from batchtop.tui.dialogs import undo as undo_dialog

    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 3}, mode="delete")
    journal = tmp_path / "journal.jsonl"
    source = Source(str(db.resolve()))
    assert source.poll(force=True).error is None
    assert apply(plan(source, "topics", None, Target.all_failed()), journal=Journal(journal)).count == 3
    source.close()
    real, tries = undo_dialog.undo, []

    def busy_once(*args, **kwargs):  # the job holds the write lock the first time
        tries.append(1)
        if len(tries) == 1:
            raise Busy("busy, not applied: the job holds the write lock")
        return real(*args, **kwargs)

    monkeypatch.setattr(undo_dialog, "undo", busy_once)
    app = build(watched, journal)
    async with app.run_test(size=SIZE) as pilot:
        await wait_ready(pilot)
        await open_source(pilot, "f.db")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UndoScreen))
        dialog = app.screen
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.state != "running")
        assert dialog.state == "ready" and dialog.status_text.startswith("✖ busy, not applied")
        assert dialog.status_text.endswith("Nothing was restored.")
        assert rows(db, "SELECT COUNT(*) FROM topic_completions WHERE status = 'failed'") == [(0,)]
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.state == "done")
        assert dialog.status_text.endswith("restored 3")
    assert rows(db, "SELECT COUNT(*) FROM topic_completions WHERE status = 'failed'") == [(3,)]
    app.monitor.close()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")
def test_no_hostile_byte_reaches_the_terminal_through_the_action_flow(tmp_path: Path) -> None:
    """Under a real pty (run_test shows no toasts): preview of a hostile group, apply, toast, journal."""
    from factories import FORBIDDEN_BYTES, hostile_dir
    from test_pty_escapes import run_under_pty

    watched = tmp_path / "w"
    hostile_dir(watched)
    journal = tmp_path / "journal.jsonl"
    keys = [
        (4.0, b"\r"),   # the database with the hostile name and values
        (1.5, b"f"),    # its failures; the groups table has the cursor on a hostile signature
        (2.5, b"x"),    # preview the group
        (1.5, b"y"),    # apply: the result in the modal and in a toast
        (1.5, b"\r"),   # close
        (0.7, b"J"),    # the journal
        (1.0, b"\r"),   # the cohort of the action
        (1.0, b"\x1b"),
        (0.5, b"q"),
    ]
    out, code = run_under_pty([".", "--journal", str(journal)], keys, watched)
    assert code == 0, out[-2000:]
    assert b"Preview" in out and b"reset 1 of 1" in out and b"did the fix work?" in out
    for forbidden in FORBIDDEN_BYTES:
        assert forbidden not in out, f"{forbidden!r} reached the terminal"
    assert [r["kind"] for r in journal_lines(journal)] == ["action"]


@pytest.mark.slow
async def test_a_journal_that_is_a_watched_database_is_never_read_or_written(tmp_path: Path) -> None:
    watched = tmp_path / "w"
    watched.mkdir()
    db = failures_db(watched / "f.db", {"rate": 3}, mode="delete")
    before = dir_state(watched)
    app, said = build(watched, db), Said()  # --journal pointing at the database itself
    async with app.run_test(size=SIZE, message_hook=said) as pilot:
        await wait_ready(pilot)
        source = await open_source(pilot, "f.db")
        panel = source.query_one(CohortPanel)
        await wait_for(pilot, lambda: panel.display)
        assert "must be kept outside the database" in text_of(panel)
        await pilot.press("u")
        await wait_for(pilot, lambda: said.count("must be kept outside the database") == 1)
        failures = await open_failures(pilot, db)
        await pilot.press("x")
        preview = await preview_ready(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: preview.state == "failed")
        assert "must be kept outside the database" in preview.status_text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is failures)
    app.monitor.close()
    assert dir_state(watched) == before
