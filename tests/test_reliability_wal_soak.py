"""WAL soak per screen: a WAL job committing continuously keeps its `-wal` as small with the TUI open on
any screen as it is alone (hazards.md rule 4: a pinned reader stops checkpoints and the `-wal` grows
without bound; the "WAL job writing for 10 min" row; issue 11: "within 1.2x of the job alone").

The job is a real separate process (tests/writers.py, the ParallelLLMProcessor writer: one UPDATE and
COMMIT per result, its own long-lived connection) with `wal_autocheckpoint` lowered to 100 pages, so it
checkpoints and restarts its WAL every fraction of a second: a reader that held a snapshot across a
restart would show at once as growth past the job's own high-water mark. The test first runs the job
alone, then once per screen while the TUI (polling every 100 ms) sits on it: overview, source, failures,
one group's items, item, tables, journal. The `-wal` size is sampled by `stat` every 5 ms (never opened)
and each screen's peak must stay within 1.2x of the alone peak, plus a few pages of slack for a restart
that found a poll mid-read (it retries on the next commit). The job never truncates its `-wal`, and the
TUI's open connection keeps the job's close from deleting it, so the size is a high-water mark: the test
checkpoints and truncates the `-wal` between runs, so each screen's peak is its own. A screen over the
bound runs once more, and fails only when it is over twice in a row: a reader that pins snapshots does
so every time (one pinning a snapshot for a second grows the WAL by about 3 MB), while a single read
that met a checkpoint beside this busy job leaves one run ~1.5x (issue 8's known miss: a few read
transactions of the TUI process stretch to 100-200 ms). Seen here: 1.05-1.3x.

Per-screen duration: `BATCHTOP_SOAK_SECONDS` (default 4 s, about 35 s in all); set it to 20 or more for
the long soak (`BATCHTOP_SOAK_SECONDS=20 python -m pytest tests/test_reliability_wal_soak.py`). The
benchmarks' `job` target measures the same ratio on a 1M-row database over four screens.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_reliability_contention import TOUR
from writers import finish_writer, make_writer, start_writer

SECONDS = float(os.environ.get("BATCHTOP_SOAK_SECONDS", "4"))
AUTOCHECKPOINT = 100
#: Slack over 1.2x: a WAL restart that met a poll mid-read appends a commit's frames and restarts on the
#: next commit; a few such in a row (a page and a header each) are normal.
SLACK = 16 * 4096


class WalPeak:
    """The largest size `path` reaches while the block runs (stat only: rule 8)."""

    def __init__(self, path: Path) -> None:
        self.path, self.peak, self.samples = path, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, os.stat(self.path).st_size)
            except FileNotFoundError:
                pass
            self.samples += 1
            time.sleep(0.005)

    def __enter__(self) -> WalPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


#: Run in a process of its own: a write connection in the TUI's process would share the reader's
#: read-only `-shm` mapping and fail (SQLITE_READONLY; actions close the source's reader for that).
_TRUNCATE = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=5)
for _ in range(200):
    if not conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]:
        sys.exit(0)
    time.sleep(0.01)
sys.exit("the -wal could not be truncated between runs: a reader held it for 2 s")
"""


def restart_wal(path: Path) -> None:
    """Checkpoint and truncate the `-wal` between runs (the job is not running; the TUI's reads are short)."""
    done = subprocess.run([sys.executable, "-c", _TRUNCATE, str(path)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr


def job(path: Path):
    return start_writer("llm", path, "--journal", "wal", "--commits", "1000000", "--seconds", str(SECONDS),
                        "--interval-ms", "1", "--wal-autocheckpoint", str(AUTOCHECKPOINT), "--busy-timeout", "5")


def alone(path: Path) -> tuple[int, dict]:
    with WalPeak(Path(f"{path}-wal")) as peak:
        report = finish_writer(job(path), timeout=SECONDS + 60)
    return peak.peak, report


async def _job_on(pilot, path: Path, screen: type) -> tuple[int, dict]:
    proc = job(path)
    with WalPeak(Path(f"{path}-wal")) as peak:
        deadline = time.monotonic() + SECONDS + 60
        while proc.poll() is None and time.monotonic() < deadline:
            await pilot.pause(0.05)  # the app keeps polling and re-reading its screen
            assert isinstance(pilot.app.screen, screen), pilot.app.screen
        report = finish_writer(proc)
    return peak.peak, report


@pytest.mark.slow
def test_wal_stays_within_the_job_alone_on_every_screen(tmp_path: Path, make_app) -> None:
    path = tmp_path / "llm_results_20260101_120000.db"
    # Enough unanswered prompts for every run (a few hundred commits a second); some answers are errors,
    # so the failures, item and journal screens have something to show.
    make_writer("llm", path, journal="wal").setup(prompts=int(2000 * SECONDS * (len(TOUR) + 1)) + 200, done=200)
    from batchtop.core.actions import Target, apply, plan
    from batchtop.core.journal import Journal
    from batchtop.core.source import Source

    journal = tmp_path / "journal" / "journal.jsonl"
    journal.parent.mkdir()
    # One journaled reset first, so the journal screen lists an action; the runs then fail new items.
    source = Source(path)
    assert source.poll(force=True).error is None
    apply(plan(source, None, None, Target.all_failed()), journal=Journal(journal), source=source)
    source.close()

    restart_wal(path)
    alone_peak, alone_report = alone(path)
    assert alone_report["locked"] == 0
    # The job alone must cycle its WAL several times, or the comparison proves nothing.
    assert alone_report["commits"] > 3 * AUTOCHECKPOINT, alone_report
    bound = 1.2 * alone_peak + SLACK

    app = make_app(str(path), poll_interval=0.1, clock=time.time, journal_path=journal)

    async def tour() -> dict[str, tuple[int, dict]]:
        out: dict[str, tuple[int, dict]] = {}
        async with app.run_test(size=(140, 40)) as pilot:
            deadline = time.monotonic() + 15
            while not app.polled_all and time.monotonic() < deadline:
                await pilot.pause(0.05)
            for stop, screen, keys in TOUR:
                for key in keys:
                    await pilot.press(key)
                    await pilot.pause(0.3)
                assert isinstance(app.screen, screen), (stop, screen, app.screen)
                restart_wal(path)
                out[stop] = await _job_on(pilot, path, screen)
                if out[stop][0] > bound:
                    first[stop] = out[stop][0]
                    restart_wal(path)
                    out[stop] = await _job_on(pilot, path, screen)
        return out

    first: dict[str, int] = {}  # screens over the bound once, and their first peak

    runs = asyncio.run(tour())
    peaks = {stop: peak for stop, (peak, _) in runs.items()}
    print(f"-wal peak alone {alone_peak} B ({alone_report['commits']} commits); per screen {peaks}; "
          f"over once, then run again: {first}")
    for stop, (_, report) in runs.items():
        assert report["locked"] == 0, f"{stop}: the job got 'database is locked'"
        assert report["commits"] > 3 * AUTOCHECKPOINT, (stop, report["commits"])
    over = {stop: peak for stop, peak in peaks.items() if peak > bound}
    assert not over, (f"-wal peaks above 1.2x the job alone twice in a row ({alone_peak} B, bound {bound:.0f} B): "
                      f"{over}, first runs {first}")
