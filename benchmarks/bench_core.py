"""batchtop's read path in-process (no TUI): poll costs at each size, failures pages and error groups.

    python -m benchmarks.bench_core --variant topics --rows 1000000 [--ks 1,100,10000] [--failed-rows N]

Run by `benchmarks.run` once per (size, variant) in a process of its own, so each figure's peak RSS is
its own. The job's connection is held open beside the `Source` (so the database is live, as beside a
running job). Every SQL statement batchtop's connections run is seen through `set_trace_callback`
(installed by wrapping `core.backends.sqlite.reader.connect_ro`), which gives:

- statements per poll (`PollResult.queries` counts the `PRAGMA data_version` gate as one; `sql_beyond_gate`
  counts every other statement: the target for a poll with nothing changed is 0);
- the longest explicit read transaction (BEGIN to ROLLBACK/COMMIT, as traced) of a poll.

A "changed" poll follows one commit of the job that finished K pending items (K = 1, 100, 10,000).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import sys
import time
from pathlib import Path

from benchmarks import dbs, procs

TRACE: list[tuple[float, str]] = []


def _install_trace() -> None:
    """Trace every connection `Source` opens (the wrapped function keeps the original's behaviour)."""
    from batchtop.core.backends.sqlite import reader as source_mod

    original = source_mod.connect_ro

    def traced(*args, **kwargs) -> sqlite3.Connection:
        conn = original(*args, **kwargs)
        conn.set_trace_callback(lambda sql: TRACE.append((time.perf_counter(), sql)))
        return conn

    source_mod.connect_ro = traced


def _trace_since(mark: int, end: float) -> dict:
    events = TRACE[mark:]
    beyond = [s for _, s in events if s.strip().upper() != "PRAGMA DATA_VERSION"]
    longest, began = 0.0, None
    for t, sql in events:
        head = sql.strip().split(None, 1)[0].upper() if sql.strip() else ""
        if head == "BEGIN":
            began = t
        elif head in ("ROLLBACK", "COMMIT", "END") and began is not None:
            longest, began = max(longest, t - began), None
    if began is not None:  # still open when the call returned: count until then
        longest = max(longest, end - began)
    return {
        "sql_statements": len(events),
        "sql_beyond_gate": len(beyond),
        "longest_read_txn_ms": round(longest * 1000, 2),
    }


def _stats(samples: list[float]) -> dict:
    s = sorted(samples)
    out = {"p50_ms": round(statistics.median(s) * 1e3, 3), "max_ms": round(s[-1] * 1e3, 3), "n": len(s)}
    if len(s) >= 20:
        out["p95_ms"] = round(s[int(len(s) * 0.95) - 1] * 1e3, 3)
    return out


def bench_polls(built: dbs.Built, work: Path, ks: list[int]) -> dict:
    """First poll, unchanged polls and polls after K changed rows, with the job's connection open."""
    from batchtop.core.source import Source

    db = dbs.work_copy(built, work / f"core-{built.spec.variant}")
    job = sqlite3.connect(db, isolation_level=None, timeout=5)
    job.execute("PRAGMA synchronous=NORMAL")
    job.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    source = Source(db)
    out: dict = {"db": {"variant": built.spec.variant, "rows": built.spec.rows, "counts": built.counts}}
    mark, t = len(TRACE), time.perf_counter()
    first = source.poll()
    end = time.perf_counter()
    out["first_poll"] = {
        "ms": round((end - t) * 1e3, 1),
        "queries": first.queries,
        **_trace_since(mark, end),
        "error": first.error.message if first.error else None,
        "profile": source.profile.name if source.profile else None,
        # Below 1.0: the first screen shows partial counts of a chunked first pass (core.counting).
        "counted": min((tr.counted for tr in first.snapshot.tracks), default=1.0) if first.snapshot else None,
    }
    # The rest of a chunked first pass: polls back to back (the app leaves gaps, FIRST_DUTY), until exact.
    polls, r = 1, first
    while r.more and polls < 100_000:
        r = source.poll()
        polls += 1
    end2 = time.perf_counter()
    out["exact_counts"] = {"work_ms": round((end2 - t) * 1e3, 1), "polls": polls,
                           **_trace_since(mark, end2)}
    samples, queries, mark = [], set(), len(TRACE)
    for _ in range(500):
        t = time.perf_counter()
        r = source.poll()
        samples.append(time.perf_counter() - t)
        queries.add(r.queries)
    out["unchanged_poll"] = {
        **_stats(samples),
        "queries_reported": sorted(queries),
        **_trace_since(mark, time.perf_counter()),
    }
    out["unchanged_poll"]["sql_beyond_gate_per_poll"] = out["unchanged_poll"].pop("sql_beyond_gate") / 500
    from benchmarks.writer import FINISH

    finish = FINISH["topics" if built.spec.variant.startswith("topics") else built.spec.variant]
    row = built.first_pending + dbs.IN_FLIGHT
    out["changed_poll"] = {}
    for k in ks:
        if row + 3 * k > built.spec.rows + 1:
            out["changed_poll"][str(k)] = {"skipped": "not enough pending rows"}
            continue
        samples, traces, reported = [], [], []
        for _ in range(3):
            job.execute("BEGIN")
            job.executemany(finish, ((i,) for i in range(row, row + k)))
            job.execute("COMMIT")
            row += k
            mark, t = len(TRACE), time.perf_counter()
            r = source.poll()
            while r.more:  # chunks left to count: until exact (the app spreads these over gaps)
                r = source.poll()
            end = time.perf_counter()
            samples.append(end - t)
            traces.append(_trace_since(mark, end))
            reported.append(r.queries)
            if r.snapshot is not None:
                seen = sum(tr.settled for tr in r.snapshot.tracks)
                expected = sum(v for s, v in built.counts.items() if s != "pending") + (
                    row - built.first_pending - dbs.IN_FLIGHT
                )
                if seen != expected:  # a wrong count must be visible in the results, not averaged away
                    out.setdefault("count_errors", []).append({"k": k, "seen": seen, "expected": expected})
        out["changed_poll"][str(k)] = {
            **_stats(samples),
            "queries_reported": max(reported),
            "sql_statements": max(x["sql_statements"] for x in traces),
            "longest_read_txn_ms": max(x["longest_read_txn_ms"] for x in traces),
        }
    source.close()
    job.close()
    return out


def bench_failures(built: dbs.Built) -> dict:
    """First keyset page of failures, the next page, and the error groups over every failed row."""
    from batchtop.core.backends.sqlite.reads import read_failures
    from batchtop.core.groups import GroupCache
    from batchtop.core.source import Source

    job = sqlite3.connect(built.path, isolation_level=None)  # read only: the cached file stays as built
    job.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    source = Source(built.path)
    source.poll()
    track = source.profile.tracks[0]
    out: dict = {
        "db": {
            "variant": built.spec.variant,
            "rows": built.spec.rows,
            "failed": built.counts.get("failed", 0),
        }
    }

    def page(before=None):
        return source.run(lambda c: read_failures(c, track, limit=100, before=before))

    t = time.perf_counter()
    rows = page()
    out["failures_first_page_ms"] = round((time.perf_counter() - t) * 1e3, 2)
    t = time.perf_counter()
    page(rows[-1].key)
    out["failures_next_page_ms"] = round((time.perf_counter() - t) * 1e3, 2)
    mark, t = len(TRACE), time.perf_counter()
    first: list[float] = []  # when the first provisional report (the top causes so far) was handed out
    groups = GroupCache(track).refresh(source, partial=lambda _r: first or first.append(time.perf_counter())).groups
    end = time.perf_counter()
    out["error_groups"] = {
        "seconds": round(end - t, 2),
        "first_partial_s": round(first[0] - t, 3) if first else None,
        "groups": len(groups),
        "failed_rows": sum(g.count for g in groups),
        "sql_statements": len(TRACE) - mark,
    }
    source.close()
    job.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="topics")
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--ks", default="1,100,10000")
    p.add_argument("--failed-rows", type=int, default=0, help="also group this many failed rows (0: skip)")
    p.add_argument("--cache")
    p.add_argument("--work", required=True)
    args = p.parse_args(argv)
    _install_trace()
    cache = dbs.cache_root(args.cache)
    built = dbs.ensure(dbs.Spec(args.variant, args.rows), cache, log=lambda m: print(m, file=sys.stderr))
    out = bench_polls(built, Path(args.work), [int(k) for k in args.ks.split(",") if k])
    if args.failed_rows:
        failed = dbs.ensure(
            dbs.Spec(args.variant, args.failed_rows, done_share=0.0, failed_share=1.0),
            cache,
            log=lambda m: print(m, file=sys.stderr),
        )
        out["failures"] = bench_failures(failed)
    out["memory"] = procs.memory_mb(os.getpid())
    out["memory"]["ru_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
