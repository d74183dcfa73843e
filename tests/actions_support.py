"""Test databases written the way the real writers write them (field-notes.md), and a writer process.

Builders create small files for the five seed schemas. Run as a script, this module is a stand-in job
used by the race tests (a real separate process, with the writer's own connection habits):

    python actions_support.py hold DB SECONDS [immediate|exclusive|shared]   hold a lock, then commit
    python actions_support.py loop DB SECONDS SCHEMA                  commit in a loop, 0.2 s busy timeout
    python actions_support.py move DB SCHEMA KEY[,KEY...]             pick items up (-> running)

Each prints one JSON line when done and exits 1 if it met any SQLite error.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent

TOPICS_DDL = """
CREATE TABLE topic_completions (
    id INTEGER PRIMARY KEY, topic_path TEXT UNIQUE, content_hash TEXT, status TEXT,
    started_at DATETIME, completed_at DATETIME, duration_seconds REAL, flashcard_count INTEGER,
    cost_usd REAL, error_message TEXT);
CREATE INDEX idx_status ON topic_completions(status);
CREATE INDEX idx_completed_at ON topic_completions(completed_at);
"""
LLM_DDL = """
CREATE TABLE llm_results (id INTEGER PRIMARY KEY, prompt TEXT NOT NULL, result TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
"""
JOBS_DDL = """
CREATE TABLE jobs (job_id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, run_dir TEXT, status TEXT,
    progress INTEGER DEFAULT 0, current_step TEXT, config TEXT, output_file TEXT, error TEXT,
    created_at TEXT, started_at TEXT, finished_at TEXT);
CREATE INDEX idx_jobs_status ON jobs(status);
CREATE INDEX idx_jobs_created ON jobs(created_at DESC);
CREATE TABLE job_files (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER, kind TEXT, path TEXT);
CREATE TABLE youtube_credentials (id INTEGER PRIMARY KEY, credentials_json TEXT);
"""
DOCSTORE_DDL = """
CREATE TABLE table_metadata (table_name TEXT PRIMARY KEY, schema_data TEXT NOT NULL, business_purpose TEXT,
    documentation TEXT, processed_at TIMESTAMP, status TEXT DEFAULT 'pending');
CREATE TABLE relationship_metadata (id INTEGER PRIMARY KEY AUTOINCREMENT, constrained_table TEXT NOT NULL,
    constrained_columns TEXT NOT NULL, referred_table TEXT NOT NULL, referred_columns TEXT NOT NULL,
    relationship_type TEXT, documentation TEXT, processed_at TIMESTAMP, status TEXT DEFAULT 'pending');
CREATE TABLE generation_metadata (id INTEGER PRIMARY KEY, source_database_url TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL, completed_at TIMESTAMP, total_tables INTEGER, total_relationships INTEGER,
    status TEXT DEFAULT 'in_progress');
"""
SMART_DDL = """
CREATE TABLE user_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, session_type TEXT NOT NULL,
    start_time TIMESTAMP DEFAULT CURRENT_TIMESTAMP, end_time TIMESTAMP, status TEXT DEFAULT 'started',
    error_message TEXT, processed_raw_count INTEGER DEFAULT 0, processed_activity_count INTEGER DEFAULT 0,
    tags_generated INTEGER DEFAULT 0);
"""
SECRET = "ya29.SECRET-oauth-token-never-shown"
ERRORS = ("Timeout after 30s talking to api.example.com", "RateLimitError: 429 retry in 7s",
          "JSONDecodeError: Expecting value: line 1 column 1 (char 0)")


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def local_iso(t: float) -> str:
    return datetime.fromtimestamp(t).isoformat(timespec="seconds")


def _finish(conn: sqlite3.Connection, path: Path, mode: str) -> Path:
    conn.commit()
    conn.execute(f"PRAGMA journal_mode={mode}")
    conn.close()
    return path


def make_topics(path: Path, *, failed: int = 20, done: int = 10, pending: int = 5, running: int = 0,
                mode: str = "wal", now: float | None = None) -> Path:
    """prompt_optimizer: pending/completed/failed/skipped; in flight = pending with started_at set."""
    now = time.time() if now is None else now
    conn = sqlite3.connect(path)
    conn.executescript(TOPICS_DDL)
    rows = []
    i = 0
    for status, n in (("failed", failed), ("completed", done), ("pending", pending), ("running", running)):
        for _ in range(n):
            i += 1
            started = utc(now - 3600 - i) if status in ("failed", "completed", "running") else None
            rows.append((i, f"Data/Science/Chemistry/topic_{i}/topic.json", f"h{i:06d}",
                         "pending" if status == "running" else status, started,
                         utc(now - 3000 - i) if status in ("failed", "completed") else None,
                         12.5 + i if status in ("failed", "completed") else None,
                         15 if status == "completed" else 0, 0.031 if status == "completed" else 0.002,
                         f"Error {ERRORS[i % 3]} (topic {i})" if status == "failed" else None))
    conn.executemany("INSERT INTO topic_completions VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    return _finish(conn, path, mode)


def make_llm(path: Path, *, failed: int = 20, done: int = 10, pending: int = 5, mode: str = "wal") -> Path:
    """ParallelLLMProcessor: all rows inserted with result NULL, then one UPDATE per result."""
    conn = sqlite3.connect(path)
    conn.executescript(LLM_DDL)
    n = failed + done + pending
    conn.executemany("INSERT INTO llm_results (id, prompt) VALUES (?, ?)", [(i, f"prompt {i}") for i in range(1, n + 1)])
    for i in range(1, n + 1):
        if i <= failed:
            conn.execute("UPDATE llm_results SET result = ? WHERE id = ?",
                         (f"Error: Failed after 3 attempts: {ERRORS[i % 3]}", i))
        elif i <= failed + done:
            conn.execute("UPDATE llm_results SET result = ? WHERE id = ?", (f"answer {i}", i))
    return _finish(conn, path, mode)


def make_jobs(path: Path, *, failed: int = 20, done: int = 10, queued: int = 5, running: int = 0,
              mode: str = "delete", now: float | None = None, running_age: float = 7200.0) -> Path:
    """YouTube Video Builder: naive local ISO times with 'T'; credentials in their own table."""
    now = time.time() if now is None else now
    conn = sqlite3.connect(path)
    conn.executescript(JOBS_DDL)
    i = 0
    for status, n in (("failed", failed), ("completed", done), ("queued", queued), ("running", running)):
        for _ in range(n):
            i += 1
            conn.execute(
                "INSERT INTO jobs (run_id, run_dir, status, progress, current_step, config, output_file, error, "
                "created_at, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (f"run-{i}-abc{i:03d}", f"/runs/run-{i}", status,
                 {"failed": 50, "completed": 100, "queued": 0, "running": 75}[status],
                 "Mixing audio" if status != "queued" else None, '{"voice": "x"}',
                 f"/out/{i}.mp4" if status == "completed" else None,
                 "Process exited with code 1" if status == "failed" else None,
                 local_iso(now - 9000), local_iso(now - (running_age if status == "running" else 8000)),
                 local_iso(now - 7000) if status in ("failed", "completed") else None))
    conn.execute("INSERT INTO youtube_credentials (credentials_json) VALUES (?)", (json.dumps({"token": SECRET}),))
    return _finish(conn, path, mode)


def make_docstore(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(DOCSTORE_DDL)
    for i in range(5):
        conn.execute("INSERT INTO table_metadata (table_name, schema_data, status) VALUES (?, '{}', ?)",
                     (f"t{i}", "completed" if i < 2 else "pending"))
        conn.execute("INSERT INTO relationship_metadata (constrained_table, constrained_columns, referred_table, "
                     "referred_columns) VALUES (?, '[]', 't0', '[]')", (f"t{i}",))
    conn.execute("INSERT INTO generation_metadata (source_database_url, started_at) VALUES ('sqlite:///x', ?)",
                 (str(datetime.now()),))
    return _finish(conn, path, "delete")


def make_smarthistory(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SMART_DDL)
    for i, status in enumerate(("completed", "failed", "started", "failed")):
        conn.execute("INSERT INTO user_sessions (session_type, status, error_message) VALUES (?, ?, ?)",
                     (f"kind{i}", status, "boom" if status == "failed" else None))
    return _finish(conn, path, "wal")


BUILDERS = {"topics": make_topics, "llm": make_llm, "jobs": make_jobs}


def rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read with a throwaway read-only connection (closed before returning)."""
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=rw", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def dir_state(d: Path) -> dict[str, tuple[int, int, str]]:
    """Name -> (size, mtime_ns, sha256) of every file (call only while no connection is open to them)."""
    out = {}
    for name in sorted(os.listdir(d)):
        p = d / name
        st = p.stat()
        out[name] = (st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "")
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def spawn(*args: str) -> list[str]:
    """argv to run this module as a writer process."""
    return [sys.executable, str(HERE / "actions_support.py"), *args]


# -- the stand-in job --------------------------------------------------------------------------------

def _hold(db: str, seconds: float, how: str) -> int:
    """Hold a lock: `immediate`/`exclusive` write locks, or `shared` (an open read transaction)."""
    conn = sqlite3.connect(db, timeout=5, isolation_level=None)
    if how == "shared":
        conn.execute("BEGIN")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()
    else:
        conn.execute(f"BEGIN {how.upper()}")
    print(json.dumps({"locked": time.time()}), flush=True)
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()
    print(json.dumps({"committed": time.time()}), flush=True)
    return 0


def _loop(db: str, seconds: float, schema: str) -> int:
    """Commit one small write after another with a 0.2 s busy timeout, as the jobs do."""
    end = time.time() + seconds
    commits, errors = 0, []
    persistent = sqlite3.connect(db, timeout=0.2) if schema == "topics" else None
    n = 0
    while time.time() < end:
        n += 1
        try:
            if schema == "topics":  # one long-lived connection, one commit per topic
                assert persistent is not None
                persistent.execute("UPDATE topic_completions SET flashcard_count = flashcard_count + 1, "
                                   "completed_at = ? WHERE status = 'completed' AND id = "
                                   "(SELECT id FROM topic_completions WHERE status = 'completed' "
                                   "ORDER BY id LIMIT 1 OFFSET ?)", (utc(time.time()), n % 5))
                persistent.commit()
            else:  # jobs: a new connection per call, one statement, commit, close
                conn = sqlite3.connect(db, timeout=0.2)
                conn.execute("UPDATE jobs SET progress = ?, started_at = ? WHERE status = 'completed' AND "
                             "job_id = (SELECT job_id FROM jobs WHERE status = 'completed' ORDER BY job_id "
                             "LIMIT 1 OFFSET ?)", (n % 100, local_iso(time.time()), n % 5))
                conn.commit()
                conn.close()
            commits += 1
        except sqlite3.Error as exc:
            errors.append(str(exc))
        time.sleep(0.002)
    print(json.dumps({"commits": commits, "errors": errors}), flush=True)
    return 1 if errors else 0


def _move(db: str, schema: str, keys: str) -> int:
    """The job picks items up (comma-separated keys): one connection, one commit per item."""
    conn = sqlite3.connect(db, timeout=5)
    for key in keys.split(","):
        if schema == "jobs":
            conn.execute("UPDATE jobs SET status = 'running', progress = 25, current_step = 'Rendering', "
                         "started_at = ? WHERE job_id = ?", (local_iso(time.time()), int(key)))
        elif schema == "topics":
            conn.execute("UPDATE topic_completions SET status = 'pending', started_at = ?, completed_at = NULL, "
                         "error_message = NULL WHERE id = ?", (utc(time.time()), int(key)))
        else:
            conn.execute("UPDATE llm_results SET result = 'late answer' WHERE id = ?", (int(key),))
        conn.commit()
    conn.close()
    print(json.dumps({"moved": keys}), flush=True)
    return 0


if __name__ == "__main__":
    cmd, db = sys.argv[1], sys.argv[2]
    try:
        if cmd == "hold":
            sys.exit(_hold(db, float(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "immediate"))
        if cmd == "loop":
            sys.exit(_loop(db, float(sys.argv[3]), sys.argv[4]))
        if cmd == "move":
            sys.exit(_move(db, sys.argv[3], sys.argv[4]))
    except sqlite3.Error as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        sys.exit(1)
    sys.exit(2)
