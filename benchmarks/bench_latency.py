"""Commit -> on screen: how long after the job's COMMIT the new count reaches the terminal.

The job (benchmarks/writer.py --events) commits one item at a time with pauses between commits and
reports each commit's time (CLOCK_MONOTONIC, shared by every process on the machine) and the count
deltas. The TUI runs in tmux with its defaults (directory watch on, 1 s fallback poll); every byte it
writes to the terminal is teed through `tmux pipe-pane` into a FIFO and timestamped on arrival. The
latency of a commit is the arrival time of the first output chunk that contains the new count (settled on
the overview, done on the source screen, formatted `1,234,567`) minus the commit time. So this measures
the whole path a person sees: change detection, the read, rendering and the terminal write; tmux's own
relay adds well under a millisecond. A commit whose number never appeared (the next commit came first)
is counted as missed, not dropped silently.

For comparison, the `watch -n1 sqlite3 ... GROUP BY` loop (`monitor="sqlite3"`): watch redraws through
curses, which writes only the characters that changed, so its byte stream cannot be searched for a
number; its screen is read with `tmux capture-pane` every 20 ms instead (latency to within 20 ms).
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from pathlib import Path

from benchmarks import dbs, terminal
from benchmarks.bench_job import Monitor, run_writer


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, int(round(q * len(s))) - 1))], 1)


def bench_latency(
    built: dbs.Built,
    work: Path,
    *,
    screen: str = "overview",
    commits: int = 30,
    gap_ms: float = 1000.0,
    settle: float = 2.0,
) -> dict:
    """Commit-to-screen latency for `commits` paced commits on a fresh copy of `built`.

    `screen` is a TUI screen (overview, source) or "sqlite3" for the `watch -n1 sqlite3` loop.
    """
    db = dbs.work_copy(built, work / "latency")
    base = built.counts
    settled0 = sum(v for k, v in base.items() if k != "pending")
    loop = screen == "sqlite3"
    out: dict = {
        "db": {"variant": built.spec.variant, "rows": built.spec.rows},
        "screen": screen,
        "commits": commits,
        "gap_ms": gap_ms,
        "method": "tmux capture-pane every 20 ms" if loop else "tmux pipe-pane byte stream",
    }
    try:
        if loop:
            monitor = Monitor("sqlite3", db, built.spec.variant, settle)
            pane, timings = monitor.pane, monitor.timings
        else:
            pane, timings = terminal.open_tui([str(db)], screen)
    except RuntimeError as exc:
        return {**out, "error": str(exc).splitlines()[0]}
    assert pane is not None
    frames: list[tuple[float, bytes]] = []
    halt = threading.Event()
    try:
        out["timings"] = timings
        time.sleep(settle)
        if loop:
            poller = threading.Thread(target=_poll_screen, args=(pane, frames, halt), daemon=True)
            poller.start()
        else:
            stream = pane.start_stream()
            time.sleep(0.3)  # let `cat` attach to the FIFO
        # Skip the rows in flight (started_at set): finishing them would move "running", not "pending".
        _, events = run_writer(
            db,
            built,
            commits=commits,
            interval_ms=gap_ms,
            jitter_ms=gap_ms / 3,
            events=True,
            start=built.first_pending + dbs.IN_FLIGHT,
        )
        time.sleep(2.5 if loop else 1.5)  # the last commit's screen update
    finally:
        halt.set()
        pane.close()
    if not loop:
        with stream.lock:
            frames = list(stream.chunks)
        out["terminal_bytes"] = stream.bytes
    latencies, missed = [], 0
    for ev in events:
        done = base.get("done", 0) + ev["done"]
        if loop:  # sqlite3 prints `state|count`
            wanted = re.compile(rf"\|{done}(?!\d)")
        else:  # Whole numbers only: 80,001 must not match inside 180,001.
            numbers = (settled0 + ev["settled"], done)
            wanted = re.compile("|".join(rf"(?<![\d,]){n:,}(?![\d,])" for n in numbers))
        seen = None
        prev = b""
        for t, data in frames:
            if t >= ev["t"]:
                text = data.decode("utf-8", "replace") if loop else terminal.strip_ansi(prev[-256:] + data)
                if wanted.search(text):
                    seen = t
                    break
            prev = data
        if seen is None:
            missed += 1
        else:
            latencies.append((seen - ev["t"]) * 1000)
    out.update(
        {
            "detected": len(latencies),
            "missed": missed,
            "p50_ms": _p(latencies, 0.5),
            "p95_ms": _p(latencies, 0.95),
            "max_ms": round(max(latencies), 1) if latencies else None,
            "mean_ms": round(statistics.mean(latencies), 1) if latencies else None,
        }
    )
    return out


def _poll_screen(pane: terminal.Pane, frames: list[tuple[float, bytes]], halt: threading.Event) -> None:
    """Keep each new screen content with the time it was first seen."""
    last = ""
    while not halt.is_set():
        screen = pane.capture()
        now = time.monotonic()
        if screen != last:
            frames.append((now, screen.encode()))
            last = screen
        time.sleep(0.02)
