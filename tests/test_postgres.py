"""The PostgreSQL backend against a real throwaway server (tests/pg_server.py): the topics seed schema
recreated in PostgreSQL reads exactly as its SQLite original; an unchanged poll costs one tiny statement
and a commit is seen at the next poll; the read session cannot write even as a superuser; resets are
conditional, journaled and refused for a read-only role; the password is never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import FIXED_NOW, topics_db
from pg_server import WATCHER_PASSWORD, WRITER_PASSWORD, PgServer, load_sqlite, missing_reason, pg_server

from batchtop.core import errors
from batchtop.core.actions import Target, apply, plan
from batchtop.core.backends.postgres.source import READ_DUTY, PgSource
from batchtop.core.backends.urls import display_url
from batchtop.core.journal import Journal
from batchtop.core.monitor import Monitor
from batchtop.core.status import to_json

# A throwaway PostgreSQL server per module: out of the fast loop.
pytestmark = [pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""), pytest.mark.slow]

TOPICS_DDL = """CREATE TABLE topic_completions (
    id BIGINT PRIMARY KEY, topic_path TEXT UNIQUE, content_hash TEXT, status TEXT,
    started_at TIMESTAMP, completed_at TIMESTAMP, duration_seconds DOUBLE PRECISION,
    flashcard_count INTEGER, cost_usd NUMERIC(12, 6), error_message TEXT);
CREATE INDEX idx_status ON topic_completions (status);
CREATE INDEX idx_completed_at ON topic_completions (completed_at)"""


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    with pg_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prompt_optimizer seed database (SQLite), mid-run: 30 done, 4 failed, 2 skipped, 2 in flight."""
    return topics_db(tmp_path_factory.mktemp("seed") / "completion_tracking.db")


@pytest.fixture
def topics(server: PgServer, seed: Path) -> PgServer:
    """`topic_completions` recreated in PostgreSQL from the seed (fresh for every test)."""
    assert load_sqlite(server, seed, table="topic_completions", schema_sql=TOPICS_DDL) == 60
    return server


def admin(server: PgServer, sql: str) -> None:
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql)


def pg_count(server: PgServer, where: str) -> int:
    import psycopg

    with psycopg.connect(server.admin_url) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM topic_completions WHERE {where}").fetchone()[0])


def test_status_json_matches_the_sqlite_seed_and_hides_the_password(topics: PgServer, seed: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "batchtop.tui.cli", "status", "--json", topics.watcher_url, str(seed)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert WATCHER_PASSWORD not in out.stdout + out.stderr
    pg, lite = json.loads(out.stdout)["sources"]
    assert pg["path"] == f"postgresql://watcher@127.0.0.1:{topics.port}/batchtop"
    assert pg["profile"] == lite["profile"] == "topic_completions"
    for key in ("total", "counts", "raw_counts", "metrics", "activity", "stale_running", "resume"):
        assert pg["tracks"][0][key] == lite["tracks"][0][key], key
    assert pg["tracks"][0]["counts"] == {
        "pending": 22,
        "running": 2,
        "done": 30,
        "failed": 4,
        "skipped": 2,
        "cancelled": 0,
    }
    text = subprocess.run(
        [sys.executable, "-m", "batchtop.tui.cli", "failures", topics.watcher_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert text.returncode == 0 and "APITimeoutError" in text.stdout and WATCHER_PASSWORD not in text.stdout


SEED_DDL = {
    "llm_results": "CREATE TABLE llm_results (id BIGINT PRIMARY KEY, prompt TEXT NOT NULL, result TEXT, "
    "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "jobs": "CREATE TABLE jobs (job_id BIGINT PRIMARY KEY, run_id TEXT NOT NULL, run_dir TEXT NOT NULL, "
    "status TEXT NOT NULL, progress INTEGER DEFAULT 0, current_step TEXT, config TEXT, output_file TEXT, "
    "error TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT); "
    "CREATE INDEX idx_jobs_status ON jobs (status)",
}


def test_llm_results_and_jobs_seeds_read_as_their_sqlite_originals(server: PgServer, tmp_path: Path) -> None:
    from factories import schema_db

    admin(server, "DROP TABLE IF EXISTS topic_completions")  # one seed table at a time: one profile applies
    for schema, table in (("llm", "llm_results"), ("jobs", "jobs")):
        db = schema_db(schema, tmp_path / f"{schema}.db", items=40, completed=20, failed=6)
        assert load_sqlite(server, db, table=table, schema_sql=SEED_DDL[table]) == 40
        monitor = Monitor([server.watcher_url, str(db)])
        try:
            monitor.rescan()
            assert all(r.error is None for _, r in monitor.poll_all())
            pg, lite = (to_json(s) for s in monitor.statuses())
        finally:
            monitor.close()
            admin(server, f'DROP TABLE "{table}"')
        assert pg["profile"] == lite["profile"] and pg["tracks"][0]["counts"]["failed"] == 6
        for key in ("total", "counts", "raw_counts", "metrics", "stale_running"):
            assert pg["tracks"][0][key] == lite["tracks"][0][key], (schema, key)


def test_unchanged_poll_is_one_statement_and_a_commit_shows_at_the_next(topics: PgServer) -> None:
    source = PgSource(topics.watcher_url)
    try:
        first = source.poll()
        assert first.error is None and first.changed and first.queries > 3
        idle = [source.poll() for _ in range(3)]
        assert [(r.changed, r.queries) for r in idle] == [(False, 1)] * 3
        admin(
            topics,
            "UPDATE topic_completions SET status = 'completed', completed_at = now() "
            "WHERE status = 'failed' AND id = (SELECT min(id) FROM topic_completions WHERE status = 'failed')",
        )
        # A full read waits until READ_DUTY x the last read's cost has passed (pretend it cost 10 s)...
        source._read_cost = 10.0
        deferred = source.poll()
        assert (deferred.changed, deferred.queries) == (False, 1) and READ_DUTY >= 20
        source._read_cost = 0.0  # ... then the next poll reads
        after = source.poll()
        assert after.changed and after.snapshot is not None
        assert (
            after.snapshot.tracks[0].counts["failed"] == 3 and after.snapshot.tracks[0].counts["done"] == 31
        )
        assert not source.poll().changed
        # No transaction of ours outlives a poll.
        assert source._conn.info.transaction_status == 0  # IDLE
    finally:
        source.close()


def test_the_read_session_cannot_write_even_as_superuser(topics: PgServer) -> None:
    source = PgSource(topics.admin_url)
    try:
        assert source.poll().error is None
        with pytest.raises(errors.BatchtopError, match="read-only transaction"):
            source.run(lambda conn: conn.execute("UPDATE topic_completions SET status = 'pending'"))
        assert source.poll().error is None  # the session recovered
    finally:
        source.close()
    assert pg_count(topics, "status = 'failed'") == 4


def test_reset_is_conditional_on_the_state_seen_and_journaled(topics: PgServer, tmp_path: Path) -> None:
    source = PgSource(topics.writer_url)
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        assert source.poll().error is None
        preview = plan(source, None, "reset", Target.all_failed())
        assert preview.count == 4 and len(preview.samples) == 4
        assert all(s.startswith("UPDATE") or "FOR UPDATE" in s for s in preview.statements())
        # The job picks one failed topic up again between the preview and the write: it must be left alone.
        admin(topics, f"UPDATE topic_completions SET status = 'completed' WHERE id = {preview.keys[0]}")
        outcome = apply(preview, journal=journal)
        # Our own write is shown at the very next poll (no READ_DUTY wait).
        shown = source.poll()
        assert shown.changed and shown.snapshot is not None and shown.snapshot.tracks[0].counts["failed"] == 0
    finally:
        source.close()
    assert outcome.count == 3 and outcome.changed_count == 1 and outcome.changed[0].state == "done"
    assert pg_count(topics, "status = 'failed'") == 0 and pg_count(topics, "status = 'completed'") == 31
    assert (
        pg_count(
            topics,
            f"id IN ({', '.join(map(str, outcome.affected))}) AND status = 'pending' "
            "AND error_message IS NULL AND started_at IS NULL",
        )
        == 3
    )
    text = (tmp_path / "journal.jsonl").read_text()
    assert WRITER_PASSWORD not in text
    entry = journal.entries(limit=1)[0]
    assert entry.db == display_url(topics.writer_url) and sorted(entry.affected) == sorted(outcome.affected)
    assert "ValidationError" in text  # the before-images hold the errors the reset cleared


class Traced:
    """A psycopg connection that records the text of every statement run on it (or on its cursors)."""

    def __init__(self, inner: object, log: list[str]) -> None:
        self.inner, self.log = inner, log

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def __enter__(self) -> Traced:
        self.inner.__enter__()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> object:
        return self.inner.__exit__(*exc)  # type: ignore[attr-defined]

    def execute(self, sql: str, *args: object) -> object:
        self.log.append(sql)
        return self.inner.execute(sql, *args)  # type: ignore[attr-defined]

    def cursor(self) -> Traced:
        return Traced(self.inner.cursor(), self.log)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["keys", "condition"])
def test_the_preview_statements_are_the_ones_apply_runs(
    kind: str, topics: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchtop.core.backends.postgres import write

    source = PgSource(topics.writer_url)
    trace: list[str] = []
    real = write.connect
    monkeypatch.setattr(write, "connect", lambda *a, **kw: Traced(real(*a, **kw), trace))
    try:
        assert source.poll().error is None
        failed = plan(source, None, "reset", Target.all_failed())
        preview = failed if kind == "condition" else plan(source, None, "reset", Target.items(failed.keys[:2]))
        statements = preview.write_statements()
        apply(preview, journal=Journal(tmp_path / "journal.jsonl"))
    finally:
        source.close()
    # Every statement the preview built ran as it was shown, in order, inside the write transaction.
    texts = [s.text for s in statements]
    start = trace.index(texts[0])
    assert trace[start:trace.index("COMMIT")] == texts
    assert [s.role for s in statements][0] == ("find-keys" if kind == "condition" else "before-image")
    assert [s for s in preview.statements() if s in trace] == preview.statements() != []


def test_a_read_only_role_is_refused_and_nothing_changes(topics: PgServer, tmp_path: Path) -> None:
    source = PgSource(topics.watcher_url)
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        assert source.poll().error is None
        preview = plan(source, None, "reset", Target.all_failed())
        with pytest.raises(errors.ActionError, match="may not write") as refused:
            apply(preview, journal=journal)
        with pytest.raises(errors.ReadOnlyMode):
            apply(preview, journal=journal, read_only=True)
    finally:
        source.close()
    assert WATCHER_PASSWORD not in refused.value.message
    assert pg_count(topics, "status = 'failed'") == 4
    assert not (tmp_path / "journal.jsonl").exists() or journal.entries(limit=5) == []


def test_a_dropped_and_recreated_table_is_never_written(topics: PgServer, seed: Path, tmp_path: Path) -> None:
    source = PgSource(topics.writer_url)
    try:
        assert source.poll().error is None
        preview = plan(source, None, "reset", Target.all_failed())
        load_sqlite(topics, seed, table="topic_completions", schema_sql=TOPICS_DDL)  # same rows, new table
        with pytest.raises(errors.FileReplaced):
            apply(preview, journal=Journal(tmp_path / "journal.jsonl"))
        result = source.poll(force=True)
        assert result.error is None and "table replaced" in " ".join(result.events)
    finally:
        source.close()
    assert pg_count(topics, "status = 'failed'") == 4


def test_wrong_password_and_missing_table_are_clear_and_secret_free(topics: PgServer) -> None:
    bad = PgSource(topics.url("watcher", "not-the-password"))
    try:
        error = bad.poll().error
    finally:
        bad.close()
    assert isinstance(error, errors.PermissionDenied) and "authentication failed" in error.message
    assert "not-the-password" not in error.message
    admin(topics, "DROP TABLE topic_completions")
    source = PgSource(topics.watcher_url)
    try:
        error = source.poll().error
    finally:
        source.close()
    assert isinstance(error, errors.UnknownSchema) and "no progress table recognised" in error.message


def test_monitor_mixes_urls_and_files(topics: PgServer, seed: Path) -> None:
    monitor = Monitor([topics.watcher_url, str(seed)])
    try:
        monitor.rescan()
        monitor.rescan()  # a second scan adds nothing
        results = monitor.poll_all()
        assert len(results) == 2 and all(r.error is None for _, r in results)
        statuses = [to_json(s) for s in monitor.statuses()]
    finally:
        monitor.close()
    assert [s["tracks"][0]["counts"]["failed"] for s in statuses] == [4, 4]
    assert not any(WATCHER_PASSWORD in json.dumps(s) for s in statuses)


@pytest.mark.anyio
async def test_tui_overview_source_screen_and_requeue_on_postgres(
    topics: PgServer, make_app, ready, until
) -> None:
    from batchtop.tui.dialogs.preview import PreviewScreen
    from batchtop.tui.screens.source import SourceScreen
    from batchtop.tui.widgets.keyed_table import KeyedTable

    # An hour after the seed's "now": its two in-flight topics (started a minute before) are stale.
    app = make_app(topics.writer_url, poll_interval=0.2, now=FIXED_NOW + 3600)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)

        def text() -> str:
            return "\n".join(strip.text for strip in app.screen._compositor.render_strips())

        screen = text()
        assert "batchtop@1" in screen and "36/60" in screen and "topic_compl" in screen
        assert f"postgresql://writer@127.0.0.1:{topics.port}/batchtop" in screen
        assert WRITER_PASSWORD not in screen
        # A commit by the job shows up at a next poll.
        admin(
            topics,
            "UPDATE topic_completions SET status = 'completed' WHERE id IN (SELECT id FROM "
            "topic_completions WHERE status = 'pending' AND started_at IS NULL ORDER BY id LIMIT 5)",
        )
        await until(pilot, lambda: "41/60" in text(), timeout=15)
        app.screen.query_one(KeyedTable).focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SourceScreen))
        await until(pilot, lambda: "If the job restarted now" in text())
        assert "pending (started)" in text() and WRITER_PASSWORD not in text()
        # R: requeue the two stale in-flight topics (a crashed worker's), previewed, then written.
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.state != "planning")
        preview = app.screen
        assert preview.state == "ready" and preview.plan is not None and preview.plan.count == 2
        await pilot.press("enter")
        await until(pilot, lambda: preview.state == "done", timeout=15)
        assert "requeued 2 of 2" in preview.status_text
    app.monitor.close()
    assert pg_count(topics, "status = 'pending' AND started_at IS NOT NULL") == 0


def test_pgpassfile_and_a_schema_on_the_search_path(
    topics: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin(
        topics,
        "DROP SCHEMA IF EXISTS jobs CASCADE; CREATE SCHEMA jobs; GRANT USAGE ON SCHEMA jobs TO watcher; "
        "CREATE TABLE jobs.topic_completions AS SELECT * FROM public.topic_completions; "
        "UPDATE jobs.topic_completions SET status = 'completed' WHERE status = 'failed'; "
        "GRANT SELECT ON jobs.topic_completions TO watcher",
    )
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{topics.port}:batchtop:watcher:{WATCHER_PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    source = PgSource(f"postgresql://watcher@127.0.0.1:{topics.port}/batchtop?options=-csearch_path%3Djobs")
    try:
        result = source.poll()
    finally:
        source.close()
        admin(topics, "DROP SCHEMA jobs CASCADE")
    assert result.error is None, result.error
    assert result.snapshot is not None and result.snapshot.tracks[0].counts["failed"] == 0
    assert result.snapshot.tracks[0].counts["done"] == 34


def test_undo_restores_untouched_rows_and_leaves_moved_ones(
    topics: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchtop.core.undo import undo

    journal = Journal(tmp_path / "journal.jsonl")
    source = PgSource(topics.writer_url)
    try:
        assert source.poll().error is None
        outcome = apply(plan(source, None, "reset", Target.all_failed()), journal=journal)
        assert outcome.count == 4
        # The job picks one reset topic up and completes it: undo must leave that one alone.
        moved = outcome.affected[0]
        admin(
            topics,
            f"UPDATE topic_completions SET status = 'completed', completed_at = now() WHERE id = {moved}",
        )
        result = undo(journal, outcome.entry_id, source=source)
    finally:
        source.close()
    assert len(result.restored) == 3 and result.moved_count == 1 and result.moved[0].state == "done"
    assert pg_count(topics, "status = 'failed' AND error_message IS NOT NULL AND started_at IS NOT NULL") == 3
    assert pg_count(topics, f"id = {moved} AND status = 'completed'") == 1
    # Headless, the journal names the database without its password: libpq takes it from PGPASSFILE.
    source = PgSource(topics.writer_url)
    try:
        assert source.poll().error is None
        again = apply(plan(source, None, "reset", Target.all_failed()), journal=journal)
    finally:
        source.close()
    assert again.count == 3 and pg_count(topics, "status = 'failed'") == 0
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:writer:{WRITER_PASSWORD}\n")
    passfile.chmod(0o600)
    cli = [
        sys.executable,
        "-m",
        "batchtop.tui.cli",
        "undo",
        again.entry_id,
        "--yes",
        "--journal",
        str(journal.path),
    ]
    env = {**os.environ, "PGPASSFILE": str(passfile)}
    out = subprocess.run(cli, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and "restored 3" in out.stdout, out.stdout + out.stderr
    assert pg_count(topics, "status = 'failed'") == 3
    out = subprocess.run(cli, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1 and "already undone" in out.stdout + out.stderr


def test_every_target_kind_previews_on_postgres(topics: PgServer) -> None:
    from batchtop.core.signature import error_signature

    source = PgSource(topics.watcher_url)
    try:
        assert source.poll().error is None
        # LIKE wildcards in the search text are literal; case is ignored (as SQLite's LIKE does).
        assert plan(source, None, None, Target.matching("TIMED OUT after 30")).count == 1
        assert plan(source, None, None, Target.matching("timed out 100%_")).count == 0
        newest = source.snapshot.tracks[0].recent_failures[0]
        group = plan(source, None, None, Target.group(error_signature(newest.error)))
        assert group.keys == (newest.key,) and f'"id" IN ({newest.key})' in group.statements()[0]
        keys = plan(source, None, "skip", Target.items([5, 1, 999]))
        assert keys.keys == (5,) and [(r.key, r.state) for r in keys.not_eligible] == [
            (1, "done"),
            (999, "missing"),
        ]
        stale = plan(source, None, None, Target.stale(older_than=1))
        assert stale.action.name == "requeue" and stale.count == 2
    finally:
        source.close()


def test_postgres_backend_implements_the_protocol(topics: PgServer) -> None:
    from batchtop.core.backends.base import Backend
    from batchtop.core.backends.postgres.backend import PostgresBackend

    backend = PostgresBackend(topics.watcher_url)
    assert isinstance(backend, Backend) and backend.display == display_url(topics.watcher_url)
    session = backend.open_read()
    try:
        token = backend.change_token(session)
        with backend.read_transaction(session):
            schema, oids = backend.read_schema(session)
            table = schema.table("topic_completions")
            assert table is not None and "status" in table.indexed
            assert backend.identity(session, ["topic_completions"])[0] > 0
        assert backend.change_token(session) == token  # reading changes nothing
        admin(topics, "UPDATE topic_completions SET status = status WHERE id = 1")
        assert backend.change_token(session) != token  # any commit does
    finally:
        session.close()


@pytest.mark.anyio
async def test_tui_failures_screen_groups_pages_and_group_reset_on_postgres(
    server: PgServer, tmp_path: Path, make_app, ready, until
) -> None:
    from factories import failures_db

    from batchtop.tui.dialogs.preview import PreviewScreen
    from batchtop.tui.screens.failures import FailuresScreen

    db = failures_db(tmp_path / "f.db", {"rate": 6, "timeout": 4})
    load_sqlite(server, db, table="topic_completions", schema_sql=TOPICS_DDL)
    app = make_app(server.writer_url)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)

        def text() -> str:
            return "\n".join(strip.text for strip in app.screen._compositor.render_strips())

        def idle() -> bool:
            return not app.reading

        app.open_failures(display_url(server.writer_url), "topics")
        await until(pilot, lambda: isinstance(app.screen, FailuresScreen) and idle())
        failures = app.screen
        await until(pilot, lambda: "10 failed · 2 error groups" in text())
        assert "RateLimitError" in text() and "Timeout" in text()
        await pilot.press("enter")  # the largest group: its items
        await until(pilot, lambda: idle() and (failures.current_group or "").startswith("RateLimitError"))
        await pilot.press("X")  # everything listed: the whole group
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.state != "planning")
        preview = app.screen
        assert preview.plan is not None and preview.plan.count == 6 and preview.plan.target.kind == "group"
        await pilot.press("enter")
        await until(pilot, lambda: preview.state == "done", timeout=15)
        assert "reset 6 of 6" in preview.status_text
    app.monitor.close()
    assert pg_count(server, "status = 'failed'") == 4 and pg_count(server, "status = 'pending'") >= 6


def test_failure_pages_search_and_group_scan_on_postgres(server: PgServer, tmp_path: Path) -> None:
    from factories import failures_db

    from batchtop.core.backends.postgres.failures import group_items
    from batchtop.core.groups import cache_for, failure_page, search_failures
    from batchtop.core.signature import error_signature

    db = failures_db(tmp_path / "f.db", {"rate": 6, "timeout": 4})
    load_sqlite(server, db, table="topic_completions", schema_sql=TOPICS_DDL)
    source = PgSource(server.watcher_url)
    try:
        assert source.poll().error is None
        track = source.profile.tracks[0]
        first = failure_page(source, track, limit=3)
        second = failure_page(source, track, before=first[-1].key, limit=3)
        assert [r.key for r in first + second] == sorted((r.key for r in first + second), reverse=True)
        assert [r.key for r in failure_page(source, track, after=second[0].key, limit=3)] == [
            r.key for r in first
        ]
        hits = search_failures(source, track, "RATELIMIT")
        assert len(hits) == 6 and all("RateLimit" in r.error for r in hits)
        report = cache_for(source, track).refresh(source, chunk=4, pause=0)  # several chunks
        assert [(g.count, g.signature[:14]) for g in report.groups] == [
            (6, "RateLimitError"),
            (4, "APITimeoutErro"),
        ]
        big = report.groups[0].signature
        scanned = group_items(source, track, big, limit=4, members=None, chunk=4, pause=0)
        assert len(scanned) == 4 and {error_signature(r.error) for r in scanned} == {big}
    finally:
        source.close()
