"""The filter language on a real throwaway PostgreSQL server (tests/pg_server.py), as on SQLite: the same
filters select the same rows of the seed schemas on both; `failures --where`, `sig:` and `export` work
on a URL; a `--where` reset plans exactly the rows listed and, racing the job, writes only rows that
still match."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import FIXED_NOW, schema_db
from pg_server import WRITER_PASSWORD, PgServer, load_sqlite, missing_reason, pg_server
from test_postgres import SEED_DDL, TOPICS_DDL

from batchtop.core.actions import Target, apply, plan
from batchtop.core.backends.keyset import scan
from batchtop.core.backends.postgres.source import PgSource
from batchtop.core.backends.sqlite.sql import q
from batchtop.core.filtered import Filter, compile_for, filter_failures
from batchtop.core.groups import GroupCache
from batchtop.core.journal import Journal
from batchtop.core.source import Source

pytestmark = [pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""), pytest.mark.slow]

DDL = {"topic_completions": TOPICS_DDL, **SEED_DDL}
SCHEMAS = {"topics": "topic_completions", "llm": "llm_results", "jobs": "jobs"}
#: Filters every seed schema takes (column terms per schema below).
COMMON = [
    "",
    "timed",
    "Error OR timeout",
    "state:failed",
    "state:failed,pending",
    "state!=done",
    "NOT state:done AND key>5",
    "key<=7 OR key>30",
    "key!=3",
    'error:"after 60"',
    "error=nothing",
    "label:1",
    "NOT label:1",
    "since:20m",
    "until:20m",
    "age>10m",
    "age<=45m",
    "since:2026-01-01",
    "status:failed",
]
COLUMNS = {
    "topics": ["cost_usd>0.05", "flashcard_count>=3 AND NOT state:failed", "duration_seconds<30"],
    "llm": ["result:Error", "prompt:'7'"],
    "jobs": ["progress>=50", "status:running,queued", "current_step:render"],
}


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    with pg_server() as srv:
        yield srv


def admin(server: PgServer, sql: str) -> None:
    import psycopg

    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql)


def seeded(server: PgServer, tmp_path: Path, schema: str, **counts: int) -> Path:
    """The schema's seed as an SQLite file, and the same rows as the only table on the server."""
    for table in SCHEMAS.values():
        admin(server, f'DROP TABLE IF EXISTS "{table}"')
    db = schema_db(schema, tmp_path / f"{schema}.db", items=40, **(counts or {"completed": 20, "failed": 8}))
    assert load_sqlite(server, db, table=SCHEMAS[schema], schema_sql=DDL[SCHEMAS[schema]]) == 40
    return db


def opened(source):
    assert source.poll().error is None
    return source, source.profile.tracks[0]


def selected(db, track, text: str) -> list:
    """Keys of every row (any state) the filter selects, in key order."""
    sql, params = compile_for(db, track, Filter.parse(text), now=FIXED_NOW, path=getattr(db, "path", None))
    return [r[0] for page in scan(db, track, sql, params, q(track.key), chunk=7, page=3) for r in page]


def cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "batchtop.tui.cli", *argv], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TZ": "UTC", **(env or {})})


@pytest.mark.parametrize("schema", list(SCHEMAS))
def test_the_same_filters_select_the_same_rows_on_sqlite_and_postgres(
    server: PgServer, tmp_path: Path, schema: str
) -> None:
    db = seeded(server, tmp_path, schema)
    (lite, lt), (pg, pt) = opened(Source(db)), opened(PgSource(server.watcher_url))
    try:
        groups = GroupCache(lt).refresh(lite).groups
        sigs = [f'sig:"{g.signature}"' for g in groups[:2]] + [f'sig!="{groups[0].signature}"']
        assert groups and len(selected(lite, lt, sigs[0])) == groups[0].count
        nonempty = 0
        for text in COMMON + COLUMNS[schema] + sigs:
            want = selected(lite, lt, text)
            assert selected(pg, pt, text) == want, (schema, text)
            nonempty += bool(want) and len(want) < 40
            # The failures screen's `/`: the same page of failures, newest first.
            assert [r.key for r in filter_failures(pg, pt, text, limit=5, now=FIXED_NOW)] == [
                r.key for r in filter_failures(lite, lt, text, limit=5, now=FIXED_NOW)
            ], (schema, text)
        assert nonempty >= 8  # the filters really tell rows apart
    finally:
        lite.close()
        pg.close()


def test_failures_where_sig_and_export_on_a_url_match_the_sqlite_file(server: PgServer, tmp_path: Path) -> None:
    db = seeded(server, tmp_path, "topics")
    r = cli("failures", str(db), "--group", "--json")
    sig = json.loads(r.stdout)["groups"][0]["signature"]
    for where in ("timed OR error:Validation", f'sig:"{sig}"'):
        got = [cli("failures", src, "--where", where, "--json") for src in (server.watcher_url, str(db))]
        assert [g.returncode for g in got] == [0, 0], got[0].stderr
        pg_items, lite_items = ([t["items"] for s in json.loads(g.stdout)["sources"] for t in s["tracks"]] for g in got)
        assert pg_items == lite_items and pg_items[0], where
    # A bad filter is a usage error (2), with the position; nothing is read.
    bad = cli("failures", server.watcher_url, "--where", "state:bogus")
    assert bad.returncode == 2 and "no state 'bogus'" in bad.stderr
    for fmt in ("csv", "jsonl"):
        out = {src: tmp_path / f"{i}.{fmt}" for i, src in enumerate((server.watcher_url, str(db)))}
        for src, path in out.items():
            r = cli("export", src, "--where", "state:failed,skipped", "-o", str(path), "--format", fmt)
            assert r.returncode == 0, r.stderr
        pg_rows, lite_rows = (
            list(csv.DictReader(p.open())) if fmt == "csv" else [json.loads(x) for x in p.read_text().splitlines()]
            for p in out.values()
        )
        for row in pg_rows + lite_rows:
            row.pop("source")
        assert pg_rows == lite_rows and len(pg_rows) >= 8, fmt


def test_a_where_reset_on_postgres_writes_only_rows_that_still_match(server: PgServer, tmp_path: Path) -> None:
    seeded(server, tmp_path, "topics", completed=20, failed=10)
    source = PgSource(server.writer_url)
    journal = Journal(tmp_path / "journal.jsonl")
    text = "NOT error:Validation AND key>3"
    try:
        _, track = opened(source)
        listed = [r.key for r in filter_failures(source, track, text, limit=100)]
        preview = plan(source, None, "reset", Target.where(text))
        assert sorted(preview.keys) == sorted(listed) and 1 < preview.count < 10
        assert any("Validation" in s for s in preview.statements())  # the write re-checks the filter
        moved, changed = preview.keys[0], preview.keys[1]
        # The job races us: one row leaves `failed`, another fails again with an error the filter excludes.
        admin(server, f"UPDATE topic_completions SET status = 'completed' WHERE id = {moved}")
        admin(server, f"UPDATE topic_completions SET error_message = 'ValidationError: x' WHERE id = {changed}")
        outcome = apply(preview, journal=journal)
    finally:
        source.close()
    assert sorted(outcome.affected) == sorted(set(preview.keys) - {moved, changed})
    import psycopg

    with psycopg.connect(server.admin_url) as conn:
        rows = dict(conn.execute("SELECT id, status FROM topic_completions").fetchall())
    assert rows[moved] == "completed" and rows[changed] == "failed"
    assert all(rows[k] == "pending" for k in outcome.affected)
    entry = journal.entries(limit=1)[0]
    assert sorted(entry.affected) == sorted(outcome.affected) and WRITER_PASSWORD not in journal.path.read_text()


def test_the_export_key_writes_the_same_failures_from_postgres(server: PgServer, tmp_path: Path) -> None:
    """The failures screen's export (`export_file`, failed rows only) on a URL, as from the SQLite copy."""
    from batchtop.core.export import export_file

    db = seeded(server, tmp_path, "jobs")
    (lite, lt), (pg, pt) = opened(Source(db)), opened(PgSource(server.watcher_url))
    try:
        written = [
            export_file(src, trk, "NOT error:'code 1'", str(tmp_path / f"{name}.jsonl"), path=name)
            for name, src, trk in (("pg", pg, pt), ("lite", lite, lt))
        ]
    finally:
        lite.close()
        pg.close()
    pg_rows, lite_rows = (
        [{**json.loads(x), "source": ""} for x in (tmp_path / f"{n}.jsonl").read_text().splitlines()]
        for n in ("pg", "lite")
    )
    assert written[0] == written[1] == len(pg_rows) and 0 < len(pg_rows) < 8
    assert pg_rows == lite_rows and {r["state"] for r in pg_rows} == {"failed"}
