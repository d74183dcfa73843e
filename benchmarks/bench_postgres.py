"""PostgreSQL figures: what an idle and a changed poll cost, and whether batchtop slows the job's commits.

    .venv/bin/python benchmarks/bench_postgres.py                  # 100k rows (about half a minute)
    .venv/bin/python benchmarks/bench_postgres.py --rows 1000000   # the 1M-row figures
    .venv/bin/python benchmarks/bench_postgres.py --json

Starts its own throwaway server (tests/pg_server.py: initdb + pg_ctl on a free port, removed afterwards)
and a `topic_completions` table (75 % completed, 5 % failed, the rest pending; status indexed). Measures:

- idle poll: statements per poll as batchtop counts them, and transactions per poll as the *server*
  counts them (`pg_stat_database.xact_commit + xact_rollback`, read after the session closed so its
  statistics are flushed), and the poll's wall time;
- changed poll: one job commit (a row completed) before each poll, and the poll's wall time;
- the job's commit rate (single-row UPDATE transactions, one connection) alone and with batchtop polling
  every 100 ms; the share kept should be >= 98 %.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pg_server import PgServer, missing_reason, pg_server  # noqa: E402

from batchtop.core.backends.postgres.source import PgSource  # noqa: E402

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
                      CASE WHEN i % 100 < 80 THEN now() - interval '2 hours' + i * interval '1 ms' END,
                      CASE WHEN i % 100 < 75 THEN now() - interval '2 hours' + i * interval '2 ms' END,
                      CASE WHEN i % 100 < 75 THEN 30 + i % 20 END, CASE WHEN i % 100 < 75 THEN 16 END,
                      CASE WHEN i % 100 < 75 THEN 0.02 END,
                      CASE WHEN i % 100 BETWEEN 75 AND 79 THEN 'APITimeoutError: Request timed out after '
                           || (i % 7) || 's' END
               FROM generate_series(1, {int(rows)}) AS i"""
        )
        conn.execute("VACUUM ANALYZE topic_completions")  # as autovacuum leaves a settled table


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
    def session(n: int) -> tuple[int, list[float], list[int]]:
        before = server_xacts(server)
        source = PgSource(server.watcher_url)
        assert source.poll().error is None
        costs, queries = [], []
        for _ in range(n):
            r = source.poll()
            assert not r.changed
            costs.append(r.cost)
            queries.append(r.queries)
        source.close()
        settle_stats()
        return server_xacts(server) - before, costs, queries

    base, _, _ = session(0)
    total, costs, queries = session(polls)
    return {
        "polls": polls,
        "statements_per_poll": statistics.mean(queries),
        "server_xacts_per_poll": round((total - base) / polls, 3),
        "p50_ms": round(statistics.median(costs) * 1000, 3),
        "p95_ms": round(sorted(costs)[int(0.95 * len(costs)) - 1] * 1000, 3),
    }


def changed(server: PgServer, polls: int) -> dict[str, float]:
    import psycopg

    source = PgSource(server.watcher_url)
    assert source.poll().error is None
    costs, queries = [], []
    with psycopg.connect(server.admin_url, autocommit=True) as job:
        for i in range(polls):
            job.execute(
                "UPDATE topic_completions SET status = 'completed', completed_at = now() "
                "WHERE id = (SELECT id FROM topic_completions WHERE status = 'pending' LIMIT 1)"
            )
            r = source.poll(force=True)  # force: measure every read, not the READ_DUTY throttle
            assert r.changed and r.error is None, r.error
            costs.append(r.cost)
            queries.append(r.queries)
            if i % 5 == 4:
                time.sleep(0.05)
    source.close()
    return {
        "polls": polls,
        "statements_per_poll": statistics.mean(queries),
        "p50_ms": round(statistics.median(costs) * 1000, 2),
        "p95_ms": round(sorted(costs)[int(0.95 * len(costs)) - 1] * 1000, 2),
    }


def commit_rate(server: PgServer, seconds: float, attached: bool) -> tuple[float, int]:
    """The job's commits per second over `seconds`; with `attached`, batchtop polls every 100 ms (its
    first, opening read is done before the job starts). Returns the rate and batchtop's full reads."""
    import psycopg

    stop, opened = threading.Event(), threading.Event()
    reads = [0]

    def watch() -> None:
        source = PgSource(server.watcher_url)
        source.poll()
        opened.set()
        while not stop.is_set():
            reads[0] += source.poll().changed
            stop.wait(0.1)
        source.close()

    watcher = threading.Thread(target=watch) if attached else None
    if watcher:
        watcher.start()
        opened.wait(60)
    n = 0
    with psycopg.connect(server.writer_url) as job:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            job.execute(
                "UPDATE topic_completions SET duration_seconds = duration_seconds + 1 WHERE id = %s",
                (1 + n % 1000,),
            )
            job.commit()
            n += 1
    stop.set()
    if watcher:
        watcher.join()
    return n / seconds, reads[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0, help="each commit-rate run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating alone / attached commit-rate runs")
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
        out["idle_poll"] = idle(server, args.polls)
        out["changed_poll"] = changed(server, max(10, args.polls // 5))
        # Alternate the two runs (the machine is shared: noise hits both alike) and keep the medians.
        alone, watched, reads = [], [], 0
        for _ in range(args.rounds):
            alone.append(commit_rate(server, args.seconds, attached=False)[0])
            rate, n = commit_rate(server, args.seconds, attached=True)
            watched.append(rate)
            reads += n
        a, w = statistics.median(alone), statistics.median(watched)
        out["job_commits_per_s"] = {
            "alone": round(a),
            "with_batchtop": round(w),
            "kept_pct": round(100 * w / a, 1),
            "batchtop_full_reads": reads,
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
