"""Building database files: the schema registry, `create` (a job's start) and `fill` (a fast history)."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from batchtop.core.simulator.base import Writer
from batchtop.core.simulator.docstore import DocstoreWriter
from batchtop.core.simulator.errors import pick_family
from batchtop.core.simulator.jobs import JobsWriter
from batchtop.core.simulator.llm import LlmWriter
from batchtop.core.simulator.smarthistory import SmartHistoryWriter
from batchtop.core.simulator.support import Clock, Outcome, planned_outcomes
from batchtop.core.simulator.topics import TopicsWriter

WRITERS: Mapping[str, type[Writer]] = {
    w.schema: w for w in (TopicsWriter, LlmWriter, DocstoreWriter, SmartHistoryWriter, JobsWriter)
}
#: Schema names accepted everywhere (``--schema``).
SCHEMAS: tuple[str, ...] = tuple(WRITERS)
PathLike = str | os.PathLike[str]


def writer_class(schema: str) -> type[Writer]:
    """The writer for `schema`; ValueError naming the valid choices otherwise."""
    try:
        return WRITERS[schema]
    except KeyError:
        raise ValueError(f"unknown schema {schema!r}; choose one of {', '.join(SCHEMAS)}") from None


def default_path(schema: str, directory: PathLike, clock: Clock = time.time) -> Path:
    """The file name the real job would use inside `directory` (llm's depends on the clock)."""
    return writer_class(schema).default_path(Path(directory), clock)


def create(
    schema: str, directory: PathLike, items: int, *, path: PathLike | None = None, seed: int = 0,
    clock: Clock = time.time,
) -> Path:
    """Create a database as the job does at start: real DDL and journal mode, all items registered.

    Registration happens in one transaction. What "registered" means follows the job: topics and llm
    rows pending, docstore tables/relationships pending in a first session, jobs in ``preparing``;
    SmartHistory registers nothing (its sessions are inserted when they start).

    Returns:
        The path of the new file. Raises FileExistsError if it already exists.
    """
    cls = writer_class(schema)
    target = Path(path) if path is not None else cls.default_path(Path(directory), clock)
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    cls.create(target, items, rng=random.Random(seed), clock=clock)
    return target


def _remove_sidecars(path: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def fill(
    schema: str, directory: PathLike, items: int, *, completed: int | None = None, failed: int = 0,
    in_flight: int = 0, skipped: int = 0, empty: int = 0, path: PathLike | None = None, seed: int = 0,
    clock: Clock = time.time, span: float = 3600.0, ago: float = 0.0,
    families: Mapping[str, float] | None = None, overwrite: bool = False,
) -> Path:
    """Build a finished or partial run quickly, as if the job had been running for `span` seconds.

    The file is built under a hidden temporary name with journaling and syncing off (nobody watches
    it yet), given the job's real journal mode, then renamed into place. topics and llm are built in SQL
    (10M rows in about a minute); the other schemas replay the real writer with a fast-forwarded clock.

    Args:
        completed: Items finished successfully; default: everything not failed/skipped/empty/in flight.
        failed: Failed items, with messages from the schema's error families (docstore leaves them pending).
        in_flight: Items started but not finished (topics: pending with ``started_at``; jobs: ``running``;
            smarthistory: ``started``). Ignored by llm and docstore, which have no such state.
        skipped: topics only: items marked ``skipped``. empty: llm only: results ``''``/``'NA'``.
        span: Seconds of history; ago: how long before now the history ends (a crash `ago` seconds ago).
        overwrite: Replace an existing file (its sidecars are removed) instead of raising FileExistsError.
    """
    cls = writer_class(schema)
    if skipped and schema != "topics" or empty and schema != "llm":
        raise ValueError("skipped applies to topics only, empty to llm only")
    run_out = completed is None  # "everything else": replay until the job has no work left
    if completed is None:
        completed = max(0, items - failed - skipped - empty - in_flight)
    if min(completed, failed, skipped, empty, in_flight) < 0:
        raise ValueError("counts must not be negative")
    target = Path(path) if path is not None else cls.default_path(Path(directory), clock)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.building-{os.getpid()}")
    temp.unlink(missing_ok=True)
    _remove_sidecars(temp)
    rng = random.Random(seed)
    weights = dict(families or cls.families)
    t_end = clock() - ago
    counts = {"ok": completed, "fail": failed, "skip": skipped, "empty": empty}
    try:
        if schema in ("topics", "llm"):
            if completed + failed + skipped + empty + in_flight > items:
                raise ValueError("counts add up to more than items")
            _bulk(cls, temp, items, counts, in_flight, rng, weights, t_end - span, t_end)
        else:
            if schema == "docstore":
                in_flight = 0  # no in-flight state: an item is either pending or completed
            # docstore's work (tables + relationships) exceeds `items`: "everything else" means run it out.
            finish = None if run_out and schema == "docstore" else sum(counts.values())
            _fast_forward(cls, temp, items, counts, finish, in_flight, rng, weights, t_end - span, t_end)
        if overwrite:
            _remove_sidecars(target)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
        _remove_sidecars(temp)
    return target


def _bulk(cls: type[Writer], temp: Path, items: int, counts: dict[str, int], in_flight: int,
          rng: random.Random, weights: Mapping[str, float], t_start: float, t_end: float) -> None:
    conn = sqlite3.connect(temp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MB: keeps index builds in memory
        conn.execute("BEGIN")
        cls.bulk(conn, items, counts, in_flight, rng=rng, families=weights, t_start=t_start, t_end=t_end)
        conn.execute("COMMIT")
        conn.execute(f"PRAGMA journal_mode={cls.journal_mode.upper()}")
    finally:
        conn.close()


class _Ticker:
    """A virtual clock for fast-forwarding: moves forward by `step` seconds per commit."""

    def __init__(self, start: float, step: float) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        return self.now


def _fast_forward(cls: type[Writer], temp: Path, items: int, counts: dict[str, int], finish: int | None,
                  in_flight: int, rng: random.Random, weights: Mapping[str, float], t_start: float,
                  t_end: float) -> None:
    expected = sum(counts.values()) if finish is None else finish
    ticker = _Ticker(t_start, (t_end - t_start) / max(1.0, expected * cls.commits_per_item))
    cls.create(temp, items, rng=rng, clock=ticker)
    writer = cls(temp, items, rng=rng, clock=ticker, outcomes=planned_outcomes(rng, counts, weights),
                 workers=1, fast=True)
    try:
        while (finish is None or writer.finished < finish) and writer.step():
            ticker.now = min(t_end, ticker.now + ticker.step)
        ticker.now = t_end
        # Items left mid-way: planned as failures whose final write never happened because the job died,
        # so each keeps every commit but the last (jobs stay 'running', sessions 'started').
        writer.workers = max(1, in_flight)
        for _ in range(in_flight):
            entry = writer.start_item(Outcome("fail", pick_family(rng, weights)))
            while entry is not None and len(entry.plan) > 1:
                writer.advance(entry)
    finally:
        writer.crash()
