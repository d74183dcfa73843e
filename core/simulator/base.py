"""The commit-by-commit engine shared by the simulated writers.

Each schema module subclasses `Writer` and describes one item's work as a *plan*: a list of thunks, each
performing exactly one commit the way the real job does (its own connection handling, pragmas and SQL).
The engine interleaves the plans of several in-flight items, so `step()` is one commit.
"""

from __future__ import annotations

import random
import sqlite3
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from batchtop.core.simulator.support import Clock, Outcome, OutcomeSource, Thunk, is_busy


@dataclass
class _Active:
    slot: int
    plan: deque[Thunk] = field(default_factory=deque)


class Writer(ABC):
    """One simulated job writing into one database file, one commit per `step()`.

    Subclasses set the class attributes, `create` the file, list pending work in `next_items` and
    describe each item's commits in `plan`.
    """

    schema: ClassVar[str]
    filename: ClassVar[str]
    #: The journal mode the real writer leaves on the file (``PRAGMA journal_mode`` result).
    journal_mode: ClassVar[str]
    #: Average commits per item, used to pace `run(rate=items_per_second)`.
    commits_per_item: ClassVar[float] = 1.0
    default_workers: ClassVar[int] = 1
    #: The real writer's lock timeout in seconds.
    default_timeout: ClassVar[float] = 5.0
    #: Failure family weights for this kind of job.
    families: ClassVar[Mapping[str, float]]
    #: Schema-specific outcome kinds besides ok/fail, with their default probabilities.
    extras: ClassVar[Mapping[str, float]] = {}
    #: Chance that a free worker picks up a new item rather than advancing one already in flight.
    start_bias: ClassVar[float] = 0.5

    def __init__(
        self,
        path: Path,
        items: int,
        *,
        rng: random.Random,
        clock: Clock,
        outcomes: OutcomeSource,
        workers: int | None = None,
        timeout: float | None = None,
        resume: bool = False,
        fast: bool = False,
    ) -> None:
        self.path = path
        self.items = items
        self.rng = rng
        self.clock = clock
        self.outcomes = outcomes
        self.workers = max(1, workers or self.default_workers)
        self.timeout = self.default_timeout if timeout is None else timeout
        self.resume = resume
        # fast: synchronous OFF / in-memory journal, only while building a file nobody watches yet.
        self.fast = fast
        self.paths: list[Path] = [path]
        self.commits = 0
        self.started = 0
        self.finished = 0
        self.busy_errors = 0
        self.crashed = False
        self.done = False
        self._begun = False
        self._queue: deque[Any] = deque()
        self._exhausted = False
        self._active: list[_Active] = []

    # -- to implement -------------------------------------------------------------------------------
    @classmethod
    def default_path(cls, directory: Path, clock: Clock) -> Path:
        """Where the real job puts its file inside `directory`."""
        return directory / cls.filename

    @classmethod
    @abstractmethod
    def create(cls, path: Path, items: int, *, rng: random.Random, clock: Clock) -> None:
        """Create the file with the real DDL and register `items` pending items, as the job does at start."""

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
        """Build a finished or partial file in SQL on a builder connection (`build.fill`): topics and llm
        do; the other schemas are built by replaying their writer instead."""
        raise NotImplementedError(f"{cls.__name__} is built by replaying its writer, not in SQL")

    @abstractmethod
    def next_items(self, limit: int) -> list[Any]:
        """Up to `limit` further pending items (empty when there are none)."""

    @abstractmethod
    def plan(self, item: Any, slot: int, outcome: Outcome) -> list[Thunk]:
        """The commits that process `item` on worker `slot`; empty when the job writes nothing for it."""

    def begin(self) -> int:
        """Run-start writes (a new session row, say); returns the number of commits made."""
        return 0

    def on_drained(self) -> bool:
        """Called when no work is left; return True after starting more (a new chunk file)."""
        return False

    def close(self) -> None:
        """Close persistent connections (per-call writers have none)."""

    # -- connections --------------------------------------------------------------------------------
    def connect(
        self, *, isolation_level: Literal["DEFERRED", "EXCLUSIVE", "IMMEDIATE"] | None = "DEFERRED"
    ) -> sqlite3.Connection:
        """A connection opened the way the real writer opens it, plus fast-build pragmas when building.

        `DEFERRED` is sqlite3's own default (a plain `BEGIN`); None is autocommit."""
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=isolation_level, check_same_thread=False
        )
        if self.fast:
            conn.execute("PRAGMA synchronous=OFF")
            if self.journal_mode != "wal":
                conn.execute("PRAGMA journal_mode=MEMORY")  # per connection: not persisted in the file
        return conn

    def call(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> int | None:
        """Connection-per-call style: connect, one statement, commit, close. Returns ``lastrowid``."""
        conn = self.connect()
        try:
            cur = conn.execute(sql, params)
            conn.commit()
            return cur.lastrowid
        finally:
            conn.close()

    # -- engine ---------------------------------------------------------------------------------
    def _has_pending(self) -> bool:
        if not self._queue and not self._exhausted:
            batch = self.next_items(1000)
            if batch:
                self._queue.extend(batch)
            else:
                self._exhausted = True
        return bool(self._queue)

    def start_item(self, outcome: Outcome | None = None) -> _Active | None:
        """Take the next pending item and plan it; None when nothing is pending or it needs no commit."""
        if not self._has_pending():
            return None
        used = {a.slot for a in self._active}
        slot = next(i for i in range(len(self._active) + 1) if i not in used)
        # Planning may read the database; take the item off the queue only once that succeeded.
        entry = _Active(slot, deque(self.plan(self._queue[0], slot, outcome or self.outcomes())))
        self._queue.popleft()
        self.started += 1
        if not entry.plan:
            self.finished += 1
            return None
        self._active.append(entry)
        return entry

    def advance(self, entry: _Active) -> None:
        """Perform the next commit of an in-flight item; lock contention leaves it queued for a retry."""
        thunk = entry.plan[0]
        try:
            thunk()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            self.busy_errors += 1
            self.on_busy()
            return
        entry.plan.popleft()
        self.commits += 1
        if not entry.plan:
            self._active.remove(entry)
            self.finished += 1

    def on_busy(self) -> None:
        """Roll back persistent connections after a failed commit (per-call writers closed theirs)."""

    def step(self) -> bool:
        """Advance by one commit; False once the job has finished or crashed.

        Lock contention ("database is locked") is counted in `busy_errors` and retried on the next
        step, which then returns True without a commit, as a real job's retry loop would.
        """
        if self.crashed or self.done:
            return False
        try:
            return self._step()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            self.busy_errors += 1
            self.on_busy()
            return True

    def _step(self) -> bool:
        if not self._begun:
            made = self.begin()
            self._begun = True
            if made:
                self.commits += made
                return True
        while True:
            can_start = len(self._active) < self.workers and self._has_pending()
            if not can_start and not self._active:
                if self.on_drained():
                    self._exhausted = False
                    self.commits += 1  # the new file's creation is the job's first commit there
                    return True
                self.done = True
                self.close()
                return False
            if can_start and (not self._active or self.rng.random() < self.start_bias):
                entry = self.start_item()
                if entry is None:
                    continue  # the job wrote nothing for that item (a silent failure)
            else:
                entry = self.rng.choice(self._active)
            self.advance(entry)
            return True  # a busy retry counts as a step too, so pacing and stop checks keep running

    def crash(self) -> None:
        """Stop abruptly: in-flight items keep whatever state their last commit left."""
        self.crashed = True
        self._active.clear()
        self._queue.clear()
        self.close()

    @property
    def in_flight(self) -> int:
        """Items started and not finished."""
        return len(self._active)

