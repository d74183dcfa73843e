"""One item in full: secrets never read, long values paged, BLOBs never decoded, invalid UTF-8 shown."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from factories import SECRET_MARKER, secret_jobs_db

from batchtop.core import items as I
from batchtop.core.backends.sqlite import items as SI
from batchtop.core.backends.sqlite.reader import connect_ro
from batchtop.core.errors import SecretValue
from batchtop.core.profiles.builtin import JOBS

TRACK = JOBS.tracks[0]
SECRET_TABLES = JOBS.secret_tables
BIG = 50 * 1024 * 1024


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return secret_jobs_db(tmp_path / "jobs.db")


def traced(path: Path) -> tuple[sqlite3.Connection, list[str]]:
    conn = connect_ro(path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    return conn, statements


def test_secrets_are_never_read(db: Path) -> None:
    conn, statements = traced(db)
    outputs = []
    for key in ("job-1", "job-2", "job-3", "job-4"):
        detail = SI.item_detail(conn, TRACK, key, secret_tables=SECRET_TABLES)
        assert detail.found and detail.hidden == ("token", "credentials_json")
        assert {v.column for v in detail.columns}.isdisjoint(detail.hidden)
        outputs.append(repr(detail))
        for v in detail.columns:
            outputs.append(repr(SI.read_value(conn, TRACK, key, v.column, 0, 100)))
    page = SI.table_page(conn, "jobs", secret_tables=SECRET_TABLES)
    assert page.hidden == ("token", "credentials_json") and len(page.rows) == 4
    outputs.append(repr(page))
    for column in ("token", "credentials_json"):
        with pytest.raises(SecretValue):
            SI.read_value(conn, TRACK, "job-1", column, 0, 10)
    with pytest.raises(SecretValue):
        SI.table_page(conn, "youtube_credentials", secret_tables=SECRET_TABLES)
    assert all(SECRET_MARKER not in text for text in outputs)
    # Not merely hidden: no statement ever named a secret column or table.
    for s in statements:
        assert "token" not in s and "credentials" not in s, s
    conn.close()


def test_detail_of_a_failed_job(db: Path) -> None:
    conn = connect_ro(db)
    d = SI.item_detail(conn, TRACK, "job-1", secret_tables=SECRET_TABLES)
    assert (d.state, d.raw_state) == ("failed", "failed")
    assert d.label is not None and d.label.text == "run-a"
    assert d.error is not None and d.error.text.startswith("Process exited with code 1\n  at step render")
    assert not d.stale_error
    by = {v.column: v for v in d.columns}
    assert by["progress"].kind == "integer" and by["progress"].text == "50"
    assert by["output_file"].is_null
    blob = by["payload"]
    assert blob.kind == "blob" and blob.length == 40 and blob.text.startswith("<blob 40 bytes: 000102")
    assert blob.text.endswith("…>") and blob.more == 8
    chunk = SI.read_value(conn, TRACK, "job-1", "payload", 16, 16)
    assert chunk is not None and chunk.text == "00000010  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f"
    assert chunk.more == 8
    conn.close()


def test_stale_error_and_missing_item(db: Path) -> None:
    conn = connect_ro(db)
    done = SI.item_detail(conn, TRACK, "job-2")
    assert done.state == "done" and done.error is None and done.stale_error
    running = SI.item_detail(conn, TRACK, "job-3")
    assert running.state == "running" and running.error is None and not running.stale_error
    gone = SI.item_detail(conn, TRACK, "job-404")
    assert not gone.found and gone.columns == ()
    assert SI.read_value(conn, TRACK, "job-404", "error", 0, 10) is None
    with pytest.raises(SI.BatchtopError):
        SI.read_value(conn, TRACK, "job-1", "no_such_column", 0, 10)
    conn.close()


def test_invalid_utf8_shows_replacement_characters(db: Path) -> None:
    conn = connect_ro(db)
    d = SI.item_detail(conn, TRACK, "job-4")
    assert d.error is not None and d.error.text == "Error: \ufffd\ufffd bad"
    assert SI.value_chunk(conn, TRACK, "job-4", "error", 0, 100) == "Error: \ufffd\ufffd bad"
    conn.close()


def test_fifty_megabyte_value_is_previewed_and_paged(tmp_path: Path) -> None:
    db = secret_jobs_db(tmp_path / "big.db", big=BIG)
    conn = connect_ro(db)
    started = time.perf_counter()
    d = SI.item_detail(conn, TRACK, "job-1")
    elapsed = time.perf_counter() - started
    log = {v.column: v for v in d.columns}["log"]
    assert log.length == BIG and log.size == BIG
    assert len(log.text) == I.PREVIEW_CHARS and log.more == BIG - I.PREVIEW_CHARS
    assert elapsed < 5, elapsed
    first = SI.read_value(conn, TRACK, "job-1", "log", 0, I.CHUNK_CHARS)
    assert first is not None and first.count == I.CHUNK_CHARS and first.more == BIG - I.CHUNK_CHARS
    last = SI.read_value(conn, TRACK, "job-1", "log", BIG - 100, I.CHUNK_CHARS)
    assert last is not None and last.text.endswith("TAIL!") and last.count == 100 and last.more == 0
    conn.close()


def test_multibyte_text_counts_remaining_bytes(tmp_path: Path) -> None:
    p = tmp_path / "m.db"
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, run_id TEXT, status TEXT, progress INTEGER, "
              "error TEXT, started_at TEXT, finished_at TEXT)")
    c.execute("INSERT INTO jobs VALUES ('j', 'r', 'failed', 0, ?, NULL, NULL)", ("é" * 10,))
    c.commit()
    c.close()
    conn = connect_ro(p)
    chunk = SI.read_value(conn, TRACK, "j", "error", 2, 3)
    assert chunk is not None and chunk.text == "ééé" and chunk.count == 3 and chunk.more == 10
    conn.close()


def test_table_page_keyset(db: Path, tmp_path: Path) -> None:
    conn = connect_ro(db)
    first = SI.table_page(conn, "jobs", limit=3)
    second = SI.table_page(conn, "jobs", after_rowid=first.last, limit=3)
    assert first.key_column == "rowid" and len(first.rows) == 3 and len(second.rows) == 1
    assert second.rows[0][0] == 4
    conn.close()
    p = tmp_path / "wr.db"
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE kv (name TEXT PRIMARY KEY, value TEXT, api_key TEXT) WITHOUT ROWID")
    c.executemany("INSERT INTO kv VALUES (?, ?, ?)", [(f"n{i}", "v" * 500, SECRET_MARKER) for i in range(5)])
    c.commit()
    c.close()
    conn = connect_ro(p)
    page = SI.table_page(conn, "kv", limit=2)
    assert page.key_column == "name" and [r[0] for r in page.rows] == ["n0", "n1"]
    assert page.hidden == ("api_key",) and SECRET_MARKER not in repr(page)
    value = page.rows[0][1][1]
    assert len(value.text) == I.TABLE_CHARS and value.more == 500 - I.TABLE_CHARS
    assert [r[0] for r in SI.table_page(conn, "kv", after_rowid=page.last, limit=10).rows] == ["n2", "n3", "n4"]
    conn.close()
