"""The item and tables views, the journal's cohorts and detection of unknown tables, on a real throwaway
PostgreSQL server (tests/pg_server.py), as a user sees them: the item screen of a PG failure shows the
whole error and redacts credentials in jsonb and bytea; the tables screen lists the tables with bounded
or estimated row counts and pages a table without a primary key; a reset's cohort says how its rows
fared; a table no profile describes is detected and counted exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import topics_db
from pg_server import WATCHER_PASSWORD, PgServer, load_sqlite, missing_reason, pg_server

from batchtop.core.backends.postgres.source import PgSource
from batchtop.core.backends.urls import display_url

pytestmark = [
    pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""),
    pytest.mark.slow,
]

TOPICS_DDL = """CREATE TABLE topic_completions (
    id BIGINT PRIMARY KEY, topic_path TEXT UNIQUE, content_hash TEXT, status TEXT,
    started_at TIMESTAMP, completed_at TIMESTAMP, duration_seconds DOUBLE PRECISION,
    flashcard_count INTEGER, cost_usd NUMERIC(12, 6), error_message TEXT);
CREATE INDEX idx_status ON topic_completions (status)"""

SECRET = "sk-live-PGVIEWS-0123456789abcdef"
#: A long traceback: the list shows its exception line, the item screen the whole text.
TRACEBACK = (
    "Traceback (most recent call last):\n"
    + "".join(f'  File "/srv/job/step_{i}.py", line {i}, in run\n    do_step({i})\n' for i in range(120))
    + "openai.APITimeoutError: request timed out [@click=app.quit]x[/] \x1b]52;c;aGk=\x07 END-OF-ERROR"
)


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    with pg_server() as srv:
        yield srv


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return topics_db(tmp_path_factory.mktemp("seed") / "completion_tracking.db")


def admin(server: PgServer, sql: str, params: tuple = ()) -> None:
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql, params or None)


def clean(server: PgServer) -> None:
    """Drop every table of the public schema (one test's tables never meet another's profile)."""
    admin(
        server,
        "DO $$ DECLARE r record; BEGIN FOR r IN SELECT c.relname, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') "
        "ORDER BY c.relkind DESC LOOP EXECUTE format('DROP %s IF EXISTS %I CASCADE', "
        "CASE r.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, r.relname); END LOOP; END $$",
    )


@pytest.fixture
def topics(server: PgServer, seed: Path) -> PgServer:
    """`topic_completions` from the seed, plus a jsonb payload, a bytea blob and a secret column."""
    clean(server)
    assert load_sqlite(server, seed, table="topic_completions", schema_sql=TOPICS_DDL) == 60
    admin(
        server,
        "ALTER TABLE topic_completions ADD COLUMN payload JSONB, ADD COLUMN kwargs BYTEA, ADD COLUMN api_token TEXT",
    )
    return server


def newest_failed(server: PgServer) -> int:
    import psycopg

    with psycopg.connect(server.admin_url) as conn:
        return int(
            conn.execute("SELECT max(id) FROM topic_completions WHERE status = 'failed'").fetchone()[0]
        )


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.mark.anyio
async def test_item_view_shows_the_whole_error_and_redacts_jsonb_and_bytea(
    topics: PgServer, make_app, ready, until
) -> None:
    from batchtop.core.items import read_item_value
    from batchtop.tui.screens.item import ItemScreen

    key = newest_failed(topics)
    admin(
        topics,
        "UPDATE topic_completions SET error_message = %s, payload = %s::jsonb, kwargs = %s, api_token = %s "
        "WHERE id = %s",
        (
            TRACEBACK,
            json.dumps({"model": "gpt-4o", "api_key": SECRET, "nested": {"password": SECRET}}),
            json.dumps({"prompt": "hi", "token": SECRET}).encode(),
            SECRET,
            key,
        ),
    )
    app = make_app(topics.watcher_url)
    path = display_url(topics.watcher_url)
    async with app.run_test(size=(180, 50)) as pilot:
        await ready(pilot)
        app.open_item(path, "topics", key)
        await until(
            pilot, lambda: isinstance(app.screen, ItemScreen) and app.screen.chunk is not None, timeout=15
        )
        item = app.screen
        assert item.detail is not None and item.detail.found and item.detail.state == "failed"
        # The error pane: the whole traceback (not its headline), markup and escapes shown literally.
        assert item.column == "error_message" and item.chunk is not None
        assert item.chunk.length == len(TRACEBACK) and item.chunk.text.endswith("END-OF-ERROR")
        text = screen_text(app)
        assert "failed" in text and "api_token" in text and "secret column hidden" in text
        assert "[@click=app.quit]x[/]" in text or "Traceback" in text
        values = {v.column: v for v in item.detail.columns}
        assert "api_token" not in values  # never read
        assert values["payload"].kind == "text" and '"api_key": "***"' in values["payload"].text
        assert values["kwargs"].kind == "blob" and "***" in values["kwargs"].text
        assert all(SECRET not in v.text for v in values.values())
        # Page through the jsonb value and the bytea as a user moving the cursor would.
        for column in ("payload", "kwargs"):
            item.query_one("#it-columns").move_to_key(column)
            await until(pilot, lambda c=column: item.chunk is not None and item.chunk.column == c, timeout=10)
            assert SECRET not in item.chunk.text and "***" in item.chunk.text
        assert SECRET not in screen_text(app) and WATCHER_PASSWORD not in screen_text(app)
        assert "\x1b" not in screen_text(app)
        # Bad input: a column that does not exist, a key with a NUL: clear messages, never a crash.
        track = app.source_of(path).profile.track("topics")
        with pytest.raises(Exception, match="no column nope"):
            read_item_value(app.source_of(path), track, key, "nope", 0, 10)
        app.open_item(path, "topics", "bad\x00key")
        await until(pilot, lambda: app.screen is not item and "NUL" in screen_text(app), timeout=10)
    app.monitor.close()


@pytest.mark.anyio
async def test_tables_view_lists_pg_tables_with_bounded_counts_and_pages_a_keyless_table(
    topics: PgServer, make_app, ready, until
) -> None:
    from textual.widgets import DataTable

    from batchtop.tui.screens.tables import PAGE, TablesScreen

    admin(topics, "CREATE TABLE notes (body TEXT, api_key TEXT, meta JSONB)")
    admin(
        topics,
        "INSERT INTO notes SELECT 'note [b]' || g || '[/b]', %s, jsonb_build_object('secret', %s::text, 'n', g) "
        "FROM generate_series(1, 250) g",
        (SECRET, SECRET),
    )
    admin(
        topics,
        "CREATE TABLE events (id BIGINT PRIMARY KEY, kind TEXT); "
        "INSERT INTO events SELECT g, 'tick' FROM generate_series(1, 12000) g; ANALYZE events; "
        "CREATE TABLE user_credentials (id INT PRIMARY KEY, value TEXT); "
        "CREATE VIEW recent_events AS SELECT * FROM events WHERE id > 11990",
    )
    admin(topics, "INSERT INTO user_credentials VALUES (1, %s)", (SECRET,))
    app = make_app(topics.watcher_url)
    path = display_url(topics.watcher_url)
    async with app.run_test(size=(180, 50)) as pilot:
        await ready(pilot)
        app.open_tables(path)
        await until(
            pilot, lambda: isinstance(app.screen, TablesScreen) and app.screen.page is not None, timeout=15
        )
        screen = app.screen
        tables = screen.query_one("#tb-tables", DataTable)
        rows = {
            str(tables.get_row_at(i)[0]): [str(c) for c in tables.get_row_at(i)]
            for i in range(tables.row_count)
        }
        assert set(rows) == {
            "events",
            "notes",
            "recent_events (view)",
            "topic_completions",
            "user_credentials",
        }
        assert rows["topic_completions"][1:] == ["13", "1", "60"]  # api_token is secret
        assert rows["notes"][1:] == ["3", "1", "250"]
        assert rows["events"][3] == "~12,000 (estimate)"  # past the bounded count: the planner's estimate
        assert rows["user_credentials"][2:] == ["whole table", "—"]
        assert rows["recent_events (view)"][3] == "—"
        # A table with no primary key is paged by heap position, PAGE rows at a time.
        screen.show_table("notes")
        await until(pilot, lambda: screen.page is not None and screen.page.table == "notes", timeout=10)
        assert screen.page.key_column == "ctid" and len(screen.page.rows) == PAGE
        assert screen.page.hidden == ("api_key",)
        await pilot.press("n")
        await until(pilot, lambda: screen.page is not None and len(screen.page.rows) == 50, timeout=10)
        grid = screen.query_one("#tb-rows", DataTable)
        cells = " ".join(str(c) for i in range(grid.row_count) for c in grid.get_row_at(i))
        assert "note [b]250[/b]" in cells and '"secret": "***"' in cells and SECRET not in cells
        # A secret table is never read: the view says so.
        screen.show_table("user_credentials")
        await until(pilot, lambda: "holds secrets" in screen_text(app), timeout=10)
        assert SECRET not in screen_text(app)
    app.monitor.close()


@pytest.mark.anyio
async def test_cohort_of_a_pg_reset_shows_how_the_rows_fared(
    topics: PgServer, tmp_path: Path, make_app, ready, until
) -> None:
    from batchtop.core.actions import Target, apply, plan
    from batchtop.core.cohort import read_cohort
    from batchtop.core.journal import Journal
    from batchtop.tui.screens.journal import JournalScreen

    journal = Journal(tmp_path / "journal.jsonl")
    source = PgSource(topics.writer_url)
    try:
        assert source.poll().error is None
        outcome = apply(plan(source, None, "reset", Target.all_failed()), journal=journal)
        assert outcome.count == 4
        a, b, c, d = sorted(outcome.affected)
        # Since the reset the job ran them: one done, one failed the same way again, one with a new error.
        import psycopg

        with psycopg.connect(topics.admin_url) as conn:
            before = dict(
                conn.execute("SELECT id, error_message FROM topic_completions WHERE id IN (%s, %s)", (b, c))
            )
        assert before == {b: None, c: None}  # the reset cleared them
        entry = journal.entries()[0]
        old_error = dict(
            zip(entry.affected, (img[entry.columns.index("error_message")] for img in entry.before))
        )
        admin(
            topics, f"UPDATE topic_completions SET status = 'completed', completed_at = now() WHERE id = {a}"
        )
        admin(
            topics,
            "UPDATE topic_completions SET status = 'failed', error_message = %s WHERE id = %s",
            (old_error[b], b),
        )
        admin(
            topics,
            "UPDATE topic_completions SET status = 'failed', error_message = 'KeyError: flashcards' WHERE id = %s",
            (c,),
        )
        source.wrote()
        assert source.poll().error is None
        track = source.profile.track("topics")
        result = read_cohort(source, track, entry)
    finally:
        source.close()
    assert (result.total, result.done, result.failed_same, result.failed_new, result.pending) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert result.new_signatures and "KeyError" in result.new_signatures[0][0]
    summary = result.summary()
    assert (
        "1 done" in summary
        and "1 failed again (same error)" in summary
        and "1 failed with a new error" in summary
    )
    # The journal screen: Enter on the action reads the same cohort on the watched PostgreSQL source.
    app = make_app(topics.writer_url, journal_path=journal.path)
    path = display_url(topics.writer_url)
    async with app.run_test(size=(180, 50)) as pilot:
        await ready(pilot)
        app.open_journal(path)
        # (The journal lists a PostgreSQL source's actions by its URL: it once looked for a file of that name.)
        await until(
            pilot, lambda: isinstance(app.screen, JournalScreen) and "1 entry" in screen_text(app), timeout=15
        )
        await pilot.press("enter")
        await until(pilot, lambda: "did the fix work?" in screen_text(app), timeout=15)
        text = screen_text(app)
        assert summary in text and "KeyError" in text and "not on PostgreSQL" not in text
        # The source screen's recent actions panel reads the same cohort.
        await pilot.press("escape")
        app.open_source(path)
        await until(pilot, lambda: "1 failed again (same error)" in screen_text(app), timeout=15)
    app.monitor.close()


CRAWL_DDL = """CREATE TABLE crawl_queue (
    id BIGSERIAL PRIMARY KEY, url TEXT NOT NULL, state TEXT NOT NULL, error_message TEXT,
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, bytes_fetched BIGINT);
CREATE TABLE audit_log (happened TIMESTAMPTZ, state TEXT, detail TEXT)"""


def test_a_pg_table_no_profile_describes_is_detected_and_counted_exactly(server: PgServer) -> None:
    clean(server)
    admin(server, CRAWL_DDL)
    admin(
        server,
        "INSERT INTO crawl_queue (url, state, error_message, started_at, finished_at, bytes_fetched) "
        "SELECT 'https://example.org/' || g, "
        "CASE WHEN g <= 700 THEN 'done' WHEN g <= 730 THEN 'failed' WHEN g <= 740 THEN 'running' ELSE 'queued' END, "
        "CASE WHEN g > 700 AND g <= 730 THEN 'HTTPError: 503 for https://example.org/' || g END, "
        "CASE WHEN g <= 740 THEN now() - interval '1 hour' END, CASE WHEN g <= 730 THEN now() END, g * 10 "
        "FROM generate_series(1, 1000) g; "
        "INSERT INTO audit_log SELECT now(), 'done', 'x' FROM generate_series(1, 5)",
    )
    source = PgSource(server.watcher_url)
    try:
        result = source.poll()
        assert result.error is None, result.error
        profile = source.profile
        assert profile is not None and profile.origin == "detected"
        assert [t.table for t in profile.tracks] == ["crawl_queue"]
        track = profile.tracks[0]
        assert (track.key, track.raw, track.error, track.label) == ("id", "state", "error_message", "url")
        assert any("no one-column primary key" in n and "audit_log" in n for n in profile.notes)
        counts = result.snapshot.tracks[0].counts
        assert counts == {
            "pending": 260,
            "running": 10,
            "done": 700,
            "failed": 30,
            "skipped": 0,
            "cancelled": 0,
        }
        failures = source.failures(track, limit=5)
        assert len(failures) == 5 and failures[0].error.startswith("HTTPError: 503")
    finally:
        source.close()
    # Headless too, with the same numbers (and the password never printed).
    out = subprocess.run(
        [sys.executable, "-m", "batchtop.tui.cli", "status", "--json", server.watcher_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert WATCHER_PASSWORD not in out.stdout + out.stderr
    (pg,) = json.loads(out.stdout)["sources"]
    assert pg["profile"] == "detected" and pg["tracks"][0]["total"] == 1000
    assert pg["tracks"][0]["counts"]["failed"] == 30


def test_an_empty_detected_pg_table_is_waiting_then_read_again_when_rows_arrive(server: PgServer) -> None:
    clean(server)
    admin(server, "CREATE TABLE work_items (id BIGINT PRIMARY KEY, name TEXT, status TEXT, error TEXT)")
    source = PgSource(server.watcher_url)
    try:
        first = source.poll()
        assert first.error is None and source.profile is not None and source.profile.origin == "detected"
        assert first.snapshot.tracks[0].total == 0
        admin(
            server,
            "INSERT INTO work_items SELECT g, 'item ' || g, CASE WHEN g % 4 = 0 THEN 'ERROR' ELSE 'SUCCESS' END, "
            "CASE WHEN g % 4 = 0 THEN 'boom' END FROM generate_series(1, 40) g",
        )
        source.wrote()
        after = source.poll()
        assert after.error is None and after.snapshot is not None
        assert (
            after.snapshot.tracks[0].counts["done"] == 30 and after.snapshot.tracks[0].counts["failed"] == 10
        )
    finally:
        source.close()


def test_the_overview_opens_a_detected_pg_source(server: PgServer) -> None:
    """`batchtop failures URL` on a detected table lists its failures (no "not on PostgreSQL yet")."""
    clean(server)
    admin(server, CRAWL_DDL)
    admin(
        server,
        "INSERT INTO crawl_queue (url, state, error_message) VALUES "
        "('https://a', 'failed', 'TimeoutError: read timed out'), ('https://b', 'done', NULL)",
    )
    out = subprocess.run(
        [sys.executable, "-m", "batchtop.tui.cli", "failures", server.watcher_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "TimeoutError: read timed out" in out.stdout


# -- triage on PostgreSQL: what works, and what says so -------------------------------------------------


def pg_failed(server: PgServer) -> int:
    import psycopg

    with psycopg.connect(server.admin_url) as conn:
        return int(conn.execute("SELECT count(*) FROM topic_completions WHERE status = 'failed'").fetchone()[0])


@pytest.mark.anyio
@pytest.mark.parametrize(("search", "listed"), [("Timeout", 1), ("NOT error:Timeout AND state:failed", 3)])
async def test_a_pg_search_lists_and_resets_the_same_rows(
    topics: PgServer, make_app, ready, until, search: str, listed: int
) -> None:
    """Search (a word, or the filter language), then X (reset listed): the preview is for exactly the rows
    the list shows, not every failure."""
    from batchtop.tui.dialogs.preview import PreviewScreen
    from batchtop.tui.screens.failures import FailuresScreen
    from batchtop.tui.widgets.paged_table import PagedTable

    app = make_app(topics.writer_url)
    path = display_url(topics.writer_url)
    async with app.run_test(size=(180, 50)) as pilot:
        await ready(pilot)
        app.open_failures(path, "topics")
        await until(pilot, lambda: isinstance(app.screen, FailuresScreen))
        await pilot.press("slash", *search)
        items = app.screen.query_one("#fx-items", PagedTable)
        await until(pilot, lambda: app.screen.current_search == search and items.row_count == listed, timeout=15)
        app.screen.query_one("#fx-items").focus()  # leave the search box (escape would clear it)
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.state == "ready", timeout=15)
        assert app.screen.plan is not None and app.screen.plan.cap == listed < pg_failed(topics)
