"""Which rows may have changed since a point in time, from what the WAL reader saw at each poll.

A source records, for every poll that saw a commit, the lowest rowid the commits touched (0 when it
cannot tell: no WAL reader yet, a reader started over). A reader of its own (the error groups' check
that nothing changed below their high-water mark) keeps the sequence number it last looked at, and
skips its scan when every change since lies above what it covers.
"""

from __future__ import annotations

import math
import threading
from collections import deque

#: Polls remembered; a reader further behind is told "anything may have changed".
KEEP = 512


class ChangeLog:
    """Per changed poll, the lowest rowid touched (thread-safe: polls append, workers ask)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lows: deque[tuple[int, float]] = deque(maxlen=KEEP)
        self.seq = 0

    def record(self, low: float) -> None:
        """A poll saw commits touching rowids from `low` up (0: unknown; inf: no table row)."""
        with self._lock:
            self.seq += 1
            self._lows.append((self.seq, low))

    def lowest_since(self, seq: int) -> float:
        """The lowest rowid that may have changed after poll `seq` (inf: nothing changed; 0: unknown)."""
        with self._lock:
            if seq >= self.seq:
                return math.inf
            if not self._lows or self._lows[0][0] > seq + 1:
                return 0  # forgotten: assume the worst
            return min(low for s, low in self._lows if s > seq)
