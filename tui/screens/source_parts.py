"""The source screen's pieces as pure functions: heading, track rows, recent failures, sessions."""

from __future__ import annotations

from rich.text import Text

from batchtop.core import fmt
from batchtop.core.profiles.model import Profile
from batchtop.core.snapshot import FailureRow, SessionRow, Snapshot
from batchtop.core.status import TrackStatus
from batchtop.tui.messages import SourceView
from batchtop.tui.screens.overview_rows import state_badge
from batchtop.tui.text import safe
from batchtop.tui.widgets.cells import age, display_path, eta, joined, number, rate
from batchtop.tui.widgets.keyed_table import Cell, ColumnSpec
from batchtop.tui.widgets.progress_bar import ProgressBar

TRACK_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("track", "Track", 16),
    ColumnSpec("state", "State", 13),
    ColumnSpec("progress", "Progress", 23),
    ColumnSpec("pending", "Pending", 7, "right"),
    ColumnSpec("running", "Running", 7, "right"),
    ColumnSpec("done", "Done", 7, "right"),
    ColumnSpec("failed", "Failed", 7, "right"),
    ColumnSpec("skipped", "Skipped", 7, "right"),
    ColumnSpec("cancelled", "Cancelled", 9, "right"),
    ColumnSpec("total", "Total", 8, "right"),
    ColumnSpec("rate", "Rate/min", 8, "right"),
    ColumnSpec("eta", "ETA", 11),
)

FAILURE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("track", "Track", 14),
    ColumnSpec("key", "Key", 10),
    ColumnSpec("item", "Item", 36),
    ColumnSpec("error", "Error", 60),
    ColumnSpec("when", "When", 11, "right"),
)

#: Recent failures listed on the source screen (the failures screen pages through all of them).
RECENT_FAILURES = 8


def heading(view: SourceView, now: float) -> Text:
    """Name, path, profile (with origin and confidence), journal mode, state; then profile notes."""
    status, profile = view.status, view.profile
    text = safe(view.name, style="bold")
    text.append("  ")
    text.append_text(state_badge(status, status.tracks[0] if status.tracks else None)
                     if status.error else _source_badge(status.tracks))
    text.append("\n")
    parts: list[Text | str] = [safe(display_path(view.path), style="")]
    if profile is not None:
        origin = profile.origin if profile.confidence >= 1 else f"{profile.origin}, {fmt.percent(profile.confidence, 0)} sure"
        parts.append(safe(f"profile {profile.name} ({origin})", style="bright_black"))
    if status.journal_mode:
        parts.append(safe(f"journal {status.journal_mode}", style="bright_black"))
    if view.snapshot is not None:
        parts.append(Text(f"read {fmt.ago(now, view.snapshot.taken_at)}", style="bright_black"))
    text.append_text(joined(*parts))
    if profile is not None:
        text.append("\n")
        text.append_text(safe(profile.description, style="italic"))
        for note in profile.notes:
            text.append("\n• ", style="yellow")
            text.append_text(safe(note, style="yellow"))
    if status.error:
        text.append("\n")
        text.append("✖ ", style="bold red")
        text.append_text(safe(status.error, style="bold red"))
        if status.stale_snapshot:
            text.append("  (showing the last good read; retrying)", style="red")
        if status.error_kind == "unknown-schema":
            text.append("\npress t to browse its tables read-only, or describe them in a profile file "
                        "(batchtop profile PATH > .batchtop.toml)", style="dim")
    return text


def _source_badge(tracks: tuple[TrackStatus, ...]) -> Text:
    from batchtop.tui.widgets.badge import RANK, badge, track_state

    states = [track_state(t) for t in tracks]
    return badge(min(states, key=lambda s: RANK.get(s, 9)) if states else None)


def track_cells(view: SourceView, track: TrackStatus) -> tuple[Cell, ...]:
    """One row of the tracks table: counts by canonical state, rate and ETA."""
    c = track.counts
    return (
        safe(track.name, limit=16, style="bold"),
        state_badge(view.status, track),
        ProgressBar.of(c, width=18),
        number(c.get("pending", 0)),
        number(c.get("running", 0), style="cyan"),
        number(c.get("done", 0), style="green"),
        number(c.get("failed", 0), style="bold red"),
        number(c.get("skipped", 0), style="yellow"),
        number(c.get("cancelled", 0), style="magenta"),
        number(track.total, style="bold"),
        rate(track.rate_per_min),
        eta(track.eta, track.remaining),
    )


def failure_rows(snapshot: Snapshot | None, now: float) -> dict[str, tuple[Cell, ...]]:
    """The newest failures across tracks, keyed `track\\0key` (previews only, from the snapshot)."""
    if snapshot is None:
        return {}
    found: list[tuple[str, FailureRow]] = [(t.name, f) for t in snapshot.tracks for f in t.recent_failures]
    found.sort(key=lambda tf: tf[1].when or 0.0, reverse=True)
    out: dict[str, tuple[Cell, ...]] = {}
    for track, row in found[:RECENT_FAILURES]:
        error = safe(row.error or "(no error text)", limit=200, style="red" if row.error else "bright_black")
        out[f"{track}\x00{row.key!r}"] = (
            safe(track, limit=14), safe(row.key, limit=10, style="bright_black"), safe(row.label, limit=80),
            error, age(now, row.when, " ago"),
        )
    return out


def session_columns(profile: Profile | None) -> tuple[ColumnSpec, ...]:
    """Columns of the sessions table: key, times, status, then the profile's extra columns."""
    spec = profile.sessions if profile else None
    if spec is None:
        return ()
    extra = tuple(ColumnSpec(f"x{i}", safe(name, limit=24).plain, None) for i, name in enumerate(spec.columns))
    return (ColumnSpec("key", "#", 6, "right"), ColumnSpec("started", "Started", 10, "right"),
            ColumnSpec("finished", "Finished", 10, "right"), ColumnSpec("status", "Status", 14), *extra)


def session_rows(sessions: tuple[SessionRow, ...], now: float) -> dict[str, tuple[Cell, ...]]:
    """One row per session, newest first."""
    out: dict[str, tuple[Cell, ...]] = {}
    for s in sessions:
        cells: list[Cell] = [safe(s.key, limit=6, style="bold"), age(now, s.started, " ago"),
                             age(now, s.finished, " ago"), safe(s.status, limit=14)]
        cells += [safe(v, limit=40) for _, v in s.extra]
        out[repr(s.key)] = tuple(cells)
    return out
