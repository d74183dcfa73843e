"""`Simulation`: a simulated job playing live, one commit per step, paced in real time."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from batchtop.core.simulator.base import Writer
from batchtop.core.simulator.build import PathLike, writer_class
from batchtop.core.simulator.llm import chunk_path
from batchtop.core.simulator.support import Clock, random_outcomes


class Simulation:
    """A live simulated job writing into `directory`, one commit per `step()`.

    If the file does not exist it is created with `items` items; if it does, the job resumes on it the
    way the real one would (docstore starts a second session, jobs restores preparing/queued rows,
    smarthistory runs `items` new sessions, topics/llm continue their pending rows).

    Args:
        schema: One of `SCHEMAS`.
        directory: Where the job's file(s) live.
        items: Items for a new file (llm with `chunk_size`: the total over all chunk files).
        path: Explicit file; default: the job's usual name in `directory`.
        seed: Seed for every random choice; with a fixed clock the written bytes are reproducible.
        clock: Epoch-seconds source for every timestamp written.
        fail_rate: Probability that an item fails, split over `families` (weights; default: the schema's).
            With ``fail_rate=None``, `families` values are per-family probabilities and add up to it.
        workers: Concurrent items (topics/llm default 4; each topics worker has its own connection).
        chunk_size: llm only: write ``results_chunk_N.db`` files of this size, created one after another.
        first_chunk: llm only: index of the first chunk file.
        timeout: Lock timeout in seconds, instead of the real job's.
        stall_after: `run()` pauses for `stall_seconds` once this many commits were made.
        crash_after: Stop abruptly after this many commits, leaving in-flight items as they are.
    """

    def __init__(
        self, schema: str, directory: PathLike, items: int = 100, *, path: PathLike | None = None,
        seed: int = 0, clock: Clock = time.time, fail_rate: float | None = 0.1,
        families: Mapping[str, float] | None = None, workers: int | None = None,
        chunk_size: int | None = None, first_chunk: int = 0, timeout: float | None = None,
        stall_after: int | None = None, stall_seconds: float = 30.0, crash_after: int | None = None,
    ) -> None:
        cls = writer_class(schema)
        if chunk_size is not None and schema != "llm":
            raise ValueError("chunk_size applies to the llm schema only")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        rng = random.Random(seed)
        extra: dict[str, Any] = {}
        first_items = items
        if chunk_size:
            target = Path(path) if path is not None else chunk_path(directory, first_chunk)
            first_items = min(items, chunk_size)
            extra = {"chunk_size": chunk_size, "later": items - first_items, "next_chunk": first_chunk + 1}
        else:
            target = Path(path) if path is not None else cls.default_path(directory, clock)
        resume = target.exists()
        if not resume:
            cls.create(target, first_items, rng=rng, clock=clock)
        weights = dict(families or cls.families)
        if fail_rate is None:
            if not families:
                raise ValueError("fail_rate=None needs per-family probabilities in `families`")
            fail_rate = sum(weights.values())
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        outcomes = random_outcomes(rng, fail_rate, weights, cls.extras)
        self.schema = schema
        self.writer: Writer = cls(target, items, rng=rng, clock=clock, outcomes=outcomes, workers=workers,
                                  timeout=timeout, resume=resume, **extra)
        self.resumed = resume
        self.stall_after = stall_after
        self.stall_seconds = stall_seconds
        self.crash_after = crash_after
        self._stall_request: float | None = None
        self._stalled_once = False

    # -- state ----------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The file currently written (llm chunks move on to new files)."""
        return self.writer.path

    @property
    def paths(self) -> list[Path]:
        """Every file this simulation has written, in order of creation."""
        return list(self.writer.paths)

    @property
    def clock(self) -> Clock:
        """The time source for written timestamps (settable, e.g. to back-date a few commits)."""
        return self.writer.clock

    @clock.setter
    def clock(self, value: Clock) -> None:
        self.writer.clock = value

    @property
    def commits(self) -> int:
        """Commits made so far."""
        return self.writer.commits

    @property
    def finished(self) -> int:
        """Items the job has finished with (completed, failed or given up on)."""
        return self.writer.finished

    @property
    def in_flight(self) -> int:
        """Items started and not finished."""
        return self.writer.in_flight

    @property
    def busy_errors(self) -> int:
        """Commits that failed with "database is locked" and were retried."""
        return self.writer.busy_errors

    @property
    def done(self) -> bool:
        """True once all work is written or the job crashed."""
        return self.writer.done or self.writer.crashed

    @property
    def crashed(self) -> bool:
        """True after `crash()` or `crash_after`."""
        return self.writer.crashed

    # -- control ------------------------------------------------------------------------------
    def step(self) -> bool:
        """Make one commit exactly as the real job would; False when finished or crashed."""
        if self.crash_after is not None and self.writer.commits >= self.crash_after:
            self.crash()
        return self.writer.step()

    def crash(self) -> None:
        """Stop abruptly: running jobs stay ``running``, topics stay pending with ``started_at``."""
        self.writer.crash()

    def stall(self, seconds: float) -> None:
        """Ask `run()` to stop committing for `seconds` before its next commit (in-flight items wait)."""
        self._stall_request = seconds

    def close(self) -> None:
        """Release connections without marking anything (same effect on the file as a crash)."""
        self.writer.close()

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, rate: float | None = 5.0, duration: float | None = None,
            stop_event: threading.Event | None = None) -> int:
        """Commit at about `rate` items per second until done, `duration` elapses or `stop_event` is set.

        Returns:
            The number of commits made by this call. ``rate=None`` or ``0`` means as fast as possible.
        """
        stop = stop_event or threading.Event()
        interval = 1.0 / (rate * self.writer.commits_per_item) if rate else 0.0
        deadline = time.monotonic() + duration if duration is not None else None
        made = 0
        due = time.monotonic()
        while not stop.is_set():
            pause = self._take_stall()
            if pause:
                if self._wait(stop, pause, deadline):
                    break
                due = time.monotonic()
            if deadline is not None and time.monotonic() >= deadline:
                break
            before = self.writer.commits
            if not self.step():
                break
            made += self.writer.commits - before
            # Never more than a second behind schedule: a slow disk must not cause a catch-up burst.
            due = max(due + interval, time.monotonic() - 1.0)
            if self._wait(stop, due - time.monotonic(), deadline):
                break
        return made

    @staticmethod
    def _wait(stop: threading.Event, seconds: float, deadline: float | None) -> bool:
        """Sleep up to `seconds` (not past `deadline`); True if `stop` was set."""
        if deadline is not None:
            seconds = min(seconds, deadline - time.monotonic())
        return stop.wait(seconds) if seconds > 0 else stop.is_set()

    def _take_stall(self) -> float:
        if self._stall_request is not None:
            pause, self._stall_request = self._stall_request, None
            return pause
        if (self.stall_after is not None and not self._stalled_once
                and self.writer.commits >= self.stall_after):
            self._stalled_once = True
            return self.stall_seconds
        return 0.0
