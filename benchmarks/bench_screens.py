"""The TUI on one large database: first screen, exact counts, memory, idle cost; error groups over failures.

Times are measured from starting the TUI in tmux (they include Python's and Textual's start-up: run the
smallest size beside the largest to see that floor) by polling the rendered screen (`tmux capture-pane`,
every 50 ms). "First screen" is the overview listing the database with a progress figure; "exact counts"
is the overview showing the true settled count from the database's manifest (the same moment unless
the TUI shows partial counts first). The job's connection is held open meanwhile, as beside a running job.

Error groups: the TUI on a database whose rows all failed; `f` on the overview opens the failures screen,
and the time to the first group row on screen is measured from that key.
"""

from __future__ import annotations

import sqlite3
import time

from benchmarks import dbs, terminal


def _hold(built: dbs.Built) -> sqlite3.Connection:
    """The job's connection (idle, live): the TUI then reads through the WAL as beside a running job."""
    conn = sqlite3.connect(built.path, isolation_level=None)
    conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    return conn


def bench_open(built: dbs.Built, *, timeout: float, idle_seconds: float, settle: float = 2.0) -> dict:
    """First screen, exact counts, RSS and idle CPU of the TUI on `built`."""
    job = _hold(built)
    settled = sum(v for k, v in built.counts.items() if k != "pending")
    out: dict = {"db": {"variant": built.spec.variant, "rows": built.spec.rows}}
    pane = terminal.Pane([*terminal.batchtop_cmd(), str(built.path)])
    try:
        out["first_screen_s"] = _round(pane.wait_for(terminal.overview_ready(built.path.name), timeout))
        exact = pane.wait_for(terminal.shows_number(settled), timeout)
        out["exact_counts_s"] = _round(None if exact is None else exact + (out["first_screen_s"] or 0))
        if out["first_screen_s"] is None or exact is None:
            out["error"] = "screen not reached: " + " | ".join(pane.capture().split("\n")[:8])
            return out
        time.sleep(settle)
        cpu = pane.cpu()
        stream = pane.start_stream(keep=False)
        cpu.start()
        time.sleep(idle_seconds)
        out["idle"] = {**cpu.stop(), "terminal_bytes_per_s": round(stream.bytes / idle_seconds, 1)}
        out["memory"] = pane.memory()
    finally:
        pane.close()
        job.close()
    return out


def bench_groups(built: dbs.Built, *, timeout: float) -> dict:
    """Time from `f` to the first error group on screen, on a database whose rows all failed."""
    job = _hold(built)
    out: dict = {
        "db": {
            "variant": built.spec.variant,
            "rows": built.spec.rows,
            "failed": built.counts.get("failed", 0),
        }
    }
    try:
        pane, timings = terminal.open_tui([str(built.path)], "overview", timeout=timeout)
    except RuntimeError as exc:
        job.close()
        return {**out, "error": str(exc).splitlines()[0]}
    try:
        out["first_screen_s"] = _round(timings["first_screen_s"])
        t0 = time.monotonic()
        pane.send("f")
        shown = pane.wait_for(lambda s: "Failures ·" in s, timeout)
        out["failures_screen_s"] = _round(shown)
        grouped = pane.wait_for(terminal.groups_listed, timeout) if shown is not None else None
        # Both from the key press.
        out["first_group_s"] = _round(None if grouped is None else time.monotonic() - t0)
        out["memory"] = pane.memory()
        if out["first_group_s"] is None:
            out["error"] = "no group row appeared"
    finally:
        pane.close()
        job.close()
    return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
