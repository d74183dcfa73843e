"""Memory soak: a monitor left polling a busy job holds flat memory (issue 11, "resource bounds").

The job is a real separate process (tests/writers.py, the ParallelLLMProcessor writer on a WAL database,
a commit per result). A `Monitor` polls it as fast as the app's hot interval allows for `SECONDS`; the
Python heap (tracemalloc) after a warm-up and at the end must differ by less than `GROWTH` bytes: every
structure a poll keeps (snapshot, history events, chunk counts, WAL page images) is bounded, so a longer
run must not cost more memory. The on-demand long soak: `BATCHTOP_SOAK_SECONDS=600 python -m pytest
tests/test_reliability_memory_soak.py`.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from writers import finish_writer, make_writer, start_writer

from batchtop.core.monitor import Monitor

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("BATCHTOP_SOAK_SECONDS", "6"))
#: Heap growth allowed between the warm-up and the end (a few snapshots in flight, allocator noise).
GROWTH = 512 * 1024


def test_a_monitor_polling_a_busy_job_holds_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "llm.db"
    make_writer("llm", path, journal="wal").setup(prompts=int(1500 * SECONDS) + 2000, done=200)
    job = start_writer("llm", path, "--journal", "wal", "--commits", "100000000", "--seconds", str(SECONDS),
                       "--interval-ms", "1")
    monitor = Monitor([str(path)])
    monitor.rescan()
    tracemalloc.start()
    try:
        began, warm, polls, changed = time.monotonic(), None, 0, 0
        while time.monotonic() - began < SECONDS - 0.5:
            for _source, result in monitor.poll_all():
                assert result.error is None, result.error
                changed += result.changed
            polls += 1
            if warm is None and time.monotonic() - began > 1.5:
                gc.collect()
                warm = tracemalloc.get_traced_memory()[0]
            time.sleep(0.02)
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        report = finish_writer(job)
        monitor.close()
    assert report["commits"] > 500 and changed > polls // 4, (report, polls, changed)  # the job was busy, seen
    assert warm is not None
    assert end - warm < GROWTH, f"heap grew {end - warm:,} bytes over {polls} polls of a busy job"
