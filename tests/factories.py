"""Databases for tests, benchmarks and the screenshot script: deterministic, relative to a fixed clock.

Realistic files come from the simulator (`fill`, `demo`) with a fixed clock and seed, so they are the
same byte for byte on every run; file modification times are pinned too, because activity ("active",
"stalled") also looks at when the job last wrote. Hostile files carry markup, escape sequences, control
and bidi characters, invalid UTF-8 and a 5 MB value in every place a database can put text.

Only add functions here (other test modules and scripts import it).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

#: 2026-01-01 12:00:00 UTC: "now" for every deterministic test and screenshot.
FIXED_NOW = 1_767_268_800.0


def fixed_clock(now: float = FIXED_NOW) -> Callable[[], float]:
    """A clock that always says `now`."""
    return lambda: now


def pin_mtimes(paths: Iterable[str | os.PathLike[str]], when: float) -> None:
    """Set the access and modification times of each file (and of its sidecars) to `when`."""
    for path in paths:
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = os.fspath(path) + suffix
            if os.path.exists(p):
                os.utime(p, (when, when))


def topics_db(path: str | os.PathLike[str], *, now: float = FIXED_NOW, items: int = 60, completed: int = 30,
              failed: int = 4, skipped: int = 2, in_flight: int = 2, seed: int = 1, span: float = 1800.0,
              ago: float = 0.0) -> Path:
    """A prompt_optimizer `topic_completions` database mid-run (WAL), as of `now`."""
    return schema_db("topics", path, now=now, items=items, ago=ago, seed=seed, completed=completed,
                     failed=failed, skipped=skipped, in_flight=in_flight, span=span)


def schema_db(schema: str, path: str | os.PathLike[str], *, now: float = FIXED_NOW, items: int = 30,
              ago: float = 0.0, seed: int = 1, span: float = 3600.0, **counts: int) -> Path:
    """Any of the five schemas via the simulator's `fill` (see its docstring for `counts`)."""
    from batchtop.core.simulator import fill

    out = fill(schema, Path(path).parent, items, path=path, seed=seed, clock=fixed_clock(now), ago=ago,
               span=span, **counts)
    pin_mtimes([out], now - ago)
    return out


@contextmanager
def _building(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection for building a test file by hand: committed and closed when the block ends."""
    conn = sqlite3.connect(path)
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


#: How long before "now" each kind of demo job last wrote (see core/simulator/demo.py).
_DEMO_AGE = {"active": 2.0, "stalled": 9 * 60.0, "crashed": 40 * 60.0, "finished": 2 * 3600.0}


def demo_dir(directory: str | os.PathLike[str], *, now: float = FIXED_NOW, scale: float = 1.0) -> list[Path]:
    """The `batchtop demo` directory frozen at `now`: all five schemas, failures, a stall and a crash."""
    from batchtop.core.simulator import demo

    jobs = demo(directory, seed=0, clock=fixed_clock(now), scale=scale)
    jobs.close()
    for src in jobs.sources:
        extra = src.simulation.paths if src.simulation is not None else []
        pin_mtimes([*src.paths, *extra], now - _DEMO_AGE.get(src.state, 2.0))
    return jobs.paths


def not_a_database(path: str | os.PathLike[str]) -> Path:
    """A text file with a database name."""
    p = Path(path)
    p.write_text("this is not a database\n" * 20)
    return p


def empty_file(path: str | os.PathLike[str]) -> Path:
    """A 0-byte file with a database name."""
    p = Path(path)
    p.write_bytes(b"")
    return p


# -- hostile content --------------------------------------------------------------------------------

#: Payloads that must be shown literally and never reach the terminal as control sequences.
MARKUP = "[@click=app.quit]x[/]"
BROKEN_MARKUP = "x [/] y"
ESC_SGR = "\x1b[31mDBTEXT\x1b[0m"
OSC52 = "\x1b]52;c;SGVsbG8gZnJvbSB0aGUgZGF0YWJhc2U=\x07"
OSC8 = "\x1b]8;;https://evil.example/osc8-payload\x07click\x1b]8;;\x07"
C1 = "\u009b31mC1TEXT"
BIDI = "\u202eevil-bidi"
NUL = "nul\x00byte"
HOSTILE_VALUES = (MARKUP, BROKEN_MARKUP, ESC_SGR, OSC52, OSC8, C1, BIDI, NUL)

#: Byte sequences that must never appear in the terminal output (the DB payloads, encoded).
FORBIDDEN_BYTES = (
    b"\x1b]52",
    b"evil.example/osc8-payload\x07",
    b"\x1b]8;;https://evil.example",
    b"\x1b[31mDBTEXT",
    b"\xc2\x9b",
    "\u202e".encode(),
    b"\x00",
)

#: A file name with markup, an ESC sequence, a C1 control, a bidi override and an invalid UTF-8 byte.
HOSTILE_NAME = os.fsdecode(b"[@click=app.quit]x[b] \x1b[31mDBTEXT \xc2\x9b \xe2\x80\xae \xff.db")

_TOPICS_DDL = """
CREATE TABLE topic_completions (
    id INTEGER PRIMARY KEY, topic_path TEXT, content_hash TEXT, status TEXT, started_at DATETIME,
    completed_at DATETIME, duration_seconds REAL, flashcard_count INTEGER, cost_usd REAL, error_message TEXT
)
"""


def _utc(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def hostile_db(path: str | os.PathLike[str], *, now: float = FIXED_NOW, big: int = 5 * 1024 * 1024) -> Path:
    """A topic_completions database whose statuses, labels and errors carry every hostile payload.

    Also: invalid UTF-8 stored as TEXT, and a `big`-byte label and error (5 MB by default).
    """
    p = Path(path)
    with _building(p) as conn:
        conn.executescript(_TOPICS_DDL)
        rows = []
        for i, value in enumerate(HOSTILE_VALUES):
            t = now - 600 + i * 30
            # As a label, as the error of a failed row, and as a status (an unknown raw value). A NUL in
            # a status broke core's in-flight read ("the query contains a null character"): reported,
            # kept out of statuses until fixed so the other payloads still reach the screen.
            rows.append((value, "pending", None, None, None))
            rows.append((value, "failed", _utc(t - 20), _utc(t), value))
            if "\x00" not in value:
                rows.append((f"topic {i}", value, None, _utc(t - 20), None))
        for j in range(12):
            t = now - 300 + j * 20
            rows.append((f"Data/ok/topic_{j}.json", "completed", _utc(t - 15), _utc(t), None))
        conn.executemany("INSERT INTO topic_completions (topic_path, status, started_at, completed_at, "
                         "error_message) VALUES (?, ?, ?, ?, ?)", rows)
        # Invalid UTF-8 in TEXT columns (bytes cast to TEXT), and a huge label and error.
        conn.execute("INSERT INTO topic_completions (topic_path, status, completed_at, error_message) "
                     "VALUES (CAST(X'fffe41c328' AS TEXT), 'failed', ?, CAST(X'c328ff1b5b33316d' AS TEXT))",
                     (_utc(now - 5),))
        conn.execute("INSERT INTO topic_completions (topic_path, status, completed_at, error_message) "
                     "VALUES (?, 'failed', ?, ?)", ("L" * big, _utc(now - 4), "E" * big))
    pin_mtimes([p], now - 4)
    return p


def hostile_unknown_db(path: str | os.PathLike[str], *, now: float = FIXED_NOW) -> Path:
    """A database with no progress table whose table names carry markup and escapes (they reach the
    "no progress table recognised; found tables: ..." error message)."""
    p = Path(path)
    with _building(p) as conn:
        conn.execute('CREATE TABLE "[@click=app.quit]t[/] \x1b[31mDBTEXT \u202e" (a INTEGER, b BLOB)')
        conn.execute('CREATE TABLE "x [/] y" (c TEXT)')
    pin_mtimes([p], now - 60)
    return p


def hostile_dir(directory: str | os.PathLike[str], *, now: float = FIXED_NOW) -> dict[str, Path]:
    """A directory with the hostile database (under the hostile file name), the unknown-schema one, and
    a non-database with a hostile name."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    return {
        "values": hostile_db(d / HOSTILE_NAME, now=now),
        "tables": hostile_unknown_db(d / "tables [b]x \x1b]52;c;AAAA\x07.db", now=now),
        "notdb": not_a_database(d / "notdb [@click=app.quit]q[b].db"),
    }


# -- failures by error group (failures and item screens) --------------------------------------------

#: Error families: each renders many different messages (numbers, ids, paths, times) with one signature.
ERROR_FAMILIES: dict[str, Callable[[int], str]] = {
    "rate": lambda i: f"RateLimitError: 429 Too Many Requests (retry after {i % 60}s) request_id=req_{i * 7919:x}",
    "timeout": lambda i: f"APITimeoutError: Request timed out after {30 + (i % 3) * 30}.0s",
    "missing": lambda i: f"FileNotFoundError: [Errno 2] No such file or directory: '/data/in/{i}/topic.json'",
    "json": lambda i: f"JSONDecodeError: Expecting ',' delimiter: line {i % 60} column {i % 80} (char {i})",
    "exit": lambda i: f"Process exited with code {i % 3}\nTraceback (most recent call last):\n  line {i}",
}
#: The signature of each family, as `signature()` gives it.
FAMILY_SIGNATURES: dict[str, str] = {
    "rate": "RateLimitError: <n> Too Many Requests (retry after <n>s) request_id=<id>",
    "timeout": "APITimeoutError: Request timed out after <n>s",
    "missing": "FileNotFoundError: [Errno <n>] No such file or directory: '<path>'",
    "json": "JSONDecodeError: Expecting ',' delimiter: line <n> column <n> (char <n>)",
    "exit": "Process exited with code <n>",
}


def failures_db(path: str | os.PathLike[str], counts: dict[str, int], *, now: float = FIXED_NOW,
                done: int = 5, mode: str = "wal", start: int = 1) -> Path:
    """A `topic_completions` database whose failed rows come from `ERROR_FAMILIES` (`counts` per family),
    interleaved by key, one row a minute up to `now`; `done` completed rows keep a stale error text."""
    p = Path(path)
    with _building(p) as conn:
        conn.execute(f"PRAGMA journal_mode={mode}")
        conn.executescript(_TOPICS_DDL + ";CREATE INDEX IF NOT EXISTS idx_status ON topic_completions(status);")
        add_failures(conn, counts, now=now, start=start)
        n = conn.execute("SELECT COALESCE(MAX(id), 0) FROM topic_completions").fetchone()[0]
        conn.executemany(
            "INSERT INTO topic_completions (id, topic_path, status, completed_at, error_message) "
            "VALUES (?, ?, 'completed', ?, ?)",
            [(n + j + 1, f"Data/ok/topic_{j}.json", _utc(now - j), "stale: Connection reset (attempt 1)")
             for j in range(done)])
    return p


def add_failures(conn: sqlite3.Connection, counts: dict[str, int], *, now: float = FIXED_NOW,
                 start: int | None = None) -> list[int]:
    """Insert failed rows (keys above every existing one, families interleaved); returns their keys."""
    if start is None:
        start = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM topic_completions").fetchone()[0]
    # Interleave the families round-robin so every family spans the whole key range.
    left = dict(counts)
    seq: list[str] = []
    while any(left.values()):
        for f in counts:
            if left[f]:
                seq.append(f)
                left[f] -= 1
    total = len(seq)
    rows = [(start + i, f"Data/{fam}/topic_{start + i}.json", _utc(now - (total - i) * 60 - 30),
             _utc(now - (total - i) * 60), ERROR_FAMILIES[fam](start + i)) for i, fam in enumerate(seq)]
    conn.executemany("INSERT INTO topic_completions (id, topic_path, status, started_at, completed_at, "
                     "error_message) VALUES (?, ?, 'failed', ?, ?, ?)", rows)
    conn.commit()
    return [r[0] for r in rows]


def big_failures_db(path: str | os.PathLike[str], failed: int, *, now: float = FIXED_NOW,
                    mode: str = "delete") -> Path:
    """`failed` failed topics (7 error families, ids and numbers varying) built in SQL, fast (1M: ~7 s)."""
    p = Path(path)
    with _building(p) as conn:
        conn.execute(f"PRAGMA journal_mode={mode}")
        conn.executescript(_TOPICS_DDL + ";CREATE INDEX idx_status ON topic_completions(status);")
        t0 = int(now) - failed
        conn.execute(f"""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {int(failed)})
            INSERT INTO topic_completions (id, topic_path, status, started_at, completed_at, error_message)
            SELECT i, printf('Data/cat%d/dom%d/topic_%d.json', i % 7, i % 13, i), 'failed',
                   datetime({t0} + i - 30, 'unixepoch'), datetime({t0} + i, 'unixepoch'),
                   CASE i % 7
                     WHEN 0 THEN printf('RateLimitError: 429 Too Many Requests (retry after %ds)', i % 60)
                     WHEN 1 THEN printf('APITimeoutError: Request timed out after %d.0s', 30 + i % 3 * 30)
                     WHEN 2 THEN printf('FileNotFoundError: No such file: ''/data/in/%d/topic.json''', i)
                     WHEN 3 THEN printf('InternalServerError: Error code: %d - upstream overloaded', 500 + i % 3)
                     WHEN 4 THEN printf('JSONDecodeError: Expecting delimiter: line %d column %d', i % 60, i % 80)
                     WHEN 5 THEN printf('ValueError: bad count %d for topic %d', i % 50, i)
                     ELSE printf('Process exited with code %d', i % 3)
                   END
            FROM n""")
    return p


#: A value that must never appear in any output (it sits in secret columns and a secret table).
SECRET_MARKER = "SECRET-MARKER-7f3a9c"

_JOBS_DDL = """
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY, run_id TEXT, status TEXT, progress INTEGER, current_step TEXT, error TEXT,
    output_file TEXT, created_at TEXT, started_at TEXT, finished_at TEXT, token TEXT, credentials_json TEXT,
    payload BLOB, log TEXT
);
CREATE TABLE youtube_credentials (id INTEGER PRIMARY KEY, channel TEXT, credentials_json TEXT);
"""


def secret_jobs_db(path: str | os.PathLike[str], *, now: float = FIXED_NOW, big: int = 0) -> Path:
    """A YouTube Video Builder `jobs` database (rollback journal) with secrets in `token`,
    `credentials_json` and the `youtube_credentials` table (all holding `SECRET_MARKER`), a BLOB, a stale
    error on a completed job, invalid UTF-8 in a failed job's error, and a `big`-character log (0: none)."""
    from datetime import datetime

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%S")

    p = Path(path)
    with _building(p) as conn:
        conn.executescript(_JOBS_DDL)
        secret = f'{{"token": "{SECRET_MARKER}"}}'
        rows = [
            ("job-1", "run-a", "failed", 50, "render", "Process exited with code 1\n  at step render\n"
             "  [@click=app.quit]x[/] x [/] y \x1b]52;c;SGVsbG8=\x07 \u202eevil", None, iso(now - 900),
             iso(now - 800), iso(now - 700), SECRET_MARKER, secret, bytes(range(40)), "short log"),
            ("job-2", "run-b", "completed", 100, None, "Process exited with code -15", "out.mp4", iso(now - 600),
             iso(now - 500), iso(now - 400), SECRET_MARKER, secret, None, None),
            ("job-3", "run-c", "running", 75, "upload", None, None, iso(now - 300), iso(now - 200), None,
             SECRET_MARKER, secret, None, None),
        ]
        conn.executemany("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("INSERT INTO jobs (job_id, run_id, status, error, created_at, finished_at, token) VALUES "
                     "('job-4', 'run-d', 'failed', CAST(X'4572726f723a20fffe20626164' AS TEXT), ?, ?, ?)",
                     (iso(now - 100), iso(now - 50), SECRET_MARKER))
        if big:
            conn.execute("UPDATE jobs SET log = ? WHERE job_id = 'job-1'", ("x" * (big - 5) + "TAIL!",))
        conn.execute("INSERT INTO youtube_credentials (channel, credentials_json) VALUES ('main', ?)", (secret,))
    return p


def docstore_pending_db(path: str | os.PathLike[str]) -> Path:
    """A DocumentationStore database after two sessions: 2 tables still pending (never marked failed), 1 done."""
    p = Path(path)
    with _building(p) as conn:
        conn.executescript("""
            CREATE TABLE table_metadata (table_name TEXT PRIMARY KEY, status TEXT, processed_at TEXT);
            CREATE TABLE relationship_metadata (id INTEGER PRIMARY KEY, constrained_table TEXT, status TEXT,
                                                processed_at TEXT);
            CREATE TABLE generation_metadata (id INTEGER PRIMARY KEY, started_at TEXT, completed_at TEXT,
                                              status TEXT);
            INSERT INTO generation_metadata (started_at, status) VALUES ('2026-01-01 10:00:00', 'in_progress'),
                                                                        ('2026-01-01 11:00:00', 'in_progress');
            INSERT INTO table_metadata VALUES ('a', 'pending', NULL), ('b', 'pending', NULL),
                                              ('c', 'completed', '2026-01-01 10:30:00');
        """)
    return p


# -- real queue libraries ---------------------------------------------------------------------------

#: litequeue 0.9's table, as its `LiteQueue.__init__` creates it (WAL; every time is `time.time_ns()`).
_LITEQUEUE_DDL = """
CREATE TABLE IF NOT EXISTS [Queue] (data TEXT NOT NULL, message_id TEXT NOT NULL, status INTEGER NOT NULL,
                                    in_time INTEGER NOT NULL, lock_time INTEGER, done_time INTEGER);
CREATE INDEX IF NOT EXISTS TIdx ON [Queue](message_id);
CREATE INDEX IF NOT EXISTS SIdx ON [Queue](status);
"""


def litequeue_db(path: str | os.PathLike[str], *, now: float = FIXED_NOW, done: int = 30, failed: int = 3,
                 ready: int = 10, locked: int = 2, gap: float = 20.0, locked_ago: float = 2 * 3600.0) -> Path:
    """A litequeue queue (status 0 ready, 1 locked, 2 done, 3 failed; `in_time`, `lock_time`, `done_time`
    in nanoseconds, as `put`, `pop`, `done` and `mark_failed` write them) as of `now`.

    `done` + `failed` messages finished one every `gap` seconds up to `now` (each locked `gap / 2` before);
    `locked` messages were popped `locked_ago` seconds ago by a worker that never came back.
    """
    def ns(t: float) -> int:
        return int(round(t * 1e9))

    p = Path(path)
    finished = done + failed
    with _building(p) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_LITEQUEUE_DDL)
        start = now - finished * gap - locked_ago - 60
        rows = []
        for i in range(finished + locked + ready):
            put = start + i * 0.5
            if i < finished:
                end = now - (finished - 1 - i) * gap
                rows.append((f"task {i}", f"msg-{i:05d}", 2 if i < done else 3, ns(put), ns(end - gap / 2), ns(end)))
            elif i < finished + locked:
                rows.append((f"task {i}", f"msg-{i:05d}", 1, ns(put), ns(now - locked_ago), None))
            else:
                rows.append((f"task {i}", f"msg-{i:05d}", 0, ns(put), None, None))
        conn.executemany("INSERT INTO [Queue] VALUES (?, ?, ?, ?, ?, ?)", rows)
    pin_mtimes([p], now)
    return p


#: Celery's SQLAlchemy result backend with `result_extended = True` (celery/backends/database/models.py):
#: `result` is a PickleType (a pickled meta dict), `args`/`kwargs` LargeBinary holding what the task
#: serializer (JSON by default) produced; DateTime as SQLAlchemy writes it to SQLite.
_CELERY_DDL = """
CREATE TABLE celery_taskmeta (
    id INTEGER NOT NULL, task_id VARCHAR(155), status VARCHAR(50), result BLOB, date_done DATETIME,
    traceback TEXT, name VARCHAR(155), args BLOB, kwargs BLOB, worker VARCHAR(155), retries INTEGER,
    queue VARCHAR(155), PRIMARY KEY (id), UNIQUE (task_id)
);
CREATE TABLE celery_tasksetmeta (
    id INTEGER NOT NULL, taskset_id VARCHAR(155), result BLOB, date_done DATETIME, PRIMARY KEY (id),
    UNIQUE (taskset_id)
);
"""
#: Celery's states (celery.states), in the order a task may go through them.
CELERY_STATES = ("PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "REJECTED",
                 "IGNORED")


def celery_db(path: str | os.PathLike[str], counts: dict[str, int], *, now: float = FIXED_NOW,
              secret: str = SECRET_MARKER) -> Path:
    """A Celery result database with `counts` tasks per state (one finished a minute up to `now`).

    Every task's `kwargs` is the JSON `{"api_key": secret, "model": ..., "client_secret": secret}` and its
    `result` a pickled dict holding `secret` too; FAILURE rows carry a traceback.
    """
    import json
    import pickle
    from datetime import datetime, timezone

    def stamp(t: float) -> str:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")

    p = Path(path)
    total = sum(counts.values())
    with _building(p) as conn:
        conn.executescript(_CELERY_DDL)
        rows, i = [], 0
        for state, n in counts.items():
            for _ in range(n):
                kwargs = json.dumps({"api_key": secret, "model": "gpt-4o-mini", "prompt": f"summarise doc {i}",
                                     "client_secret": secret}).encode()
                args = json.dumps([f"doc-{i}", {"session_token": secret}]).encode()
                failed = state == "FAILURE"
                meta = {"status": state, "result": {"exc_type": "RateLimitError"} if failed else {"url": f"s3://b/{i}",
                        "token": secret}, "task_id": f"t-{i}"}
                tb = ("Traceback (most recent call last):\n  File \"tasks.py\", line 9, in summarise\n"
                      "RateLimitError: 429 Too Many Requests") if failed else None
                rows.append((i + 1, f"t-{i:04d}", state, pickle.dumps(meta, protocol=4),
                             stamp(now - (total - i) * 60), tb, "tasks.summarise", args, kwargs, "celery@w1",
                             0, "default"))
                i += 1
        conn.executemany("INSERT INTO celery_taskmeta VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    pin_mtimes([p], now - 60)
    return p


#: optuna's RDB storage (optuna/storages/_rdb/models.py), the tables a study's progress lives in.
_OPTUNA_DDL = """
CREATE TABLE studies (study_id INTEGER NOT NULL, study_name VARCHAR(512) NOT NULL, PRIMARY KEY (study_id),
                      UNIQUE (study_name));
CREATE TABLE study_directions (study_direction_id INTEGER NOT NULL, direction VARCHAR(8) NOT NULL,
                               study_id INTEGER NOT NULL, objective INTEGER NOT NULL,
                               PRIMARY KEY (study_direction_id), FOREIGN KEY(study_id) REFERENCES studies (study_id));
CREATE TABLE trials (trial_id INTEGER NOT NULL, number INTEGER, study_id INTEGER, state VARCHAR(8) NOT NULL,
                     datetime_start DATETIME, datetime_complete DATETIME, PRIMARY KEY (trial_id),
                     FOREIGN KEY(study_id) REFERENCES studies (study_id));
CREATE TABLE trial_values (trial_value_id INTEGER NOT NULL, trial_id INTEGER NOT NULL, objective INTEGER NOT NULL,
                           value FLOAT, value_type VARCHAR(7) NOT NULL, PRIMARY KEY (trial_value_id),
                           UNIQUE (trial_id, objective), FOREIGN KEY(trial_id) REFERENCES trials (trial_id));
CREATE TABLE version_info (version_info_id INTEGER NOT NULL, schema_version INTEGER, library_version VARCHAR(256),
                           PRIMARY KEY (version_info_id));
"""
#: optuna's TrialState names, as its storage writes them.
OPTUNA_STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")


def optuna_db(path: str | os.PathLike[str], counts: dict[str, int], *, now: float = FIXED_NOW) -> Path:
    """An optuna study database with `counts` trials per TrialState name, one finished a minute up to `now`."""
    from datetime import datetime, timezone

    def stamp(t: float) -> str:
        return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")

    p = Path(path)
    total = sum(counts.values())
    with _building(p) as conn:
        conn.executescript(_OPTUNA_DDL)
        conn.execute("INSERT INTO studies VALUES (1, 'tune-lr')")
        conn.execute("INSERT INTO study_directions VALUES (1, 'MINIMIZE', 1, 0)")
        conn.execute("INSERT INTO version_info VALUES (1, 12, '4.1.0')")
        i = 0
        for state, n in counts.items():
            for _ in range(n):
                start = now - (total - i) * 60 - 30
                done = None if state in ("RUNNING", "WAITING") else stamp(start + 30)
                conn.execute("INSERT INTO trials VALUES (?, ?, 1, ?, ?, ?)",
                             (i + 1, i, state, None if state == "WAITING" else stamp(start), done))
                if state == "COMPLETE":
                    conn.execute("INSERT INTO trial_values VALUES (?, ?, 0, ?, 'FINITE')", (i + 1, i + 1, 0.1 * i))
                i += 1
    pin_mtimes([p], now - 60)
    return p


def persist_queue_db(path: str | os.PathLike[str], *, now: float = FIXED_NOW, acked: int = 20, ready: int = 5,
                     unacked: int = 2, failed: int = 1, name: str = "default") -> Path:
    """A persist-queue `SQLiteAckQueue` (`ack_queue_<name>`: pickled `data`, put-time `timestamp` as a
    float, status 0 inited, 1 ready, 2 unack, 5 acked, 9 ack_failed), last written at `now`.

    `unacked` items were taken by a worker that died: persist-queue records no time for that, so they
    stay 2 forever.
    """
    import pickle

    p = Path(path)
    with _building(p) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS ack_queue_{name} (_id INTEGER PRIMARY KEY AUTOINCREMENT, "
                     "data BLOB, timestamp FLOAT, status INTEGER)")
        codes = [5] * acked + [9] * failed + [2] * unacked + [1] * ready
        conn.executemany(f"INSERT INTO ack_queue_{name} (data, timestamp, status) VALUES (?, ?, ?)",
                         [(pickle.dumps({"url": f"https://example.com/{i}", "token": SECRET_MARKER}),
                           now - 3600 + i, code) for i, code in enumerate(codes)])
    pin_mtimes([p], now)
    return p


#: huey's SqliteStorage (huey/storage.py): a queued task is
#: a row of `task` until a worker dequeues it (the row is deleted), a task scheduled for later a row of
#: `schedule` (`timestamp`: when it is due, epoch seconds, usually ahead of the clock), and a result a
#: row of `kv` keyed by the task id. Every `data` and `value` is a pickle.
_HUEY_DDL = """
CREATE TABLE IF NOT EXISTS task (id INTEGER NOT NULL PRIMARY KEY, queue TEXT NOT NULL, data BLOB NOT NULL,
                                 priority REAL NOT NULL DEFAULT 0.0);
CREATE INDEX IF NOT EXISTS task_priority_id ON task (priority DESC, id ASC);
CREATE TABLE IF NOT EXISTS schedule (id INTEGER NOT NULL PRIMARY KEY, queue TEXT NOT NULL, data BLOB NOT NULL,
                                     timestamp REAL NOT NULL);
CREATE INDEX IF NOT EXISTS schedule_queue_timestamp ON schedule (queue, timestamp);
CREATE TABLE IF NOT EXISTS kv (queue TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                               PRIMARY KEY(queue, key));
"""

#: A profile for a huey database (huey records no state: each table is one state), as a user writes it.
#: `key = "key"` names huey's task-id column, which is not a credential.
HUEY_PROFILE = """name = "huey"

[[track]]
name = "queued"
table = "task"
key = "id"
label = "queue"
state_sql = "'queued'"

[track.states]
pending = ["queued"]

[[track]]
name = "scheduled"
table = "schedule"
key = "id"
label = "queue"
state_sql = "'scheduled'"

[track.states]
pending = ["scheduled"]

[[track]]
name = "results"
table = "kv"
key = "key"
label = "queue"
state_sql = "'done'"

[track.states]
done = ["done"]
"""


def huey_db(path: str | os.PathLike[str], *, now: float = FIXED_NOW, queued: int = 5, scheduled: int = 2,
            results: int = 3, secret: str = SECRET_MARKER) -> Path:
    """A huey SqliteStorage database as of `now`: `queued` tasks waiting, `scheduled` due in an hour,
    `results` results kept. Every pickled task and result holds `secret`."""
    import pickle

    p = Path(path)
    with _building(p) as conn:
        conn.executescript(_HUEY_DDL)
        conn.executemany("INSERT INTO task (queue, data) VALUES ('huey', ?)",
                         [(pickle.dumps((f"t-{i}", "tasks.fetch", ({"api_key": secret},), {})),) for i in range(queued)])
        conn.executemany("INSERT INTO schedule (queue, data, timestamp) VALUES ('huey', ?, ?)",
                         [(pickle.dumps((f"s-{i}", "tasks.later", (), {"password": secret})), now + 3600 + i)
                          for i in range(scheduled)])
        conn.executemany("INSERT INTO kv (queue, key, value) VALUES ('huey', ?, ?)",
                         [(f"r-{i}", pickle.dumps({"token": secret, "n": i})) for i in range(results)])
    pin_mtimes([p], now - 600)
    return p
