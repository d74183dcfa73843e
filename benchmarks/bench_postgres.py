"""PostgreSQL figures: what an unchanged and a changed poll cost, whether batchtop slows the job's commits,
and how long a commit takes to show in batchtop's snapshot.

    .venv/bin/python benchmarks/bench_postgres.py                    # 100k rows (about a minute)
    .venv/bin/python benchmarks/bench_postgres.py --rows 1000000     # the 1M-row figures
    .venv/bin/python benchmarks/bench_postgres.py --rows 10000000    # the 10M-row figures (build ~ minutes)
    .venv/bin/python benchmarks/bench_postgres.py --json

Starts its own throwaway server (tests/pg_server.py: initdb + pg_ctl on a free port, removed afterwards)
and a `topic_completions` table built with `INSERT ... SELECT generate_series` (75 % completed, 5 % failed,
the rest pending; status and completed_at indexed). Measures, with the table chunked by primary key
(core/backends/postgres/counting.py):

- first exact counts: the first pass over every chunk (wall time, polls as the app runs them);
- unchanged poll: statements per poll as batchtop counts them, transactions per poll as the *server*
  counts them (`pg_stat_database.xact_commit + xact_rollback`, read after the session closed so its
  statistics are flushed), and the poll's wall time;
- changed poll after 1 and after 1,000 committed changes (each change its own commit: the job completes
  its next pending topic, `status` and `completed_at` move): statements, server transactions (counted by
  batchtop: `PgSource.transactions`), chunk reads and wall time of the poll that reads them;
- the job's commit rate (single-row UPDATE transactions on one connection, completing pending topics)
  alone and with batchtop polling as the app does (`core.identity.Gate`, 1 s interval), alternating the
  two runs (ABBA); the share kept (median attached / median alone, and the median of each round's
  ratio) should be >= 98 %; and the CPU batchtop spent meanwhile (poll thread + its server process);
- commit -> visible: the job commits one completion at random moments; the time from its COMMIT
  returning until the snapshot of batchtop's poll loop (as the app runs it) counts it, p50 / p95.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pg_server import PgServer, missing_reason, pg_server  # noqa: E402

from batchtop.core.backends.postgres.source import PgSource  # noqa: E402
from batchtop.core.identity import Gate  # noqa: E402

DDL = """CREATE TABLE topic_completions (
    id BIGINT PRIMARY KEY, topic_path TEXT UNIQUE, content_hash TEXT, status TEXT,
    started_at TIMESTAMP, completed_at TIMESTAMP, duration_seconds DOUBLE PRECISION,
    flashcard_count INTEGER, cost_usd DOUBLE PRECISION, error_message TEXT);
CREATE INDEX idx_status ON topic_completions (status);
CREATE INDEX idx_completed_at ON topic_completions (completed_at)"""


def build(server: PgServer, rows: int) -> None:
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS topic_completions")
        conn.execute(DDL)
        conn.execute(
            f"""INSERT INTO topic_completions
               SELECT i, 'Data/topic_' || i || '/topic.json', md5(i::text),
                      CASE WHEN i % 100 < 75 THEN 'completed' WHEN i % 100 < 80 THEN 'failed' ELSE 'pending' END,
                      CASE WHEN i % 100 < 80 THEN now() - ({int(rows)} - i + 30000) * interval '1 ms' END,
                      CASE WHEN i % 100 < 75 THEN now() - ({int(rows)} - i) * interval '1 ms' END,
                      CASE WHEN i % 100 < 75 THEN 30 + i % 20 END, CASE WHEN i % 100 < 75 THEN 16 END,
                      CASE WHEN i % 100 < 75 THEN 0.02 END,
                      CASE WHEN i % 100 BETWEEN 75 AND 79 THEN 'APITimeoutError: Request timed out after '
                           || (i % 7) || 's' END
               FROM generate_series(1, {int(rows)}) AS i"""
        )
        conn.execute("VACUUM ANALYZE topic_completions")  # as autovacuum leaves a settled table
        conn.execute("CHECKPOINT")


def server_xacts(server: PgServer) -> int:
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        (n,) = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'batchtop'"
        ).fetchone()
        return int(n)


def settle_stats() -> None:
    time.sleep(1.2)  # a closed backend's statistics are flushed on exit; give the server a moment


def idle(server: PgServer, polls: int) -> dict[str, float]:
    """Unchanged polls of a source past its first pass. The server's count of our transactions is read
    after the session closed (its statistics are flushed on exit); the opening pass's transactions (as
    batchtop counts them) and a session's fixed cost (its SET statements) are taken off."""

    def session(n: int) -> tuple[int, list[float], list[int]]:
        before = server_xacts(server)
        source = opened(server)
        opening = source.transactions
        costs, queries = [], []
        for _ in range(n):
            r = source.poll()
            assert not r.changed
            costs.append(r.cost)
            queries.append(r.queries)
        source.close()
        settle_stats()
        return server_xacts(server) - before - opening, costs, queries

    base, _, _ = session(0)
    total, costs, queries = session(polls)
    return {
        "polls": polls,
        "statements_per_poll": statistics.mean(queries),
        "server_xacts_per_poll": round((total - base) / polls, 3),
        "p50_ms": round(statistics.median(costs) * 1000, 3),
        "p95_ms": round(sorted(costs)[int(0.95 * len(costs)) - 1] * 1000, 3),
    }


def app_loop(source: PgSource, stop: threading.Event, interval: float, seen: Any = None) -> None:
    """Poll `source` as the app's poller does: a gate sweep every `interval`, and sooner when a poll left
    chunks to count (`PollResult.more`: the gap keeps it to that share of a core)."""
    gate = Gate(interval)
    gate.add(source.path, files=False)
    next_full = 0.0
    while not stop.is_set():
        now = time.monotonic()
        full = now >= next_full
        if full:
            next_full = now + interval
        for path, force in gate.sweep(now, full=full):
            began = time.monotonic()
            result = source.poll(force)
            end = time.monotonic()
            gate.finished(path, end, cost=end - began, changed=result.changed, failed=result.error is not None,
                          more=result.more)
            if seen is not None and result.changed and result.snapshot is not None:
                seen(end, result)
        now = time.monotonic()
        stop.wait(max(0.0, min(max(0.0, next_full - now), gate.next_due(now))))


def first_exact(server: PgServer) -> dict[str, float]:
    """The first pass over every chunk, polled as the app does (FIRST_DUTY)."""
    source = PgSource(server.watcher_url)
    stop = threading.Event()
    first: list[float] = []
    began = time.monotonic()

    def seen(at: float, result: Any) -> None:
        if not first and result.snapshot.tracks[0].counted >= 1.0:
            first.append(at - began)
            stop.set()

    app_loop(source, stop, 1.0, seen)
    chunks = sum(t.counts.chunks for t in source.trackers.values())
    reads = sum(t.counts.reads for t in source.trackers.values())
    source.close()
    return {"first_exact_s": round(first[0], 2), "chunks": chunks, "chunk_reads": reads, "polls": source.polls}


def opened(server: PgServer) -> PgSource:
    """A source past its first pass (its counts exact)."""
    source = PgSource(server.watcher_url)
    while True:
        result = source.poll()
        assert result.error is None, result.error
        if not result.more:
            return source


def pending_ids(server: PgServer) -> list[int]:
    import psycopg

    with psycopg.connect(server.admin_url) as conn:
        rows = conn.execute("SELECT id FROM topic_completions WHERE status = 'pending' ORDER BY id").fetchall()
    return [int(r[0]) for r in rows]


COMPLETE = (
    "UPDATE topic_completions SET status = 'completed', completed_at = now(), cost_usd = 0.02, "
    "flashcard_count = 16, duration_seconds = 31 WHERE id = %s"
)


def changed(server: PgServer, todo: Iterator[int], changes: int, rounds: int) -> dict[str, float]:
    """`changes` committed completions (one commit each), then one poll as the app would run it."""
    import psycopg

    source = opened(server)
    costs, queries, xacts, reads = [], [], [], []
    with psycopg.connect(server.admin_url, autocommit=True) as job:
        for _ in range(rounds):
            for _ in range(changes):
                job.execute(COMPLETE, (next(todo),))
            before_x = source.transactions
            before_r = sum(t.counts.reads for t in source.trackers.values())
            r = source.poll()
            assert r.changed and r.error is None, r.error
            costs.append(r.cost)
            queries.append(r.queries)
            xacts.append(source.transactions - before_x)
            reads.append(sum(t.counts.reads for t in source.trackers.values()) - before_r)
            while source.poll().more:  # what a pass left (none expected: every change was located)
                pass
            time.sleep(0.05)
    passes = sum(t.passes for t in source.trackers.values())
    source.close()
    return {
        "changes": changes,
        "rounds": rounds,
        "statements": statistics.median(queries),
        "transactions": statistics.median(xacts),
        "chunk_reads": statistics.median(reads),
        "p50_ms": round(statistics.median(costs) * 1000, 2),
        "max_ms": round(max(costs) * 1000, 2),
        "passes": passes,
    }


#: The job, in a process of its own (as a real one is: batchtop's threads share no GIL with it):
#: completes pending topics, newest first, one commit each, for argv[2] seconds; prints its commits.
JOB = """
import sys, time, itertools, psycopg
with psycopg.connect(sys.argv[1]) as job:
    ids = [r[0] for r in job.execute(
        "SELECT id FROM topic_completions WHERE status = 'pending' ORDER BY id DESC LIMIT 300000").fetchall()]
    if len(ids) < 50000:  # (a small table whose pending topics are all done: complete done ones again)
        ids += [r[0] for r in job.execute("SELECT id FROM topic_completions ORDER BY id DESC LIMIT 300000")]
    job.commit()
    print("ready", flush=True)
    sys.stdin.readline()
    n, deadline = 0, time.monotonic() + float(sys.argv[2])
    for key in itertools.cycle(ids):
        if time.monotonic() >= deadline:
            break
        job.execute(sys.argv[3], (key,))
        job.commit()
        n += 1
print(n, flush=True)
"""


def backend_ticks(server: PgServer, application: str) -> int:
    """CPU clock ticks (user + system) used so far by the server processes serving `application`."""
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        pids = [r[0] for r in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,))]
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks


def commit_rate(server: PgServer, seconds: float, attached: bool) -> tuple[float, int, float]:
    """The job's commits per second over `seconds` (each completes one pending topic, or re-completes it
    once all are done); with `attached`, batchtop polls as the app does (its first, opening pass is done
    before the job starts). Returns the rate, batchtop's polls that read, and the CPU batchtop used while
    the job ran (its poll thread plus its server process, % of one core): on a machine the job keeps
    busy, that is what the job loses."""
    import os
    import subprocess

    job = subprocess.Popen(
        [sys.executable, "-c", JOB, server.writer_url, str(seconds), COMPLETE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert job.stdout is not None and job.stdin is not None
    assert job.stdout.readline().strip() == "ready"
    stop = threading.Event()
    reads = [0]
    source = opened(server) if attached else None

    def seen(at: float, result: Any) -> None:
        reads[0] += 1

    thread_cpu = [0.0]

    def watch() -> None:
        assert source is not None
        app_loop(source, stop, 1.0, seen)
        thread_cpu[0] = time.thread_time()

    watcher = threading.Thread(target=watch, daemon=True) if source else None
    server_before = backend_ticks(server, "batchtop") if source else 0
    server_cpu = 0.0
    began = time.monotonic()
    if watcher:
        watcher.start()
    try:
        job.stdin.write("go\n")
        job.stdin.flush()
        n = int(job.stdout.readline())
        job.wait(30)
    finally:
        stop.set()
        if watcher and source:
            watcher.join()
            server_cpu = (backend_ticks(server, "batchtop") - server_before) / os.sysconf("SC_CLK_TCK")
            source.close()
    used = (thread_cpu[0] + server_cpu) / (time.monotonic() - began) if source else 0.0
    return n / seconds, reads[0], round(100 * used, 2)


def latency(server: PgServer, todo: Iterator[int], samples: int, interval: float) -> dict[str, float]:
    """Commit -> visible in the snapshot of batchtop's poll loop (as the app runs it), p50 / p95."""
    import random

    import psycopg

    source = opened(server)
    base = source.snapshot.tracks[0].counts["done"] if source.snapshot else 0
    commits: list[float] = []
    lat: list[float] = []
    lock = threading.Lock()

    def seen(at: float, result: Any) -> None:
        done = result.snapshot.tracks[0].counts["done"] - base
        with lock:
            while len(lat) < min(done, len(commits)):
                lat.append(at - commits[len(lat)])

    stop = threading.Event()
    watcher = threading.Thread(target=app_loop, args=(source, stop, interval, seen), daemon=True)
    watcher.start()
    rng = random.Random(12)
    with psycopg.connect(server.writer_url, autocommit=True) as job:
        for _ in range(samples):
            time.sleep(rng.uniform(0.3, 1.3))
            job.execute(COMPLETE, (next(todo),))
            with lock:
                commits.append(time.monotonic())
    deadline = time.monotonic() + 10
    while len(lat) < samples and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join()
    source.close()
    ordered = sorted(lat) or [float("nan")]
    return {
        "samples": len(lat),
        "interval_s": interval,
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(0.95 * len(ordered)) - 1)] * 1000, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0, help="each commit-rate run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating alone / attached commit-rate runs")
    parser.add_argument("--change-rounds", type=int, default=20, help="changed polls measured (after 1 change)")
    parser.add_argument("--samples", type=int, default=40, help="commit -> visible samples")
    parser.add_argument("--interval", type=float, default=1.0, help="the app's poll interval (s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reason = missing_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    out: dict[str, object] = {"rows": args.rows}
    with pg_server() as server:
        started = time.perf_counter()
        build(server, args.rows)
        out["build_s"] = round(time.perf_counter() - started, 1)
        todo = iter(pending_ids(server))
        steps = {
            "first_pass": lambda: first_exact(server),
            "idle_poll": lambda: idle(server, args.polls),
            "changed_poll_1": lambda: changed(server, todo, 1, args.change_rounds),
            "changed_poll_1000": lambda: changed(server, todo, 1000, max(3, args.change_rounds // 4)),
            "commit_to_visible": lambda: latency(server, todo, args.samples, args.interval),
        }
        for name, step in steps.items():
            out[name] = step()
            print(f"{name}: {out[name]}", file=sys.stderr, flush=True)  # progress (a 10M run is long)
        # Alternate the two runs, in ABBA order (drift over the run hits both alike), and keep the
        # medians; the median of each round's own ratio is steadier still on a shared machine.
        alone, watched, ratios, cpu, reads = [], [], [], [], 0
        for i in range(args.rounds):
            order = (False, True) if i % 2 == 0 else (True, False)
            got = {attached: commit_rate(server, args.seconds, attached=attached) for attached in order}
            alone.append(got[False][0])
            watched.append(got[True][0])
            ratios.append(got[True][0] / got[False][0])
            reads += got[True][1]
            cpu.append(got[True][2])
        a, w = statistics.median(alone), statistics.median(watched)
        out["job_commits_per_s"] = {
            "alone": round(a),
            "with_batchtop": round(w),
            "kept_pct": round(100 * w / a, 1),
            "kept_pct_paired": round(100 * statistics.median(ratios), 1),
            "batchtop_cpu_pct": statistics.median(cpu),
            "alone_runs": [round(x) for x in alone],
            "attached_runs": [round(x) for x in watched],
            "batchtop_reads": reads,
            "rounds": args.rounds,
        }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
