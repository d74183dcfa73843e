"""ParallelLLMProcessor's ``llm_results`` (seed 001): no status column, no index, one shared WAL connection.

All prompts are inserted up front with ``result`` NULL in one commit; then each result is one
UPDATE + commit. Failures are ``Error: Failed after 3 attempts: <exception text>`` (empty text for a
timeout) and are written twice. A few results are ``''`` or ``'NA'``, which the project treats as
incomplete. Big batches are split into ``results_chunk_N.db`` files that appear one after another.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from batchtop.core.simulator.base import Writer
from batchtop.core.simulator.errors import Family, pick_family
from batchtop.core.simulator.support import Clock, Outcome, Thunk, run_script, sql_pick, utc_seconds

TABLE_DDL = """CREATE TABLE llm_results (
    id INTEGER PRIMARY KEY,           -- Prompt index + 1
    prompt TEXT NOT NULL,             -- Original prompt text
    result TEXT,                      -- LLM response or error message
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);"""
ERROR_PREFIX = "Error: Failed after 3 attempts: "

_TEMPLATES = (
    "Summarize the following customer review in one sentence",
    "Classify the sentiment (positive, negative or neutral) of this post",
    "Translate the following text to French",
    "Extract the product name and price from this listing",
    "Write a one-line title for this support ticket",
    "Answer the question using only the given context",
)
_OPENERS = ("Summary:", "Sentiment: positive.", "Sentiment: negative.", "Traduction :", "Product:", "Answer:")
_SENTENCES = (
    "The customer ordered a replacement charger after the first one stopped working within a week.",
    "Support asked for photos of the damaged cable before approving the refund.",
    "The courier lost the parcel twice, so the order was cancelled and reissued.",
    "Express shipping was added at no extra cost, which the customer appreciated.",
    "The delay meant missing the deadline for a conference talk.",
    "The new analytics dashboard summarises quarterly sales across all stores.",
    "Battery life is excellent but the screen scratches far too easily.",
    "What is the maximum retention period for audit logs under the current policy?",
    "The hotel room was clean and quiet, though breakfast was overpriced.",
    "Two-factor authentication fails when the phone clock is out of sync.",
    "Monthly invoices are generated on the first business day of each month.",
    "The release notes mention a fix for the memory leak in the export job.",
)
_MASK = 4294967296


def chunk_path(directory: Path, index: int) -> Path:
    """``results_chunk_N.db``, the name the project's own chunking example uses."""
    return directory / f"results_chunk_{index}.db"


def _response(rng: random.Random) -> str:
    return " ".join([rng.choice(_OPENERS), *rng.sample(_SENTENCES, rng.randint(1, 3))])


def _error_text(family: Family, rng: random.Random, now: float) -> str:
    # A timeout exception stringifies to '', so the stored message ends in "attempts: ".
    return ERROR_PREFIX + ("" if family.name == "timeout" else family.text(rng, now))


def _insert_rows(conn: sqlite3.Connection, n: int, finished: int, seed: int, created_at: str) -> None:
    """Insert prompts 1..n in one statement; the first `finished` already hold a response."""
    conn.execute(
        f"""WITH RECURSIVE c(i) AS (SELECT 1 WHERE :n > 0 UNION ALL SELECT i + 1 FROM c WHERE i < :n),
        h(i, a) AS (SELECT i, (i * 2654435761 + :seed) % {_MASK} FROM c),
        g(i, a, b) AS (SELECT i, a, (a * 40503 + 12345) % {_MASK} FROM h)
        INSERT INTO llm_results (id, prompt, result, created_at)
        SELECT i,
            {sql_pick("(i % 6)", _TEMPLATES)} || printf(' (#%d): ', i) || {sql_pick("(a % 12)", _SENTENCES)},
            CASE WHEN i <= :finished THEN {sql_pick("(b % 6)", _OPENERS)} || ' ' || {sql_pick("(b % 12)", _SENTENCES)}
                || CASE WHEN a % 3 = 0 THEN ' ' || {sql_pick("(a / 7 % 12)", _SENTENCES)} ELSE '' END END,
            :created
        FROM g""",
        {"n": n, "finished": finished, "seed": seed % _MASK, "created": created_at},
    )


class LlmWriter(Writer):
    """Several workers sharing one connection; results land in roughly, not exactly, id order."""

    schema: ClassVar[str] = "llm"
    filename: ClassVar[str] = "llm_results.db"
    journal_mode: ClassVar[str] = "wal"
    commits_per_item: ClassVar[float] = 1.1
    default_workers: ClassVar[int] = 4
    default_timeout: ClassVar[float] = 30.0
    families: ClassVar[Mapping[str, float]] = {
        "timeout": 3, "rate_limit": 3, "connection": 2, "context_length": 1, "server": 1,
    }
    extras: ClassVar[Mapping[str, float]] = {"empty": 0.02}

    def __init__(self, *args: Any, chunk_size: int | None = None, later: int = 0, next_chunk: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chunk_size = chunk_size
        self._later = later  # items that belong to chunk files not created yet
        self._next_chunk = next_chunk
        self._db: sqlite3.Connection | None = None
        self._last_id = 0

    @classmethod
    def default_path(cls, directory: Path, clock: Clock) -> Path:
        """``llm_results_YYYYMMDD_HHMMSS.db`` (local time), the project's default per-run name."""
        return directory / f"llm_results_{datetime.fromtimestamp(clock()).strftime('%Y%m%d_%H%M%S')}.db"

    @classmethod
    def create(cls, path: Path, items: int, *, rng: random.Random, clock: Clock) -> None:
        """Create the table and insert every prompt with ``result`` NULL in a single commit."""
        conn = sqlite3.connect(path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(TABLE_DDL)
            _insert_rows(conn, items, 0, rng.getrandbits(32), utc_seconds(clock()))
            conn.commit()
        finally:
            conn.close()

    @classmethod
    def bulk(
        cls,
        conn: sqlite3.Connection,
        items: int,
        counts: Mapping[str, int],
        in_flight: int,
        *,
        rng: random.Random,
        families: Mapping[str, float],
        t_start: float,
        t_end: float,
    ) -> None:
        """Build a finished or partial file on a builder connection (in-flight has no meaning here)."""
        failed, empty = counts.get("fail", 0), counts.get("empty", 0)
        finished = counts.get("ok", 0) + failed + empty
        run_script(conn, TABLE_DDL)
        _insert_rows(conn, items, finished, rng.getrandbits(32), utc_seconds(t_start))
        picked = rng.sample(range(1, finished + 1), failed + empty)
        conn.executemany(
            "UPDATE llm_results SET result=? WHERE id=?",
            ((_error_text(pick_family(rng, families), rng, t_end), i) for i in picked[:failed]),
        )
        conn.executemany(
            "UPDATE llm_results SET result=? WHERE id=?", ((rng.choice(("", "NA")), i) for i in picked[failed:])
        )

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = self.connect()
            self._db.execute("PRAGMA journal_mode=WAL")
        return self._db

    def next_items(self, limit: int) -> list[Any]:
        rows = self._conn().execute(
            "SELECT id FROM llm_results WHERE result IS NULL AND id > ? ORDER BY id LIMIT ?", (self._last_id, limit)
        ).fetchall()
        if rows:
            self._last_id = rows[-1][0]
        return [r[0] for r in rows]

    def _update(self, row_id: int, result: str) -> None:
        conn = self._conn()
        conn.execute("UPDATE llm_results SET result = ? WHERE id = ?", (result, row_id))
        conn.commit()

    def plan(self, item: Any, slot: int, outcome: Outcome) -> list[Thunk]:
        row_id: int = item
        if outcome.kind == "fail" and outcome.family is not None:
            text = _error_text(outcome.family, self.rng, self.clock())
            # The worker stores the error, then the final result pass stores it again.
            return [lambda: self._update(row_id, text), lambda: self._update(row_id, text)]
        result = self.rng.choice(("", "NA")) if outcome.kind == "empty" else _response(self.rng)
        return [lambda: self._update(row_id, result)]

    def on_drained(self) -> bool:
        """Start the next chunk file while chunked items remain: it appears in the directory now."""
        if not self.chunk_size or self._later <= 0:
            return False
        self.close()
        path = chunk_path(self.path.parent, self._next_chunk)
        if path.exists():
            raise FileExistsError(f"{path} already exists")
        count = min(self.chunk_size, self._later)
        self.create(path, count, rng=self.rng, clock=self.clock)
        self.path = path
        self.paths.append(path)
        self._later -= count
        self._next_chunk += 1
        self._last_id = 0
        return True

    def on_busy(self) -> None:
        if self._db is not None and self._db.in_transaction:
            self._db.rollback()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
