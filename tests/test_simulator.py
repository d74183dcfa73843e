"""The simulator must write exactly what field-notes.md says each real job writes, the way it writes it."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from batchtop.core.simulator import SCHEMAS, STATUSES, Simulation, create, demo, fill

FIXED = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC

# Status vocabularies from field-notes.md (llm_results has no status column).
VOCAB = {
    "topics": ("pending", "completed", "failed", "skipped"),
    "llm": (),
    "docstore": ("pending", "completed"),
    "smarthistory": ("started", "completed", "failed"),
    "jobs": ("preparing", "queued", "running", "completed", "failed", "cancelled"),
}
JOURNAL = {"topics": "wal", "llm": "wal", "docstore": "delete", "smarthistory": "wal", "jobs": "delete"}
# Columns as documented in the seeds (and the brief for user_sessions / youtube_credentials).
COLUMNS = {
    "topic_completions": ["id", "topic_path", "content_hash", "status", "started_at", "completed_at",
                          "duration_seconds", "flashcard_count", "cost_usd", "error_message"],
    "llm_results": ["id", "prompt", "result", "created_at"],
    "processing_state": ["id", "phase", "status", "started_at", "completed_at", "error_message"],
    "table_metadata": ["table_name", "schema_data", "business_purpose", "documentation", "processed_at", "status"],
    "relationship_metadata": ["id", "constrained_table", "constrained_columns", "referred_table",
                              "referred_columns", "relationship_type", "documentation", "processed_at", "status"],
    "generation_metadata": ["id", "source_database_url", "started_at", "completed_at", "total_tables",
                            "total_relationships", "status"],
    "user_sessions": ["id", "session_type", "status", "start_time", "end_time", "processed_raw_count",
                      "processed_activity_count", "tags_generated", "error_message"],
    "jobs": ["job_id", "run_id", "run_dir", "status", "progress", "current_step", "config", "output_file",
             "error", "created_at", "started_at", "finished_at"],
    "job_files": ["id", "job_id", "file_type", "filename", "file_path", "uploaded_at"],
    "youtube_uploads": ["id", "job_id", "video_id", "video_url", "title", "description", "privacy", "tags",
                        "category", "uploaded_at"],
    "youtube_credentials": ["id", "channel", "credentials_json", "updated_at"],
}
TABLES = {
    "topics": {"topic_completions"},
    "llm": {"llm_results"},
    "docstore": {"processing_state", "table_metadata", "relationship_metadata", "generation_metadata"},
    "smarthistory": {"raw_activities", "processed_activities", "tags", "activity_tags", "user_sessions",
                     "tag_generations", "schema_versions"},
    "jobs": {"jobs", "job_files", "youtube_uploads", "youtube_credentials"},
}
UTC_SECONDS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


@contextmanager
def ro(path: Path) -> Iterator[sqlite3.Connection]:
    """A reader opened the way batchtop opens databases."""
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def q(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
    with ro(path) as conn:
        return conn.execute(sql, params).fetchall()


def play(sim: Simulation, limit: int = 100_000) -> int:
    n = 0
    while n < limit and sim.step():
        n += 1
    return n


def statuses(path: Path, table: str) -> set[str]:
    return {r[0] for r in q(path, f"SELECT DISTINCT status FROM {table}")}


def test_public_status_vocabulary_matches_field_notes() -> None:
    assert SCHEMAS == ("topics", "llm", "docstore", "smarthistory", "jobs")
    assert STATUSES == VOCAB


@pytest.mark.parametrize("schema", SCHEMAS)
def test_create_has_documented_tables_columns_and_journal_mode(tmp_path: Path, schema: str) -> None:
    path = create(schema, tmp_path, 12, seed=3)
    assert path.parent == tmp_path and path.is_file()
    assert q(path, "PRAGMA journal_mode")[0][0] == JOURNAL[schema]
    tables = {r[0] for r in q(path, "SELECT name FROM sqlite_master WHERE type='table'")} - {"sqlite_sequence"}
    assert tables == TABLES[schema]
    for table in tables & COLUMNS.keys():
        assert [r[1] for r in q(path, f"PRAGMA table_info({table})")] == COLUMNS[table], table
    assert q(path, "PRAGMA integrity_check") == [("ok",)]
    with pytest.raises(FileExistsError):
        create(schema, tmp_path, 1, path=path)


def test_indexes_match_the_seeds(tmp_path: Path) -> None:
    def indexes(path: Path) -> dict[str, str]:
        return {n: s for n, s in q(path, "SELECT name, sql FROM sqlite_master WHERE type='index'") if s}

    assert set(indexes(create("topics", tmp_path / "t", 3))) == {"idx_status", "idx_completed_at"}
    llm = create("llm", tmp_path / "l", 3)
    assert q(llm, "SELECT count(*) FROM sqlite_master WHERE type='index'") == [(0,)]
    jobs = indexes(create("jobs", tmp_path / "j", 3))
    assert {"idx_jobs_status", "idx_jobs_created", "idx_job_files_job", "idx_youtube_job"} <= set(jobs)
    assert "created_at DESC" in jobs["idx_jobs_created"]
    history = create("smarthistory", tmp_path / "s", 3)
    assert len(indexes(history)) >= 8
    assert q(history, "SELECT count(*) FROM sqlite_master WHERE type='trigger'") == [(1,)]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_finished_run_uses_only_the_documented_status_vocabulary(tmp_path: Path, schema: str) -> None:
    items = 24 if schema == "jobs" else 40  # jobs fsyncs every call: keep it small
    sim = Simulation(schema, tmp_path, items, seed=11, fail_rate=0.3)
    play(sim)
    assert sim.done and not sim.crashed
    path = sim.path
    assert q(path, "PRAGMA journal_mode")[0][0] == JOURNAL[schema]
    if schema == "topics":
        seen = statuses(path, "topic_completions")
        assert {"completed", "failed"} <= seen <= set(VOCAB["topics"])
        assert q(path, "SELECT count(*) FROM topic_completions WHERE status='failed' AND error_message IS NULL") == [(0,)]
        times = [t for row in q(path, "SELECT started_at, completed_at FROM topic_completions") for t in row if t]
        assert times and all(UTC_SECONDS.match(t) for t in times)
    elif schema == "llm":
        assert "status" not in {r[1] for r in q(path, "PRAGMA table_info(llm_results)")}
        results = [r[0] for r in q(path, "SELECT result FROM llm_results")]
        assert None not in results
        errors = [r for r in results if r.startswith("Error: ")]
        assert errors and all(r.startswith("Error: Failed after 3 attempts: ") for r in errors)
        assert any(r == "Error: Failed after 3 attempts: " for r in errors)  # timeouts: empty exception text
        assert any(r and not r.startswith("Error") and r != "NA" for r in results)
    elif schema == "docstore":
        assert statuses(path, "table_metadata") | statuses(path, "relationship_metadata") == {"pending", "completed"}
        assert q(path, "SELECT status, completed_at FROM generation_metadata") == [("in_progress", None)]
        assert q(path, "SELECT count(*) FROM processing_state") == [(0,)]
        # A failure is never recorded: failed items stay pending and untouched.
        assert q(path, "SELECT count(*) FROM table_metadata WHERE status='pending' AND processed_at IS NOT NULL") == [(0,)]
        stamp = q(path, "SELECT processed_at FROM table_metadata WHERE status='completed' LIMIT 1")[0][0]
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp)
    elif schema == "smarthistory":
        assert statuses(path, "user_sessions") == {"completed", "failed"}
        assert q(path, "SELECT count(*) FROM user_sessions") == [(40,)]
        assert q(path, "SELECT count(*) FROM user_sessions WHERE status='failed' AND error_message IS NULL") == [(0,)]
        # The trigger keeps tags.usage_count in step with activity_tags.
        assert q(path, "SELECT sum(usage_count) FROM tags") == q(path, "SELECT count(*) FROM activity_tags")
        assert q(path, "SELECT min(processed_raw_count) FROM user_sessions WHERE status = 'completed'")[0][0] >= 1
    else:
        seen = statuses(path, "jobs")
        assert {"completed", "failed"} <= seen <= set(VOCAB["jobs"])
        assert q(path, "SELECT count(*) FROM jobs WHERE status='completed' AND (output_file IS NULL OR progress != 100)") == [(0,)]
        errors = [r[0] for r in q(path, "SELECT error FROM jobs WHERE status='failed'")]
        assert errors and all(errors)
        assert any(e.startswith("Process exited with code") for e in errors)
        started = q(path, "SELECT started_at FROM jobs WHERE started_at IS NOT NULL LIMIT 1")[0][0]
        assert "T" in started and datetime.fromisoformat(started).tzinfo is None


def test_jobs_details_credentials_orphans_and_overwritten_started_at(tmp_path: Path) -> None:
    sim = Simulation("jobs", tmp_path, 12, seed=5, clock=FIXED.__float__, fail_rate=0.0)
    play(sim, 2)  # queued, then running 25
    first = q(sim.path, "SELECT started_at FROM jobs WHERE status='running'")[0][0]
    sim.clock = lambda: FIXED + 60
    play(sim, 1)  # running 50
    row = q(sim.path, "SELECT progress, current_step, started_at FROM jobs WHERE status='running'")[0]
    assert row[0] == 50 and row[1] and row[2] != first  # started_at rewritten on every progress update
    assert row[2] == datetime.fromtimestamp(FIXED + 60).isoformat()
    creds = json.loads(q(sim.path, "SELECT credentials_json FROM youtube_credentials")[0][0])
    assert creds["access_token"].startswith("ya29.FAKE") and "FAKE" in creds["refresh_token"]
    orphans = q(sim.path, "SELECT count(*) FROM job_files WHERE job_id NOT IN (SELECT job_id FROM jobs)")[0][0]
    assert orphans > 0  # foreign keys are off: files of deleted jobs remain


def test_jobs_crash_leaves_stale_running_rows_that_a_restart_keeps(tmp_path: Path) -> None:
    sim = Simulation("jobs", tmp_path, 6, seed=2, fail_rate=0.0, crash_after=4)
    assert play(sim) == 4 and sim.crashed and not sim.step()
    assert q(sim.path, "SELECT job_id, progress FROM jobs WHERE status='running'") == [(q(
        sim.path, "SELECT min(job_id) FROM jobs")[0][0], 75)]
    restarted = Simulation("jobs", tmp_path, seed=3, fail_rate=0.0)
    assert restarted.resumed
    play(restarted)
    assert q(sim.path, "SELECT count(*), max(progress) FROM jobs WHERE status='running'") == [(1, 75)]
    assert q(sim.path, "SELECT count(*) FROM jobs WHERE status IN ('preparing', 'queued')") == [(0,)]


def test_topics_in_flight_is_pending_with_started_at_and_crash_leaves_it(tmp_path: Path) -> None:
    sim = Simulation("topics", tmp_path, 50, seed=4, workers=4, fail_rate=0.0)
    play(sim, 9)
    in_flight = sim.in_flight
    assert in_flight > 0
    sim.crash()
    assert not sim.step()
    stale = q(sim.path, "SELECT count(*) FROM topic_completions WHERE status='pending' AND started_at IS NOT NULL")
    assert stale == [(in_flight,)]
    assert "running" not in statuses(sim.path, "topic_completions")


def test_llm_inserts_everything_up_front_and_adds_chunk_files(tmp_path: Path) -> None:
    sim = Simulation("llm", tmp_path, 25, chunk_size=10, seed=8, fail_rate=0.4)
    first = tmp_path / "results_chunk_0.db"
    assert sim.path == first and sorted(p.name for p in tmp_path.glob("*.db")) == ["results_chunk_0.db"]
    assert q(first, "SELECT count(*), count(result), count(DISTINCT created_at) FROM llm_results") == [(10, 0, 1)]
    while not (tmp_path / "results_chunk_1.db").exists():
        assert sim.step()
    # The next chunk appears only once the previous one has a result for every row.
    assert q(first, "SELECT count(*) FROM llm_results WHERE result IS NULL") == [(0,)]
    play(sim)
    assert [p.name for p in sim.paths] == [f"results_chunk_{i}.db" for i in range(3)]
    sizes = [q(p, "SELECT count(*) FROM llm_results")[0][0] for p in sim.paths]
    assert sizes == [10, 10, 5]
    failed = sum(q(p, "SELECT count(*) FROM llm_results WHERE result LIKE 'Error:%'")[0][0] for p in sim.paths)
    assert failed > 0
    # One UPDATE+commit per row, failed rows written twice, plus one commit per extra chunk file.
    assert sim.commits == 25 + failed + 2


def test_llm_default_file_name(tmp_path: Path) -> None:
    path = create("llm", tmp_path, 2, clock=FIXED.__float__)
    assert path.name == f"llm_results_{datetime.fromtimestamp(FIXED).strftime('%Y%m%d_%H%M%S')}.db"


def test_docstore_second_run_appends_session_and_duplicate_relationships(tmp_path: Path) -> None:
    first = Simulation("docstore", tmp_path, 20, seed=6, fail_rate=0.4)
    play(first)
    path = first.path
    rels = q(path, "SELECT count(*) FROM relationship_metadata")[0][0]
    pending = q(path, "SELECT count(*) FROM table_metadata WHERE status='pending'")[0][0]
    assert rels > 0 and pending > 0
    second = Simulation("docstore", tmp_path, seed=7, fail_rate=0.0)
    assert second.resumed
    play(second)
    assert q(path, "SELECT status, completed_at FROM generation_metadata") == [("in_progress", None)] * 2
    assert q(path, "SELECT count(*) FROM relationship_metadata")[0][0] == 2 * rels
    assert q(path, "SELECT count(*) FROM table_metadata WHERE status='pending'") == [(0,)]
    assert statuses(path, "relationship_metadata") == {"completed"}


def test_error_messages_fall_into_a_few_families(tmp_path: Path) -> None:
    sim = Simulation("topics", tmp_path, 150, seed=9, fail_rate=1.0)
    play(sim)
    messages = [r[0] for r in q(sim.path, "SELECT error_message FROM topic_completions WHERE status='failed'")]
    signatures = {re.sub(r"\d+", "#", re.sub(r"req_[0-9a-f]+|0x[0-9a-f]+", "<id>", m)) for m in messages}
    assert 4 <= len(signatures) <= 10
    assert len(set(messages)) > 4 * len(signatures)


def test_failure_probability_by_family(tmp_path: Path) -> None:
    sim = Simulation("topics", tmp_path, 200, seed=3, fail_rate=None, families={"json": 0.2, "db_locked": 0.1})
    play(sim)
    failed = [r[0] for r in q(sim.path, "SELECT error_message FROM topic_completions WHERE status='failed'")]
    json_errors = sum(m.startswith("JSONDecodeError") for m in failed)
    locked = sum(m == "OperationalError: database is locked" for m in failed)
    assert json_errors + locked == len(failed) and 25 <= json_errors <= 55 and 8 <= locked <= 35
    with pytest.raises(ValueError):
        Simulation("topics", tmp_path / "x", 5, fail_rate=1.5)


def test_same_seed_and_clock_give_identical_databases(tmp_path: Path) -> None:
    def build(where: Path, schema: str) -> list[str]:
        sim = Simulation(schema, where, 8 if schema == "jobs" else 20, seed=42, clock=FIXED.__float__,
                         fail_rate=0.3)
        play(sim)
        with ro(sim.path) as conn:
            return list(conn.iterdump())

    for schema in ("topics", "llm", "jobs", "smarthistory"):
        assert build(tmp_path / "a" / schema, schema) == build(tmp_path / "b" / schema, schema), schema
    assert build(tmp_path / "c", "topics") != build(tmp_path / "d", "jobs")


TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)")


def test_every_written_time_comes_from_the_injected_clock(tmp_path: Path) -> None:
    # SQLite's own clock (CURRENT_TIMESTAMP in a trigger or a default) would write today's date into a
    # database simulated at 2023-11-14, and make two runs with the same seed and clock differ.
    for schema in SCHEMAS:
        sim = Simulation(schema, tmp_path / schema, 8, seed=3, clock=FIXED.__float__, fail_rate=0.3)
        play(sim)
        with ro(sim.path) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    for value in row:
                        m = TIMESTAMP.match(value) if isinstance(value, str) else None
                        if m:
                            written = datetime.fromisoformat(f"{m[1]} {m[2]}").timestamp()
                            assert written <= FIXED + 86400, (schema, table, value)


def test_injected_clock_sets_written_times(tmp_path: Path) -> None:
    sim = Simulation("topics", tmp_path, 3, seed=1, clock=FIXED.__float__, fail_rate=0.0, workers=1)
    play(sim)
    assert set(q(sim.path, "SELECT completed_at FROM topic_completions")) == {("2023-11-14 22:13:20",)}


def test_fill_builds_exact_counts_quickly(tmp_path: Path) -> None:
    start = time.monotonic()
    topics = fill("topics", tmp_path, 20_000, completed=15_000, failed=700, skipped=50, in_flight=7, seed=1)
    llm = fill("llm", tmp_path, 20_000, completed=12_000, failed=500, empty=30, seed=1)
    assert time.monotonic() - start < 5
    assert dict(q(topics, "SELECT status, count(*) FROM topic_completions GROUP BY 1")) == {
        "completed": 15_000, "failed": 700, "skipped": 50, "pending": 4_250}
    assert q(topics, "SELECT count(*) FROM topic_completions WHERE status='pending' AND started_at IS NOT NULL") == [(7,)]
    assert q(topics, "SELECT count(*) FROM topic_completions WHERE status='failed' AND error_message IS NULL") == [(0,)]
    assert q(topics, "PRAGMA journal_mode") == [("wal",)]
    assert q(llm, "SELECT count(*) - count(result), sum(result LIKE 'Error:%'), sum(result IN ('', 'NA'))"
                  " FROM llm_results") == [(7_470, 500, 30)]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    with pytest.raises(FileExistsError):
        fill("topics", tmp_path, 10)
    jobs = fill("jobs", tmp_path, 10, completed=6, failed=2, in_flight=1, seed=3)
    assert dict(q(jobs, "SELECT status, count(*) FROM jobs GROUP BY 1")) == {
        "completed": 6, "failed": 2, "running": 1, "preparing": 1}
    assert q(jobs, "PRAGMA journal_mode") == [("delete",)]


def test_run_paces_stalls_and_stops(tmp_path: Path) -> None:
    sim = Simulation("topics", tmp_path / "a", 1000, seed=1)
    start = time.monotonic()
    made = sim.run(rate=100, duration=0.3)  # 100 items/s = 200 commits/s
    assert time.monotonic() - start < 1.0 and 20 < made < 120
    stalled = Simulation("topics", tmp_path / "b", 1000, seed=1, stall_after=3, stall_seconds=5.0)
    assert stalled.run(rate=0, duration=0.3) == 3
    stop = threading.Event()
    sim2 = Simulation("jobs", tmp_path / "c", 50, seed=1)
    thread = threading.Thread(target=sim2.run, kwargs={"rate": 2, "stop_event": stop})
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(2)
    assert not thread.is_alive() and sim2.commits > 0


def test_busy_database_is_retried_not_fatal(tmp_path: Path) -> None:
    sim = Simulation("jobs", tmp_path, 3, seed=1, timeout=0.05)
    blocker = sqlite3.connect(sim.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    assert sim.step() and sim.commits == 0 and sim.busy_errors == 1
    blocker.execute("ROLLBACK")
    blocker.close()
    assert sim.step() and sim.commits == 1


@pytest.mark.slow
@pytest.mark.parametrize("schema", ["topics", "jobs"])
def test_subprocess_writer_commits_are_seen_by_a_read_only_reader(tmp_path: Path, schema: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchtop.core.simulator", str(tmp_path), "--schema", schema, "--items", "300",
         "--rate", "40", "--seconds", "20", "--seed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        path = Path(proc.stdout.readline().strip())
        assert path.parent == tmp_path and path.exists()
        table, done = ("topic_completions", "status != 'pending'") if schema == "topics" else (
            "jobs", "status != 'preparing'")
        seen: list[int] = []
        with ro(path) as conn:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(set(seen)) < 3:
                seen.append(conn.execute(f"SELECT count(*) FROM {table} WHERE {done}").fetchone()[0])
                time.sleep(0.1)
        assert len(set(seen)) >= 3 and seen == sorted(seen)
    finally:
        proc.kill()
        proc.wait(5)


@pytest.mark.slow
def test_demo_sets_up_every_state_and_keeps_writing(tmp_path: Path) -> None:
    d = demo(tmp_path, seed=1, scale=0.3, stall_seconds=30)
    names = {p.name for p in d.paths}
    assert {"completion_tracking.db", "results_chunk_0.db", "results_chunk_2.db", "documentation.db",
            "smarthistory.db", "yt-builder.db"} <= names
    assert any(n.startswith("llm_results_") for n in names)
    assert {s.state for s in d.sources} == {"active", "stalled", "crashed", "finished"}
    jobs = tmp_path / "yt-builder.db"
    running = q(jobs, "SELECT started_at FROM jobs WHERE status='running'")
    assert len(running) == 1
    assert (datetime.now() - datetime.fromisoformat(running[0][0])).total_seconds() > 30 * 60
    assert q(tmp_path / "documentation.db", "SELECT count(*) FROM generation_metadata") == [(2,)]
    assert q(tmp_path / "smarthistory.db", "SELECT count(*) FROM user_sessions WHERE status='started'") == [(2,)]
    topics = tmp_path / "completion_tracking.db"
    assert {"failed", "completed", "pending"} <= statuses(topics, "topic_completions")
    before = q(topics, "SELECT count(*) FROM topic_completions WHERE started_at IS NOT NULL")[0][0]
    history_before = q(tmp_path / "smarthistory.db", "SELECT count(*) FROM raw_activities")
    stop = threading.Event()
    thread = d.start(stop)
    time.sleep(1.6)
    stop.set()
    thread.join(3)
    assert not thread.is_alive() and d.errors == []
    assert q(topics, "SELECT count(*) FROM topic_completions WHERE started_at IS NOT NULL")[0][0] > before
    assert q(tmp_path / "smarthistory.db", "SELECT count(*) FROM raw_activities") == history_before  # stalled


def test_core_simulator_never_imports_the_ui() -> None:
    code = (
        "import sys, batchtop.core.simulator, batchtop.core.simulator.__main__;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
