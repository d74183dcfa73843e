"""`batchtop demo`: the five simulated jobs in a temporary directory, written live, opened in the app."""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
from pathlib import Path


def run_demo(poll_interval: float = 1.0) -> int:
    """Create a temporary directory, start the simulator's demo in a background thread, open the app on it.

    Resets and undos tried in the demo are journaled in that directory too (beside the watched `jobs/`,
    not in it), never in the user's journal. The simulator is stopped and the directory removed when
    the app exits (even on an error).
    """
    from batchtop.core.monitor import Monitor
    from batchtop.core.simulator import demo
    from batchtop.tui.factory import run_app

    root = Path(tempfile.mkdtemp(prefix="batchtop-demo-"))
    directory, journal = root / "jobs", root / "journal.jsonl"
    directory.mkdir()
    stop = threading.Event()
    thread: threading.Thread | None = None
    try:
        jobs = demo(str(directory))
        thread = jobs.start(stop)
        print(f"batchtop demo: simulated jobs in {directory}, actions journaled in {journal} (removed on exit)",
              file=sys.stderr)
        return run_app(Monitor([str(directory)]), poll_interval=poll_interval, journal_path=journal)
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
