"""Chunked, O(changes) counts of a large PostgreSQL table (core/backends/postgres/counting.py) against a real
throwaway server: the counts equal a fresh GROUP BY once the writer is quiet, whatever it did (located
changes, status-only changes the indexes cannot see, resets clearing the times, inserts, deletes,
TRUNCATE); located changes recount only their chunks; tables without a usable key fall back to one
GROUP BY. No timing is asserted: waits are bounded loops."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest
from pg_server import PgServer, missing_reason, pg_server

from batchtop.core.backends.postgres.counting import XID_SPACE, newer_than, parse_snapshot
from batchtop.core.backends.postgres.source import PgSource

ROWS = 100_000  # past CHUNKED_FROM: chunked (13 chunks of 8,192 keys)

DDL = """CREATE TABLE topic_completions (
    id BIGINT {pk}, topic_path TEXT, content_hash TEXT, status TEXT,
    started_at TIMESTAMP, completed_at TIMESTAMP, duration_seconds DOUBLE PRECISION,
    flashcard_count INTEGER, cost_usd NUMERIC(12, 6), error_message TEXT);
CREATE INDEX idx_status ON topic_completions (status)"""

FILL = f"""INSERT INTO topic_completions
SELECT i, 'Data/topic_' || i || '/topic.json', md5(i::text),
       CASE WHEN i % 100 < 60 THEN 'completed' WHEN i % 100 < 70 THEN 'failed' ELSE 'pending' END,
       CASE WHEN i % 100 < 75 THEN now() - interval '3 hours' + i * interval '1 ms' END,
       CASE WHEN i % 100 < 60 THEN now() - interval '3 hours' + i * interval '2 ms' END,
       30 + i % 20, CASE WHEN i % 100 < 60 THEN 16 END, CASE WHEN i % 100 < 60 THEN 0.02 END,
       CASE WHEN i % 100 BETWEEN 60 AND 69 THEN 'APITimeoutError: after ' || (i % 7) || 's' END
FROM generate_series(1, {ROWS}) AS i"""


def parse_ok() -> None:
    assert parse_snapshot("10:20:12,15") == (10, 20, (12, 15))


def test_newer_than_is_exact_across_the_32_bit_wrap() -> None:
    """Pure arithmetic (no server): which 32-bit xmin values are newer than an old snapshot."""
    parse_ok()

    def newer(old: str, now: str, x: int) -> bool:
        cond = newer_than(old, now)
        assert cond is not None
        if cond == "FALSE":
            return False
        # Evaluate the SQL condition in Python (it is plain integer arithmetic on xmin).
        expr = cond.replace("xmin::text::bigint", str(x)).replace("AND", "and").replace("OR", "or")
        expr = expr.replace(" IN (", " in (")
        return bool(eval(expr))  # noqa: S307 - our own generated arithmetic

    old, now = "100:105:100,103", "104:120:"
    assert [x for x in range(95, 125) if newer(old, now, x)] == [100, 103, 105, 106, 107, 108, 109, 110, 111, 112,
                                                                  113, 114, 115, 116, 117, 118, 119]
    # Across the wrap of 32-bit xids: 2^32 - 2 .. 2^32 + 5 (xid8) is 4294967294 .. 5 as xmin.
    base = XID_SPACE - 2
    old, now = f"{base}:{base}:", f"{base}:{XID_SPACE + 6}:"
    assert newer(old, now, XID_SPACE - 2) and newer(old, now, XID_SPACE - 1) and newer(old, now, 3)
    assert not newer(old, now, XID_SPACE - 3) and not newer(old, now, 2)  # older, and frozen
    assert newer_than("5:5:", "5:5:") == "FALSE"
    assert newer_than("5:5:", f"5:{5 + XID_SPACE}:") is None  # too far apart to tell


pg_only = [pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""), pytest.mark.slow]


@pytest.fixture(autouse=True)
def short_stats_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every writer here closes its session after writing, and an exiting backend flushes its statistics
    at once: a short wait for a still token is enough (an idle live session may take 10 s)."""
    from batchtop.core.backends.postgres import source

    monkeypatch.setattr(source, "STATS_LAG", 1.0)


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    if missing_reason() is not None:
        pytest.skip(missing_reason() or "")
    with pg_server() as srv:
        yield srv


def admin(server: PgServer, sql: str) -> None:
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql)


def make_table(server: PgServer, *, pk: str = "PRIMARY KEY", time_index: bool = True) -> None:
    admin(server, "DROP TABLE IF EXISTS topic_completions")
    admin(server, DDL.format(pk=pk))
    if time_index:
        admin(server, "CREATE INDEX idx_completed_at ON topic_completions (completed_at)")
    admin(server, FILL)
    admin(server, "VACUUM ANALYZE topic_completions")
    admin(server, "GRANT SELECT ON topic_completions TO watcher, writer")


def truth(server: PgServer) -> tuple[dict[object, int], int, float]:
    """Rows per status, in-flight rows and the cost sum, from a fresh GROUP BY."""
    import psycopg

    with psycopg.connect(server.admin_url) as conn:
        rows = dict(conn.execute("SELECT status, count(*) FROM topic_completions GROUP BY 1").fetchall())
        (flying,) = conn.execute(
            "SELECT count(*) FROM topic_completions WHERE status = 'pending' AND started_at IS NOT NULL "
            "AND completed_at IS NULL"
        ).fetchone()
        (cost,) = conn.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM topic_completions").fetchone()
    return {k: int(v) for k, v in rows.items() if v}, int(flying), float(cost)


def shown(source: PgSource) -> tuple[dict[object, int], int, float]:
    snap = source.snapshot
    assert snap is not None
    track = snap.tracks[0]
    by_raw: dict[object, int] = {}
    flying = 0
    for r in track.raw_counts:
        raw = r.raw.removesuffix(" (started)")
        by_raw[raw] = by_raw.get(raw, 0) + r.count
        flying += r.count if r.raw.endswith(" (started)") else 0
    cost = next((m.value for m in track.metrics if m.label == "cost"), None) or 0.0
    return by_raw, flying, round(float(cost), 6)


def settle(source: PgSource, deadline_s: float = 60.0) -> None:
    """Poll as the app does until the source says its counts are exact and nothing is left to recount."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = source.poll()
        assert result.error is None, result.error
        if source.exact and not result.more:
            return
        time.sleep(0.05 if result.more else 0.2)
    raise AssertionError(f"not settled: {[(t.passes, t.last_pass, t.counts.dirty) for t in source.table_trackers.values()]}")


def expect_exact(server: PgServer, source: PgSource) -> None:
    want = truth(server)
    got = shown(source)
    assert got[0] == want[0] and got[1] == want[1] and abs(got[2] - round(want[2], 6)) < 1e-6, (got, want)


@pytest.mark.parametrize("with_index", [True, False], ids=["time-indexed", "no-time-index"])
@pytest.mark.slow
@pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")
def test_counts_equal_a_fresh_group_by_once_the_writer_is_quiet(server: PgServer, with_index: bool) -> None:
    import psycopg

    make_table(server, time_index=with_index)
    source = PgSource(server.watcher_url)
    stop = threading.Event()
    done = {"commits": 0}

    def writer() -> None:
        rng = random.Random(7)
        next_id = ROWS + 1
        with psycopg.connect(server.admin_url, autocommit=True) as job:
            while not stop.is_set():
                kind = rng.randrange(8)
                key = rng.randrange(1, ROWS)
                if kind <= 2:  # the job completes a topic: status and completed_at move (located)
                    job.execute(
                        "UPDATE topic_completions SET status = 'completed', completed_at = now(), cost_usd = 0.05, "
                        "flashcard_count = 12 WHERE id = (SELECT id FROM topic_completions WHERE status = 'pending' "
                        "AND id > %s ORDER BY id LIMIT 1)",
                        (key,),
                    )
                elif kind == 3:  # claims one: started_at only (no index on it: not located)
                    job.execute(
                        "UPDATE topic_completions SET started_at = now() WHERE id = (SELECT id FROM "
                        "topic_completions WHERE status = 'pending' AND started_at IS NULL AND id > %s "
                        "ORDER BY id LIMIT 1)",
                        (key,),
                    )
                elif kind == 4:  # status alone changes, no time column moves (not located)
                    job.execute("UPDATE topic_completions SET status = 'failed' WHERE id = %s", (key,))
                elif kind == 5:  # a reset clears the times (the row leaves every time index)
                    job.execute(
                        "UPDATE topic_completions SET status = 'pending', started_at = NULL, completed_at = NULL, "
                        "error_message = NULL WHERE id = %s",
                        (key,),
                    )
                elif kind == 6:  # an insert past the end, or a delete
                    if rng.random() < 0.6:
                        job.execute(
                            "INSERT INTO topic_completions (id, topic_path, status) VALUES (%s, 'new', 'pending')",
                            (next_id,),
                        )
                        next_id += 1
                    else:
                        job.execute("DELETE FROM topic_completions WHERE id = %s", (key,))
                else:  # a change no count depends on
                    job.execute("UPDATE topic_completions SET content_hash = 'x' WHERE id = %s", (key,))
                done["commits"] += 1
                time.sleep(0.002)
        # Closing the job's session flushes its statistics (the tally batchtop checks).

    try:
        settle(source)
        expect_exact(server, source)
        job = threading.Thread(target=writer)
        job.start()
        try:
            end = time.monotonic() + 4.0
            while time.monotonic() < end:
                assert source.poll().error is None
                time.sleep(0.1)
        finally:
            stop.set()
            job.join()
        assert done["commits"] > 100
        settle(source)
        expect_exact(server, source)
        tracker = source.table_trackers["topics"]
        assert tracker.passes > 1  # unlocated changes made it recount
        if with_index:
            assert tracker.located > 0
    finally:
        source.close()


@pytest.mark.slow
@pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")
def test_located_changes_recount_only_their_chunks(server: PgServer) -> None:
    """Completions (status and an indexed completed_at move) and inserts past the end: no pass, only the
    chunks holding them are read again."""
    import psycopg

    make_table(server)
    source = PgSource(server.watcher_url)
    try:
        settle(source)
        tracker = source.table_trackers["topics"]
        passes, reads = tracker.passes, tracker.counts.reads
        with psycopg.connect(server.admin_url, autocommit=True) as job:
            for key in (71, 72, 73, 50_071, 50_072):  # pending rows in two chunks
                job.execute(
                    "UPDATE topic_completions SET status = 'completed', completed_at = now() WHERE id = %s", (key,)
                )
            job.execute(
                f"INSERT INTO topic_completions (id, status) SELECT i, 'pending' FROM generate_series({ROWS + 1}, "
                f"{ROWS + 10}) AS i"
            )
        settle(source)
        expect_exact(server, source)
        assert tracker.passes == passes  # nothing needed a whole recount
        assert tracker.located == 15
        assert tracker.counts.reads - reads <= 3  # the two chunks of the updates, the one of the inserts
        # An unchanged poll: one statement, no chunk read.
        idle = source.poll()
        assert (idle.changed, idle.queries, idle.more) == (False, 1, 0.0)
    finally:
        source.close()


@pytest.mark.slow
@pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")
def test_an_unlocated_change_is_found_by_the_tally(server: PgServer) -> None:
    """A status changed with no time column moving (a row the job marks failed without a time) is
    invisible to every index: the server's tally of modified rows shows it, and a pass corrects it."""
    make_table(server)
    source = PgSource(server.watcher_url)
    try:
        settle(source)
        tracker = source.table_trackers["topics"]
        passes = tracker.passes
        admin(server, "UPDATE topic_completions SET status = 'failed' WHERE id = 5")  # session closed: flushed
        settle(source)
        expect_exact(server, source)
        assert tracker.passes == passes + 1 and "cannot locate" in tracker.last_pass
    finally:
        source.close()


@pytest.mark.slow
@pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")
def test_truncate_and_refill_is_counted_again(server: PgServer) -> None:
    make_table(server)
    source = PgSource(server.watcher_url)
    try:
        settle(source)
        admin(server, "TRUNCATE topic_completions")
        admin(server, FILL.replace("'completed'", "'failed'"))
        result = source.poll()
        assert result.error is None
        assert any("rewritten" in e for e in result.events)
        settle(source)
        expect_exact(server, source)
    finally:
        source.close()


@pytest.mark.slow
@pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or "")
def test_a_table_without_a_usable_key_is_counted_by_one_group_by(server: PgServer) -> None:
    make_table(server, pk="")  # no primary key at all
    source = PgSource(server.watcher_url)
    try:
        settle(source)
        assert source.table_trackers == {}
        expect_exact(server, source)
        admin(server, "UPDATE topic_completions SET status = 'failed' WHERE id < 500")
        source._read_cost = 0.0  # the READ_DUTY wait of a GROUP BY table is not what is tested here
        settle(source)
        expect_exact(server, source)
    finally:
        source.close()
