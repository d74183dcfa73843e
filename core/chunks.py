"""Many chunk files as one run: `run-0001.db` .. `run-0099.db` grouped, with one combined progress line.

`group_paths` groups files by directory, by the pattern their names share once digits are wildcards
(`results_chunk_*.db`, `llm_results_*_*.db`), or by glob patterns the user gives; `combine` adds up
the statuses of a set: counts, the rate (each file's rate adds), an ETA from the combined rate, and the
most urgent activity of its files.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from batchtop.core.history import RunState
from batchtop.core.profiles.model import STATES
from batchtop.core.status import SourceStatus

_DIGITS = re.compile(r"\d+")
#: Activity order for a set: the most urgent state of any file wins.
URGENCY = (RunState.ERROR, RunState.STALLED, RunState.INTERRUPTED, RunState.ACTIVE, RunState.WAITING,
           RunState.FINISHED)
MODES = ("pattern", "dir", "none")


@dataclass(frozen=True)
class ChunkSet:
    """Files shown as one group: `name` is the shared pattern (or the directory)."""

    name: str
    directory: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Combined:
    """The added-up status of a set of files."""

    name: str
    files: int
    errors: int
    counts: dict[str, int]
    total: int
    settled: int
    remaining: int
    rate_per_min: float | None
    #: Seconds to finish at the combined rate (a 0.85x-1.2x range), None without a rate.
    eta: tuple[float, float] | None
    state: RunState
    #: Items settled per bucket of the last minutes, every track added (newest last; see `History`).
    sparkline: tuple[int, ...] = ()
    #: The newest change of any file of the set.
    last_change: float | None = None
    #: Profile names of the readable files, in order of first appearance.
    profiles: tuple[str, ...] = ()

    @property
    def progress(self) -> float:
        return self.settled / self.total if self.total else 0.0


@dataclass(frozen=True)
class GroupBy:
    """How the overview groups its sources: `by` one of MODES, plus explicit glob `patterns`."""

    by: str = "none"
    patterns: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether any grouping happens."""
        return self.by != "none" or bool(self.patterns)

    def label(self) -> str:
        """'pattern', 'dir', 'results_chunk_*.db', 'none'."""
        if self.patterns:
            return ", ".join(self.patterns) + (f" + {self.by}" if self.by != "none" else "")
        return self.by


def parse_group_by(values: Sequence[str]) -> GroupBy:
    """`--group-by` values: `dir`, `pattern` (digits as wildcards), `none`, or `pattern:GLOB` (repeatable:
    files whose names match GLOB form one set; other files stay alone). Raises ValueError."""
    by, patterns = "none", []
    for value in values:
        if value.startswith("pattern:"):
            glob = value[len("pattern:"):]
            if not glob or "/" in glob or os.sep in glob:
                raise ValueError(f"--group-by {value!r}: give a file name glob, e.g. pattern:'results_chunk_*.db'")
            patterns.append(glob)
        elif value in MODES:
            by = value
        else:
            raise ValueError(f"--group-by {value!r}: give dir, pattern, pattern:GLOB or none")
    return GroupBy(by, tuple(dict.fromkeys(patterns)))


def add_series(series: Iterable[Sequence[int]]) -> tuple[int, ...]:
    """Element-wise sum of series aligned on their newest (last) value."""
    out: list[int] = []
    for values in series:
        values = list(values)
        if len(values) > len(out):
            out = [0] * (len(values) - len(out)) + out
        offset = len(out) - len(values)
        for i, v in enumerate(values):
            out[offset + i] += v
    return tuple(out)


def name_pattern(name: str) -> str:
    """The file name with every run of digits made a wildcard: `run-0001.db` -> `run-*.db`."""
    return _DIGITS.sub("*", name)


def group_paths(paths: Iterable[str], *, by: str = "pattern", patterns: Sequence[str] = ()) -> list[ChunkSet]:
    """Sets of files, in the order their first file comes; a file alone in its set stays alone.

    Args:
        by: "pattern" (same directory and same name once digits are wildcards), "dir" (same
            directory), or "none" (every file alone).
        patterns: Globs on the file name (`results_chunk_*.db`); a file matching one joins that set,
            whatever `by` says.
    """
    if by not in MODES:
        raise ValueError(f"group by {by!r}: choose one of {', '.join(MODES)}")
    sets: dict[tuple[str, str], list[str]] = {}
    for path in paths:
        directory, name = os.path.split(path)
        explicit = next((p for p in patterns if fnmatch.fnmatchcase(name, p)), None)
        if explicit is not None:
            key = (directory, explicit)
        elif by == "pattern":
            key = (directory, name_pattern(name) if _DIGITS.search(name) else name)
        elif by == "dir":
            key = (directory, os.path.basename(directory) + os.sep)
        else:
            key = (directory, name)
        sets.setdefault(key, []).append(path)
    out = []
    for (directory, pattern), members in sets.items():
        if len(members) == 1:
            out.append(ChunkSet(os.path.basename(members[0]), directory, (members[0],)))
        else:
            out.append(ChunkSet(pattern, directory, tuple(sorted(members))))
    return out


def combine(name: str, statuses: Sequence[SourceStatus]) -> Combined:
    """Add up the statuses of one set of files."""
    counts = dict.fromkeys(STATES, 0)
    rate: float | None = None
    states: list[RunState] = []
    errors = 0
    for s in statuses:
        if s.error is not None:
            errors += 1
            states.append(RunState.ERROR)
        for t in s.tracks:
            for k, v in t.counts.items():
                counts[k] = counts.get(k, 0) + v
            if t.rate_per_min is not None:
                rate = (rate or 0.0) + t.rate_per_min
            states.append(t.activity.state)
    total = sum(counts.values())
    remaining = counts["pending"] + counts["running"]
    settled = total - remaining
    eta = None
    if remaining == 0 and total:
        eta = (0.0, 0.0)
    elif rate:
        mid = remaining * 60.0 / rate
        eta = (mid * 0.85, mid * 1.2)
    sparkline = add_series(t.sparkline for s in statuses for t in s.tracks)
    changes = [t for s in statuses for t in (s.last_change, *(tr.last_change for tr in s.tracks)) if t is not None]
    profiles = tuple(dict.fromkeys(s.profile for s in statuses if s.profile))
    known = [st for st in states if st in URGENCY]
    state = min(known, key=URGENCY.index) if known else RunState.WAITING
    if state == RunState.ERROR and len(known) > errors:
        # A set with some unreadable files still reports what its readable files are doing.
        state = min((st for st in known if st != RunState.ERROR), key=URGENCY.index)
    return Combined(name, len(statuses), errors, counts, total, settled, remaining, rate, eta, state, sparkline,
                    max(changes, default=None), profiles)
