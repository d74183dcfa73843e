"""The journal's cohorts on a real throwaway PostgreSQL server (tests/pg_server.py), as a user sees them:
a reset's cohort says how its rows fared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import topics_db
from pg_server import PgServer, load_sqlite, missing_reason, pg_server

from batchtop.core.backends.postgres.conn import display_url
from batchtop.core.backends.postgres.source import PgSource

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


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


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
