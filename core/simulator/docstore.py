"""DocumentationStore (seed 002): rollback journal, no pragmas, a new connection and a commit per call.

Only ``pending`` and ``completed`` are ever written: an item whose generation fails is simply left
``pending``. Every run appends a ``generation_metadata`` row that stays ``in_progress`` with
``completed_at`` NULL forever; a second run rewrites unfinished tables to ``pending`` and appends
duplicate relationship rows. Timestamps are naive local time with a space separator.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from batchtop.core.simulator.base import Writer
from batchtop.core.simulator.support import Clock, Outcome, Thunk, local_space

DDL = """-- Session and progress tracking
CREATE TABLE processing_state (
    id INTEGER PRIMARY KEY,
    phase TEXT NOT NULL,
    status TEXT NOT NULL,  -- 'pending', 'completed', 'failed'
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    error_message TEXT
);

-- Table documentation storage
CREATE TABLE table_metadata (
    table_name TEXT PRIMARY KEY,
    schema_data TEXT NOT NULL,  -- JSON
    business_purpose TEXT,
    documentation TEXT,         -- Generated markdown section
    processed_at TIMESTAMP,
    status TEXT DEFAULT 'pending'
);

-- Relationship documentation storage
CREATE TABLE relationship_metadata (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    constrained_table TEXT NOT NULL,
    constrained_columns TEXT NOT NULL,  -- JSON array
    referred_table TEXT NOT NULL,
    referred_columns TEXT NOT NULL,     -- JSON array
    relationship_type TEXT,             -- inferred type
    documentation TEXT,                 -- Generated markdown section
    processed_at TIMESTAMP,
    status TEXT DEFAULT 'pending'
);

-- Generation session metadata
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
STATUSES = ("pending", "completed")
#: Clearly fake credentials: the real tool stores the source URL as given, password included.
SOURCE_URL = "postgresql://docgen:FAKE-not-a-password@db.internal:5432/warehouse"

_NOUNS = (
    "users", "orders", "order_items", "products", "categories", "invoices", "payments", "shipments",
    "customers", "addresses", "suppliers", "inventory", "warehouses", "employees", "departments", "roles",
    "permissions", "sessions", "audit_log", "events", "subscriptions", "plans", "coupons", "reviews",
    "carts", "wishlists", "notifications", "messages", "tickets", "refunds", "taxes", "currencies",
    "regions", "stores", "promotions", "campaigns", "leads", "contacts", "accounts", "ledger_entries",
)
_PREFIXES = ("sales", "hr", "billing", "crm", "ops", "audit", "mkt", "fin")
Relationship = tuple[str, str, str, str]


def table_name(i: int) -> str:
    """Unique, realistic table name number `i` (0-based)."""
    k, r = divmod(i, len(_NOUNS))
    if k == 0:
        return _NOUNS[r]
    name = f"{_PREFIXES[(k - 1) % len(_PREFIXES)]}_{_NOUNS[r]}"
    return name if k <= len(_PREFIXES) else f"{name}_{k}"


def _fk(table: str) -> str:
    return (table[:-1] if table.endswith("s") else table) + "_id"


def _start_session(conn: sqlite3.Connection, tables: Sequence[str], rels: Sequence[Relationship], now: float) -> None:
    """``start_generation_session``: a session row, every unfinished table reset, every relationship appended."""
    conn.execute(
        "INSERT INTO generation_metadata (source_database_url, started_at, total_tables, total_relationships)"
        " VALUES (?, ?, ?, ?)",
        (SOURCE_URL, local_space(now), len(tables), len(rels)),
    )
    done = {r[0] for r in conn.execute("SELECT table_name FROM table_metadata WHERE status = 'completed'")}
    conn.executemany(
        "INSERT OR REPLACE INTO table_metadata (table_name, schema_data, status) VALUES (?, '{}', 'pending')",
        ((t,) for t in tables if t not in done),
    )
    # No uniqueness check: a second run appends the same relationships again.
    conn.executemany(
        "INSERT INTO relationship_metadata (constrained_table, constrained_columns, referred_table,"
        " referred_columns) VALUES (?, ?, ?, ?)",
        rels,
    )


class DocstoreWriter(Writer):
    """One item at a time; a failed LLM call writes nothing, so the item silently stays pending."""

    schema: ClassVar[str] = "docstore"
    filename: ClassVar[str] = "documentation.db"
    journal_mode: ClassVar[str] = "delete"
    commits_per_item: ClassVar[float] = 0.9
    families: ClassVar[Mapping[str, float]] = {"rate_limit": 2, "timeout": 2, "json": 1}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listed = False

    @classmethod
    def create(cls, path: Path, items: int, *, rng: random.Random, clock: Clock) -> None:
        """Create the four tables and start the first session with `items` tables (+ ~0.7 relationships each)."""
        tables = [table_name(i) for i in range(items)]
        rels: list[Relationship] = []
        for _ in range(int(items * 0.7) if items > 1 else 0):
            c, r = rng.randrange(items), rng.randrange(items - 1)
            r += r >= c  # never self-referencing
            rels.append((tables[c], json.dumps([_fk(tables[r])]), tables[r], json.dumps(["id"])))
        conn = sqlite3.connect(path)
        try:
            conn.executescript(DDL)
            _start_session(conn, tables, rels, clock())
            conn.commit()
        finally:
            conn.close()

    def begin(self) -> int:
        """A second run on an existing file starts a new session (one call, one commit)."""
        if not self.resume:
            return 0
        conn = self.connect()
        try:
            tables = [r[0] for r in conn.execute("SELECT table_name FROM table_metadata ORDER BY rowid")]
            rels = conn.execute(
                "SELECT constrained_table, constrained_columns, referred_table, referred_columns"
                " FROM relationship_metadata GROUP BY 1, 2, 3, 4 ORDER BY min(id)"
            ).fetchall()
            _start_session(conn, tables, rels, self.clock())
            conn.commit()
        finally:
            conn.close()
        return 1

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        conn = self.connect()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def next_items(self, limit: int) -> list[Any]:
        # get_pending_tables() then get_pending_relationships(): the job works through tables first.
        if self._listed:
            return []
        tables = self._read("SELECT 'table', table_name FROM table_metadata WHERE status = 'pending' ORDER BY rowid")
        rels = self._read(
            "SELECT 'rel', id, constrained_table, referred_table, constrained_columns FROM relationship_metadata"
            " WHERE status = 'pending' ORDER BY id"
        )
        self._listed = True
        return tables + rels

    def plan(self, item: Any, slot: int, outcome: Outcome) -> list[Thunk]:
        if outcome.kind == "fail":
            return []  # logged by the job, never stored: the row stays 'pending'
        if item[0] == "table":
            name: str = item[1]
            if self._read("SELECT 1 FROM table_metadata WHERE table_name = ? AND status = 'completed'", (name,)):
                return []  # is_table_processed(): already done
            return [lambda: self._save_table(name)]
        return [lambda: self._save_relationship(item[1], item[2], item[3], json.loads(item[4])[0])]

    def _save_table(self, name: str) -> None:
        rng = self.rng
        columns = [{"name": "id", "type": "INTEGER", "primary_key": True}]
        columns += [
            {"name": c, "type": rng.choice(("TEXT", "INTEGER", "NUMERIC(12,2)", "TIMESTAMP")), "nullable": True}
            for c in rng.sample(("name", "status", "amount", "created_at", "updated_at", "notes", "code"), 3)
        ]
        purpose = f"Stores {name.replace('_', ' ')} records used by the {rng.choice(_PREFIXES)} workflows."
        doc = f"## {name}\n\n{purpose}\n\n| Column | Type |\n|---|---|\n" + "".join(
            f"| {c['name']} | {c['type']} |\n" for c in columns
        )
        self.call(
            "INSERT OR REPLACE INTO table_metadata (table_name, schema_data, business_purpose, documentation,"
            " processed_at, status) VALUES (?, ?, ?, ?, ?, 'completed')",
            (name, json.dumps({"table_name": name, "columns": columns}), purpose, doc, local_space(self.clock())),
        )

    def _save_relationship(self, rel_id: int, constrained: str, referred: str, column: str) -> None:
        kind = self.rng.choices(("one-to-many", "many-to-one", "one-to-one"), weights=(6, 3, 1))[0]
        doc = f"Each row in {referred} can be referenced by {constrained} rows through {column} ({kind})."
        self.call(
            "UPDATE relationship_metadata SET relationship_type = ?, documentation = ?, processed_at = ?,"
            " status = 'completed' WHERE id = ?",
            (kind, doc, local_space(self.clock()), rel_id),
        )
