"""Expensive secondary reads (full scans) re-run only when due, keyed by what they read.

Metric totals and in-flight counts visit every row; they are re-read at most every `floor` seconds and
at most every 20x their own cost, so a 10M-row table is not rescanned for them on every commit while its
state counts stay exact. In-flight counts use no floor: they split pending from running, so a cheap read
is always redone (a stale split showed a pending (started) count the database never had, for seconds on a
table of 30 rows).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

#: Metric totals (a full scan) are re-read at most this often, and at most every 20x their cost.
METRICS_EVERY = 2.0
#: A cached read is redone once this many times its own cost has passed.
COST_FACTOR = 20.0


class Read(Enum):
    """What a cached read is of (with the track's name, and for in-flight counts the values)."""

    METRICS = "metrics"
    STALE = "stale"
    FLIGHT = "flight"


@dataclass(frozen=True)
class _Entry:
    at: float
    cost: float
    value: Any


class SlowReads:
    """The cached values of one source's slow reads (one thread at a time: its poll)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[Read, str, Hashable], _Entry] = {}

    def get(self, kind: Read, track: str, read: Callable[[], T], *, extra: Hashable = None,
            floor: float = METRICS_EVERY) -> T:
        """`read()`'s value: the cached one while younger than `floor` and 20x its cost, else read anew."""
        key = (kind, track, extra)
        cached = self._entries.get(key)
        tick = self._clock()
        if cached is not None and tick - cached.at < max(floor, COST_FACTOR * cached.cost):
            return cached.value
        value = read()
        self._entries[key] = _Entry(tick, self._clock() - tick, value)
        return value

    def clear(self) -> None:
        """Forget every value (the schema changed, the file was replaced)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
