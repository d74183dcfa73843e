"""batchtop benchmarks: the figures behind "fast" (run on demand, not part of the test suite).

    .venv/bin/python benchmarks/run.py                 # 1M rows, 100 databases (about a minute)
    .venv/bin/python benchmarks/run.py --rows 10000000 # the 10M-row figures (several minutes)
    .venv/bin/python benchmarks/run.py --json          # machine-readable

Measures: the cost of a poll when nothing changed (must run no query), a poll after one commit on
large indexed (`topic_completions`) and unindexed (`llm_results`) tables, the first failures page and
the error groups at 1M failed rows, polling 100 databases, and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from batchtop.core.groups import error_groups
from batchtop.core.monitor import Monitor
from batchtop.core.simulator import fill
from batchtop.core.snapshot import read_failures
from batchtop.core.source import Source


def build_topics(path: Path, rows: int, failed_share: float = 0.05) -> None:
    """A `topic_completions` file of `rows` rows (the job's real DDL and indexes, WAL): 75 % completed
    and `failed_share` failed (both capped by the rows), the rest pending."""
    failed = round(rows * failed_share)
    completed = min(round(rows * 0.75), rows - failed)
    fill("topics", path.parent, rows, completed=completed, failed=failed, path=path, seed=1, overwrite=True)


def build_llm(path: Path, rows: int, failed_share: float = 0.05) -> None:
    """An `llm_results` file (no index, WAL): 75 % results, `failed_share` errors, the rest NULL."""
    failed = round(rows * failed_share)
    completed = min(round(rows * 0.75), rows - failed)
    fill("llm", path.parent, rows, completed=completed, failed=failed, path=path, seed=2, overwrite=True)


def _timed(fn, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples) * 1e3, 3),
            "p95_ms": round(samples[int(len(samples) * 0.95) - 1] * 1e3, 3), "n": repeat}


def bench_source(path: Path, table: str, update_sql: str) -> dict:
    """Unchanged-poll and changed-poll cost on one large database, with the job's connection open."""
    # The job holds the database open (so its -wal/-shm exist and batchtop reads it live).
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA busy_timeout=5000")
    writer.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    source = Source(path)
    t = time.perf_counter()
    first = source.poll()
    out: dict = {"first_poll_ms": round((time.perf_counter() - t) * 1e3, 1), "error": first.error and first.error.message}
    queries = []
    out["unchanged_poll"] = _timed(lambda: queries.append(source.poll().queries), 2000)
    out["unchanged_poll"]["statements"] = max(queries)  # 1 = the data_version check only

    def one_commit_then_poll() -> None:
        writer.execute(update_sql)
        source.poll()

    out["poll_after_one_commit"] = _timed(one_commit_then_poll, 5)
    writer.close()
    source.close()
    return out


def bench_failures(path: Path, table: str) -> dict:
    """First keyset page of failures and error groups at this size."""
    source = Source(path)
    source.poll()
    track = source.profile.tracks[0]
    out = {"failures_first_page": _timed(lambda: source.run(lambda c: read_failures(c, track, limit=100)), 20)}
    last = source.run(lambda c: read_failures(c, track, limit=100))[-1].key
    out["failures_next_page"] = _timed(
        lambda: source.run(lambda c: read_failures(c, track, limit=100, before=last)), 20)
    t = time.perf_counter()
    groups = source.run(lambda c: error_groups(c, track))
    out["error_groups"] = {"seconds": round(time.perf_counter() - t, 2), "groups": len(groups),
                           "failed_rows": sum(g.count for g in groups)}
    source.close()
    return out


def bench_many(directory: Path, count: int) -> dict:
    """Polling `count` small databases: first pass, and an unchanged pass (no queries)."""
    for i in range(count):
        build_topics(directory / f"run_{i:03d}.db", 2000)
    monitor = Monitor([str(directory)], max_files=count + 10)
    monitor.rescan()
    t = time.perf_counter()
    monitor.poll_all()
    first = time.perf_counter() - t
    unchanged = _timed(monitor.poll_all, 20)
    open_count = sum(1 for s in monitor.sources.values() if s.is_open)
    monitor.close()
    return {"databases": len(monitor.sources), "first_pass_ms": round(first * 1e3, 1),
            "unchanged_pass": unchanged, "connections_open": open_count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--many", type=int, default=100, help="number of databases for the fan-out test")
    parser.add_argument("--failed-rows", type=int, default=None,
                        help="rows of the all-failed database (default: --rows, at most 1,000,000)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--dir", help="work directory (default: a temporary one)")
    args = parser.parse_args(argv)
    base = Path(args.dir or tempfile.mkdtemp(prefix="batchtop-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    results: dict = {"rows": args.rows, "sqlite": sqlite3.sqlite_version, "python": sys.version.split()[0],
                     "cpus": os.cpu_count()}
    failed_rows = args.failed_rows or min(args.rows, 1_000_000)

    def report(key: str, value: object) -> None:
        # Each figure is printed as soon as it is measured: a long run still reports what it got.
        results[key] = value
        if not args.json:
            _print({key: value})
            sys.stdout.flush()

    if not args.json:
        _print(results)

    topics = base / "topics.db"
    if not topics.exists():
        t = time.perf_counter()
        build_topics(topics, args.rows)
        report("build_topics_s", round(time.perf_counter() - t, 1))
    report("topics", bench_source(topics, "topic_completions",
                                     "UPDATE topic_completions SET status='completed' WHERE id = "
                                     "(SELECT id FROM topic_completions WHERE status='pending' LIMIT 1)"))
    llm = base / "llm.db"
    if not llm.exists():
        build_llm(llm, args.rows)
    report("llm", bench_source(llm, "llm_results",
                               "UPDATE llm_results SET result='ok' WHERE id = "
                               "(SELECT id FROM llm_results WHERE result IS NULL LIMIT 1)"))
    fail = base / f"failures_{failed_rows}.db"
    if not fail.exists():
        build_topics(fail, failed_rows, failed_share=1.0)
    report(f"failures_all_failed_{failed_rows}", bench_failures(fail, "topic_completions"))
    many = base / "many"
    many.mkdir(exist_ok=True)
    report("many", bench_many(many, args.many))
    report("peak_rss_mb", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def _print(results: dict, indent: str = "") -> None:
    for key, value in results.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print(value, indent + "  ")
        else:
            print(f"{indent}{key}: {value}")


if __name__ == "__main__":
    sys.exit(main())
