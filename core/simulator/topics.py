"""prompt_optimizer's ``topic_completions`` (seed 000): WAL, one commit per topic, several workers.

There is no ``running`` status: a topic in flight is ``pending`` with ``started_at`` set. Timestamps are
UTC ``'YYYY-MM-DD HH:MM:SS'``. Each worker has its own connection (busy_timeout 5000, synchronous NORMAL).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from batchtop.core.simulator.base import Writer
from batchtop.core.simulator.errors import pick_family
from batchtop.core.simulator.support import Clock, Outcome, Thunk, run_script, utc_seconds

TABLE_DDL = """CREATE TABLE topic_completions (
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
);"""
INDEX_DDL = """CREATE INDEX idx_status ON topic_completions(status);
CREATE INDEX idx_completed_at ON topic_completions(completed_at);"""
STATUSES = ("pending", "completed", "failed", "skipped")

_DOMAINS: dict[str, tuple[str, ...]] = {
    "Science/Biology": ("cell_membrane", "photosynthesis", "mitochondria", "enzyme_kinetics"),
    "Science/Chemistry": ("acid_base", "organic_reactions", "periodic_trends"),
    "Science/Physics": ("thermodynamics", "electromagnetism", "quantum_basics"),
    "History/Ancient": ("roman_republic", "bronze_age_collapse", "han_dynasty"),
    "History/Modern": ("cold_war", "industrial_revolution", "decolonisation"),
    "Languages/Spanish": ("verb_conjugation", "subjunctive", "travel_phrases"),
    "Languages/Japanese": ("hiragana", "keigo", "particles"),
    "Medicine/Cardiology": ("heart_failure", "arrhythmias", "ecg_reading"),
    "Medicine/Pharmacology": ("beta_blockers", "antibiotics", "drug_interactions"),
    "Mathematics/Algebra": ("linear_equations", "polynomials", "matrices"),
    "Mathematics/Calculus": ("derivatives", "integrals", "series"),
    "Technology/Networking": ("tcp_handshake", "dns", "subnetting"),
    "Technology/Databases": ("indexing", "transactions", "normalisation"),
    "Arts/Music_Theory": ("chord_progressions", "intervals", "modes"),
}
# Sorted prefixes assigned to contiguous id blocks: paths then sort in id order, so the UNIQUE index on
# topic_path is appended to instead of split at random (a 10M-row build is about twice as fast).
_PREFIXES: tuple[str, ...] = tuple(sorted(f"Data/{d}/{w}_" for d, ws in _DOMAINS.items() for w in ws))
_MASK = 4294967296


def _width(n: int) -> int:
    return max(5, len(str(n)))


def topic_path(i: int, n: int) -> str:
    """The path of topic `i` (1-based) among `n`, e.g. ``Data/Science/Biology/mitochondria_00042/topic.json``."""
    prefix = _PREFIXES[(i - 1) * len(_PREFIXES) // max(n, 1)]
    return f"{prefix}{i:0{_width(n)}d}/topic.json"


def _insert_rows(conn: sqlite3.Connection, n: int, finished: int, seed: int, t_start: float, t_end: float) -> None:
    """Insert rows 1..n: the first `finished` completed, the rest pending.

    Pure SQL (a recursive CTE with integer hashing), one statement per path prefix block, so millions of
    rows take seconds rather than minutes. ``datetime()`` is used because ``strftime()`` is 4x slower.
    """
    done = "i <= :finished"
    ts = "datetime(:t0 + :step * i{}, 'unixepoch')"
    sql = f"""WITH RECURSIVE c(i) AS (SELECT :lo WHERE :lo <= :hi UNION ALL SELECT i + 1 FROM c WHERE i < :hi),
        h(i, a) AS (SELECT i, (i * 2654435761 + :seed) % {_MASK} FROM c),
        g(i, a, b) AS (SELECT i, a, (a * 40503 + 12345) % {_MASK} FROM h)
        INSERT INTO topic_completions
        SELECT i, :prefix || printf('%0{_width(n)}d/topic.json', i), printf('%08x%08x', a, b),
            CASE WHEN {done} THEN 'completed' ELSE 'pending' END,
            CASE WHEN {done} THEN {ts.format(" - 20 - (a % 4000) / 100.0")} END,
            CASE WHEN {done} THEN {ts.format("")} END,
            CASE WHEN {done} THEN 20 + (a % 4000) / 100.0 END,
            CASE WHEN {done} THEN 9 + b % 13 END,
            CASE WHEN {done} THEN round(0.018 + (a % 250) / 10000.0, 4) END,
            NULL
        FROM g"""
    params = {"finished": finished, "seed": seed % _MASK, "t0": t_start,
              "step": (t_end - t_start) / max(finished, 1)}
    k = len(_PREFIXES)
    for block, prefix in enumerate(_PREFIXES):
        # Same block arithmetic as topic_path(): ids lo..hi map to this prefix.
        lo, hi = -(-block * n // k) + 1, -(-(block + 1) * n // k)
        conn.execute(sql, {**params, "lo": lo, "hi": hi, "prefix": prefix})


class TopicsWriter(Writer):
    """Several workers, each with its own WAL connection; start and finish of a topic are separate commits."""

    schema: ClassVar[str] = "topics"
    filename: ClassVar[str] = "completion_tracking.db"
    journal_mode: ClassVar[str] = "wal"
    commits_per_item: ClassVar[float] = 2.0
    default_workers: ClassVar[int] = 4
    families: ClassVar[Mapping[str, float]] = {
        "rate_limit": 3, "timeout": 2, "json": 3, "validation": 3, "db_locked": 1, "server": 1,
    }
    extras: ClassVar[Mapping[str, float]] = {"skip": 0.03}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conns: dict[int, sqlite3.Connection] = {}
        self._last_id = 0

    @staticmethod
    def _pragmas(conn: sqlite3.Connection, busy_ms: int) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={busy_ms}")

    @classmethod
    def create(cls, path: Path, items: int, *, rng: random.Random, clock: Clock) -> None:
        """Create the table and both indexes, then register every topic as pending in one commit."""
        conn = sqlite3.connect(path, timeout=30)
        try:
            cls._pragmas(conn, 5000)
            conn.executescript(TABLE_DDL + "\n" + INDEX_DDL)
            now = clock()
            _insert_rows(conn, items, 0, rng.getrandbits(32), now, now)
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
        """Build a finished or partial run on a fresh builder connection (journal off, no sync)."""
        failed, skipped = counts.get("fail", 0), counts.get("skip", 0)
        finished = counts.get("ok", 0) + failed + skipped
        run_script(conn, TABLE_DDL)
        _insert_rows(conn, items, finished, rng.getrandbits(32), t_start, t_end)
        picked = rng.sample(range(1, finished + 1), failed + skipped)
        conn.executemany(
            "UPDATE topic_completions SET status='failed', error_message=?, flashcard_count=NULL,"
            " cost_usd=round(cost_usd / 3, 4) WHERE id=?",
            ((pick_family(rng, families).message(rng, t_end), i) for i in picked[:failed]),
        )
        conn.executemany(
            "UPDATE topic_completions SET status='skipped', started_at=NULL, duration_seconds=NULL,"
            " flashcard_count=NULL, cost_usd=NULL WHERE id=?",
            ((i,) for i in picked[failed:]),
        )
        conn.executemany(
            "UPDATE topic_completions SET started_at=? WHERE id=?",
            ((utc_seconds(t_end - rng.uniform(1, 90)), i) for i in range(finished + 1, finished + in_flight + 1)),
        )
        # Indexes last: one sorted build is much faster than maintaining them row by row.
        run_script(conn, INDEX_DDL)

    def _conn(self, slot: int) -> sqlite3.Connection:
        conn = self._conns.get(slot)
        if conn is None:
            conn = self.connect()
            self._pragmas(conn, int(self.timeout * 1000))
            self._conns[slot] = conn
        return conn

    def next_items(self, limit: int) -> list[Any]:
        rows = self._conn(0).execute(
            "SELECT id, topic_path FROM topic_completions WHERE status='pending' AND id > ? ORDER BY id LIMIT ?",
            (self._last_id, limit),
        ).fetchall()
        if rows:
            self._last_id = rows[-1][0]
        return rows

    def _commit(self, slot: int, sql: str, params: tuple[Any, ...]) -> None:
        conn = self._conn(slot)
        conn.execute(sql, params)
        conn.commit()

    def plan(self, item: Any, slot: int, outcome: Outcome) -> list[Thunk]:
        path: str = item[1]
        if outcome.kind == "skip":
            return [lambda: self._commit(
                slot,
                "UPDATE topic_completions SET status='skipped', completed_at=?, error_message=NULL WHERE topic_path=?",
                (utc_seconds(self.clock()), path),
            )]
        began: list[float] = []

        def start() -> None:
            t = self.clock()
            self._commit(
                slot,
                "UPDATE topic_completions SET started_at=?, completed_at=NULL, error_message=NULL WHERE topic_path=?",
                (utc_seconds(t), path),
            )
            began.append(t)

        def finish() -> None:
            t = self.clock()
            duration = round(max(0.0, t - began[0]), 3)
            if outcome.kind == "fail" and outcome.family is not None:
                self._commit(
                    slot,
                    "UPDATE topic_completions SET status='failed', completed_at=?, duration_seconds=?,"
                    " cost_usd=?, error_message=? WHERE topic_path=?",
                    (utc_seconds(t), duration, round(self.rng.uniform(0.0, 0.015), 4),
                     outcome.family.message(self.rng, t), path),
                )
                return
            cards = max(3, round(self.rng.gauss(15.3, 3.0)))
            self._commit(
                slot,
                "UPDATE topic_completions SET status='completed', completed_at=?, duration_seconds=?,"
                " flashcard_count=?, cost_usd=?, error_message=NULL WHERE topic_path=?",
                (utc_seconds(t), duration, cards, round(self.rng.uniform(0.02, 0.042), 4), path),
            )

        return [start, finish]

    def on_busy(self) -> None:
        for conn in self._conns.values():
            if conn.in_transaction:
                conn.rollback()

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
