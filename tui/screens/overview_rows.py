"""The overview's rows, sort orders and filter, as pure functions of the source views (no widgets).

One row per source and track; a source that has never been read shows one two-line row with its error
message and path instead. Rows of one source stay together whatever the sort, in profile order, so the
table reads as a list of databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text

from batchtop.core.status import SourceStatus, TrackStatus
from batchtop.core.timeutil import human_duration
from batchtop.tui.messages import SourceView
from batchtop.tui.text import safe
from batchtop.tui.widgets.badge import RANK, badge
from batchtop.tui.widgets.cells import age, compact, display_path, name_cell, number, rate
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
            return badge("waiting")
        word = ERROR_WORDS.get(status.error_kind or "", "error")
        text = badge("error")
        text.plain = text.plain.replace("error", word)
        return text
    return badge(track.activity.state if track else None)


def eta_text(eta: tuple[float, float] | None, remaining: int) -> Text:
    """A compact ETA range: '45s', '12–18 min', '1.1–1.7 h', 'done'."""
    if remaining == 0:
        return Text("done", style="blue")
    if eta is None:
        return Text("—", style="bright_black")
    lo, hi = eta
    if hi < 90:
        return Text(human_duration(hi))
    if hi < 5400:
        a, b = max(1, round(lo / 60)), max(1, round(hi / 60))
        return Text(f"{a} min" if a == b else f"{a}–{b} min")
    if hi < 172800:
        return Text(f"{lo / 3600:.1f}–{hi / 3600:.1f} h")
    return Text(f"{lo / 86400:.1f}–{hi / 86400:.1f} d")


def track_cells(view: SourceView, track: TrackStatus, first: bool, now: float) -> tuple[Cell, ...]:
    """The cells of one track row (the source name only on the source's first row)."""
    status = view.status
    stale = status.error is not None
    dim = "bright_black" if stale else ""
    profile = safe(status.profile or "—", limit=COLUMNS[2].width, style="bright_black")
    return (
        name_cell(view.name, COLUMNS[0].width or 20) if first else Text(""),
        safe(track.name, limit=COLUMNS[1].width, style=dim),
        profile if first else Text(""),
        state_badge(status, track),
        ProgressBar.of(track.counts, width=BAR),
        Text(f"{compact(track.settled)}/{compact(track.total)}", style=dim, justify="right"),
        number(track.counts.get("failed", 0), style="bold red"),
        rate(track.rate_per_min),
        eta_text(track.eta, track.remaining),
        Sparkline(track.sparkline, width=TREND),
        age(now, track.last_change),
    )


def error_cells(view: SourceView, now: float) -> tuple[Cell, ...]:
    """The two-line row of a source that has never been read: name over path, message over two lines."""
    status = view.status
    name = name_cell(view.name, COLUMNS[0].width or 20)
    name.append("\n")
    name.append_text(safe(display_path(view.path), style="bright_black"))
    message = safe(status.error or "waiting for the first read…", style="red" if status.error else "bright_black")
    message.no_wrap = False
    blank = Text("")
    return (name, blank, Text("—", style="bright_black"), state_badge(status, None), message, blank, blank,
            blank, blank, blank, age(now, status.last_change))


def source_rows(view: SourceView, now: float) -> dict[str, tuple[Cell, ...]]:
    """The rows of one source, keyed by `row_key`."""
    tracks = view.status.tracks
    if not tracks:
        return {row_key(view.path, None): error_cells(view, now)}
    return {row_key(view.path, t.name): track_cells(view, t, i == 0, now) for i, t in enumerate(tracks)}


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
        t.activity.state in ("stalled", "interrupted") or t.counts.get("failed", 0) for t in status.tracks)


@dataclass(frozen=True)
class _Key:
    """Sort key of one source (rows of a source stay together)."""

    primary: tuple
    name: tuple


def _sort_key(view: SourceView, sort: str) -> _Key:
    status = view.status
    tracks = status.tracks
    name = (view.name.casefold(), view.path)
    states = [status.state or "loading"] + [t.activity.state for t in tracks]
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
        primary = (-(status.last_change or 0.0),)
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


def build(views: Sequence[SourceView], now: float, *, sort: str = "name", reverse: bool = False,
          needle: str = "", problems_only: bool = False) -> tuple[dict[str, tuple[Cell, ...]], list[str]]:
    """Every visible row and their order."""
    rows: dict[str, tuple[Cell, ...]] = {}
    for view in ordered((v for v in views if matches(v, needle, problems_only)), sort, reverse):
        rows.update(source_rows(view, now))
    return rows, list(rows)
