"""Small shared pieces for the simulated writers: outcomes, timestamp formats and SQL helpers."""

from __future__ import annotations

import random
import sqlite3
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from batchtop.core.simulator.errors import Family, pick_family

#: A callable returning the current time as epoch seconds (``time.time`` by default).
Clock = Callable[[], float]
#: One commit of work, as the real writer performs it (whatever it returns, a lastrowid say, is ignored).
Thunk = Callable[[], object]


@dataclass(frozen=True)
class Outcome:
    """How one item ends: ``"ok"``, ``"fail"`` (with a family) or a schema-specific extra kind."""

    kind: str = "ok"
    family: Family | None = None


OutcomeSource = Callable[[], Outcome]


def random_outcomes(
    rng: random.Random, fail_rate: float, families: Mapping[str, float], extras: Mapping[str, float]
) -> OutcomeSource:
    """Outcomes drawn independently: failures at `fail_rate`, extras (skip, empty, ...) at their rates."""

    def draw() -> Outcome:
        r = rng.random()
        if r < fail_rate:
            return Outcome("fail", pick_family(rng, families))
        r -= fail_rate
        for kind, p in extras.items():
            if r < p:
                return Outcome(kind)
            r -= p
        return Outcome("ok")

    return draw


def planned_outcomes(
    rng: random.Random, counts: Mapping[str, int], families: Mapping[str, float]
) -> OutcomeSource:
    """Exact quotas in shuffled order (for `fill`); ``"ok"`` once the quotas are used up."""
    kinds = [kind for kind, n in counts.items() for _ in range(n)]
    rng.shuffle(kinds)
    pending = deque(kinds)

    def draw() -> Outcome:
        kind = pending.popleft() if pending else "ok"
        return Outcome(kind, pick_family(rng, families) if kind == "fail" else None)

    return draw


# Timestamp formats the real writers produce. Local-time formats follow the process time zone, as theirs do.
def utc_seconds(t: float) -> str:
    """``'YYYY-MM-DD HH:MM:SS'`` in UTC: SQLite's ``CURRENT_TIMESTAMP`` format."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def local_space(t: float) -> str:
    """Naive local time, space separator, microseconds (``str(datetime.now())``)."""
    return datetime.fromtimestamp(t).isoformat(sep=" ")


def local_iso(t: float) -> str:
    """Naive local ISO time with ``T`` (``datetime.now().isoformat()``)."""
    return datetime.fromtimestamp(t).isoformat()


def sql_pick(expr: str, values: Sequence[str]) -> str:
    """A ``CASE expr WHEN 0 THEN 'v0' ...`` expression so bulk SQL can use the same word lists as Python."""
    arms = " ".join(f"WHEN {i} THEN '{v.replace(chr(39), chr(39) * 2)}'" for i, v in enumerate(values))
    return f"(CASE {expr} {arms} END)"


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run DDL statement by statement inside the current transaction (``executescript`` would commit it)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            conn.execute(pending)
            pending = ""


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """True for lock contention (the writer retries), False for real errors."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text
