"""The job's side: commit rate, WAL size, "database is locked" and read-lock holds, with and without monitors.

Conditions: ``alone`` (no monitor), the TUI on each screen (``tui:overview``, ``tui:source``,
``tui:failures``, ``tui:tables``), ``status`` (`watch -n1 batchtop status DB`) and ``sqlite3``
(`watch -n1 sqlite3 DB "SELECT <state>, COUNT(*) ... GROUP BY <state>"`, what people run instead).

- WAL (`job`): each round runs alone, c1, alone, c2, ..., alone; every attached run is compared with the
  mean of the alone runs either side of it (the machine's load drifts), and the ratios' median over
  rounds is reported. Every run starts from a fresh copy of the cached database.
- Rollback journal (`rollback`): the job commits N times with a 0.2 s busy timeout; the count of
  "database is locked" errors it got is reported per condition.

In every run (alone too, so the cost is the same) /proc/locks is sampled for read-transaction locks on
the database held by any process but the job: the monitor's longest read transaction, to within one
sampling interval (see `procs.LockSampler`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import dbs, procs, terminal

REPO = Path(__file__).resolve().parent.parent
CONDITIONS = ("tui:overview", "tui:source", "tui:failures", "tui:tables", "status", "sqlite3")


class Monitor:
    """A monitor running beside the job in a tmux pane (or none, for ``alone``)."""

    def __init__(self, condition: str, db: Path, variant: str, settle: float, timeout: float = 300.0) -> None:
        self.condition = condition
        self.pane: terminal.Pane | None = None
        self.timings: dict[str, float | None] = {}
        if condition == "alone":
            return
        if condition.startswith("tui:"):
            self.pane, self.timings = terminal.open_tui([str(db)], condition[4:], timeout=timeout)
        elif condition == "status":
            cmd = " ".join(terminal.batchtop_cmd()) + f" status '{db}'"
            self.pane = terminal.watch_loop(cmd)
            self._wait_output()
        elif condition == "sqlite3":
            state = dbs.STATE_SQL[variant] if variant not in ("topics", "topics_noindex") else "status"
            query = f"SELECT {state} AS state, COUNT(*) FROM {dbs.TABLES[variant]} GROUP BY state"
            self.pane = terminal.watch_loop(f"sqlite3 '{db}' \"{query}\"")
            self._wait_output()
        else:
            raise ValueError(f"unknown condition {condition!r}; choose from alone, {', '.join(CONDITIONS)}")
        time.sleep(settle)

    def _wait_output(self) -> None:
        assert self.pane is not None
        # watch's header, then a count: the first refresh has run.
        self.timings["first_screen_s"] = self.pane.wait_for(
            lambda s: "Every " in s and any(c.isdigit() for c in s.split("\n", 2)[-1]), 60
        )

    def close(self) -> None:
        if self.pane is not None:
            self.pane.close()


def run_writer(
    db: Path,
    built: dbs.Built,
    *,
    seconds: float | None = None,
    commits: int | None = None,
    busy_timeout: float = 5.0,
    interval_ms: float = 0.0,
    jitter_ms: float = 0.0,
    events: bool = False,
    start: int | None = None,
    on_start=None,
) -> tuple[dict, list[dict]]:
    """Run the job (benchmarks/writer.py) to the end; returns its summary and its per-commit events."""
    argv = [
        sys.executable,
        "-m",
        "benchmarks.writer",
        str(db),
        "--variant",
        built.spec.variant,
        "--first-pending",
        str(built.first_pending),
        "--rows",
        str(built.spec.rows),
        "--busy-timeout",
        str(busy_timeout),
        "--interval-ms",
        str(interval_ms),
        "--jitter-ms",
        str(jitter_ms),
    ]
    argv += ["--seconds", str(seconds)] if seconds else ["--commits", str(commits)]
    if events:
        argv.append("--events")
    if start:
        argv += ["--start", str(start)]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    if on_start is not None:
        on_start(proc.pid)
    lines = [json.loads(line) for line in proc.stdout]  # type: ignore[union-attr]
    if proc.wait() != 0 or not lines or not lines[-1].get("summary"):
        raise RuntimeError(f"writer failed (exit {proc.returncode})")
    return lines[-1], lines[:-1]


def one_run(
    condition: str,
    built: dbs.Built,
    work: Path,
    *,
    seconds: float | None,
    commits: int | None,
    busy_timeout: float,
    settle: float,
    lock_interval: float,
    interval_ms: float = 0.0,
) -> dict:
    """One run of the job beside one monitor, on a fresh copy of the database."""
    db = dbs.work_copy(built, work / "job")
    out: dict = {"condition": condition}
    try:
        monitor = Monitor(condition, db, built.spec.variant, settle)
    except RuntimeError as exc:
        return {**out, "error": str(exc).splitlines()[0]}
    try:
        out["monitor_timings"] = monitor.timings
        sampler = procs.LockSampler(str(db), built.spec.journal == "wal", interval=lock_interval)
        cpu = monitor.pane.cpu() if monitor.pane else None

        def started(pid: int) -> None:
            sampler.exclude.add(pid)
            sampler.start()
            if cpu:
                cpu.start()

        summary, _ = run_writer(
            db,
            built,
            seconds=seconds,
            commits=commits,
            busy_timeout=busy_timeout,
            interval_ms=interval_ms,
            on_start=started,
        )
        out["monitor_read_locks"] = sampler.stop()
        if cpu and monitor.pane:
            out["monitor_cpu"] = cpu.stop()
            out["monitor_memory"] = monitor.pane.memory()
        out["job"] = summary
    finally:
        monitor.close()
    return out


def bench_wal(
    built: dbs.Built,
    work: Path,
    conditions: tuple[str, ...],
    *,
    rounds: int,
    seconds: float,
    settle: float,
    lock_interval: float,
    log=print,
) -> dict:
    """Alternating alone / attached runs of a WAL job committing as fast as it can."""
    runs: list[dict] = []
    for r in range(rounds):
        sequence = ["alone"]
        for c in conditions:
            sequence += [c, "alone"]
        for c in sequence:
            res = one_run(
                c,
                built,
                work,
                seconds=seconds,
                commits=None,
                busy_timeout=5.0,
                settle=settle,
                lock_interval=lock_interval,
            )
            res["round"] = r
            runs.append(res)
            job = res.get("job", {})
            log(
                f"  job {c:14} rate {job.get('rate_per_s', '-'):>8}/s  wal peak "
                f"{job.get('wal_peak_bytes', 0) / 1e6:6.1f} MB  {res.get('error', '')}"
            )
    return {
        "db": _describe(built),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "runs": runs,
        "conditions": _compare(runs, conditions),
    }


def _compare(runs: list[dict], conditions: tuple[str, ...]) -> dict:
    """Per condition: the median over rounds of attached / mean(neighbouring alone runs)."""
    out: dict = {}
    alone = [r["job"] for r in runs if r["condition"] == "alone" and "job" in r]
    if alone:
        out["alone"] = {
            "rate_per_s_median": statistics.median(j["rate_per_s"] for j in alone),
            "wal_peak_mb_median": round(statistics.median(j["wal_peak_bytes"] for j in alone) / 1e6, 2),
        }
    for c in conditions:
        rate_ratios, wal_ratios, entries = [], [], []
        for i, r in enumerate(runs):
            if r["condition"] != c or "job" not in r:
                continue
            near = [
                runs[j]["job"]
                for j in (i - 1, i + 1)
                if 0 <= j < len(runs) and runs[j]["condition"] == "alone" and "job" in runs[j]
            ]
            if not near:
                continue
            rate_ratios.append(r["job"]["rate_per_s"] / statistics.mean(n["rate_per_s"] for n in near))
            base_wal = statistics.mean(n["wal_peak_bytes"] for n in near)
            wal_ratios.append(r["job"]["wal_peak_bytes"] / base_wal if base_wal else float("nan"))
            entries.append(r)
        errors = [r["error"] for r in runs if r["condition"] == c and "error" in r]
        if not entries:
            out[c] = {"error": errors[0] if errors else "no run"}
            continue
        out[c] = {
            "rate_vs_alone_median": round(statistics.median(rate_ratios), 3),
            "wal_peak_vs_alone_median": round(statistics.median(wal_ratios), 2),
            "rate_per_s_median": statistics.median(e["job"]["rate_per_s"] for e in entries),
            "wal_peak_mb_median": round(
                statistics.median(e["job"]["wal_peak_bytes"] for e in entries) / 1e6, 2
            ),
            "monitor_cpu_pct_median": _median(e.get("monitor_cpu", {}).get("cpu_pct") for e in entries),
            "longest_read_txn_ms": max(e["monitor_read_locks"]["longest_ms"] for e in entries),
            "read_txns_over_20ms": sum(e["monitor_read_locks"]["over_20ms"] for e in entries),
            "job_commit_ms_max": max(e["job"]["commit_ms_max"] for e in entries),
            "monitor_peak_rss_mb": max(e.get("monitor_memory", {}).get("peak_rss_mb", 0.0) for e in entries),
        }
    return out


def bench_rollback(
    built: dbs.Built,
    work: Path,
    conditions: tuple[str, ...],
    *,
    commits: int,
    rounds: int,
    settle: float,
    lock_interval: float,
    interval_ms: float,
    log=print,
) -> dict:
    """A rollback-journal job (busy timeout 0.2 s) making `commits` commits beside each monitor."""
    runs: list[dict] = []
    for r in range(rounds):
        for c in ("alone", *conditions):
            res = one_run(
                c,
                built,
                work,
                seconds=None,
                commits=commits,
                busy_timeout=0.2,
                settle=settle,
                lock_interval=lock_interval,
                interval_ms=interval_ms,
            )
            res["round"] = r
            runs.append(res)
            job = res.get("job", {})
            log(
                f"  rollback {c:14} locked {job.get('locked', '-'):>4} / {commits}  longest read "
                f"{res.get('monitor_read_locks', {}).get('longest_ms', '-')} ms  {res.get('error', '')}"
            )
    summary: dict = {}
    for c in ("alone", *conditions):
        entries = [r for r in runs if r["condition"] == c and "job" in r]
        if not entries:
            summary[c] = {
                "error": next((r["error"] for r in runs if r["condition"] == c and "error" in r), "no run")
            }
            continue
        summary[c] = {
            "locked_total": sum(e["job"]["locked"] for e in entries),
            "locked_per_1000_commits": round(
                1000 * sum(e["job"]["locked"] for e in entries) / sum(e["job"]["commits"] for e in entries), 2
            ),
            "rate_per_s_median": statistics.median(e["job"]["rate_per_s"] for e in entries),
            "job_commit_ms_max": max(e["job"]["commit_ms_max"] for e in entries),
            "longest_read_txn_ms": max(e["monitor_read_locks"]["longest_ms"] for e in entries),
            "read_txns_over_20ms": sum(e["monitor_read_locks"]["over_20ms"] for e in entries),
            "monitor_cpu_pct_median": _median(e.get("monitor_cpu", {}).get("cpu_pct") for e in entries),
        }
    return {
        "db": _describe(built),
        "commits_per_run": commits,
        "busy_timeout_s": 0.2,
        "rounds": rounds,
        "runs": runs,
        "conditions": summary,
    }


def _median(values) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.median(vals), 2) if vals else None


def _describe(built: dbs.Built) -> dict:
    return {
        "variant": built.spec.variant,
        "rows": built.spec.rows,
        "journal": built.spec.journal,
        "counts": built.counts,
        "size_mb": round(built.size_bytes / 1e6, 1),
    }
