"""Failures grouped by error signature: counts, chunking, the incremental cache, keyset pages, search."""

from __future__ import annotations

import random
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import (
    ERROR_FAMILIES,
    FAMILY_SIGNATURES,
    FIXED_NOW,
    add_failures,
    big_failures_db,
    failures_db,
    secret_jobs_db,
)

from batchtop.core import groups as G
from batchtop.core import signature as S
from batchtop.core.backends.sqlite import groups as sqlite_groups
from batchtop.core.backends.sqlite.reader import connect_ro
from batchtop.core.backends.sqlite.reads import read_failures
from batchtop.core.profiles.builtin import DOCSTORE, JOBS, TOPICS
from batchtop.core.signature import signature
from batchtop.core.source import Source

TRACK = TOPICS.tracks[0]
COUNTS = {"rate": 13, "timeout": 7, "missing": 5, "json": 3, "exit": 1}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return failures_db(tmp_path / "f.db", COUNTS, mode="delete")


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = connect_ro(db)
    yield c
    c.close()


def writer(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def summary(groups: list[G.ErrorGroup]) -> list[tuple]:
    return [(g.signature, g.count, g.first_seen, g.last_seen, g.sample_key, g.sample_label, g.sample_error)
            for g in groups]


def test_families_group_by_signature(conn: sqlite3.Connection) -> None:
    groups = G.error_groups(conn, TRACK)
    assert [(g.signature, g.count) for g in groups] == [(FAMILY_SIGNATURES[f], n) for f, n in COUNTS.items()]
    assert sum(g.share for g in groups) == pytest.approx(1.0)
    assert groups[0].share == pytest.approx(13 / 29)
    # Completed rows keep a stale error text: never grouped (errors only for the failed state).
    assert all("stale" not in g.signature for g in groups)
    rate = groups[0]
    keys = [r[0] for r in conn.execute("SELECT id FROM topic_completions WHERE error_message LIKE 'RateLimit%' "
                                       "AND status = 'failed' ORDER BY id")]
    assert rate.sample_key == keys[-1]
    assert rate.sample_label == f"Data/rate/topic_{keys[-1]}.json"
    assert rate.sample_error.startswith("RateLimitError: 429")
    assert rate.first_seen is not None and rate.last_seen is not None and rate.first_seen < rate.last_seen
    assert rate.last_seen <= FIXED_NOW


def test_chunking_matches_a_single_pass(conn: sqlite3.Connection, db: Path) -> None:
    one = G.error_groups(conn, TRACK, chunk=1_000_000)
    seen: list[int] = []
    for chunk in (1, 2, 7, 29, 30):
        assert summary(G.error_groups(conn, TRACK, chunk=chunk, pause=0, progress=seen.append)) == summary(one)
    assert seen[-1] == 29
    source = Source(db)
    assert source.poll(force=True).error is None
    # Through a Source (its lock released between chunks): the same groups.
    assert summary(G.error_groups(source, TRACK, chunk=4)) == summary(one)
    source.close()


def test_a_long_pass_hands_out_the_top_causes_so_far_before_it_ends(
        conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(G, "PARTIAL_EVERY", 0.0)  # one provisional report per chunk
    seen: list[G.GroupReport] = []
    final = G.GroupCache(TRACK).refresh(conn, chunk=5, pause=0, partial=seen.append)
    assert [r.how for r in seen] == ["partial"] * 6 and final.how == "full"
    assert [r.failed for r in seen] == [5, 10, 15, 20, 25, 29]  # growing as rows are read
    assert seen[-1].failed == final.failed == 29
    # The last provisional report already has the final groups and counts, only without samples.
    assert [(g.signature, g.count) for g in seen[-1].groups] == [(g.signature, g.count) for g in final.groups]
    # An incremental refresh is fast: no provisional reports.
    seen.clear()
    cache = G.GroupCache(TRACK)
    cache.refresh(conn, chunk=5, pause=0)
    cache.refresh(conn, chunk=5, pause=0, partial=seen.append)
    assert seen == []


def test_progress_may_abandon_a_pass_without_touching_the_cache(conn: sqlite3.Connection) -> None:
    cache = G.GroupCache(TRACK)
    first = cache.refresh(conn, chunk=5)

    def stop(_rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        G.GroupCache(TRACK).refresh(conn, chunk=5, progress=stop)
    assert cache.refresh(conn, chunk=5).groups == first.groups


def test_cache_incremental_matches_recompute(db: Path, conn: sqlite3.Connection) -> None:
    cache = G.GroupCache(TRACK)
    assert cache.refresh(conn, chunk=4).how == "full"
    assert cache.refresh(conn, chunk=4).how == "unchanged"
    w = writer(db)
    # Appended failures (keys above the high-water mark): only those rows are read.
    add_failures(w, {"timeout": 3, "json": 4}, start=1000)
    rep = cache.refresh(conn, chunk=4)
    assert (rep.how, rep.rows_read) == ("delta", 7)
    assert summary(list(rep.groups)) == summary(G.error_groups(conn, TRACK))
    assert rep.failed == 36
    # A reset shrinks the failed count below the mark: recomputed.
    w.execute("UPDATE topic_completions SET status = 'pending' WHERE id IN (1, 2, 3)")
    rep = cache.refresh(conn, chunk=4)
    assert rep.how == "full" and rep.failed == 33
    assert summary(list(rep.groups)) == summary(G.error_groups(conn, TRACK))
    # A row below the mark fails (an update-style writer), or fails again with a new message: recomputed.
    w.execute("UPDATE topic_completions SET status = 'failed' WHERE id = 2")
    assert cache.refresh(conn).how == "full"
    w.execute("UPDATE topic_completions SET error_message = 'Killed' WHERE id = 2")
    rep = cache.refresh(conn)
    assert rep.how == "full" and ("Killed", 1) in [(g.signature, g.count) for g in rep.groups]
    assert summary(list(rep.groups)) == summary(G.error_groups(conn, TRACK))
    w.close()


def test_the_check_below_the_mark_reads_in_chunks(db: Path, conn: sqlite3.Connection) -> None:
    """The check that nothing changed below the high-water mark is several short reads of `chunk` rows
    (one aggregate over every failed row held one long read beside a busy job), and still sees a change
    in any of them."""
    cache = G.GroupCache(TRACK)
    full = cache.refresh(conn, chunk=4)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    rep = cache.refresh(conn, chunk=4)
    conn.set_trace_callback(None)
    assert rep.how == "unchanged"
    checks = [s for s in statements if "LIMIT 4" in s and "COUNT(*)" in s]
    assert len(checks) >= full.failed // 4
    w = writer(db)
    # A change in the last chunk below the mark only: still seen.
    w.execute("UPDATE topic_completions SET error_message = 'Killed' WHERE id = (SELECT MAX(id) FROM "
              "topic_completions WHERE status = 'failed')")
    w.close()
    assert cache.refresh(conn, chunk=4).how == "full"


def test_the_wal_spares_the_check_when_every_change_is_above_the_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside a job appending failures, the source's WAL reader says no row at or below the high-water
    mark changed, so the check below it is skipped; a change below the mark is still seen, once a poll
    has read it."""
    path = failures_db(tmp_path / "w.db", COUNTS, mode="wal")
    job = writer(path)  # held open, as the job's: the -wal stays
    source = Source(path)
    source.poll(force=True)
    add_failures(job, {"rate": 1})  # a job at work: the source keeps its WAL reader from now on
    assert source.poll().changed
    track = source.profile.track("topics")
    checks: list[int] = []
    check = sqlite_groups.check
    monkeypatch.setattr(sqlite_groups, "check", lambda *a, **kw: checks.append(1) or check(*a, **kw))
    cache = G.GroupCache(track)
    assert cache.refresh(source, chunk=4).how == "full"
    add_failures(job, {"timeout": 2})
    assert source.poll().changed
    rep = cache.refresh(source, chunk=4)
    assert (rep.how, rep.rows_read, checks) == ("delta", 2, [])
    job.execute("UPDATE topic_completions SET error_message = 'Killed' WHERE id = 3")
    assert source.poll().changed
    rep = cache.refresh(source, chunk=4)
    assert rep.how == "full" and checks == [1] and ("Killed", 1) in [(g.signature, g.count) for g in rep.groups]
    job.close()
    source.close()


def test_cache_follows_the_source(db: Path) -> None:
    source = Source(db)
    source.poll(force=True)
    track = source.profile.track("topics")
    cache = G.cache_for(source, track)
    assert G.cache_for(source, track) is cache
    source.identity = (0, 0)  # as after the file was replaced
    assert G.cache_for(source, track) is not cache
    source.close()


def test_digit_folding_memo_is_exact() -> None:
    # cached_signature memoises on digits 1-9 folded to 1: valid only while signature() treats them alike.
    rng = random.Random(7)
    alphabet = "0123456789abcdefxAZ_-:./ T'\"()~+" + "٣"
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(20_000)]
    texts += [fn(i) for fn in ERROR_FAMILIES.values() for i in range(0, 3000, 7)]
    texts += ["5x1f", "0x1f", "2024-01-02 03:04:05", "1999-12-31T23:59:59.5+01:00 at /a/b/c.py:12"]
    for text in texts:
        raw = text.encode()
        assert signature(raw.translate(S._FOLD)) == signature(text), text
        assert S.cached_signature(raw) == signature(text)


def test_invalid_utf8_and_blob_errors_group_and_page(tmp_path: Path) -> None:
    db = failures_db(tmp_path / "u.db", {"timeout": 2}, mode="delete")
    w = writer(db)
    w.execute("INSERT INTO topic_completions (id, topic_path, status, error_message) VALUES "
              "(50, 'bad', 'failed', CAST(X'4572726f723a20ff2031' AS TEXT)), "
              "(51, 'blob', 'failed', X'00ff10'), (52, 'none', 'failed', NULL)")
    w.close()
    conn = connect_ro(db)
    groups = {g.signature: g for g in G.error_groups(conn, TRACK)}
    assert "Error: \ufffd <n>" in groups
    assert "(no message)" in groups
    # The SQL side (bt_signature, as read_failures and actions use it) agrees with the Python side.
    for sig, group in groups.items():
        rows = read_failures(conn, TRACK, limit=10, signature=sig)
        assert len(rows) == group.count, sig
        assert [r.key for r in G.group_items(conn, TRACK, sig)] == [r.key for r in rows]
    conn.close()


def test_group_pages_by_members_and_by_scan_agree(conn: sqlite3.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = G.GroupCache(TRACK)
    cache.refresh(conn)
    sig = FAMILY_SIGNATURES["rate"]
    members, bounds = cache.members(sig)
    assert members is not None and len(members) == 13 and list(members) == sorted(members)
    everything = [r.key for r in read_failures(conn, TRACK, limit=100, signature=sig)]
    for how in ("members", "scan", "cold"):
        if how == "members":
            def page(**kw):  # noqa: ANN003, ANN202
                return cache.items(conn, sig, **kw)
        elif how == "scan":
            def page(**kw):  # noqa: ANN003, ANN202
                return G.group_items(conn, TRACK, sig, bounds=bounds, **kw)
        else:
            def page(**kw):  # noqa: ANN003, ANN202
                return G.group_items(conn, TRACK, sig, **kw)
        got, before = [], None
        while True:
            rows = page(before=before, limit=4)
            got += [r.key for r in rows]
            if len(rows) < 4:
                break
            before = rows[-1].key
        assert got == everything, how
        # Back up: the page just newer than an anchor, still newest first.
        newer = page(after=everything[8], limit=3)
        assert [r.key for r in newer] == everything[5:8], how
        assert [r.key for r in page(after=everything[1], limit=5)] == everything[:1]
    # A big group (more members than KEYS_CAP) keeps no member list and pages by bounded scans.
    monkeypatch.setattr(G, "KEYS_CAP", 5)
    monkeypatch.setattr(sqlite_groups, "KEYS_CAP", 5)
    small = G.GroupCache(TRACK)
    small.refresh(conn, chunk=3)
    assert small.members(sig)[0] is None
    assert small.members(FAMILY_SIGNATURES["exit"])[0] is not None
    assert [r.key for r in small.items(conn, sig, limit=100)] == everything


def test_group_page_skips_members_that_left_the_group(db: Path, conn: sqlite3.Connection) -> None:
    cache = G.GroupCache(TRACK)
    cache.refresh(conn)
    sig = FAMILY_SIGNATURES["rate"]
    members, _ = cache.members(sig)
    w = writer(db)
    w.execute(f"UPDATE topic_completions SET status = 'pending' WHERE id IN ({members[-1]}, {members[-2]})")
    w.execute(f"UPDATE topic_completions SET error_message = 'other' WHERE id = {members[-3]}")
    w.close()
    page = cache.items(conn, sig, limit=5)
    assert [r.key for r in page] == list(reversed(members[-8:-3]))


def test_search_errors_and_labels_with_escaping(db: Path, conn: sqlite3.Connection) -> None:
    w = writer(db)
    w.execute("INSERT INTO topic_completions (id, topic_path, status, error_message) VALUES "
              "(100, 'Data/odd/100%_done.json', 'failed', 'disk 100% full'), "
              "(101, 'Data/odd/x.json', 'failed', 'a_b literal'), (102, 'Data/odd/y.json', 'failed', 'axb'), "
              "(103, 'Data/odd/z.json', 'completed', 'disk 100% full (stale)')")
    w.close()
    assert [r.key for r in G.search_failures(conn, TRACK, "100%")] == [100]
    assert [r.key for r in G.search_failures(conn, TRACK, "a_b")] == [101]
    assert [r.key for r in G.search_failures(conn, TRACK, "%_done")] == [100]
    assert [r.key for r in G.search_failures(conn, TRACK, "DATA/ODD")] == [102, 101, 100]
    timeouts = [r.key for r in read_failures(conn, TRACK, limit=100, search="timed out")]
    assert len(timeouts) == 7
    first = G.search_failures(conn, TRACK, "timed out", limit=3)
    second = G.search_failures(conn, TRACK, "timed out", before=first[-1].key, limit=3)
    assert [r.key for r in first + second] == timeouts[:6]
    assert [r.key for r in G.search_failures(conn, TRACK, "timed out", after=timeouts[4], limit=2)] == timeouts[2:4]
    assert G.search_failures(conn, TRACK, "no such text anywhere") == []


def test_newest_failures_pages_both_ways(conn: sqlite3.Connection) -> None:
    every = [r.key for r in read_failures(conn, TRACK, limit=100)]
    assert [r.key for r in G.failure_page(conn, TRACK, limit=5)] == every[:5]
    assert [r.key for r in G.failure_page(conn, TRACK, before=every[4], limit=5)] == every[5:10]
    assert [r.key for r in G.failure_page(conn, TRACK, after=every[10], limit=5)] == every[5:10]


def test_writer_that_never_records_failures(tmp_path: Path) -> None:
    track = DOCSTORE.tracks[0]
    p = tmp_path / "d.db"
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE table_metadata (table_name TEXT PRIMARY KEY, status TEXT, processed_at TEXT)")
    c.execute("INSERT INTO table_metadata VALUES ('a', 'pending', NULL), ('b', 'completed', '2026-01-01 10:00:00')")
    c.commit()
    c.close()
    conn = connect_ro(p)
    assert G.error_groups(conn, track) == []
    rep = G.GroupCache(track).refresh(conn)
    assert rep.groups == () and rep.reason is not None and "never records failures" in rep.reason
    assert G.search_failures(conn, track, "a") == [] and G.group_items(conn, track, "x") == []
    assert G.failure_page(conn, track) == []
    assert G.unrecorded_message(TRACK) is None
    conn.close()


def test_errors_only_for_error_states(tmp_path: Path) -> None:
    # jobs keeps stale error text on completed rows: only failed jobs are grouped.
    db = secret_jobs_db(tmp_path / "j.db")
    conn = connect_ro(db)
    track = JOBS.tracks[0]
    groups = G.error_groups(conn, track)
    assert sorted(g.count for g in groups) == [1, 1]
    assert not any("-15" in g.sample_error for g in groups)
    conn.close()


# -- a million failed rows --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return big_failures_db(tmp_path_factory.mktemp("big") / "m.db", 1_000_000)


def traced(path: Path) -> tuple[sqlite3.Connection, list[str]]:
    conn = connect_ro(path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    return conn, statements


def bounded(statements: list[str]) -> None:
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert selects
    for s in selects:
        assert re.search(r"\bLIMIT\s+\d+\s*$", s), s
        assert "OFFSET" not in s.upper(), s


@pytest.mark.slow
def test_million_first_pages_are_bounded(million: Path) -> None:
    conn, statements = traced(million)
    started = time.perf_counter()
    newest = G.failure_page(conn, TRACK, limit=100)
    assert len(newest) == 100 and newest[0].key == 1_000_000
    older = G.failure_page(conn, TRACK, before=newest[-1].key, limit=100)
    assert older[0].key == newest[-1].key - 1
    back = G.failure_page(conn, TRACK, after=older[0].key, limit=100)
    assert [r.key for r in back] == [r.key for r in newest]
    sig = "APITimeoutError: Request timed out after <n>s"
    page = G.group_items(conn, TRACK, sig, limit=100)
    assert len(page) == 100 and all(r.error.startswith("APITimeoutError") for r in page)
    nxt = G.group_items(conn, TRACK, sig, before=page[-1].key, limit=100)
    assert nxt[0].key < page[-1].key
    found = G.search_failures(conn, TRACK, "code 2", limit=100)
    assert len(found) == 100
    bounded(statements)
    # Generous: the point is the bound on every statement, asserted above, not the wall time.
    assert time.perf_counter() - started < 30
    conn.close()


@pytest.mark.slow
def test_million_grouping_in_chunks(million: Path) -> None:
    conn, statements = traced(million)
    seen: list[int] = []
    cache = G.GroupCache(TRACK)
    rep = cache.refresh(conn, progress=seen.append)
    assert rep.failed == 1_000_000 and rep.how == "full"
    assert len(seen) == 1_000_000 // G.CHUNK + 1 and seen[-1] == 1_000_000
    assert {g.signature: g.count for g in rep.groups}["Process exited with code <n>"] == 142_857
    bounded(statements)
    # The group's first page comes from its member list or a bounded scan: still every statement limited.
    statements.clear()
    assert len(cache.items(conn, rep.groups[0].signature, limit=100)) == 100
    bounded(statements)
    conn.close()
