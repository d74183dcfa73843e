"""The job: a writer process committing one item per transaction, as the seed systems do.

    python -m benchmarks.writer DB --variant topics --first-pending N --rows N (--seconds S | --commits N)
        [--interval-ms M] [--busy-timeout S] [--events]

Plain sqlite3 only (no batchtop import), so it starts fast and measures nothing of ours. Each commit
finishes the next pending item (every 20th fails); after the last row it wraps round and puts items back
to pending, so a run can last as long as asked. "database is locked" errors are counted, rolled back and
retried after 10 ms, as the real jobs' retry loops do. With `--events` one JSON line per commit goes to
stdout (`{"t": monotonic time after COMMIT, "n": commits so far, "settled"/"done"/"failed": count deltas}`); the last line
is always the summary: commits, seconds, rate, WAL peak, locked count and commit times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time

FINISH = {
    "topics": "UPDATE topic_completions SET status='completed', started_at=datetime('now', '-30 seconds'), "
    "completed_at=datetime('now'), duration_seconds=30.0, flashcard_count=12, cost_usd=0.021 WHERE id=?",
    "derived": "UPDATE work_items SET started_at=datetime('now', '-30 seconds'), finished_at=datetime('now'), "
    "cost=0.021 WHERE id=?",
    "llm": "UPDATE llm_results SET result='Summary: finished by the benchmark writer.' WHERE id=?",
}
FAIL = {
    "topics": "UPDATE topic_completions SET status='failed', started_at=datetime('now', '-30 seconds'), "
    "completed_at=datetime('now'), error_message=? WHERE id=?",
    "derived": "UPDATE work_items SET started_at=datetime('now', '-30 seconds'), finished_at=datetime('now'), "
    "error=? WHERE id=?",
    "llm": "UPDATE llm_results SET result='Error: Failed after 3 attempts: ' || ? WHERE id=?",
}
UNDO = {
    "topics": "UPDATE topic_completions SET status='pending', started_at=NULL, completed_at=NULL, "
    "duration_seconds=NULL, flashcard_count=NULL, cost_usd=NULL, error_message=NULL WHERE id=?",
    "derived": "UPDATE work_items SET started_at=NULL, finished_at=NULL, error=NULL, cost=NULL WHERE id=?",
    "llm": "UPDATE llm_results SET result=NULL WHERE id=?",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("db")
    p.add_argument("--variant", default="topics")
    p.add_argument("--first-pending", type=int, required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--start", type=int, help="first row to write (default: --first-pending)")
    p.add_argument("--seconds", type=float)
    p.add_argument("--commits", type=int)
    p.add_argument(
        "--interval-ms", type=float, default=0.0, help="pause between commits (0: as fast as possible)"
    )
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--busy-timeout", type=float, default=5.0)
    p.add_argument("--events", action="store_true")
    args = p.parse_args(argv)
    kind = "topics" if args.variant.startswith("topics") else args.variant
    finish, fail, undo = FINISH[kind], FAIL[kind], UNDO[kind]
    conn = sqlite3.connect(args.db, isolation_level=None, timeout=args.busy_timeout)
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    if mode == "wal":
        conn.execute("PRAGMA synchronous=NORMAL")  # what the WAL seed jobs set
    wal = args.db + "-wal"
    first = args.start or args.first_pending
    pending = max(1, args.rows - first + 1)
    rng = random.Random(7)
    out = sys.stdout
    commits = locked = 0
    settled = done = failed = 0
    waits: list[float] = []
    wal_peak = 0
    started = time.monotonic()
    deadline = started + args.seconds if args.seconds else None
    while (args.commits is None or commits < args.commits) and (
        deadline is None or time.monotonic() < deadline
    ):
        turn, offset = divmod(commits, pending)
        row = first + offset
        back = turn % 2 == 1  # second pass: put items back to pending
        t0 = time.monotonic()
        while True:
            try:
                conn.execute("BEGIN")
                failing = not back and commits % 20 == 19
                if back:
                    conn.execute(undo, (row,))
                elif failing:
                    conn.execute(
                        fail,
                        (f"RateLimitError: 429 Too Many Requests (retry after {rng.randint(2, 60)}s)", row),
                    )
                else:
                    conn.execute(finish, (row,))
                conn.execute("COMMIT")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                locked += 1
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                time.sleep(0.01)
        now = time.monotonic()
        waits.append(now - t0)
        commits += 1
        settled += -1 if back else 1
        if not back:
            failed += failing
            done += not failing
        if commits % 8 == 0 or args.events:
            try:
                wal_peak = max(wal_peak, os.stat(wal).st_size)
            except OSError:
                pass
        if args.events:
            out.write(
                json.dumps({"t": now, "n": commits, "settled": settled, "done": done, "failed": failed})
                + "\n"
            )
            out.flush()
        if args.interval_ms:
            time.sleep(max(0.0, args.interval_ms + rng.uniform(-args.jitter_ms, args.jitter_ms)) / 1000)
    elapsed = time.monotonic() - started
    try:
        wal_final = os.stat(wal).st_size
    except OSError:
        wal_final = 0
    conn.close()
    waits.sort()
    summary = {
        "summary": True,
        "journal_mode": mode,
        "commits": commits,
        "seconds": round(elapsed, 3),
        "rate_per_s": round(commits / elapsed, 1) if elapsed else 0.0,
        "locked": locked,
        "wal_peak_bytes": max(wal_peak, wal_final),
        "wal_final_bytes": wal_final,
        "commit_ms_p50": round(waits[len(waits) // 2] * 1000, 3) if waits else None,
        "commit_ms_p99": round(waits[max(0, int(len(waits) * 0.99) - 1)] * 1000, 3) if waits else None,
        "commit_ms_max": round(waits[-1] * 1000, 3) if waits else None,
    }
    out.write(json.dumps(summary) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
