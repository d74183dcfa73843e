"""One track of a source in detail: raw values, metrics, rate and ETA history, resume state, notes.

The panel re-renders only when what it shows changed (its `PanelData` is frozen and compared).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from batchtop.core import fmt
from batchtop.core.history import RunState
from batchtop.core.profiles.model import Track
from batchtop.core.snapshot import TrackSnapshot
from batchtop.core.status import TrackStatus
from batchtop.tui.text import safe
from batchtop.tui.widgets.badge import badge, track_state
from batchtop.tui.widgets.cells import age
from batchtop.tui.widgets.progress_bar import GLYPHS
from batchtop.tui.widgets.sparkline import Sparkline


@dataclass(frozen=True)
class PanelData:
    """Everything one panel shows."""

    status: TrackStatus
    snapshot: TrackSnapshot | None
    track: Track | None
    now: float
    etas: tuple[float, ...] = ()
    stale_source: bool = False


def _heading(text: str) -> Text:
    return Text(text, style="bold underline")


def raw_table(status: TrackStatus) -> Table:
    """Rows per raw value in the table, and the canonical state each maps to."""
    table = Table.grid(padding=(0, 1))
    table.add_column(max_width=28, no_wrap=True, overflow="ellipsis")
    table.add_column(no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_row(_heading("Raw value"), _heading("State"), _heading("Rows"))
    for raw in status.raw_counts[:8]:
        glyph, style = GLYPHS.get(raw.state, ("?", ""))
        table.add_row(safe(raw.raw, limit=28), Text(f"{glyph} {raw.state}", style=style), Text(f"{raw.count:,}"))
    if len(status.raw_counts) > 8:
        more = sum(r.count for r in status.raw_counts[8:])
        table.add_row(Text(f"{len(status.raw_counts) - 8} more values", style="bright_black"), "",
                      Text(f"{more:,}", style="bright_black"))
    return table


def speed_table(data: PanelData) -> Table:
    """Rate, ETA, last change, and metric totals."""
    s = data.status
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bright_black", no_wrap=True)
    table.add_column(no_wrap=True, max_width=30, overflow="ellipsis")
    rate = fmt.DASH if s.rate_per_min is None else f"{fmt.rate(s.rate_per_min)} items/min"
    table.add_row(_heading("Speed"), "")
    table.add_row("rate (5 min)", Text(rate, style="bold"))
    table.add_row("ETA", Text(fmt.eta(s.eta, s.remaining), style="bold"))
    table.add_row("last change", age(data.now, s.last_change, " ago"))
    for metric in s.metrics:
        table.add_row(safe(metric.label, limit=20, style="bright_black"), safe(metric.text(), style="bold"))
    return table


def resume_text(data: PanelData) -> Text:
    """If the job restarted now: what it would pick up, and what a reset of the failures would add."""
    s, r = data.status, data.status.resume
    text = Text()
    text.append_text(_heading("If the job restarted now"))
    text.append("\n")
    text.append(f"it would pick up {r.picks_up:,}", style="bold")
    text.append(f": {r.pending:,} pending + {r.stale_running:,} stale running")
    if r.attempted_earlier:
        text.append(f"\n({r.attempted_earlier:,} pending were attempted in an earlier session)", style="yellow")
    failed = s.counts.get("failed", 0)
    if r.resettable:
        text.append(f"\na reset of the failures would add {r.resettable:,}", style="bold")
    elif failed and data.track is not None and data.track.no_action_reason:
        text.append("\n")
        text.append_text(safe(f"{failed:,} failed, no reset: {data.track.no_action_reason}", style="bright_black"))
    elif failed:
        text.append(f"\n{failed:,} failed: this profile defines no reset", style="bright_black")
    return text


def stale_text(data: PanelData) -> Text | None:
    """Running items that look abandoned (their worker likely crashed)."""
    s, snap = data.status, data.snapshot
    running = s.counts.get("running", 0)
    if not running:
        return None
    text = Text(f"{running:,} running", style="cyan")
    if s.stale and snap is not None and snap.in_flight_starts:
        text.append(f"  ·  {s.stale:,} stale", style="bold dark_orange")
        text.append(f" (oldest started {fmt.ago(data.now, snap.in_flight_starts[0])}; stale after "
                    f"{fmt.duration(snap.stale_after)})", style="dark_orange")
    elif snap is not None and snap.stale_after:
        text.append(f"  ·  none stale (stale after {fmt.duration(snap.stale_after)})", style="bright_black")
    return text


def history_table(data: PanelData) -> Table:
    """Throughput per minute over 24 minutes, and how the ETA estimate moved."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bright_black", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(style="bright_black", no_wrap=True)
    spark = data.status.sparkline
    table.add_row("throughput, 24 min", Sparkline(spark, width=24), Text(f"peak {max(spark, default=0):,}/min"))
    if len(data.etas) >= 2:  # one estimate is not a history
        etas = tuple(int(e) for e in data.etas)
        last = data.etas[-1]
        table.add_row("ETA estimate", Sparkline(etas, width=24, style="magenta"),
                      Text(f"now {fmt.eta((last, last))}" if last else "now —"))
    return table


def render_panel(data: PanelData) -> RenderableType:
    """The panel's content."""
    s = data.status
    top = Table.grid(padding=(0, 4))
    top.add_column()
    top.add_column()
    top.add_column()
    top.add_row(raw_table(s), speed_table(data), resume_text(data))
    parts: list[RenderableType] = [top, Text(""), history_table(data)]
    stale = stale_text(data)
    if stale is not None:
        parts.append(stale)
    note = s.note or (data.track.note if data.track else None)
    if note:
        parts.append(safe(f"note: {note}", style="italic bright_black"))
    return Group(*parts)


class TrackPanel(Static):
    """A bordered panel for one track; its border shows the track, table and activity."""

    DEFAULT_CSS = """
    TrackPanel {
        height: auto;
        border: round $primary 40%;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    """

    def __init__(self, name: str) -> None:
        super().__init__("")
        self.track_name = name
        self._data: PanelData | None = None

    def show(self, data: PanelData) -> None:
        """Render `data` (nothing happens when it is what is already shown)."""
        if data == self._data:
            return
        self._data = data
        s = data.status
        title = safe(s.name, limit=40, style="bold")
        title.append(" · ")
        title.append_text(safe(s.table, limit=40, style="bright_black"))
        self.border_title = title
        sub = badge(RunState.ERROR if data.stale_source else track_state(s))
        sub.append("  ")
        sub.append_text(safe(s.activity.reason, limit=70, style="bright_black"))
        self.border_subtitle = sub
        self.update(render_panel(data))


__all__ = ["PanelData", "TrackPanel", "render_panel"]
