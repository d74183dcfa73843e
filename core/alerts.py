"""Alerts for unattended runs: events found by comparing successive statuses, throttled, and logged.

`Detector.update(statuses, now)` is pure bookkeeping over `status.SourceStatus` values (no IO, no
clock of its own): a track that becomes `finished`, one that goes from `active` to `stalled` or
`interrupted`, new failures, a failure-rate spike, and (given the signatures a caller grouped) a new
error signature. The first sight of a track only sets its baseline: opening batchtop on a finished run
says nothing. `Throttle` de-duplicates (the same event key within `dedupe` seconds) and rate-limits
(one alert per kind per `gap` seconds, `burst` alerts per minute in all); suppressed events are still
logged. Every event text is sanitised here, since a terminal notification carries it.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from batchtop.core import fmt
from batchtop.core.alert_config import DEFAULT_KINDS, KINDS
from batchtop.core.history import RunState
from batchtop.core.sanitize import clean_line, redact
from batchtop.core.status import SourceStatus

#: Spike: at least this many items settled since the last check, ...
SPIKE_MIN_SETTLED = 10
#: ... of which at least this share failed, ...
SPIKE_SHARE = 0.5
#: ... and at least this many times the track's failure share before.
SPIKE_FACTOR = 3.0


@dataclass(frozen=True)
class Event:
    """Something worth telling a person about."""

    kind: str
    at: float
    path: str
    track: str
    #: One sanitised line.
    message: str
    #: Events with the same key are duplicates (de-duplicated by `Throttle`).
    key: str
    #: False when `Throttle` held it back (it is still logged).
    notified: bool = True

    def title(self) -> str:
        """A short title for a desktop notification."""
        return f"batchtop: {self.kind}"


@dataclass
class _Seen:
    activity: str
    failed: int
    settled: int
    #: Signatures seen so far; None until the caller first passed them (that first set is a baseline,
    #: unless the track appeared after `Detector.opened()`: a chunk file the job created meanwhile).
    signatures: set[str] | None = None
    late: bool = False


def _event(kind: str, now: float, path: str, track: str, message: str, key: str) -> Event:
    name = os.path.basename(path)
    return Event(kind, now, path, track, clean_line(redact(f"{name} {track}: {message}"), 300), key)


class Detector:
    """Compares each status with the previous one of the same (file, track).

    Signatures are compared with every signature seen on any source: one cause showing up in forty
    chunk files is one `new-signature` event, and a cause already known from another file is none.
    """

    def __init__(self, kinds: Iterable[str] = DEFAULT_KINDS) -> None:
        self.kinds = frozenset(kinds)
        self._seen: dict[tuple[str, str], _Seen] = {}
        #: Every signature seen on any (file, track): what "new" is measured against.
        self._known: set[str] = set()
        #: Set by `opened()`: tracks first seen from now on appeared while batchtop watched.
        self._opened = False

    def opened(self) -> None:
        """Every source there was at start has been seen once: a track first seen after this is a file
        the job created meanwhile, and its first signatures are compared, not taken as a baseline."""
        self._opened = True

    def update(
        self,
        statuses: Iterable[SourceStatus],
        now: float,
        signatures: Mapping[tuple[str, str], Iterable[str]] | None = None,
    ) -> list[Event]:
        """Events since the previous call.

        Args:
            statuses: The current status of every source.
            now: Epoch seconds (stamped on the events).
            signatures: Error signatures currently seen per (path, track), when the caller grouped them;
                a signature not seen before on any track is a `new-signature` event.
        """
        out: list[Event] = []
        late = self._opened
        for status in statuses:
            if status.error is not None:
                continue
            for t in status.tracks:
                key = (status.path, t.name)
                sigs = set(signatures.get(key, ())) if signatures is not None else None
                failed, settled, activity = t.counts.get("failed", 0), t.settled, t.activity.state
                prev = self._seen.get(key)
                if prev is None:
                    self._seen[key] = prev = _Seen(activity, failed, settled, None, late)
                else:
                    out += self._compare(prev, status.path, t.name, activity, failed, settled, now)
                    prev.activity, prev.failed, prev.settled = activity, failed, settled
                if sigs is not None:
                    out += self._new_signatures(prev, status.path, t.name, sigs, now)
        return [e for e in out if e.kind in self.kinds]

    def _new_signatures(self, prev: _Seen, path: str, track: str, sigs: set[str], now: float) -> list[Event]:
        """Events for the signatures no source showed before; the track's first set is a baseline
        unless the track appeared after `opened()`."""
        baseline = prev.signatures is None and not prev.late
        prev.signatures = sigs if prev.signatures is None else prev.signatures | sigs
        new = sorted(sigs - self._known)
        self._known |= sigs
        if baseline:
            return []
        return [_event("new-signature", now, path, track, f"new error: {sig}", f"new-signature:{sig}") for sig in new]

    def _compare(
        self,
        prev: _Seen,
        path: str,
        track: str,
        activity: str,
        failed: int,
        settled: int,
        now: float,
    ) -> list[Event]:
        out = []
        if activity == RunState.FINISHED and prev.activity != RunState.FINISHED:
            out.append(
                _event(
                    "finished",
                    now,
                    path,
                    track,
                    f"finished ({failed:,} failed)",
                    f"finished:{path}:{track}:{settled}",
                )
            )
        if activity in (RunState.STALLED, RunState.INTERRUPTED) and prev.activity == RunState.ACTIVE:
            out.append(
                _event(
                    "stalled",
                    now,
                    path,
                    track,
                    f"{activity}: no progress while work remains",
                    f"stalled:{path}:{track}",
                )
            )
        new_failed = failed - prev.failed
        if new_failed > 0:
            out.append(
                _event(
                    "failed",
                    now,
                    path,
                    track,
                    f"{new_failed:,} new failure(s), {failed:,} in all",
                    f"failed:{path}:{track}:{failed}",
                )
            )
            newly_settled = settled - prev.settled
            before = prev.failed / prev.settled if prev.settled else 0.0
            share = new_failed / newly_settled if newly_settled > 0 else 0.0
            if newly_settled >= SPIKE_MIN_SETTLED and share >= SPIKE_SHARE and share >= SPIKE_FACTOR * before:
                out.append(
                    _event(
                        "spike",
                        now,
                        path,
                        track,
                        f"failure spike: {fmt.percent(share, 0)} of the last {newly_settled:,} items failed "
                        f"(was {fmt.percent(before, 0)})",
                        f"spike:{path}:{track}",
                    )
                )
        return out


class Throttle:
    """De-duplication and rate limits, on an injected clock (the `now` passed in)."""

    def __init__(self, *, dedupe: float = 900.0, gap: float = 30.0, burst: int = 5) -> None:
        self.dedupe, self.gap, self.burst = dedupe, gap, burst
        self._keys: dict[str, float] = {}
        self._kinds: dict[str, float] = {}
        self._recent: deque[float] = deque()

    def allow(self, event: Event, now: float) -> bool:
        """Whether to notify about `event` now (and record it when so)."""
        last = self._keys.get(event.key)
        if last is not None and now - last < self.dedupe:
            return False
        kind_last = self._kinds.get(event.kind)
        if kind_last is not None and now - kind_last < self.gap:
            return False
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        if len(self._recent) >= self.burst:
            return False
        self._keys[event.key] = self._kinds[event.kind] = now
        self._recent.append(now)
        if len(self._keys) > 10_000:  # bounded: forget the oldest keys
            for k in sorted(self._keys, key=self._keys.__getitem__)[:5_000]:
                del self._keys[k]
        return True


class EventLog:
    """The newest events in memory (the on-screen list) and, optionally, appended to a JSONL file."""

    def __init__(self, path: str | os.PathLike[str] | None = None, maxlen: int = 500) -> None:
        self.events: deque[Event] = deque(maxlen=maxlen)
        self.path = Path(path) if path is not None else None

    def add(self, event: Event) -> None:
        """Keep `event` (and append it to the file, one JSON object a line)."""
        self.events.append(event)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(event), ensure_ascii=True) + "\n")


class Alerts:
    """Detector + throttle + log: `update()` returns the events to notify about now."""

    def __init__(
        self, kinds: Iterable[str] = DEFAULT_KINDS, *, log: EventLog | None = None, throttle: Throttle | None = None
    ) -> None:
        self.detector = Detector(kinds)
        self.throttle = throttle or Throttle()
        self.log = log or EventLog()

    def update(
        self,
        statuses: Iterable[SourceStatus],
        now: float,
        signatures: Mapping[tuple[str, str], Iterable[str]] | None = None,
    ) -> list[Event]:
        """Detect, log every event, and return those allowed through the throttle."""
        out = []
        for event in self.detector.update(statuses, now, signatures):
            allowed = self.throttle.allow(event, now)
            if not allowed:
                event = Event(**{**asdict(event), "notified": False})
            self.log.add(event)
            if allowed:
                out.append(event)
        return out


def parse_kinds(text: str) -> frozenset[str]:
    """`--alerts finished,stalled` / `all` / `none` as a set of kinds; raises ValueError on unknown ones."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if words in (["all"], []):
        return frozenset(KINDS) if words else frozenset()
    if words == ["none"]:
        return frozenset()
    bad = [w for w in words if w not in KINDS]
    if bad:
        raise ValueError(f"unknown alert kind(s) {', '.join(bad)} (kinds: {', '.join(KINDS)}, all, none)")
    return frozenset(words)
