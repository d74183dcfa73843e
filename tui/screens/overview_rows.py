"""The overview's rows, sort orders and filter, as pure functions of the source views (no widgets).

One row per source and track; a source that has never been read shows one two-line row with its error
message and path instead. Rows of one source stay together whatever the sort, in profile order, so the
table reads as a list of databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text

from batchtop.core import fmt
from batchtop.core.history import RunState
from batchtop.core.status import SourceStatus, TrackStatus
from batchtop.tui.messages import SourceView
from batchtop.tui.text import safe
from batchtop.tui.widgets.badge import RANK, badge, track_state
from batchtop.tui.widgets.cells import coarse_age, display_path, eta, name_cell, number, rate
from batchtop.tui.widgets.keyed_table import Cell, ColumnSpec
from batchtop.tui.widgets.progress_bar import ProgressBar
from batchtop.tui.widgets.sparkline import Sparkline

BAR = 17
TREND = 10
COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("source", "Source", 22),
    ColumnSpec("track", "Track", 12),
    ColumnSpec("profile", "Profile", 12),
    ColumnSpec("state", "State", 13),
    ColumnSpec("progress", "Progress", BAR + 5),
    ColumnSpec("items", "Settled", 11, "right"),
    ColumnSpec("failed", "Failed", 6, "right"),
    ColumnSpec("rate", "Rate/min", 8, "right"),
    ColumnSpec("eta", "ETA", 11),
    ColumnSpec("trend", f"Last {TREND}m", TREND),
    ColumnSpec("changed", "Changed", 8, "right"),
)
_SPECS = {c.key: c for c in COLUMNS}

#: (column, narrowest, usual width), most important first: a narrow terminal drops columns from the end.
#: The first `REQUIRED` are always shown (at 80 columns: source, progress, settled, failed, rate, ETA).
PRIORITY: tuple[tuple[str, int, int], ...] = (
    ("source", 12, 22), ("progress", 10, BAR + 5), ("items", 9, 11), ("failed", 6, 6), ("rate", 6, 8),
    ("eta", 9, 11), ("state", 9, 13), ("track", 8, 12), ("changed", 7, 8), ("profile", 10, 12),
    ("trend", TREND, TREND),
)
REQUIRED = 6
#: How wide a name column grows on a wide terminal (to its longest name), and the bar (with its percentage).
GROW: Mapping[str, int] = {"source": 60, "track": 32, "profile": 32, "progress": 40 + 5}
#: Screen cells that are not column content: the table's border (2) and its vertical scrollbar (1).
CHROME = 3
#: DataTable's cell padding, on each side of every column.
PAD = 2


@dataclass(frozen=True)
class Layout:
    """The overview's columns for one terminal width and the longest names: which are shown, how wide.

    Frozen and comparable: the table is rebuilt only when the layout changes (a resize, a longer name).
    """

    widths: tuple[tuple[str, int], ...]

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        """The specs of the shown columns, in display order."""
        out = []
        for key, width in self.widths:
            spec = _SPECS[key]
            label = "Rate" if key == "rate" and width < len(spec.label) else spec.label
            out.append(ColumnSpec(key, label, width, spec.justify))
        return tuple(out)

    def width(self, key: str) -> int:
        """Width of a shown column (0 when it is not shown)."""
        return dict(self.widths).get(key, 0)

    @property
    def bar(self) -> int:
        """Cells of the progress bar (the column also holds the percentage)."""
        return max(1, self.width("progress") - 5)


def layout(width: int, longest: Mapping[str, int] | None = None) -> Layout:
    """Choose the columns for a screen `width` cells wide: the required ones at their narrowest, then the
    others in priority order while they fit; then widen to the usual widths; then (wide terminals) grow the
    name columns to their `longest` names and the bar with what is left."""
    longest = longest or {}
    room = width - CHROME
    chosen: dict[str, int] = {}
    used = 0
    for i, (key, narrowest, _) in enumerate(PRIORITY):
        if i >= REQUIRED and used + narrowest + PAD > room:
            break  # strict priority: a less important column never takes the place of a dropped one
        chosen[key] = narrowest
        used += narrowest + PAD

    def grow(key: str, to: int) -> None:
        nonlocal used
        extra = max(0, min(to - chosen[key], room - used))
        chosen[key] += extra
        used += extra

    for key, _, usual in PRIORITY:
        if key in chosen:
            grow(key, usual)
    for key in ("source", "track", "profile"):
        if key in chosen:
            grow(key, min(GROW[key], longest.get(key, 0)))
    if "progress" in chosen:
        grow("progress", GROW["progress"])
    return Layout(tuple((c.key, chosen[c.key]) for c in COLUMNS if c.key in chosen))


def longest_names(views: Iterable[SourceView]) -> dict[str, int]:
    """Display length of the longest source name, track name and profile name (sanitised)."""
    out = {"source": 0, "track": 0, "profile": 0}
    for view in views:
        status = view.status
        out["source"] = max(out["source"], len(safe(view.name).plain))
        out["profile"] = max(out["profile"], len(safe(status.profile or "").plain))
        for track in status.tracks:
            out["track"] = max(out["track"], len(safe(track.name).plain))
    return out


DEFAULT_LAYOUT = Layout(tuple((c.key, c.width or 0) for c in COLUMNS))

#: Sort orders, in the order `s` cycles through them.
SORTS: tuple[str, ...] = ("name", "state", "progress", "rate", "eta", "failed", "changed")
#: Column key -> sort order (clicking a header sorts by it).
SORT_OF_COLUMN: Mapping[str, str] = {
    "source": "name", "track": "name", "profile": "name", "state": "state", "progress": "progress",
    "items": "progress", "failed": "failed", "rate": "rate", "eta": "eta", "trend": "rate", "changed": "changed",
}

#: Short words for the badge of a source in error (the full message is in the row or the detail line).
ERROR_WORDS: Mapping[str, str] = {
    "missing": "missing", "deleted": "deleted", "not-a-file": "not a file", "empty": "empty",
    "not-a-database": "not SQLite", "damaged": "damaged", "locked": "locked", "recovering": "recovering",
    "permission": "no access", "read-only-directory": "read-only", "unknown-schema": "unknown",
    "schema-changed": "schema", "io-error": "I/O error",
}


def row_key(path: str, track: str | None) -> str:
    """Stable row key: the source path and the track name (empty for a source-level row)."""
    return f"{path}\x00{track or ''}"


def split_key(key: str) -> tuple[str, str | None]:
    """Inverse of `row_key`."""
    path, _, track = key.partition("\x00")
    return path, track or None


def state_badge(status: SourceStatus, track: TrackStatus | None) -> Text:
    """The activity of a track, or the kind of error of its source."""
    if status.error is not None:
        if status.error_kind == "missing":
            return badge(RunState.WAITING)
        word = ERROR_WORDS.get(status.error_kind or "", "error")
        text = badge(RunState.ERROR)
        text.plain = text.plain.replace("error", word)
        return text
    return badge(track_state(track) if track else None)


def track_cells(view: SourceView, track: TrackStatus, first: bool, now: float,
                lay: Layout = DEFAULT_LAYOUT, indent: int = 0) -> tuple[Cell, ...]:
    """The cells of one track row, for the columns of `lay` (the source name only on the source's first
    row; without a Track column, the source column names the track of a source that has several);
    `indent` cells before the name (a file shown under its chunk set)."""
    status = view.status
    stale = status.error is not None
    dim = "bright_black" if stale else ""
    width = max(4, (lay.width("source") or 20) - indent)
    if lay.width("track") or len(status.tracks) < 2:
        source = name_cell(view.name, width) if first else Text("")
    elif first:
        name = safe(track.name, limit=max(4, width // 2)).plain
        source = name_cell(view.name, max(4, width - len(name) - 3))
        source.append(f" › {name}", style="")
    else:
        source = Text("  › ", style=dim)
        source.append_text(safe(track.name, limit=max(1, width - 4), style=dim))
    if indent:
        source = Text(" " * indent, no_wrap=True).append_text(source)
    cells: dict[str, Cell] = {
        "source": source,
        "track": safe(track.name, limit=lay.width("track") or None, style=dim),
        "profile": safe(status.profile or "—", limit=lay.width("profile") or None, style="bright_black")
        if first else Text(""),
        "state": state_badge(status, track),
        "progress": ProgressBar.of(track.counts, width=lay.bar),
        "items": Text(f"{fmt.count(track.settled)}/{fmt.count(track.total)}", style=dim, justify="right"),
        "failed": number(track.counts.get("failed", 0), style="bold red"),
        "rate": rate(track.rate_per_min),
        "eta": eta(track.eta, track.remaining),
        "trend": Sparkline(track.sparkline, width=TREND),
        "changed": coarse_age(now, track.last_change),
    }
    return tuple(cells[key] for key, _ in lay.widths)


def error_cells(view: SourceView, now: float, lay: Layout = DEFAULT_LAYOUT, indent: int = 0) -> tuple[Cell, ...]:
    """The two-line row of a source that has never been read: name over path, message over two lines
    (in the progress column, which every layout shows)."""
    status = view.status
    name = name_cell(view.name, max(4, (lay.width("source") or 20) - indent))
    if indent:
        name = Text(" " * indent).append_text(name)
    name.append("\n" + " " * indent)
    name.append_text(safe(display_path(view.path), style="bright_black"))
    message = safe(status.error or "waiting for the first read…", style="red" if status.error else "bright_black")
    message.no_wrap = False
    cells: dict[str, Cell] = {"source": name, "profile": Text("—", style="bright_black"),
                              "state": state_badge(status, None), "progress": message,
                              "changed": coarse_age(now, status.last_change)}
    return tuple(cells.get(key, Text("")) for key, _ in lay.widths)


def source_rows(view: SourceView, now: float, lay: Layout = DEFAULT_LAYOUT,
                indent: int = 0) -> dict[str, tuple[Cell, ...]]:
    """The rows of one source, keyed by `row_key` (`indent`: shown under its chunk set)."""
    tracks = view.status.tracks
    if not tracks:
        return {row_key(view.path, None): error_cells(view, now, lay, indent)}
    return {row_key(view.path, t.name): track_cells(view, t, i == 0, now, lay, indent)
            for i, t in enumerate(tracks)}


def matches(view: SourceView, needle: str, problems_only: bool) -> bool:
    """Whether a source passes the filter text (name, path, profile, tracks, state) and the problem toggle."""
    status = view.status
    if problems_only and not is_problem(status):
        return False
    if not needle:
        return True
    hay = " ".join([view.name, display_path(view.path), status.profile or "", status.state or "",
                    status.error or "", *(t.name for t in status.tracks)]).casefold()
    return all(word in hay for word in needle.casefold().split())


def is_problem(status: SourceStatus) -> bool:
    """Errors, stalls, interruptions and failures: what needs a person."""
    return status.error is not None or any(
        t.activity.state in (RunState.STALLED, RunState.INTERRUPTED) or t.counts.get("failed", 0) for t in status.tracks)


@dataclass(frozen=True)
class _Key:
    """Sort key of one source (rows of a source stay together)."""

    primary: tuple
    name: tuple


def _sort_key(view: SourceView, sort: str) -> _Key:
    return sort_key_of([view], (view.name.casefold(), view.path), sort)


def sort_key_of(views: Sequence[SourceView], name: tuple, sort: str) -> _Key:
    """Sort key of one source, or of a set of sources shown as one row (their tracks taken together)."""
    tracks = [t for v in views for t in v.status.tracks]
    states = [v.status.state or "loading" for v in views] + [track_state(t) for t in tracks]
    if sort == "state":
        primary: tuple = (min(RANK.get(s, 9) for s in states),)
    elif sort == "progress":
        total = sum(t.total for t in tracks)
        primary = (sum(t.settled for t in tracks) / total if total else -1.0,)
    elif sort == "rate":
        primary = (-sum(t.rate_per_min or 0.0 for t in tracks),)
    elif sort == "eta":
        etas = [t.eta[1] for t in tracks if t.eta is not None and t.remaining]
        primary = (max(etas) if etas else float("inf"),)
    elif sort == "failed":
        primary = (-sum(t.counts.get("failed", 0) for t in tracks),)
    elif sort == "changed":
        primary = (-max((v.status.last_change or 0.0 for v in views), default=0.0),)
    else:
        primary = ()
    return _Key(primary, name)


def ordered(views: Iterable[SourceView], sort: str, reverse: bool) -> list[SourceView]:
    """Sources in display order; ties (and the `name` sort) go by name, always ascending."""
    items = list(views)
    items.sort(key=lambda v: _sort_key(v, sort).name)
    items.sort(key=lambda v: _sort_key(v, sort).primary, reverse=reverse)
    if sort == "name" and reverse:
        items.reverse()
    return items

