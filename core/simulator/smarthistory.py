"""SmartHistory (seed 003): WAL, synchronous NORMAL, a small connection pool in autocommit mode.

``user_sessions`` tracks processing sessions (``started`` -> ``completed``/``failed``); most tables hold
data. Every statement is its own commit. A session inserts raw and processed activities, tags them (a
trigger maintains ``tags.usage_count``) and bumps its counters as it goes. Times are UTC
``CURRENT_TIMESTAMP`` format, written explicitly so an injected clock applies: the trigger stamps
``last_used`` with the tagging row's own ``created_at`` (the real one uses SQLite's wall clock, which made
two runs with the same seed and clock differ).
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from batchtop.core.simulator.base import Writer
from batchtop.core.simulator.support import Clock, Outcome, Thunk, utc_seconds

DDL = """CREATE TABLE raw_activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    date TEXT NOT NULL,
    source TEXT NOT NULL,
    activity_type TEXT,
    details TEXT,
    duration_minutes INTEGER,
    metadata TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE processed_activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    date TEXT NOT NULL,
    raw_activity_ids TEXT NOT NULL,
    summary TEXT,
    category TEXT,
    total_duration_minutes INTEGER,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT UNIQUE NOT NULL,
    category TEXT,
    usage_count INTEGER DEFAULT 0,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    last_used TIMESTAMP
);
CREATE TABLE activity_tags (
    processed_activity_id INTEGER NOT NULL,
    tag_id INTEGER NOT NULL,
    confidence_score REAL DEFAULT 1.0,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (processed_activity_id, tag_id),
    FOREIGN KEY (processed_activity_id) REFERENCES processed_activities(id) ON DELETE CASCADE,
    FOREIGN KEY (tag_id) REFERENCES tags(id) ON DELETE CASCADE
);
CREATE TABLE user_sessions (id INTEGER PRIMARY KEY, session_type TEXT, status TEXT, start_time TIMESTAMP DEFAULT CURRENT_TIMESTAMP, end_time TIMESTAMP, processed_raw_count INTEGER DEFAULT 0, processed_activity_count INTEGER DEFAULT 0, tags_generated INTEGER DEFAULT 0, error_message TEXT);
CREATE TABLE tag_generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id INTEGER,
    processed_activity_id INTEGER,
    model TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    tags_json TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE schema_versions (
    version INTEGER PRIMARY KEY,
    description TEXT,
    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_raw_activities_date ON raw_activities(date);
CREATE INDEX idx_raw_activities_source ON raw_activities(source);
CREATE INDEX idx_processed_activities_date ON processed_activities(date);
CREATE INDEX idx_processed_activities_category ON processed_activities(category);
CREATE INDEX idx_tags_usage ON tags(usage_count DESC);
CREATE INDEX idx_activity_tags_tag ON activity_tags(tag_id);
CREATE INDEX idx_user_sessions_status ON user_sessions(status);
CREATE INDEX idx_user_sessions_start ON user_sessions(start_time);
CREATE INDEX idx_tag_generations_session ON tag_generations(session_id);
CREATE TRIGGER trg_activity_tags_usage AFTER INSERT ON activity_tags
BEGIN
    UPDATE tags SET usage_count = usage_count + 1, last_used = NEW.created_at WHERE id = NEW.tag_id;
END;
"""
STATUSES = ("started", "completed", "failed")

_SESSION_TYPES = ("data_ingestion", "activity_processing", "tag_generation")
_SOURCES = ("notion", "google_calendar", "toggl", "browser_history")
_ACTIVITIES = (
    ("work", "Code review for the billing service"), ("work", "Sprint planning meeting"),
    ("learning", "Read two chapters of a statistics book"), ("health", "Morning run, 5 km"),
    ("social", "Dinner with friends"), ("admin", "Paid invoices and sorted email"),
)
_TAGS = (
    ("deep-work", "work"), ("meetings", "work"), ("code-review", "work"), ("planning", "work"),
    ("reading", "learning"), ("course", "learning"), ("exercise", "health"), ("sleep", "health"),
    ("family", "social"), ("friends", "social"), ("chores", "admin"), ("finance", "admin"),
)
_MIGRATIONS = ((1, "initial schema"), (2, "add tag_generations"), (3, "add usage trigger and indexes"))


class SmartHistoryWriter(Writer):
    """Sessions run one at a time; each statement (autocommit) is one commit, over a pool of two connections."""

    schema: ClassVar[str] = "smarthistory"
    filename: ClassVar[str] = "smarthistory.db"
    journal_mode: ClassVar[str] = "wal"
    commits_per_item: ClassVar[float] = 16.0
    default_timeout: ClassVar[float] = 30.0
    families: ClassVar[Mapping[str, float]] = {
        "json": 2, "activity_validation": 2, "export_missing": 2, "unique_tag": 1, "timeout": 1,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool: list[sqlite3.Connection] = []
        self._turn = 0
        self._planned = self.items  # sessions are not registered in advance: this run performs `items`

    @classmethod
    def create(cls, path: Path, items: int, *, rng: random.Random, clock: Clock) -> None:
        """Create the schema (7 tables, indexes, trigger), the migration history and the tag vocabulary."""
        now = clock()
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(DDL)
            conn.executemany(
                "INSERT INTO schema_versions (version, description, applied_at) VALUES (?, ?, ?)",
                ((v, d, utc_seconds(now - (4 - v) * 86400 * 9)) for v, d in _MIGRATIONS),
            )
            conn.executemany(
                "INSERT INTO tags (name, category, created_at) VALUES (?, ?, ?)",
                ((n, c, utc_seconds(now - 86400 * 20)) for n, c in _TAGS),
            )
            conn.commit()
        finally:
            conn.close()

    def _conn(self) -> sqlite3.Connection:
        # Round-robin over the pool, as the app's pooled DAOs hand out connections.
        if not self._pool:
            for _ in range(2):
                conn = self.connect(isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                self._pool.append(conn)
        self._turn += 1
        return self._pool[self._turn % len(self._pool)]

    def _exec(self, sql: str, params: tuple[Any, ...]) -> int | None:
        return self._conn().execute(sql, params).lastrowid

    def next_items(self, limit: int) -> list[Any]:
        batch = min(limit, self._planned)
        self._planned -= batch
        return list(range(batch))

    def plan(self, item: Any, slot: int, outcome: Outcome) -> list[Thunk]:
        rng = self.rng
        kind = _SESSION_TYPES[rng.randrange(len(_SESSION_TYPES))]
        state: dict[str, Any] = {"raw": [], "processed": 0, "tags": 0}
        steps: list[Thunk] = [lambda: state.update(sid=self._exec(
            "INSERT INTO user_sessions (session_type, status, start_time) VALUES (?, 'started', ?)",
            (kind, utc_seconds(self.clock())),
        ))]
        for _ in range(rng.randint(1, 3)):
            steps += [self._raw(state) for _ in range(rng.randint(1, 3))]
            steps.append(lambda: self._exec(
                "UPDATE user_sessions SET processed_raw_count = ? WHERE id = ?", (len(state["raw"]), state["sid"])
            ))
            steps.append(self._processed(state))
            steps += [self._tag(state, tag_id) for tag_id in rng.sample(range(1, len(_TAGS) + 1), rng.randint(1, 2))]
            steps.append(lambda: self._exec(
                "INSERT INTO tag_generations (session_id, processed_activity_id, model, prompt_tokens,"
                " completion_tokens, tags_json, created_at) VALUES (?, ?, 'gpt-4o-mini', ?, ?, ?, ?)",
                (state["sid"], state["pid"], rng.randint(300, 1400), rng.randint(20, 90),
                 json.dumps(state["names"]), utc_seconds(self.clock())),
            ))
            steps.append(lambda: self._exec(
                "UPDATE user_sessions SET processed_activity_count = ?, tags_generated = ? WHERE id = ?",
                (state["processed"], state["tags"], state["sid"]),
            ))
        if outcome.kind == "fail" and outcome.family is not None:
            family = outcome.family
            del steps[rng.randint(2, len(steps) - 1):]  # it fails part-way through
            steps.append(lambda: self._exec(
                "UPDATE user_sessions SET status = 'failed', end_time = ?, error_message = ? WHERE id = ?",
                (utc_seconds(self.clock()), family.message(rng, self.clock()), state["sid"]),
            ))
        else:
            steps.append(lambda: self._exec(
                "UPDATE user_sessions SET status = 'completed', end_time = ? WHERE id = ?",
                (utc_seconds(self.clock()), state["sid"]),
            ))
        return steps

    def _raw(self, state: dict[str, Any]) -> Thunk:
        def run() -> None:
            category, details = self.rng.choice(_ACTIVITIES)
            t = self.clock()
            rid = self._exec(
                "INSERT INTO raw_activities (date, source, activity_type, details, duration_minutes, metadata,"
                " created_at) VALUES (date(?, 'unixepoch'), ?, ?, ?, ?, ?, ?)",
                (t, self.rng.choice(_SOURCES), category, details, self.rng.randint(10, 180),
                 json.dumps({"imported_by": "smarthistory"}), utc_seconds(t)),
            )
            state["raw"].append(rid)
        return run

    def _processed(self, state: dict[str, Any]) -> Thunk:
        def run() -> None:
            t = self.clock()
            state["pid"] = self._exec(
                "INSERT INTO processed_activities (date, raw_activity_ids, summary, category,"
                " total_duration_minutes, created_at) VALUES (date(?, 'unixepoch'), ?, ?, ?, ?, ?)",
                (t, json.dumps(state["raw"][-3:]), "Grouped activities for the day",
                 self.rng.choice(_ACTIVITIES)[0], self.rng.randint(30, 400), utc_seconds(t)),
            )
            state["processed"] += 1
            state["names"] = []
        return run

    def _tag(self, state: dict[str, Any], tag_id: int) -> Thunk:
        def run() -> None:
            self._exec(
                "INSERT OR IGNORE INTO activity_tags (processed_activity_id, tag_id, confidence_score, created_at)"
                " VALUES (?, ?, ?, ?)",
                (state["pid"], tag_id, round(self.rng.uniform(0.55, 0.99), 2), utc_seconds(self.clock())),
            )
            state["tags"] += 1
            state["names"].append(_TAGS[tag_id - 1][0])
        return run

    def close(self) -> None:
        for conn in self._pool:
            conn.close()
        self._pool.clear()
