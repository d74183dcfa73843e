"""Shared fixtures. TUI helpers: build a deterministic app (fixed clock, no watch, no wall-time costs, no
cursor blink) and wait until every source has been read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from factories import FIXED_NOW, fixed_clock


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`pytest.mark.anyio`) run on asyncio, like Textual."""
    return "asyncio"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in `tmp_path`: the app shows paths relative to the working directory, so output is stable."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def make_app(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., object]:
    """`make_app(*args, now=..., poll_interval=..., watch=False, clock=None, read_only=False,
    journal_path=None)` -> a BatchtopApp.

    Defaults suit snapshots: a fixed clock, no directory watch, a long poll interval (one read per
    source), measured poll costs hidden and no cursor blink. The action journal is a file in a temporary
    directory of its own (never the user's, never inside a watched directory).
    """
    from batchtop.core.monitor import Monitor
    from batchtop.tui.app import BatchtopApp
    from batchtop.tui.factory import create_app

    def build(*args: str, now: float = FIXED_NOW, poll_interval: float = 60.0, watch: bool = False,
              clock: Callable[[], float] | None = None, read_only: bool = False,
              journal_path: Path | None = None) -> BatchtopApp:
        clock = clock or fixed_clock(now)
        journal = journal_path or tmp_path_factory.mktemp("journal") / "journal.jsonl"
        return create_app(Monitor(list(args) or ["."], clock=clock), clock=clock, watch=watch,
                          poll_interval=poll_interval, read_only=read_only, journal_path=journal,
                          show_timings=False, cursor_blink=False)

    return build


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until `condition()` holds (polls run in threads), then let it render."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)
    await pilot.pause()


async def wait_ready(pilot) -> None:
    """Wait until the first scan is done and every source has been polled once, and the screen shows it."""
    app = pilot.app
    await wait_for(pilot, lambda: app.polled_all)
    await wait_for(pilot, lambda: not app._dirty and not app._flush_pending)


@pytest.fixture
def ready() -> Callable:
    """The `wait_ready(pilot)` coroutine function (usable as snap_compare's `run_before`)."""
    return wait_ready


@pytest.fixture
def until() -> Callable:
    """The `wait_for(pilot, condition, timeout)` coroutine function."""
    return wait_for


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the test (screens show local times; snapshots must not depend on the zone)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
