"""Idle cost: the TUI (in tmux, 200x50, its defaults) open on N databases nobody writes to.

CPU is utime + stime of the pane's process tree from /proc/PID/stat over a window, after the first read
of every database and a settle time; RSS is VmRSS / VmHWM of the app. The bytes the app writes to the
terminal during the window are counted too (`tmux pipe-pane`): with nothing changing, a screen that
does not re-render writes almost nothing. The databases are copies of one small topics file, closed
and quiescent (no -wal/-shm), like finished runs in a directory.

`fanout` is the same in-process, without the TUI: `Monitor.poll_all` over the N databases, first pass and
an unchanged pass.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from benchmarks import terminal

_SOURCES = re.compile(r"(\d[\d,]*) sources?\b")


def bench_idle_tui(folder: Path, count: int, *, seconds: float, settle: float, timeout: float) -> dict:
    """Idle CPU, RSS and terminal output of the TUI watching `folder` (holding `count` databases)."""
    out: dict = {"databases": count}
    pane = terminal.Pane([*terminal.batchtop_cmd(), str(folder)])
    try:
        # Every database listed (or the TUI's cap on watched files reached: the count stops growing),
        # then no visible row still waiting for its first read.
        t0 = time.monotonic()
        listed, last_change = 0, t0
        while time.monotonic() - t0 < timeout:
            m = _SOURCES.search(pane.capture())
            now_listed = int(m.group(1).replace(",", "")) if m else 0
            if now_listed != listed:
                listed, last_change = now_listed, time.monotonic()
            if listed >= count or (listed and time.monotonic() - last_change > 15):
                break
            time.sleep(0.25)
        out["all_listed_s"] = round(last_change - t0, 2) if listed else None
        out["sources_watched"] = listed
        if listed < count:
            out["note"] = f"the TUI watches {listed} of the {count} databases"
        pane.wait_for(lambda s: "loading" not in s, timeout)
        time.sleep(settle)
        stream = pane.start_stream(keep=False)
        time.sleep(0.3)
        cpu = pane.cpu()
        bytes0 = stream.bytes
        cpu.start()
        time.sleep(seconds)
        out.update(cpu.stop())
        out["terminal_bytes_per_s"] = round((stream.bytes - bytes0) / seconds, 1)
        out.update(pane.memory())
    finally:
        pane.close()
    return out


def bench_fanout(folder: Path, count: int) -> dict:
    """`Monitor.poll_all` over `count` unchanged databases: first pass and unchanged passes (in-process)."""
    from batchtop.core.monitor import Monitor

    monitor = Monitor([str(folder)], max_files=count + 10)
    monitor.rescan()
    t = time.perf_counter()
    monitor.poll_all()
    first = time.perf_counter() - t
    samples = []
    for _ in range(20):
        t = time.perf_counter()
        monitor.poll_all()
        samples.append(time.perf_counter() - t)
    out = {
        "databases": len(monitor.sources),
        "first_pass_ms": round(first * 1e3, 1),
        "unchanged_pass_p50_ms": round(statistics.median(samples) * 1e3, 3),
        "unchanged_pass_max_ms": round(max(samples) * 1e3, 3),
        "connections_open": sum(1 for s in monitor.sources.values() if s.is_open),
    }
    monitor.close()
    return out


def bench_idle_loop(folder: Path, count: int, *, seconds: float, settle: float) -> dict:
    """The comparison: `watch -n1` running `sqlite3 ... GROUP BY status` on each of the databases.

    Run on a copy of the databases: the sqlite3 shell opens them read-write (it creates and removes the
    -wal/-shm of each) and the cached files must stay as built.
    """
    query = "SELECT status, COUNT(*) FROM topic_completions GROUP BY status"
    pane = terminal.watch_loop(f"for f in '{folder}'/*.db; do sqlite3 \"$f\" '{query}'; done")
    try:
        pane.wait_for(lambda s: "Every " in s and "|" in s, 60)
        time.sleep(settle)
        cpu = pane.cpu()
        cpu.start()
        time.sleep(seconds)
        return {"databases": count, "monitor": "watch -n1 sqlite3", **cpu.stop()}
    finally:
        pane.close()
