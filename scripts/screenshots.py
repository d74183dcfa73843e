"""Regenerate screenshots/*.svg: every screen of the app on the simulator's demo data, frozen in time.

    .venv/bin/python scripts/screenshots.py [OUTPUT_DIR]

The data comes from the same factories the tests use (tests/factories.py): the `batchtop demo` jobs built
with a fixed clock and seed, so the pictures change only when the app does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from action_history import topics_history  # noqa: E402
from factories import FIXED_NOW, demo_dir, failures_db, fixed_clock, hostile_dir, pin_mtimes  # noqa: E402

from batchtop.core.monitor import Monitor  # noqa: E402
from batchtop.tui.app import BatchtopApp  # noqa: E402
from batchtop.tui.factory import create_app  # noqa: E402
from batchtop.tui.widgets.keyed_table import KeyedTable  # noqa: E402

SIZE = (160, 45)
Step = Callable[[object], Awaitable[None]]


#: The action journal of every screenshot (set in `main`: a temporary file, never the user's).
JOURNAL: Path | None = None


def make_app(*args: str) -> BatchtopApp:
    """The app as the snapshot tests build it: fixed clock, no watch, no wall-time costs, no blink."""
    clock = fixed_clock(FIXED_NOW)
    return create_app(Monitor(list(args), clock=clock), clock=clock, watch=False, poll_interval=60.0,
                      journal_path=JOURNAL, show_timings=False, cursor_blink=False)


async def ready(pilot) -> None:
    app = pilot.app
    for _ in range(500):
        if app.polled_all and not app._flush_pending:
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


def open_row(name: str, *keys: str) -> Step:
    async def step(pilot) -> None:
        table = pilot.app.screen.query_one(KeyedTable)
        table.move_to_key(next(k for k in table.row_keys if Path(k.split("\x00")[0]).name == name))
        await pilot.press("enter", *keys)
        await pilot.pause(0.3)

    return step


def press(*keys: str) -> Step:
    async def step(pilot) -> None:
        await pilot.press(*keys)
        await pilot.pause(0.2)

    return step


def preview_marked(name: str, track: str, marks: int) -> Step:
    """The failures of `track` in `name`, `marks` items marked, `x`: the preview modal."""

    async def step(pilot) -> None:
        from batchtop.tui.dialogs.preview import PreviewScreen
        from batchtop.tui.widgets.paged_table import PagedTable

        app = pilot.app
        app.open_failures(str(Path(name).resolve()), track)
        await pilot.pause(0.5)
        app.screen.query_one("#fx-items", PagedTable).focus()
        await pilot.pause(0.1)
        for i in range(marks):
            await pilot.press("space", *(["down"] if i < marks - 1 else []))
        await pilot.press("x")
        for _ in range(200):
            if isinstance(app.screen, PreviewScreen) and app.screen.state != "planning":
                break
            await pilot.pause(0.02)

    return step


def failures(name: str, *keys: str) -> Step:
    """The failures screen of the row `name` (`f` on the overview), then `keys`."""

    async def step(pilot) -> None:
        table = pilot.app.screen.query_one(KeyedTable)
        table.move_to_key(next(k for k in table.row_keys if Path(k.split("\x00")[0]).name == name))
        await pilot.press("f")
        await pilot.pause(0.8)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.5)

    return step


def chunk_files(root: Path) -> None:
    """Six chunk files of one run, five causes spread unevenly over them."""
    root.mkdir()
    mixes = [{"rate": 40, "timeout": 12}, {"rate": 31, "missing": 20}, {"rate": 25, "json": 6},
             {"timeout": 18, "exit": 3}, {"rate": 12, "missing": 9}, {"timeout": 7}]
    paths = [failures_db(root / f"results_chunk_{i:02d}.db", mix, done=40 + 7 * i,
                         now=FIXED_NOW - (len(mixes) - i) * 1800) for i, mix in enumerate(mixes)]
    # The run is still writing at the frozen clock: file times at the real clock lie ahead of it.
    pin_mtimes(paths, FIXED_NOW)


def set_failures(*keys: str) -> Step:
    """Group the files by name pattern, open the set's failures across files, then press `keys`."""
    async def step(pilot) -> None:
        from batchtop.tui.screens.overview_groups import is_group_key
        from batchtop.tui.screens.set_failures import SetFailuresScreen

        await pilot.press("g")
        await pilot.pause(0.2)
        table = pilot.app.screen.query_one(KeyedTable)
        table.move_to_key(next(k for k in table.row_keys if is_group_key(k)))
        await pilot.press("f")
        for _ in range(500):
            screen = pilot.app.screen
            if isinstance(screen, SetFailuresScreen) and screen.report is not None and not screen._grouping:
                break
            await pilot.pause(0.02)
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.5)
    return step


def unknown_database(path: Path) -> None:
    """A database no profile describes (for the read-only table view)."""
    import sqlite3

    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, created TEXT, api_key TEXT);
        CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT);
    """)
    conn.executemany("INSERT INTO notes (title, body, created, api_key) VALUES (?, ?, ?, ?)",
                     [(f"note {i}", "lorem ipsum dolor sit amet " * (1 + i % 7), f"2026-11-{1 + i % 20:02d} 10:00:00",
                       "sk-not-shown") for i in range(60)])
    conn.executemany("INSERT INTO tags (name) VALUES (?)", [(t,) for t in ("inbox", "work", "later")])
    conn.commit()
    conn.close()


def journal_cohort() -> Step:
    """`J`, then Enter on the newest action: what became of its rows."""

    async def step(pilot) -> None:
        await pilot.press("J")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.5)

    return step


async def shoot(out: Path, name: str, args: list[str], step: Step | None, size: tuple[int, int] = SIZE) -> None:
    app = make_app(*args)
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        if step is not None:
            await step(pilot)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.3)  # the footer recomposes after focus changes
        app.save_screenshot(filename=f"{name}.svg", path=str(out))
    print(f"screenshots/{name}.svg", file=sys.stderr)


async def main(out: Path) -> None:
    global JOURNAL
    out.mkdir(parents=True, exist_ok=True)
    os.environ["TZ"] = "UTC"  # journal times are shown in local time
    time.tzset()
    with tempfile.TemporaryDirectory(prefix="batchtop-shots-") as tmp:
        demo, hostile = Path(tmp, "demo"), Path(tmp, "hostile")
        demo_dir(demo)
        hostile_dir(hostile)
        os.chdir(demo)  # paths are shown relative to the working directory
        JOURNAL = Path(tmp, "state", "journal.jsonl")
        os.environ["HOME"] = str(JOURNAL.parent)  # the journal shows as ~/journal.jsonl
        await shoot(out, "overview", ["."], None)
        await shoot(out, "overview-problems", ["."], press("s", "e"))
        await shoot(out, "source-topics", ["."], open_row("completion_tracking.db"))
        await shoot(out, "source-docstore", ["."], open_row("documentation.db"), size=(160, 56))
        await shoot(out, "source-crashed", ["."], open_row("yt-builder.db"))
        await shoot(out, "help", ["."], press("question_mark"))
        await shoot(out, "failures-groups", ["."], failures("completion_tracking.db"))
        await shoot(out, "failures-group-items", ["."], failures("completion_tracking.db", "enter"))
        await shoot(out, "item", ["."], failures("completion_tracking.db", "enter", "enter"))
        await shoot(out, "preview-reset", ["."], preview_marked("completion_tracking.db", "topics", 3))
        # Actions with a history: two resets, an undo, and the job working on the group reset since.
        JOURNAL.parent.mkdir()
        topics_history(demo / "completion_tracking.db", JOURNAL)
        await shoot(out, "journal-cohort", ["."], journal_cohort())
        await shoot(out, "source-cohorts", ["."], open_row("completion_tracking.db"))
        chunks = Path(tmp, "run")
        chunk_files(chunks)
        os.chdir(chunks)
        await shoot(out, "failures-across-files", ["."], set_failures())
        await shoot(out, "preview-across-files", ["."], set_failures("x"))
        unknown = Path(tmp, "unknown")
        unknown.mkdir()
        unknown_database(unknown / "notes.db")
        os.chdir(unknown)
        await shoot(out, "tables", ["."], open_row("notes.db", "t"))
        os.chdir(hostile)
        await shoot(out, "errors-and-hostile", ["."], None)
        empty = Path(tmp, "empty")
        empty.mkdir()
        os.chdir(empty)
        await shoot(out, "empty", ["."], None)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screenshots"))
