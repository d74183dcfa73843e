"""Test writers that fill databases the way the five real writers do (shared/design/field-notes.md).

Each writer reproduces its system's DDL, journal mode, status vocabulary, timestamp format (UTC or naive
local time, space or 'T' separator), connection style and commit pattern:

=================== ===================== ========== ======================================================
writer              tables                journal    connection / commit pattern
=================== ===================== ========== ======================================================
topic_completions   topic_completions     WAL        one long-lived connection, busy_timeout 5000, one
                                                     commit per topic (start: pending + started_at; end:
                                                     completed / failed / skipped); UTC, space
llm_results         llm_results           WAL        one shared connection, timeout 30; every row inserted
                                                     up front with result NULL in one commit, then one
                                                     UPDATE + commit per row; failures written twice;
                                                     'Error: Failed after 3 attempts: <exc>' (timeouts end
                                                     in 'attempts: '); '' and 'NA' stay incomplete
documentation_store table_metadata,       delete     a new connection per call, no pragmas, commit per
                    relationship_metadata,           call; only 'pending'/'completed' are written (a failure
                    generation_metadata              stays pending); each run appends a session row (status
                                                     'in_progress' forever) and duplicate relationships;
                                                     naive local time, space separator
smarthistory        user_sessions (+ 11   WAL        a small pool of autocommit connections, synchronous
                    data tables)                     NORMAL, one statement per commit; started/completed/
                                                     failed; UTC CURRENT_TIMESTAMP style
yt_builder_jobs     jobs (+ job_files,    delete     a new connection per call (timeout 5 s), one
                    youtube_uploads,                 statement, commit, close; preparing -> queued ->
                    youtube_credentials)             running 25/50/75/90/100 -> completed / failed /
                                                     cancelled; started_at rewritten on every progress
                                                     update; naive local ISO with 'T'
=================== ===================== ========== ======================================================

In-process use::

    w = make_writer("llm_results", path, journal="wal")
    w.setup()             # create(): DDL + the rows the real writer has before its loop (fsync off)
    for step in w.steps(): step()   # each call is exactly one commit, as the real writer makes it
    truth(path, "llm_results")      # direct SELECT ground truth through a read-only connection

As a subprocess (a job running beside the monitor)::

    python tests/writers.py SCHEMA PATH --journal wal|delete --commits N --interval-ms M --busy-timeout S

prints one JSON line on stdout: {"commits": N, "locked": K, ...} where K counts 'database is locked'
errors the writer got (each such commit is rolled back and retried, like the real jobs' retry loops).
Other modes: ``--trajectory`` (record the ground truth after every commit, for consistency checks),
``--crash`` (after the commits, write a large transaction that spills to the journal/WAL and die with
os._exit before COMMIT), ``--idle SECONDS`` (after the commits, report, keep the connection open),
``--hold-exclusive SECONDS`` (take an EXCLUSIVE lock, say so on stdout, hold it, commit).

The bottom of the module holds what the tests share: the field-notes state mapping (CANON), ground
truth, file hashing, and helpers to run the CLI and writer subprocesses.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

#: Marker planted in secret columns: it must never appear in any batchtop output.
SECRET_MARKER = "ya29.SECRET-MARKER-b47e1c9d"

Clock = Callable[[], float]


def utc_space(epoch: float) -> str:
    """'2026-01-01 10:00:00': what SQLite's CURRENT_TIMESTAMP writes (UTC)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def local_space(epoch: float) -> str:
    """'2026-01-01 11:00:00.123456': Python's datetime adapter on datetime.now() (naive local)."""
    return datetime.fromtimestamp(epoch).isoformat(" ")


def local_iso(epoch: float) -> str:
    """'2026-01-01T11:00:00.123456': datetime.now().isoformat() (naive local, 'T')."""
    return datetime.fromtimestamp(epoch).isoformat()


def is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc).lower() or "busy" in str(exc).lower()
    )


class Writer:
    """Base: one database written in one system's style."""

    name = ""
    #: The real writer's journal mode.
    native_journal = "delete"
    #: Tables holding work items (ground truth is per table).
    tables: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike, journal: str | None = None, busy_timeout: float | None = None,
                 clock: Clock = time.time) -> None:
        self.path = os.fspath(path)
        self.journal = journal or self.native_journal
        self.busy_timeout = busy_timeout
        self.clock = clock
        self._conn: sqlite3.Connection | None = None
        #: While `create()` runs: synchronous=OFF (same file contents, much faster set-up).
        self._setup = False

    # -- connections, in the writer's own style --------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """A connection set up the way the real writer sets it up."""
        raise NotImplementedError

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _tune(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        if self._setup:
            conn.execute("PRAGMA synchronous=OFF")
        return conn

    def setup(self, **options) -> Writer:
        """`create()` quickly (fsync off while setting up), then close every connection."""
        self._setup = True
        try:
            self.create(**options)
        finally:
            self._setup = False
            self.close()
        return self

    def shared(self) -> sqlite3.Connection:
        """The writer's long-lived connection (for writers that keep one)."""
        if self._conn is None:
            self._conn = self.connect()
        return self._conn

    def _journal_pragma(self, conn: sqlite3.Connection) -> None:
        # WAL writers run `PRAGMA journal_mode=WAL` on every connect; rollback writers set nothing.
        if self.journal == "wal":
            conn.execute("PRAGMA journal_mode=WAL")

    # -- content ----------------------------------------------------------------------------------

    def create(self, **options) -> None:
        """DDL and the rows the real writer has written before its per-item loop."""
        raise NotImplementedError

    def steps(self) -> Iterator[Callable[[], None]]:
        """Callables, each making exactly one commit as the real writer does (reads state from the DB)."""
        raise NotImplementedError


# -- prompt_optimizer: topic_completions ----------------------------------------------------------

TOPICS_DDL = """
CREATE TABLE topic_completions (
    id INTEGER PRIMARY KEY,
    topic_path TEXT UNIQUE,
    content_hash TEXT,
    status TEXT,
    started_at DATETIME,
    completed_at DATETIME,
    duration_seconds REAL,
    flashcard_count INTEGER,
    cost_usd REAL,
    error_message TEXT
);
CREATE INDEX idx_status ON topic_completions(status);
CREATE INDEX idx_completed_at ON topic_completions(completed_at);
"""

TOPIC_ERRORS = ("API error", "RateLimitError: 429 Too Many Requests", "ValidationError: no flashcards")


def topic_path(i: int) -> str:
    cats = ("Biology", "History", "Math", "Physics")
    return f"Data/{cats[i % 4]}/domain{i % 7}/sub{i % 3}/topic_{i:05d}.json"


def topic_outcome(i: int) -> str:
    """Deterministic outcome of topic i: mostly completed, some failed and skipped."""
    r = (i * 37) % 20
    return "failed" if r < 3 else "skipped" if r < 5 else "completed"


class TopicsWriter(Writer):
    name = "topic_completions"
    native_journal = "wal"
    tables = ("topic_completions",)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout if self.busy_timeout is not None else 30)
        conn.execute(f"PRAGMA busy_timeout={int((self.busy_timeout if self.busy_timeout is not None else 5) * 1000)}")
        self._journal_pragma(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        return self._tune(conn)

    def create(self, *, completed: int = 12, failed: int = 3, skipped: int = 2, pending: int = 4,
               in_flight: int = 3) -> None:
        """Topics in every state: reset ones are plain pending, in-flight ones pending + started_at."""
        conn = sqlite3.connect(self.path)
        if self.journal == "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(TOPICS_DDL)
        conn.close()
        i = 0
        for outcome, n in (("completed", completed), ("failed", failed), ("skipped", skipped)):
            for _ in range(n):
                self.start(i)
                self.finish(i, outcome)
                i += 1
        for _ in range(pending):  # `completion-reset`: back to pending, timings and error cleared
            self.start(i)
            self.finish(i, "failed")
            self.reset(i)
            i += 1
        for _ in range(in_flight):
            self.start(i)
            i += 1

    def start(self, i: int) -> None:
        conn = self.shared()
        conn.execute(
            "INSERT INTO topic_completions (topic_path, content_hash, status, started_at) VALUES (?, ?, 'pending', ?) "
            "ON CONFLICT(topic_path) DO UPDATE SET status = 'pending', started_at = excluded.started_at, "
            "completed_at = NULL, error_message = NULL",
            (topic_path(i), f"{i * 2654435761 % 2**32:08x}", utc_space(self.clock())),
        )
        conn.commit()

    def finish(self, i: int, outcome: str) -> None:
        conn = self.shared()
        now = utc_space(self.clock())
        if outcome == "completed":
            conn.execute(
                "UPDATE topic_completions SET status = 'completed', completed_at = ?, duration_seconds = ?, "
                "flashcard_count = ?, cost_usd = ? WHERE topic_path = ?",
                (now, 10.0 + i % 5, 10 + i % 6, round(0.01 + (i % 4) * 0.005, 4), topic_path(i)),
            )
        elif outcome == "failed":
            conn.execute(
                "UPDATE topic_completions SET status = 'failed', completed_at = ?, error_message = ? "
                "WHERE topic_path = ?", (now, TOPIC_ERRORS[i % len(TOPIC_ERRORS)], topic_path(i)),
            )
        else:
            conn.execute("UPDATE topic_completions SET status = 'skipped', completed_at = ? WHERE topic_path = ?",
                         (now, topic_path(i)))
        conn.commit()

    def reset(self, i: int) -> None:
        conn = self.shared()
        conn.execute("UPDATE topic_completions SET status = 'pending', error_message = NULL, started_at = NULL, "
                     "completed_at = NULL, duration_seconds = NULL WHERE topic_path = ?", (topic_path(i),))
        conn.commit()

    def steps(self) -> Iterator[Callable[[], None]]:
        conn = sqlite3.connect(self.path)
        (start,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM topic_completions").fetchone()
        conn.close()
        i = start + 1000
        while True:  # one commit to start a topic, one to finish it
            yield lambda i=i: self.start(i)
            yield lambda i=i: self.finish(i, topic_outcome(i))
            i += 1


# -- ParallelLLMProcessor: llm_results ------------------------------------------------------------

LLM_DDL = """
CREATE TABLE llm_results (
    id INTEGER PRIMARY KEY,
    prompt TEXT NOT NULL,
    result TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
"""


def llm_result(i: int) -> str:
    """Deterministic result of prompt i (1-based)."""
    r = (i * 13) % 25
    if r == 0:
        return "Error: Failed after 3 attempts: "  # a timeout: empty exception text
    if r < 3:
        return "Error: Failed after 3 attempts: RateLimitError('429 Too Many Requests')"
    if r == 3:
        return "NA"
    if r == 4:
        return ""
    return f"Response {i}: the answer is {i * 7}."


class LLMWriter(Writer):
    name = "llm_results"
    native_journal = "wal"
    tables = ("llm_results",)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout if self.busy_timeout is not None else 30,
                               check_same_thread=False)
        self._journal_pragma(conn)
        return self._tune(conn)

    def create(self, *, prompts: int = 60, done: int = 30) -> None:
        """All prompts inserted up front with result NULL (one commit), then `done` of them answered."""
        conn = self.shared()
        conn.executescript(LLM_DDL)
        conn.executemany("INSERT INTO llm_results (id, prompt) VALUES (?, ?)",
                         [(i, f"Prompt {i}: explain item {i}") for i in range(1, prompts + 1)])
        conn.commit()
        steps = self.steps()
        for _ in range(done):
            next(steps)()

    def steps(self) -> Iterator[Callable[[], None]]:
        conn = self.shared()
        todo = [i for (i,) in conn.execute("SELECT id FROM llm_results WHERE result IS NULL ORDER BY id")]
        for i in todo:
            def write(i: int = i) -> None:
                c = self.shared()
                c.execute("UPDATE llm_results SET result = ? WHERE id = ?", (llm_result(i), i))
                c.commit()
            yield write
            if llm_result(i).startswith("Error:"):
                yield write  # each failed row is written twice


# -- DocumentationStore ---------------------------------------------------------------------------

DOCSTORE_DDL = """
CREATE TABLE processing_state (
    id INTEGER PRIMARY KEY,
    phase TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    error_message TEXT
);
CREATE TABLE table_metadata (
    table_name TEXT PRIMARY KEY,
    schema_data TEXT NOT NULL,
    business_purpose TEXT,
    documentation TEXT,
    processed_at TIMESTAMP,
    status TEXT DEFAULT 'pending'
);
CREATE TABLE relationship_metadata (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    constrained_table TEXT NOT NULL,
    constrained_columns TEXT NOT NULL,
    referred_table TEXT NOT NULL,
    referred_columns TEXT NOT NULL,
    relationship_type TEXT,
    documentation TEXT,
    processed_at TIMESTAMP,
    status TEXT DEFAULT 'pending'
);
CREATE TABLE generation_metadata (
    id INTEGER PRIMARY KEY,
    source_database_url TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    total_tables INTEGER,
    total_relationships INTEGER,
    status TEXT DEFAULT 'in_progress'
);
"""


def doc_fails(i: int) -> bool:
    """Items the LLM fails on: the writer records nothing, the item stays pending."""
    return i % 5 == 3


class DocstoreWriter(Writer):
    name = "documentation_store"
    native_journal = "delete"
    tables = ("table_metadata", "relationship_metadata")

    def connect(self) -> sqlite3.Connection:
        # No pragmas at all; sqlite3's default 5 s timeout.
        return self._tune(sqlite3.connect(self.path, timeout=self.busy_timeout if self.busy_timeout is not None else 5.0))

    def call(self, sql: str, params: tuple = ()) -> None:
        """One store call: new connection, one statement, commit, close."""
        conn = self.connect()
        try:
            conn.execute(sql, params)
            conn.commit()
        finally:
            conn.close()

    def create(self, *, tables: int = 10, relationships: int = 6, sessions: int = 2) -> None:
        """`sessions` runs: each registers every unfinished item as pending and processes some of them."""
        conn = sqlite3.connect(self.path)
        if self.journal == "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(DOCSTORE_DDL)
        conn.close()
        self.ntables, self.nrels = tables, relationships
        for s in range(sessions):
            self.new_run(tables, relationships)
            if s < sessions - 1:  # earlier runs processed every item they could
                for step in self._process():
                    step()

    def new_run(self, tables: int, relationships: int) -> None:
        self.call("INSERT INTO generation_metadata (source_database_url, started_at, total_tables, "
                  "total_relationships) VALUES (?, ?, ?, ?)",
                  ("postgresql://docs@db/app", local_space(self.clock()), tables, relationships))
        for t in range(tables):
            # A fresh run rewrites every unfinished row to pending (completed rows are kept).
            self.call("INSERT INTO table_metadata (table_name, schema_data, status) VALUES (?, ?, 'pending') "
                      "ON CONFLICT(table_name) DO UPDATE SET status = 'pending' WHERE status != 'completed'",
                      (f"table_{t:03d}", json.dumps({"columns": ["id", f"col{t}"]})))
        for r in range(relationships):
            # ... and appends the relationships again: duplicates accumulate run after run.
            self.call("INSERT INTO relationship_metadata (constrained_table, constrained_columns, referred_table, "
                      "referred_columns, relationship_type) VALUES (?, ?, ?, ?, 'many-to-one')",
                      (f"table_{r:03d}", '["ref_id"]', f"table_{(r + 1) % max(tables, 1):03d}", '["id"]'))

    def _process(self) -> Iterator[Callable[[], None]]:
        conn = sqlite3.connect(self.path)
        tables = [n for (n,) in conn.execute(
            "SELECT table_name FROM table_metadata WHERE status = 'pending' ORDER BY table_name")]
        rels = [i for (i,) in conn.execute(
            "SELECT id FROM relationship_metadata WHERE status = 'pending' ORDER BY id")]
        conn.close()
        for name in tables:
            if doc_fails(int(name.split("_")[1])):
                continue
            yield lambda name=name: self.call(
                "UPDATE table_metadata SET status = 'completed', documentation = ?, business_purpose = ?, "
                "processed_at = ? WHERE table_name = ?",
                (f"## {name}\nDocumented.", "stores things", local_space(self.clock()), name))
        for i in rels:
            if doc_fails(i):
                continue
            yield lambda i=i: self.call(
                "UPDATE relationship_metadata SET status = 'completed', documentation = ?, processed_at = ? "
                "WHERE id = ?", (f"Relationship {i}", local_space(self.clock()), i))

    def steps(self) -> Iterator[Callable[[], None]]:
        conn = sqlite3.connect(self.path)
        (ntables,) = conn.execute("SELECT COUNT(*) FROM table_metadata").fetchone()
        (nrels,) = conn.execute("SELECT total_relationships FROM generation_metadata ORDER BY id DESC").fetchone()
        conn.close()
        while True:
            yield from self._process()
            # Next run: a session row, unfinished items re-registered, relationships appended again.
            yield lambda: self.call(
                "INSERT INTO generation_metadata (source_database_url, started_at, total_tables, "
                "total_relationships) VALUES (?, ?, ?, ?)",
                ("postgresql://docs@db/app", local_space(self.clock()), ntables, nrels))
            for r in range(nrels):
                yield lambda r=r: self.call(
                    "INSERT INTO relationship_metadata (constrained_table, constrained_columns, referred_table, "
                    "referred_columns, relationship_type) VALUES (?, ?, ?, ?, 'many-to-one')",
                    (f"table_{r:03d}", '["ref_id"]', f"table_{(r + 1) % max(ntables, 1):03d}", '["id"]'))


# -- SmartHistory: user_sessions --------------------------------------------------------------------

SMARTHISTORY_DDL = """
CREATE TABLE schema_versions (version INTEGER PRIMARY KEY, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    description TEXT);
CREATE TABLE raw_activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT NOT NULL, time TEXT, duration_minutes INTEGER,
    details TEXT, activity_type TEXT, source TEXT NOT NULL, orig_link TEXT, raw_data TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, processed_at TIMESTAMP, processed_batch_id TEXT);
CREATE TABLE processed_activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT NOT NULL, time TEXT, total_duration INTEGER,
    combined_details TEXT, raw_activity_ids TEXT, sources TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, description TEXT, color TEXT,
    usage_count INTEGER DEFAULT 0, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE activity_tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT, processed_activity_id INTEGER NOT NULL, tag_id INTEGER NOT NULL,
    confidence_score REAL DEFAULT 1.0, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(processed_activity_id, tag_id));
CREATE TABLE user_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_type TEXT NOT NULL,
    start_time TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    end_time TIMESTAMP,
    status TEXT DEFAULT 'started' CHECK (status IN ('started', 'completed', 'failed')),
    processed_raw_count INTEGER DEFAULT 0,
    processed_activity_count INTEGER DEFAULT 0,
    tags_generated INTEGER DEFAULT 0,
    error_message TEXT,
    metadata TEXT
);
CREATE TABLE tag_generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, tag_id INTEGER, prompt TEXT, response TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE system_config (key TEXT PRIMARY KEY, value TEXT, updated_at TIMESTAMP);
CREATE TABLE data_sources (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, last_sync TIMESTAMP);
CREATE TABLE sync_state (id INTEGER PRIMARY KEY AUTOINCREMENT, source_id INTEGER, cursor TEXT);
CREATE TABLE activity_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, processed_activity_id INTEGER, note TEXT);
CREATE TABLE daily_summaries (date TEXT PRIMARY KEY, summary TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX idx_raw_date ON raw_activities(date);
CREATE INDEX idx_raw_source ON raw_activities(source);
CREATE INDEX idx_raw_type ON raw_activities(activity_type);
CREATE INDEX idx_raw_processed ON raw_activities(processed_at);
CREATE INDEX idx_raw_batch ON raw_activities(processed_batch_id);
CREATE INDEX idx_proc_date ON processed_activities(date);
CREATE INDEX idx_proc_created ON processed_activities(created_at);
CREATE INDEX idx_tags_name ON tags(name);
CREATE INDEX idx_tags_usage ON tags(usage_count);
CREATE INDEX idx_at_activity ON activity_tags(processed_activity_id);
CREATE INDEX idx_at_tag ON activity_tags(tag_id);
CREATE INDEX idx_at_conf ON activity_tags(confidence_score);
CREATE INDEX idx_sessions_type ON user_sessions(session_type);
CREATE INDEX idx_sessions_status ON user_sessions(status);
CREATE INDEX idx_sessions_start ON user_sessions(start_time);
CREATE INDEX idx_taggen_session ON tag_generations(session_id);
CREATE INDEX idx_taggen_tag ON tag_generations(tag_id);
CREATE INDEX idx_notes_activity ON activity_notes(processed_activity_id);
CREATE INDEX idx_sources_name ON data_sources(name);
CREATE INDEX idx_sync_source ON sync_state(source_id);
CREATE INDEX idx_summaries_created ON daily_summaries(created_at);
CREATE TRIGGER trg_tag_usage_insert AFTER INSERT ON activity_tags BEGIN
    UPDATE tags SET usage_count = usage_count + 1, updated_at = CURRENT_TIMESTAMP WHERE id = NEW.tag_id;
END;
CREATE TRIGGER trg_tag_usage_delete AFTER DELETE ON activity_tags BEGIN
    UPDATE tags SET usage_count = usage_count - 1, updated_at = CURRENT_TIMESTAMP WHERE id = OLD.tag_id;
END;
INSERT INTO schema_versions (version, description) VALUES (1, 'initial');
"""

SESSION_TYPES = ("daily_processing", "tag_generation", "backfill")


def session_outcome(i: int) -> str:
    return "failed" if i % 6 == 4 else "completed"


class SmartHistoryWriter(Writer):
    name = "smarthistory"
    native_journal = "wal"
    tables = ("user_sessions",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pool: list[sqlite3.Connection] = []
        self._next = 0

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=self.busy_timeout if self.busy_timeout is not None else 5.0)
        self._journal_pragma(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return self._tune(conn)

    def pooled(self) -> sqlite3.Connection:
        """Round-robin over a pool of two autocommit connections."""
        if len(self._pool) < 2:
            self._pool.append(self.connect())
        conn = self._pool[self._next % len(self._pool)]
        self._next += 1
        return conn

    def close(self) -> None:
        for conn in self._pool:
            conn.close()
        self._pool.clear()
        super().close()

    def create(self, *, completed: int = 8, failed: int = 2, started: int = 2) -> None:
        conn = sqlite3.connect(self.path)
        if self.journal == "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SMARTHISTORY_DDL)
        conn.close()
        i = 0
        for outcome, n in (("completed", completed), ("failed", failed), ("started", started)):
            for _ in range(n):
                sid = self.start(i)
                if outcome != "started":
                    self.finish(sid, i, outcome)
                i += 1

    def start(self, i: int) -> int:
        cur = self.pooled().execute(
            "INSERT INTO user_sessions (session_type, start_time, metadata) VALUES (?, ?, ?)",
            (SESSION_TYPES[i % 3], utc_space(self.clock()), json.dumps({"batch": i})))
        return int(cur.lastrowid)

    def finish(self, sid: int, i: int, outcome: str) -> None:
        if outcome == "completed":
            self.pooled().execute(
                "UPDATE user_sessions SET status = 'completed', end_time = ?, processed_raw_count = ?, "
                "processed_activity_count = ?, tags_generated = ? WHERE id = ?",
                (utc_space(self.clock()), 20 + i, 5 + i % 4, 3, sid))
        else:
            self.pooled().execute(
                "UPDATE user_sessions SET status = 'failed', end_time = ?, error_message = ? WHERE id = ?",
                (utc_space(self.clock()), "DatabaseOperationError: UNIQUE constraint failed: tags.name", sid))

    def steps(self) -> Iterator[Callable[[], None]]:
        conn = sqlite3.connect(self.path)
        (i,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM user_sessions").fetchone()
        conn.close()
        while True:
            box: list[int] = []
            yield lambda i=i, box=box: box.append(self.start(i))
            yield lambda i=i: self.pooled().execute(
                "INSERT INTO raw_activities (date, source, details) VALUES (date('now'), 'notion', ?)",
                (f"activity {i}",))
            yield lambda i=i, box=box: self.finish(box[0], i, session_outcome(i))
            i += 1


# -- YouTube Video Builder: jobs --------------------------------------------------------------------

JOBS_DDL = """
CREATE TABLE jobs (
    job_id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER DEFAULT 0,
    current_step TEXT,
    config TEXT,
    output_file TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX idx_jobs_status ON jobs(status);
CREATE INDEX idx_jobs_created ON jobs(created_at DESC);
CREATE TABLE job_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    file_type TEXT NOT NULL,
    filename TEXT NOT NULL,
    file_path TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    FOREIGN KEY (job_id) REFERENCES jobs(job_id) ON DELETE CASCADE,
    UNIQUE(job_id, file_type, filename)
);
CREATE INDEX idx_job_files_job ON job_files(job_id);
CREATE TABLE youtube_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    video_id TEXT NOT NULL,
    video_url TEXT NOT NULL,
    title TEXT,
    description TEXT,
    privacy TEXT,
    tags TEXT,
    category TEXT,
    uploaded_at TEXT NOT NULL,
    FOREIGN KEY (job_id) REFERENCES jobs(job_id) ON DELETE CASCADE
);
CREATE INDEX idx_youtube_job ON youtube_uploads(job_id);
CREATE TABLE youtube_credentials (
    id INTEGER PRIMARY KEY,
    credentials_json TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

JOB_STEPS = {25: "Selecting clips", 50: "Mixing audio", 75: "Rendering video", 90: "Adding captions",
             100: "Finalising"}


def job_outcome(i: int) -> str:
    r = i % 7
    return "failed" if r == 3 else "cancelled" if r == 5 else "completed"


class JobsWriter(Writer):
    name = "yt_builder_jobs"
    native_journal = "delete"
    tables = ("jobs",)

    def connect(self) -> sqlite3.Connection:
        # sqlite3's default timeout (5 s); PRAGMA foreign_keys stays off.
        return self._tune(sqlite3.connect(self.path, timeout=self.busy_timeout if self.busy_timeout is not None else 5.0))

    def call(self, sql: str, params: tuple = ()) -> None:
        """Database.<method>(): new connection, one statement, commit, close."""
        conn = self.connect()
        try:
            conn.execute(sql, params)
            conn.commit()
        finally:
            conn.close()

    def create(self, *, credentials: str = SECRET_MARKER, stale_started: float | None = None) -> None:
        """Jobs in all six raw states; one stale `running` job (crashed worker) started `stale_started`.

        Also: a completed job whose `error` column still holds an old error text (not a failure), and
        `youtube_credentials.credentials_json` holding `credentials` (must never be shown).
        """
        conn = sqlite3.connect(self.path)
        if self.journal == "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(JOBS_DDL)
        conn.close()
        self.call("INSERT INTO youtube_credentials (id, credentials_json, updated_at) VALUES (1, ?, ?)",
                  (json.dumps({"token": credentials, "refresh_token": credentials, "client_secret": credentials}),
                   local_iso(self.clock())))
        plan = (["completed"] * 5 + ["failed"] * 2 + ["cancelled"] + ["running"] * 2 + ["queued"] * 2
                + ["preparing"])
        for i, final in enumerate(plan, start=1):
            for step in self.lifecycle(i, final):
                step()
        # A cancel usually ends up recorded as failed with -15.
        self.lifecycle_cancel_recorded_as_failed(len(plan) + 1)
        # A job that was retried and completed, with the old error text still in `error`.
        self.call("UPDATE jobs SET error = ? WHERE job_id = 1", ("ffmpeg warning: retrying after exit code 1",))
        if stale_started is not None:
            i = len(plan) + 2
            for step in self.lifecycle(i, "running"):
                step()
            self.call("UPDATE jobs SET started_at = ?, progress = 50, current_step = 'Mixing audio' "
                      "WHERE job_id = ?", (local_iso(stale_started), i))

    def lifecycle_cancel_recorded_as_failed(self, i: int) -> None:
        for step in self.lifecycle(i, "running"):
            step()
        self.call("UPDATE jobs SET status = 'failed', error = 'Process exited with code -15', finished_at = ? "
                  "WHERE job_id = ?", (local_iso(self.clock()), i))

    def lifecycle(self, i: int, final: str) -> Iterator[Callable[[], None]]:
        """The commits job i goes through until it reaches `final`."""
        yield lambda: self.call(
            "INSERT INTO jobs (job_id, run_id, run_dir, status, progress, config, created_at) "
            "VALUES (?, ?, ?, 'preparing', 0, ?, ?)",
            (i, f"run-{i}-{i * 2654435761 % 16**6:06x}", f"/srv/runs/run-{i}", json.dumps({"fps": 30}),
             local_iso(self.clock())))
        if final == "preparing":
            return
        yield lambda: self.call("INSERT INTO job_files (job_id, file_type, filename, file_path, uploaded_at) "
                                "VALUES (?, 'videos', ?, ?, ?)",
                                (i, f"clip{i}.mp4", f"/srv/runs/run-{i}/clip{i}.mp4", local_iso(self.clock())))
        yield lambda: self.call("UPDATE jobs SET status = 'queued' WHERE job_id = ?", (i,))
        if final == "queued":
            return
        for pct, text in JOB_STEPS.items():
            # started_at is overwritten on every progress update.
            yield lambda pct=pct, text=text: self.call(
                "UPDATE jobs SET status = 'running', progress = ?, current_step = ?, started_at = ? "
                "WHERE job_id = ?", (pct, text, local_iso(self.clock()), i))
            if final == "running" and pct == 50:
                return
        now = local_iso(self.clock())
        if final == "completed":
            yield lambda: self.call("UPDATE jobs SET status = 'completed', progress = 100, output_file = ?, "
                                    "finished_at = ? WHERE job_id = ?", (f"/srv/out/run-{i}.mp4", now, i))
        elif final == "failed":
            yield lambda: self.call("UPDATE jobs SET status = 'failed', error = 'Process exited with code 1', "
                                    "finished_at = ? WHERE job_id = ?", (now, i))
        else:
            yield lambda: self.call("UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE job_id = ?",
                                    (now, i))

    def steps(self) -> Iterator[Callable[[], None]]:
        conn = sqlite3.connect(self.path)
        (i,) = conn.execute("SELECT COALESCE(MAX(job_id), 0) FROM jobs").fetchone()
        conn.close()
        while True:
            i += 1
            yield from self.lifecycle(i, job_outcome(i))


WRITERS: dict[str, type[Writer]] = {w.name: w for w in (TopicsWriter, LLMWriter, DocstoreWriter,
                                                         SmartHistoryWriter, JobsWriter)}
ALIASES = {"topics": "topic_completions", "llm": "llm_results", "docstore": "documentation_store",
           "jobs": "yt_builder_jobs"}


def make_writer(schema: str, path: str | os.PathLike, **kwargs) -> Writer:
    """The writer for `schema` (a built-in profile name or a short alias)."""
    return WRITERS[ALIASES.get(schema, schema)](path, **kwargs)


# -- ground truth -----------------------------------------------------------------------------------

def truth_conn(conn: sqlite3.Connection, schema: str) -> dict[str, dict[str, int]]:
    """Direct `SELECT status, COUNT(*)` per work table: {table: {raw value: count}}.

    topic_completions splits 'pending' rows with started_at set (in flight) as 'pending (started)';
    llm_results has no status column: its groups are those of `llm_label` (NULL, empty, NA, Error:,
    response).
    """
    schema = ALIASES.get(schema, schema)
    out: dict[str, dict[str, int]] = {}
    if schema == "topic_completions":
        rows = conn.execute("SELECT status, status = 'pending' AND started_at IS NOT NULL AND completed_at IS NULL, "
                            "COUNT(*) FROM topic_completions GROUP BY 1, 2").fetchall()
        out["topic_completions"] = {(f"{s} (started)" if flight else s): n for s, flight, n in rows}
    elif schema == "llm_results":
        groups: dict[str, int] = {}
        for (result,) in conn.execute("SELECT result FROM llm_results"):
            key = llm_label(result)
            groups[key] = groups.get(key, 0) + 1
        out["llm_results"] = groups
    else:
        for table in WRITERS[schema].tables:
            out[table] = dict(conn.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status").fetchall())
    return out


def ro_connect(path: str | os.PathLike, *, live: bool = False, timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection of the test's own that creates no file.

    With no -shm (nobody has the database open) it is a short `immutable=1` read; with a -shm, or when
    a writer is `live`, a plain `mode=ro` connection. It never `open()`s the file itself: that would drop
    the POSIX locks of any connection this process holds (hazards.md rule 8).
    """
    path = os.fspath(path)
    quiet = not live and not os.path.exists(path + "-shm")
    uri = Path(path).resolve().as_uri() + "?mode=ro" + ("&immutable=1" if quiet else "")
    return sqlite3.connect(uri, uri=True, timeout=timeout)


def truth(path: str | os.PathLike, schema: str, *, live: bool = False) -> dict[str, dict[str, int]]:
    """Ground truth read through a read-only connection of our own (creates no file)."""
    conn = ro_connect(path, live=live)
    try:
        return truth_conn(conn, schema)
    finally:
        conn.close()


# -- helpers shared by the tests ---------------------------------------------------------------------

#: Display labels of raw values and the canonical state each must map to (field-notes.md), per writer.
#: llm_results has no status column: its "raw values" are the derived groups batchtop displays.
CANON: dict[str, dict[str, str]] = {
    "topic_completions": {"pending": "pending", "pending (started)": "running", "completed": "done",
                          "failed": "failed", "skipped": "skipped"},
    "llm_results": {"NULL": "pending", "empty": "pending", "NA": "pending", "Error:": "failed",
                    "response": "done"},
    "documentation_store": {"pending": "pending", "completed": "done"},
    "smarthistory": {"started": "running", "completed": "done", "failed": "failed"},
    "yt_builder_jobs": {"preparing": "pending", "queued": "pending", "running": "running",
                        "completed": "done", "failed": "failed", "cancelled": "cancelled"},
}
STATES = ("pending", "running", "done", "failed", "skipped", "cancelled")


def llm_label(result: str | None) -> str:
    """The group a `result` value falls in, named as batchtop shows it."""
    if result is None:
        return "NULL"
    if result == "":
        return "empty"
    if result == "NA":
        return "NA"
    return "Error:" if result.startswith("Error:") else "response"


def expected_counts(schema: str, raw: dict[str, int]) -> dict[str, int]:
    """{display label: count} -> counts by canonical state, mapped as field-notes.md says."""
    schema = ALIASES.get(schema, schema)
    counts = dict.fromkeys(STATES, 0)
    for label, n in raw.items():
        counts[CANON[schema][label]] += n
    return counts


def file_state(directory: str | os.PathLike) -> dict[str, tuple[str, int, int]]:
    """{name: (sha256, size, mtime_ns)} of every entry of `directory`.

    Call it only while this process holds no SQLite connection to these files: closing the
    descriptor opened here would drop that connection's POSIX locks (hazards.md rule 8).
    """
    out = {}
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        st = os.stat(full)
        digest = ""
        if os.path.isfile(full):
            with open(full, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        out[name] = (digest, st.st_size, st.st_mtime_ns)
    return out


def run_cli(*args: str, env: dict | None = None, timeout: float = 60,
            cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `batchtop ARGS` as a real subprocess; stdout/stderr as bytes."""
    full_env = dict(os.environ, COLUMNS="400", LINES="50", NO_COLOR="1", TERM="dumb")
    full_env.pop("FORCE_COLOR", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "batchtop.tui.cli", *args], capture_output=True,
                          env=full_env, timeout=timeout, check=False, cwd=cwd)


def start_writer(schema: str, path: str | os.PathLike, *args: str) -> subprocess.Popen[str]:
    """Start `python tests/writers.py SCHEMA PATH ARGS`; its stdout lines are collected in `proc.lines`."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), schema, os.fspath(path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.lines = queue.Queue()  # type: ignore[attr-defined]

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            proc.lines.put(line)  # type: ignore[attr-defined]
        proc.lines.put(None)  # type: ignore[attr-defined]

    threading.Thread(target=pump, daemon=True).start()
    return proc


def read_report(proc: subprocess.Popen[str], timeout: float = 30) -> dict:
    """Wait for the next JSON line a running writer prints (its report, or a lock/crash notice)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = proc.lines.get(timeout=max(0.0, deadline - time.monotonic()))  # type: ignore[attr-defined]
        except queue.Empty:
            raise AssertionError(f"writer printed nothing for {timeout}s") from None
        if line is None:
            raise AssertionError(f"writer exited (rc={proc.wait()}): {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        if line.startswith("{"):
            return json.loads(line)


def finish_writer(proc: subprocess.Popen[str], timeout: float = 60) -> dict:
    """Wait for a writer subprocess and return its last JSON report."""
    rc = proc.wait(timeout=timeout)
    err = proc.stderr.read()  # type: ignore[union-attr]
    last = None
    while True:
        line = proc.lines.get(timeout=10)  # type: ignore[attr-defined]
        if line is None:
            break
        if line.startswith("{") and "commits" in (obj := json.loads(line)):
            last = obj
    assert rc == 0 and last is not None, f"writer failed ({rc}): {err[-2000:]}"
    return last


def stop_writer(proc: subprocess.Popen[str]) -> None:
    """Kill a writer that is still running (an idle job the test no longer needs)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


# -- subprocess entry point -------------------------------------------------------------------------

def _run_commits(writer: Writer, commits: int, interval: float, record: bool, seconds: float | None = None) -> dict:
    locked = 0
    errors: list[str] = []
    trajectory = []
    made = 0
    started = time.monotonic()
    for step in writer.steps():
        if made >= commits or (seconds is not None and time.monotonic() - started >= seconds):
            break
        for _attempt in range(1000):
            try:
                step()
                break
            except sqlite3.OperationalError as exc:
                if not is_locked(exc):
                    raise
                locked += 1
                for conn in [writer._conn, *getattr(writer, "_pool", [])]:
                    if conn is not None and conn.in_transaction:
                        conn.rollback()
                errors.append(str(exc))
        made += 1
        if record:
            conn = sqlite3.connect(writer.path, timeout=5)
            trajectory.append(truth_conn(conn, writer.name))
            conn.close()
        if interval:
            time.sleep(interval)
    return {"schema": writer.name, "commits": made, "locked": locked, "errors": errors[:10],
            "seconds": round(time.monotonic() - started, 3), "trajectory": trajectory}


def _crash(writer: Writer) -> None:
    """Write a transaction big enough to spill into the journal/WAL, then die before COMMIT."""
    conn = sqlite3.connect(writer.path, isolation_level=None, timeout=5)
    conn.execute("PRAGMA cache_size=1")
    conn.execute("BEGIN IMMEDIATE")
    table = writer.tables[0]
    conn.execute("CREATE TABLE IF NOT EXISTS crash_filler (id INTEGER PRIMARY KEY, pad TEXT)")
    conn.execute("INSERT INTO crash_filler (pad) SELECT printf('%.3000c', 'x') FROM "
                 "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) SELECT i FROM n)")
    if writer.name == "topic_completions":
        conn.execute("UPDATE topic_completions SET status = 'completed'")
        conn.execute("INSERT INTO topic_completions (topic_path, status) VALUES ('Data/UNCOMMITTED/x.json', 'failed')")
    elif writer.name == "yt_builder_jobs":
        conn.execute("UPDATE jobs SET status = 'completed'")
    else:
        conn.execute(f"DELETE FROM {table}")
    print(json.dumps({"crashing": True}), flush=True)
    os._exit(0)


def _hold_exclusive(writer: Writer, seconds: float) -> None:
    conn = sqlite3.connect(writer.path, isolation_level=None, timeout=5)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute(f"UPDATE {writer.tables[0]} SET rowid = rowid WHERE rowid = (SELECT MIN(rowid) FROM {writer.tables[0]})")
    print(json.dumps({"locked": True}), flush=True)
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()
    print(json.dumps({"released": True}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("schema", choices=sorted([*WRITERS, *ALIASES]))
    parser.add_argument("path")
    parser.add_argument("--journal", choices=("wal", "delete"), default=None)
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--interval-ms", type=float, default=0.0)
    parser.add_argument("--busy-timeout", type=float, default=None, help="seconds")
    parser.add_argument("--trajectory", action="store_true",
                        help="after each commit record the ground truth (for consistency checks)")
    parser.add_argument("--crash", action="store_true", help="after the commits, die mid-transaction")
    parser.add_argument("--hold-exclusive", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop committing after this long (or after --commits, whichever comes first)")
    parser.add_argument("--wal-autocheckpoint", type=int, default=None, metavar="PAGES",
                        help="the job's PRAGMA wal_autocheckpoint (SQLite's default: 1000 pages)")
    parser.add_argument("--idle", type=float, default=None, metavar="SECONDS",
                        help="after the commits, report, then keep the database open (idle) this long")
    args = parser.parse_args(argv)
    writer = make_writer(args.schema, args.path, journal=args.journal, busy_timeout=args.busy_timeout)
    if not os.path.exists(args.path):
        writer.setup()
    if args.hold_exclusive is not None:
        _hold_exclusive(writer, args.hold_exclusive)
        return 0
    if args.wal_autocheckpoint is not None:
        writer.shared().execute(f"PRAGMA wal_autocheckpoint = {int(args.wal_autocheckpoint)}")
    report = _run_commits(writer, args.commits, args.interval_ms / 1000.0, args.trajectory, args.seconds)
    if args.crash:
        print(json.dumps(report), flush=True)
        _crash(writer)
    if args.idle is not None:
        # A job between items: its connection stays open (WAL: -wal and -shm stay), nothing is written.
        writer.shared().execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
        if writer._conn is not None and writer._conn.in_transaction:
            writer._conn.commit()
        print(json.dumps(report), flush=True)
        time.sleep(args.idle)
    writer.close()
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
