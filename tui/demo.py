"""`batchtop demo`: the five simulated jobs in a temporary directory, written live, opened in the app."""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading


def run_demo(poll_interval: float = 1.0) -> int:
    """Create a temporary directory, start the simulator's demo in a background thread, open the app on it.

    The simulator is stopped and the directory removed when the app exits (even on an error).
    """
    from batchtop.core.monitor import Monitor
    from batchtop.core.simulator import demo
    from batchtop.tui.app import run_app

    directory = tempfile.mkdtemp(prefix="batchtop-demo-")
    stop = threading.Event()
    thread: threading.Thread | None = None
    try:
        jobs = demo(directory)
        thread = jobs.start(stop)
        print(f"batchtop demo: simulated jobs in {directory} (removed on exit)", file=sys.stderr)
        return run_app(Monitor([directory]), poll_interval=poll_interval)
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
