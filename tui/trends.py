"""Bounded in-memory series of each track's rate and ETA, sampled as polls arrive (no Textual here).

The throughput sparkline comes from core's history; this adds how the *estimate* evolved, which tells a
person whether an ETA is converging or drifting.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from batchtop.core.status import SourceStatus

#: Seconds between samples, and samples kept (10 s x 90 = the last 15 minutes).
EVERY, KEEP = 10.0, 90


@dataclass
class Series:
    """Samples of one track: (time, rate per minute, ETA midpoint in seconds or None)."""

    samples: deque[tuple[float, float | None, float | None]] = field(default_factory=lambda: deque(maxlen=KEEP))

    def add(self, now: float, rate: float | None, eta: tuple[float, float] | None) -> None:
        if self.samples and now - self.samples[-1][0] < EVERY:
            return
        self.samples.append((now, rate, None if eta is None else (eta[0] + eta[1]) / 2))

    def etas(self) -> list[float]:
        """ETA midpoints, oldest first (missing estimates as 0, drawn as gaps)."""
        return [e if e is not None else 0.0 for _, _, e in self.samples]

    def rates(self) -> list[float]:
        return [r if r is not None else 0.0 for _, r, _ in self.samples]


class Trends:
    """Series by (source path, track name)."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], Series] = {}

    def record(self, status: SourceStatus, now: float) -> None:
        """Sample every track of a source (at most once per `EVERY` seconds each)."""
        if status.error is not None:
            return
        for track in status.tracks:
            series = self._series.setdefault((status.path, track.name), Series())
            series.add(now, track.rate_per_min, track.eta if track.remaining else None)

    def get(self, path: str, track: str) -> Series | None:
        return self._series.get((path, track))
