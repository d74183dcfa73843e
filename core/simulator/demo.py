"""`batchtop demo`: all five kinds of job in one directory, in the states a monitor must show well.

Built from `fill` (history) plus live `Simulation`s: topics and llm are running (llm keeps adding chunk
files), docstore is on its second session, SmartHistory is stalled mid-session before it resumes, and
the video builder crashed 40 minutes ago with a job left ``running``. Failures come from several
error families. The live ones commit a few times per second in total.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from batchtop.core.simulator.build import PathLike, default_path, fill
from batchtop.core.simulator.runner import Simulation
from batchtop.core.simulator.support import Clock

_MIN = 60.0
_HOUR = 3600.0


@dataclass
class DemoSource:
    """One simulated job of the demo.

    Attributes:
        schema: Schema name.
        state: ``"active"``, ``"stalled"``, ``"crashed"`` or ``"finished"`` at the start of the demo.
        paths: Files belonging to this job (llm chunk files are added as they appear).
        simulation: The live writer, or None for jobs that no longer run.
        rate: Items per second while live.
    """

    schema: str
    state: str
    paths: list[Path]
    simulation: Simulation | None = None
    rate: float = 0.0


@dataclass
class Demo:
    """The demo directory and its jobs; `run_forever` keeps the live ones writing."""

    directory: Path
    sources: list[DemoSource]
    errors: list[BaseException] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        """Every database file of the demo, including chunk files created so far."""
        out: list[Path] = []
        for src in self.sources:
            extra = src.simulation.paths if src.simulation is not None else []
            for path in (*src.paths, *extra):
                if path not in out:
                    out.append(path)
        return out

    @property
    def live(self) -> list[DemoSource]:
        """Sources that still write."""
        return [s for s in self.sources if s.simulation is not None]

    def run_forever(self, stop_event: threading.Event) -> None:
        """Write at a human-visible pace until `stop_event` is set (or every live job has finished)."""
        threads = [
            threading.Thread(target=self._run_one, args=(src, stop_event), name=f"batchtop-demo-{src.schema}",
                             daemon=True)
            for src in self.live
        ]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        finally:
            self.close()

    def start(self, stop_event: threading.Event) -> threading.Thread:
        """`run_forever` in a daemon thread; set `stop_event` and join the thread to stop."""
        thread = threading.Thread(target=self.run_forever, args=(stop_event,), name="batchtop-demo", daemon=True)
        thread.start()
        return thread

    def _run_one(self, src: DemoSource, stop_event: threading.Event) -> None:
        assert src.simulation is not None
        try:
            src.simulation.run(rate=src.rate, stop_event=stop_event)
        except Exception as exc:  # keep the other jobs going; the caller can inspect `errors`
            self.errors.append(exc)

    def close(self) -> None:
        """Close every live writer's connections."""
        for src in self.live:
            assert src.simulation is not None
            src.simulation.close()


def demo(directory: PathLike, *, seed: int = 0, clock: Clock = time.time, scale: float = 1.0,
         stall_seconds: float = 120.0) -> Demo:
    """Set up the five demo jobs in `directory` (which should be empty) and return them, not yet running.

    Args:
        seed: Makes the content reproducible (with a fixed `clock`, byte for byte).
        clock: Time source; history is placed before `clock()`.
        scale: Multiplies item counts (tests use a small scale).
        stall_seconds: How long SmartHistory stays stalled once `run_forever` starts.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)

    def n(count: int) -> int:
        return max(1, round(count * scale))

    sources: list[DemoSource] = []

    # prompt_optimizer: mid-run, four workers, failures from several families.
    topics = fill("topics", root, n(900), completed=n(380), failed=n(30), skipped=n(8), seed=seed + 1,
                  clock=clock, span=50 * _MIN)
    sim = Simulation("topics", root, seed=seed + 1, clock=clock, fail_rate=0.08)
    sources.append(DemoSource("topics", "active", [topics], sim, rate=0.8))

    # ParallelLLMProcessor: an earlier finished run, two finished chunks and a live one adding more.
    earlier = default_path("llm", root, lambda: clock() - 2 * _HOUR)
    fill("llm", root, n(300), completed=n(270), failed=n(24), empty=n(6), path=earlier, seed=seed + 2,
         clock=clock, span=20 * _MIN, ago=2 * _HOUR)
    sources.append(DemoSource("llm", "finished", [earlier]))
    chunks = []
    for i in range(2):
        chunk = root / f"results_chunk_{i}.db"
        fill("llm", root, n(200), completed=n(182), failed=n(14), empty=n(4), path=chunk, seed=seed + 3 + i,
             clock=clock, span=5 * _MIN, ago=(2 - i) * 5 * _MIN)
        chunks.append(chunk)
    sim = Simulation("llm", root, n(600), chunk_size=n(200), first_chunk=2, seed=seed + 5, clock=clock,
                     fail_rate=0.1)
    sources.append(DemoSource("llm", "active", chunks, sim, rate=1.0))

    # DocumentationStore: the first session was interrupted; the second one is running slowly.
    docs = fill("docstore", root, n(48), completed=n(30), failed=n(6), seed=seed + 6, clock=clock,
                span=2 * _HOUR, ago=30 * _MIN)
    sim = Simulation("docstore", root, seed=seed + 6, clock=clock, fail_rate=0.15)
    sim.step()  # the second session starts now: its generation_metadata row is there from the outset
    sources.append(DemoSource("docstore", "active", [docs], sim, rate=0.25))

    # SmartHistory: a session started nine minutes ago has not moved since; it resumes after the stall.
    history = fill("smarthistory", root, n(30), completed=n(24), failed=n(4), in_flight=1, seed=seed + 7,
                   clock=clock, span=6 * _HOUR, ago=3 * _HOUR)
    sim = Simulation("smarthistory", root, n(40), seed=seed + 7, clock=lambda: clock() - 9 * _MIN, fail_rate=0.1)
    for _ in range(4):
        sim.step()
    sim.clock = clock
    sim.stall(stall_seconds)
    sources.append(DemoSource("smarthistory", "stalled", [history], sim, rate=0.08))

    # YouTube Video Builder: the server died 40 minutes ago; one job stays 'running' forever.
    jobs = fill("jobs", root, n(24), completed=n(16), failed=n(4), in_flight=1, seed=seed + 8, clock=clock,
                span=5 * _HOUR, ago=40 * _MIN)
    sources.append(DemoSource("jobs", "crashed", [jobs]))

    return Demo(root, sources)
