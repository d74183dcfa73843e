"""The poll gate: one cheap sweep of file identities decides which sources are worth a poll at all.

A poll of an unchanged database should cost nothing. The gate keeps, per source, the identity of its
files (`st_ino`, `st_size`, `st_mtime_ns` of the database, its `-wal` and its `-journal`: three `stat`
calls, no open: `backends.sqlite.reader.file_identity`, also what a parked source waits on) and only lets a source be polled when that identity changed, when the directory watch
reported it, when it was asked for (`r`, an action wrote to it), or while the source is *hot*.

Hot: for `hot_seconds` (default `HOT_SECONDS`, and at least two sweep intervals) after a change was last
seen, the source is polled at every sweep even when its identity looks unchanged; each of those polls
costs one `PRAGMA data_version` (the second gate) and reads nothing unless a commit landed. This closes
the one hole of a stat gate: a second commit within the same mtime tick that leaves the size unchanged
(an overwrite in place, a WAL reused after a checkpoint) has the identity the first one had. Bound: a
commit is shown by the first sweep after it, provided the filesystem's mtime granularity is below
`hot_seconds` minus one sweep interval (ext4, xfs, btrfs, tmpfs: a few milliseconds; FAT: 2 s, covered by
the default). A file whose mtime is set back by hand (`touch -d`) to the old value with the old size can
still hide a change until the next change or `r`.

Between sweeps, a hot source's files are also stat-ed every `HOT_STEP` seconds and polled as soon as
they changed (once its cost backoff or chunk gap allows): a job's next commit reaches the screen within
about that step, without waiting for the directory watch's grouping window or the next sweep.

A source that is not a file (a PostgreSQL URL) has no identity to stat: it is polled at every sweep, and
its poll's own first query (`pg_current_snapshot()`) is the gate.

Errors: a source whose poll failed (locked, not found, damaged) is retried when its identity changes,
and otherwise with a backoff that doubles from one interval up to `RETRY_MAX` seconds.
Cost: after every poll, a source waits `BACKOFF` times that poll's wall time (at most `COST_MAX` seconds)
before its next one, so a slow source takes a bounded share of the machine; other sources are not held up
by it (polls run concurrently, the gate itself never waits for a poll).

Pure bookkeeping, no threads: the caller drives it (`tui.polling.Poller`: one gate thread that sweeps,
a pool that polls), which keeps the decisions testable with a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from batchtop.core.backends.sqlite.reader import FileStat, Identity, file_identity

__all__ = ["FileStat", "Gate", "GateState", "Identity", "file_identity"]

#: Seconds a source stays hot after a change was seen (see the module docstring for the bound).
HOT_SECONDS = 3.0
#: Seconds between looks at a hot source's files between sweeps (three `stat` calls each).
HOT_STEP = 0.02
#: A poll is followed by at least this many times its own wall time before the next poll of that source.
BACKOFF = 10.0
#: ... but never more than this many seconds.
COST_MAX = 30.0
#: Longest wait between retries of a failing source whose files do not change.
RETRY_MAX = 30.0


@dataclass
class GateState:
    """What the gate knows about one source."""

    #: Identity seen by the latest sweep (None: never looked).
    identity: Identity | None = None
    #: Monotonic time until which the source is polled at every sweep.
    hot_until: float = 0.0
    #: Monotonic time before which no poll starts (cost backoff, error retry).
    not_before: float = 0.0
    #: A poll of this source is running.
    in_flight: bool = False
    #: Poll at the next chance whatever the identity says (new source, watch event, `r`, a failed poll).
    wanted: bool = True
    #: Skip the `data_version` gate on that poll (`r`).
    force: bool = False
    #: Consecutive failed polls (for the retry backoff).
    failures: int = 0
    #: Its identity is files on disk; False for a server (polled every sweep, its token query gates).
    files: bool = True


class Gate:
    """Per-source gate state and the sweep that picks the sources to poll.

    Not thread-safe: one thread (the poller's) calls every method.
    """

    def __init__(self, interval: float = 1.0, hot_seconds: float = HOT_SECONDS) -> None:
        self.interval = interval
        self.hot_seconds = hot_seconds
        self.states: dict[str, GateState] = {}
        #: Sweeps done, and `stat` sweeps of sources (for tests and the status line).
        self.sweeps = 0

    @property
    def hot_for(self) -> float:
        """Seconds a change keeps a source hot: `hot_seconds`, and at least two sweeps."""
        return max(self.hot_seconds, 2 * self.interval)

    def add(self, path: str, *, files: bool = True) -> None:
        """Start gating `path` (its first poll is due at once); `files=False` for a server source."""
        self.states.setdefault(path, GateState(files=files))

    def discard(self, path: str) -> None:
        self.states.pop(path, None)

    def want(self, paths: Iterable[str], now: float, *, force: bool = False, hot: bool = True,
             urgent: bool = True) -> None:
        """Poll these sources at the next sweep (a watch event, an action wrote, `r`); unknown paths are
        ignored. `hot` also keeps them hot: a watch event may come before the last commit of a burst.

        `urgent` (the user or an action asked) skips the wait after the last poll; a watch event is not
        urgent: it is polled as soon as that wait (its cost backoff, or the gap that keeps chunked counts
        to their share of a core) ends. A job committing thousands of times a second sends events all the
        time, and when they skipped the wait it was polled back to back: 80 % of a core, and reads so
        dense that its WAL could not restart (x24).
        """
        for path in paths:
            state = self.states.get(path)
            if state is None:
                continue
            state.wanted = True
            state.force = state.force or force
            if urgent:
                state.not_before = min(state.not_before, now)
            if hot:
                state.hot_until = max(state.hot_until, now + self.hot_for)

    def sweep(self, now: float, *, full: bool = True) -> list[tuple[str, bool]]:
        """Stat the sources not being polled; return `(path, force)` of those to poll now, marked in flight.

        `full=False` looks only at the sources asked for (`want`, a retry), without a stat of the others:
        a job committing continuously wakes the gate often, and must not make it stat every file each time.
        """
        if full:
            self.sweeps += 1
        due: list[tuple[str, bool]] = []
        for path, state in self.states.items():
            hot = now < state.hot_until
            if state.in_flight or not (full or state.wanted or (hot and state.files)):
                continue
            if not state.files:
                if now >= state.not_before:
                    due.append((path, state.force))
                    state.in_flight = True
                    state.wanted = state.force = False
                continue
            identity = file_identity(path)
            if identity != state.identity:
                state.identity = identity
                state.wanted = True
                state.hot_until = now + self.hot_for
                state.not_before = min(state.not_before, now) if state.failures else state.not_before
            # Hot sources are polled at every full sweep; between sweeps, only when their files changed.
            if now < state.not_before or not (state.wanted or (full and hot)):
                continue
            due.append((path, state.force))
            state.in_flight = True
            state.wanted = state.force = False
        return due

    def finished(self, path: str, now: float, *, cost: float, changed: bool, failed: bool,
                 more: float = 0.0) -> bool:
        """A poll of `path` ended: `changed` when it read new data, `failed` when it raised an error,
        `more` (a share of a core) when it left work to do (chunks to count, `core.counting`): it is
        polled again after a gap that keeps it to that share.

        Returns whether the source was asked for again (the caller should wake the sweep).
        """
        state = self.states.get(path)
        if state is None:
            return False
        again = state.wanted
        state.in_flight = False
        wait = min(COST_MAX, BACKOFF * cost)
        if failed:
            state.failures += 1
            state.wanted = True  # retried: when the files change, or after the backoff
            wait = max(wait, min(RETRY_MAX, self.interval * 2 ** (state.failures - 1)))
        else:
            state.failures = 0
        if changed and not failed:
            state.hot_until = max(state.hot_until, now + self.hot_for)
        if more > 0 and not failed:
            state.wanted = again = True
            wait = cost * (1.0 / more - 1.0)
        state.not_before = now + wait
        return again

    @property
    def in_flight(self) -> int:
        """Polls running now."""
        return sum(1 for s in self.states.values() if s.in_flight)

    def next_due(self, now: float) -> float:
        """Seconds until a hot or waiting source needs the next sweep (at most one interval)."""
        wake = self.interval
        for state in self.states.values():
            if not state.in_flight and state.wanted and state.not_before > now:
                wake = min(wake, state.not_before - now)
            elif not state.in_flight and state.files and now < state.hot_until:
                wake = min(wake, HOT_STEP)
        return max(0.0, wake)
