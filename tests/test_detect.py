"""The detector: real-world status shapes, secrets, cheap sampling, and databases it must not claim."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from batchtop.core.backends.sqlite.sample import SAMPLER
from batchtop.core.backends.sqlite.schema import read_schema
from batchtop.core.backends.sqlite.sql import q, state_predicate
from batchtop.core.profiles.detect import NO_ACTION_REASON, describe_unknown, detect
from batchtop.core.profiles.model import Profile, Track


def make_db(path: Path, ddl: str, rows: dict[str, Iterable[Sequence[object]]] | None = None) -> Path:
    """Create a database file with `ddl` and insert `rows` per table."""
    conn = sqlite3.connect(path)
    conn.executescript(ddl)
    for table, items in (rows or {}).items():
        items = list(items)
        if items:
            marks = ", ".join("?" * len(items[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", items)
    conn.commit()
    conn.close()
    return path


def open_ro(path: Path) -> sqlite3.Connection:
    """A reader opened the way batchtop opens one (hazards.md rule 3)."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    return conn


def run_detect(path: Path) -> tuple[Profile | None, list[str]]:
    """Detect on `path`, returning the profile and every SQL statement the detector ran."""
    conn = open_ro(path)
    try:
        schema = read_schema(conn)
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        profile = detect(conn, schema, SAMPLER)
        conn.set_trace_callback(None)
        assert not conn.in_transaction, "detect left a read transaction open"
        return profile, statements
    finally:
        conn.close()


def count_states(path: Path, track: Track) -> dict[str, int]:
    """Rows per canonical state, through the same predicates the poller and actions use."""
    conn = open_ro(path)
    try:
        return {
            state: conn.execute(f"SELECT count(*) FROM {q(track.table)} WHERE {state_predicate(track, [state])}")
            .fetchone()[0]
            for state in ("pending", "running", "done", "failed", "skipped", "cancelled")
        }
    finally:
        conn.close()


TASKS_DDL = """
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY, name TEXT, state TEXT, last_error TEXT,
    started_at DATETIME, finished_at DATETIME, created_at TIMESTAMP, cost REAL
);
"""


def test_upper_case_text_statuses(tmp_path: Path) -> None:
    values = ["PENDING"] * 5 + ["RUNNING"] * 2 + ["COMPLETE"] * 7 + ["FAIL"] * 3
    rows = [
        (i, f"task-{i}", s, "boom" if s == "FAIL" else None, "2026-01-01T10:00:00",
         "2026-01-01T10:05:00" if s in ("COMPLETE", "FAIL") else None, "2026-01-01T09:00:00", 0.25)
        for i, s in enumerate(values, 1)
    ]
    db = make_db(tmp_path / "q.db", TASKS_DDL, {"tasks": rows})
    profile, _ = run_detect(db)
    assert profile is not None
    assert (profile.name, profile.origin) == ("detected", "detected")
    assert 0.8 <= profile.confidence <= 1.0
    (track,) = profile.tracks
    assert (track.table, track.key, track.raw, track.label, track.error) == ("tasks", "id", "state", "name",
                                                                            "last_error")
    assert {k: track.states[k] for k in ("PENDING", "RUNNING", "COMPLETE", "FAIL")} == {
        "PENDING": "pending", "RUNNING": "running", "COMPLETE": "done", "FAIL": "failed"}
    assert (track.started, track.finished, track.created) == ("started_at", "finished_at", "created_at")
    assert (track.tz, track.time_format) == ("utc", "iso")
    assert [(m.column, m.unit) for m in track.metrics] == [("cost", "$")]
    assert track.actions == () and track.no_action_reason == NO_ACTION_REASON
    assert "tasks.state: text status with values PENDING, RUNNING, COMPLETE, FAIL → pending, running, done, failed" \
        in " ".join(profile.notes)
    assert count_states(db, track) == {"pending": 5, "running": 2, "done": 7, "failed": 3, "skipped": 0,
                                       "cancelled": 0}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["PENDING", "STARTED", "SUCCESS", "FAILURE", "REVOKED"],
         ["pending", "running", "done", "failed", "cancelled"]),
        (["queued", "in progress", "succeeded", "errored", "skipped"],
         ["pending", "running", "done", "failed", "skipped"]),
        (["Waiting", "Processing", "Finished", "Crashed", "Canceled"],
         ["pending", "running", "done", "failed", "cancelled"]),
    ],
)
def test_vocabularies_map_case_insensitively(tmp_path: Path, values: list[str], expected: list[str]) -> None:
    db = make_db(tmp_path / "v.db", "CREATE TABLE work (id INTEGER PRIMARY KEY, status TEXT);",
                 {"work": [(i, v) for i, v in enumerate(values * 3)]})
    profile, _ = run_detect(db)
    assert profile is not None
    assert [profile.tracks[0].states[v] for v in values] == expected


def test_states_not_seen_yet_still_count(tmp_path: Path) -> None:
    """Early in a run there is no failure in the sample; the first FAILED row must not count as pending."""
    db = make_db(tmp_path / "early.db", "CREATE TABLE jobs (id INTEGER PRIMARY KEY, status TEXT);",
                 {"jobs": [(i, "RUNNING" if i < 3 else "PENDING") for i in range(10)]})
    profile, _ = run_detect(db)
    assert profile is not None
    (track,) = profile.tracks
    assert track.states["FAILED"] == "failed" and track.states["ERROR"] == "failed"
    assert track.states["COMPLETED"] == "done"
    assert "not seen yet" in " ".join(profile.notes)


def test_integer_codes_0_to_3(tmp_path: Path) -> None:
    """litequeue-style: 0 ready, 1 locked, 2 done, 3 failed; a guess that the notes must admit."""
    db = make_db(
        tmp_path / "mq.db",
        "CREATE TABLE queue (message_id TEXT NOT NULL, message TEXT NOT NULL, status INTEGER NOT NULL, "
        "in_time INTEGER NOT NULL, lock_time INTEGER, done_time INTEGER);",
        {"queue": [(f"m{i}", "payload " * 20, i % 4, 1_700_000_000 + i, None, None) for i in range(40)]},
    )
    profile, _ = run_detect(db)
    assert profile is not None
    (track,) = profile.tracks
    assert dict(track.states) == {0: "pending", 1: "running", 2: "done", 3: "failed"}
    assert track.key == "rowid" and track.label == "message_id"
    assert track.error is None, "a payload column that is always set is not error text"
    # Epoch numbers are times too (litequeue writes time.time_ns(); these are seconds).
    assert (track.started, track.finished, track.created, track.time_unit) == (
        "lock_time", "done_time", "in_time", "s")
    notes = " ".join(profile.notes)
    assert "queue.status: integer status codes 0, 1, 2, 3" in notes and "a guess" in notes
    assert "hold epoch numbers, read as seconds" in notes
    assert profile.confidence <= 0.6
    assert count_states(db, track) == {"pending": 10, "running": 10, "done": 10, "failed": 10, "skipped": 0,
                                       "cancelled": 0}


def test_codes_0_1_2_5_9_are_a_flagged_guess(tmp_path: Path) -> None:
    """persist-queue's ack queue: 0 inited, 1 ready, 2 unack, 5 acked, 9 ack_failed."""
    db = make_db(
        tmp_path / "ack.db",
        "CREATE TABLE ack_queue (_id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB, timestamp FLOAT, "
        "status INTEGER);",
        {"ack_queue": [(i, b"\x80\x04", 1.7e9 + i, code) for i, code in enumerate([0, 1, 2, 5, 9] * 6, 1)]},
    )
    profile, _ = run_detect(db)
    assert profile is not None
    (track,) = profile.tracks
    assert dict(track.states) == {0: "pending", 1: "pending", 2: "running", 5: "done", 9: "failed"}
    assert track.key == "_id" and track.label is None and track.created is None
    note = next(n for n in profile.notes if n.startswith("ack_queue.status"))
    assert "guess" in note and "0, 1, 2, 5, 9" in note
    assert profile.confidence < 0.5


def test_codes_stored_as_text_keep_their_type(tmp_path: Path) -> None:
    db = make_db(tmp_path / "t.db", "CREATE TABLE items (id INTEGER PRIMARY KEY, state TEXT, url TEXT);",
                 {"items": [(i, str(i % 4), f"https://x/{i}") for i in range(20)]})
    profile, _ = run_detect(db)
    assert profile is not None
    (track,) = profile.tracks
    assert dict(track.states) == {"0": "pending", "1": "running", "2": "done", "3": "failed"}
    assert track.label == "url"
    assert count_states(db, track)["failed"] == 5


def test_secret_columns_are_listed_and_never_read(tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "s.db",
        "CREATE TABLE calls (id INTEGER PRIMARY KEY, token TEXT, api_key TEXT, status TEXT, details TEXT);"
        "CREATE TABLE oauth_credentials (id INTEGER PRIMARY KEY, status TEXT, credentials_json TEXT);",
        {
            "calls": [(i, f"tok-{i}-secret", "sk-abc", "done" if i % 2 else "failed", None) for i in range(20)],
            "oauth_credentials": [(1, "done", '{"access_token": "x"}')],
        },
    )
    profile, statements = run_detect(db)
    assert profile is not None
    (track,) = profile.tracks
    assert set(track.secrets) == {"token", "api_key"}
    assert track.label not in ("token", "api_key") and track.error not in ("token", "api_key")
    assert profile.secret_tables == ("oauth_credentials",)
    for sql in statements:
        assert '"token"' not in sql and '"api_key"' not in sql, sql
        assert "oauth_credentials" not in sql, sql
    assert any("token, api_key" in n and "never read" in n for n in profile.notes)


def test_no_status_column_means_none(tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "plain.db",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, state TEXT, priority INTEGER);",
        {
            "notes": [(i, "completed the failed report") for i in range(10)],
            # A `state` that holds US states, and a small-int column without a status name.
            "people": [(i, f"p{i}", ["CA", "NY", "TX", "OK"][i % 4], i % 4) for i in range(30)],
        },
    )
    profile, _ = run_detect(db)
    assert profile is None
    conn = open_ro(db)
    try:
        assert describe_unknown(read_schema(conn)) == "found tables: notes (2 cols), people (4 cols)"
    finally:
        conn.close()


def test_big_table_is_only_sampled(tmp_path: Path) -> None:
    """200k rows: every read of the table is LIMITed, and the tail (late states) is part of the sample."""
    n = 200_000
    rows = (
        (i, f"item-{i}", "done" if i < 150_000 else ("crashed" if i % 7 == 0 else "pending"), None)
        for i in range(1, n + 1)
    )
    db = make_db(tmp_path / "big.db",
                 "CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, status TEXT, error TEXT);", {"big": rows})
    profile, statements = run_detect(db)
    assert profile is not None
    assert profile.tracks[0].states["crashed"] == "failed", "the last rows must be sampled too"
    assert statements
    for sql in statements:
        assert "LIMIT" in sql.upper(), f"statement without LIMIT: {sql}"
        assert "OFFSET" not in sql.upper()
        reads = len(re.findall(r'FROM "big"', sql))
        limited = len(re.findall(r'FROM "big"(?: ORDER BY rowid DESC)? LIMIT \d+', sql))
        assert reads == limited, f"unbounded read of the table: {sql}"


def test_pending_with_start_time_is_in_flight(tmp_path: Path) -> None:
    """A writer without a running value (like prompt_optimizer): pending + started + not finished."""
    rows = [(1, "a", "pending", None, None), (2, "b", "pending", "2026-01-01 10:00:00", None),
            (3, "c", "completed", "2026-01-01 10:00:00", "2026-01-01 10:01:00"),
            (4, "d", "failed", "2026-01-01 10:00:00", "2026-01-01 10:02:00")]
    db = make_db(tmp_path / "f.db", "CREATE TABLE topics (id INTEGER PRIMARY KEY, topic_path TEXT, "
                 "status TEXT, started_at TEXT, completed_at TEXT);", {"topics": rows})
    profile, _ = run_detect(db)
    assert profile is not None
    (track,) = profile.tracks
    assert track.in_flight is not None and track.time_format == "space"
    assert count_states(db, track) == {"pending": 1, "running": 1, "done": 1, "failed": 1, "skipped": 0,
                                       "cancelled": 0}


def test_flag_column_and_mostly_empty_long_text_as_error(tmp_path: Path) -> None:
    rows = [(i, f"f{i}.pdf", i % 2, None if i % 5 else "Traceback (most recent call last): ValueError" * 2)
            for i in range(30)]
    db = make_db(tmp_path / "flag.db", "CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT, processed INTEGER, "
                 "details TEXT);", {"files": rows})
    profile, _ = run_detect(db)
    assert profile is not None
    (track,) = profile.tracks
    assert dict(track.states) == {0: "pending", 1: "done"}
    assert (track.label, track.error) == ("path", "details")
    assert any("details" in n and "guess" in n for n in profile.notes)


def test_without_rowid_table_and_hostile_values(tmp_path: Path) -> None:
    """No rowid to walk back from; DB text with escapes never reaches a note unsanitised."""
    rows = [(f"k{i}", ["done", "failed", "\x1b]52;c;aGk=\x07evil", "queued"][i % 4]) for i in range(12)]
    db = make_db(tmp_path / "wr.db", "CREATE TABLE steps (step_name TEXT PRIMARY KEY, phase TEXT) WITHOUT ROWID;",
                 {"steps": rows})
    profile, _ = run_detect(db)
    assert profile is not None
    (track,) = profile.tracks
    assert track.key == "step_name" and track.raw == "phase"
    assert all("\x1b" not in n and "\x07" not in n for n in profile.notes)
    assert "not understood: counted apart as unmapped" in " ".join(profile.notes)


def test_describe_unknown_is_bounded(tmp_path: Path) -> None:
    ddl = "".join(f"CREATE TABLE t{i:02d} (a, b);" for i in range(12))
    conn = open_ro(make_db(tmp_path / "many.db", ddl))
    try:
        text = describe_unknown(read_schema(conn))
    finally:
        conn.close()
    assert text.startswith("found tables: t00 (2 cols), t01 (2 cols)") and text.endswith("and 4 more")


def test_several_tracks_best_first(tmp_path: Path) -> None:
    db = make_db(
        tmp_path / "two.db",
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, state INTEGER);"
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, title TEXT, status TEXT);",
        {"runs": [(i, i % 4) for i in range(8)], "jobs": [(i, "t", ["done", "failed"][i % 2]) for i in range(8)]},
    )
    profile, _ = run_detect(db)
    assert profile is not None
    assert [t.name for t in profile.tracks] == ["jobs", "runs"]
    assert Counter(profile.tracks[0].states.values())["failed"] >= 1


def test_long_free_text_is_not_sampled_for_states(tmp_path: Path) -> None:
    """Distinct values of a prose column would read every long value: its statistics rule it out first."""
    rows = [(i, "lorem ipsum " * 500, ["done", "failed"][i % 2]) for i in range(50)]
    db = make_db(tmp_path / "docs.db", "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT, status TEXT);",
                 {"docs": rows})
    profile, statements = run_detect(db)
    assert profile is not None and profile.tracks[0].raw == "status"
    assert not [s for s in statements if "DISTINCT" in s and '"body"' in s]
