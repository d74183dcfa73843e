"""The one place a `BatchtopApp` is built: the CLI (`open`, and through it `serve`), `demo`, the tests'
`make_app`, the screenshot script and the benchmarks all call `create_app`, so a new option or a new
source of nondeterminism is wired once. `run_app` runs what `create_app` built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchtop.core.chunks import GroupBy
from batchtop.core.monitor import Monitor
from batchtop.core.timeutil import Clock, system_clock
from batchtop.tui.alerting import AlertSettings
from batchtop.tui.app import BatchtopApp


def create_app(
    monitor: Monitor,
    *,
    clock: Clock = system_clock,
    watch: bool = True,
    poll_interval: float = 1.0,
    read_only: bool = False,
    journal_path: Path | None = None,
    alerts: AlertSettings | None = None,
    group_by: GroupBy | None = None,
    show_timings: bool = True,
    cursor_blink: bool = True,
) -> BatchtopApp:
    """The app on `monitor`'s sources.

    Args:
        monitor: the sources to watch.
        clock: the app's clock (tests and screenshots fix it).
        watch: whether to watch directories for changes (off in tests: timed polls only).
        poll_interval: the fallback poll interval, in seconds.
        read_only: refuse every action; nothing is ever opened read-write.
        journal_path: the action journal (None: `$BATCHTOP_JOURNAL`, else the XDG state directory).
        alerts: the alert settings (None: no alerts).
        group_by: how the overview first groups chunk files (`--group-by`; None: not grouped).
        show_timings: show measured poll costs (off for snapshots: wall time is not deterministic).
        cursor_blink: blink text cursors (off for snapshots).
    """
    app = BatchtopApp(monitor, clock=clock, watch=watch, poll_interval=poll_interval, read_only=read_only,
                      journal_path=journal_path, alerts=alerts, group_by=group_by)
    app.show_timings = show_timings
    app.cursor_blink = cursor_blink
    return app


def run_app(monitor: Monitor, **options: Any) -> int:
    """Run the app `create_app(monitor, **options)` builds until the user quits; returns the exit code."""
    app = create_app(monitor, **options)
    try:
        result = app.run()
    finally:
        close_quietly(monitor)
    return app.return_code or int(result or 0)


def close_quietly(monitor: Monitor) -> None:
    """Close every connection not in use; a poll still running (a long count) is not waited for."""
    for source in monitor.snapshot_sources():
        if source.lock.acquire(blocking=False):
            try:
                source.close()
            finally:
                source.lock.release()
