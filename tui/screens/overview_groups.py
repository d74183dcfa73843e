"""The overview's chunk sets: many files shown as one combined row, expandable to their own rows.

Pure functions of the source views, like `overview_rows`: the sets come from `core.chunks.group_paths`
(by directory, by the name pattern once digits are wildcards, or by the user's globs) and their combined
counts, rate and ETA from `core.chunks.combine`. A set's row key starts with `GROUP_MARK`, which no
path does, so it never collides with a source row.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rich.text import Text

from batchtop.core import fmt
from batchtop.core.chunks import ChunkSet, Combined, GroupBy, combine, group_paths
from batchtop.tui.messages import SourceView
from batchtop.tui.screens import overview_rows as rows
from batchtop.tui.text import safe
from batchtop.tui.widgets.badge import badge, track_state
from batchtop.tui.widgets.cells import coarse_age, display_path, eta, name_cell, number, rate
from batchtop.tui.widgets.keyed_table import Cell
from batchtop.tui.widgets.progress_bar import ProgressBar
from batchtop.tui.widgets.sparkline import Sparkline

GROUP_MARK = "\x01"
#: Cells a file's row is indented by under its open set.
INDENT = 2
#: The grouping modes `g` cycles through (explicit globs from the command line come first when given).
CYCLE: tuple[GroupBy, ...] = (GroupBy("none"), GroupBy("pattern"), GroupBy("dir"))


@dataclass(frozen=True)
class Unit:
    """One entry of the overview: a source alone (`key` None) or a set of several."""

    key: str | None
    chunk: ChunkSet
    views: tuple[SourceView, ...]


def group_key(chunk: ChunkSet) -> str:
    """Row key of a set: the mark, its directory and its name."""
    return f"{GROUP_MARK}{chunk.directory}\x00{chunk.name}"


def is_group_key(key: str | None) -> bool:
    return bool(key) and key.startswith(GROUP_MARK)  # type: ignore[union-attr]


def cycle(start: GroupBy) -> tuple[GroupBy, ...]:
    """The modes `g` steps through from the command line's: its globs (when given), then CYCLE."""
    return ((start,) if start not in CYCLE else ()) + CYCLE


def next_mode(current: GroupBy, start: GroupBy) -> GroupBy:
    modes = cycle(start)
    i = modes.index(current) if current in modes else -1
    return modes[(i + 1) % len(modes)]


@lru_cache(maxsize=8)
def _sets(paths: tuple[str, ...], mode: GroupBy) -> tuple[ChunkSet, ...]:
    """`group_paths`, remembered: the overview asks on every refresh, and the paths rarely change."""
    return tuple(group_paths(paths, by=mode.by, patterns=mode.patterns))


def units(views: Iterable[SourceView], mode: GroupBy) -> list[Unit]:
    """The visible sources as entries: sets of two or more files, and files alone."""
    by_path = {v.path: v for v in views}
    out = []
    for chunk in _sets(tuple(by_path), mode):
        members = tuple(by_path[p] for p in chunk.paths)
        out.append(Unit(group_key(chunk) if len(members) > 1 else None, chunk, members))
    return out


def ordered(entries: Sequence[Unit], sort: str, reverse: bool) -> list[Unit]:
    """Entries in display order, as `overview_rows.ordered` orders sources (a set by all its tracks)."""
    def key(u: Unit) -> rows._Key:
        name = u.chunk.name if u.key else u.views[0].name
        return rows.sort_key_of(u.views, (name.casefold(), u.chunk.directory, name), sort)

    items = sorted(entries, key=lambda u: key(u).name)
    items.sort(key=lambda u: key(u).primary, reverse=reverse)
    if sort == "name" and reverse:
        items.reverse()
    return items


def combined(unit: Unit) -> Combined:
    return combine(unit.chunk.name, [v.status for v in unit.views])


def group_cells(unit: Unit, c: Combined, expanded: bool, now: float,
                lay: rows.Layout = rows.DEFAULT_LAYOUT) -> tuple[Cell, ...]:
    """The combined row of a set: summed counts, the added rates, the ETA at that rate."""
    width = lay.width("source") or 20
    files = "" if lay.width("track") else f" ×{c.files}"  # the Track column says "5 files" when shown
    source = Text("▾ " if expanded else "▸ ", style="bold cyan", no_wrap=True)
    source.append_text(name_cell(unit.chunk.name, max(4, width - 2 - len(files))))
    source.append(files, style="cyan")
    kinds = f"{c.files} files" + (f", {c.errors} unreadable" if c.errors else "")
    profile = c.profiles[0] if len(c.profiles) == 1 else ("mixed" if c.profiles else "—")
    cells: dict[str, Cell] = {
        "source": source,
        "track": Text(kinds, style="bright_black"),
        "profile": safe(profile, limit=lay.width("profile") or None, style="bright_black"),
        "state": badge(c.state),
        "progress": ProgressBar.of(c.counts, width=lay.bar),
        "items": Text(f"{fmt.count(c.settled)}/{fmt.count(c.total)}", justify="right"),
        "failed": number(c.counts.get("failed", 0), style="bold red"),
        "rate": rate(c.rate_per_min),
        "eta": eta(c.eta, c.remaining) if c.total else Text("—", style="bright_black"),
        "trend": Sparkline(c.sparkline[-rows.TREND:], width=rows.TREND),
        "changed": coarse_age(now, c.last_change),
    }
    return tuple(cells[key] for key, _ in lay.widths)


def unit_rows(unit: Unit, expanded: bool, now: float, lay: rows.Layout = rows.DEFAULT_LAYOUT,
              sort: str = "name", reverse: bool = False) -> dict[str, tuple[Cell, ...]]:
    """The rows of one entry: a source's own rows, or a set's combined row (then its files' when open)."""
    if unit.key is None:
        return rows.source_rows(unit.views[0], now, lay)
    out: dict[str, tuple[Cell, ...]] = {unit.key: group_cells(unit, combined(unit), expanded, now, lay)}
    if expanded:
        for view in rows.ordered(unit.views, sort, reverse):
            out.update(rows.source_rows(view, now, lay, indent=INDENT))
    return out


def detail(unit: Unit, c: Combined) -> Text:
    """Two lines about a set: where its files are and what they are doing."""
    where = display_path(unit.chunk.directory or os.curdir) + os.sep
    first = Text.assemble(safe(where, style=""), (f"  {c.files} files", "bright_black"))
    if c.errors:
        first.append(f", {c.errors} unreadable", style="red")
    states: dict[str, int] = {}
    for view in unit.views:
        for t in view.status.tracks:
            states[track_state(t)] = states.get(track_state(t), 0) + 1
    line = " · ".join(f"{n} {state}" for state, n in sorted(states.items(), key=lambda kv: -kv[1]))
    second = Text(line or "waiting for the first reads…", style="bright_black")
    second.append("   space expands or collapses the set", style="italic bright_black")
    return Text.assemble(first, "\n", second)


def members(entries: Iterable[Unit]) -> Mapping[str, Unit]:
    """Each set by its key."""
    return {u.key: u for u in entries if u.key is not None}
