"""Totals across every watched source: one bar, the counts by state, rate, ETA, cost, and activities."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from batchtop.core import fmt
from batchtop.core.history import RunState
from batchtop.core.profiles.model import STATES
from batchtop.core.status import SourceStatus
from batchtop.tui.widgets.badge import BADGES, track_state
from batchtop.tui.widgets.cells import joined
from batchtop.tui.widgets.progress_bar import GLYPHS, ProgressBar, allocate


@dataclass(frozen=True)
class Summary:
    """Aggregates of many sources (frozen: an unchanged summary is not re-rendered)."""

    sources: int
    tracks: int
    counts: tuple[tuple[str, int], ...]
    rate_per_min: float | None
    eta: tuple[float, float] | None
    cost: float | None
    states: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, statuses: Iterable[SourceStatus]) -> Summary:
        counts: Counter[str] = Counter()
        states: Counter[str] = Counter()
        rates: list[float] = []
        etas: list[tuple[float, float]] = []
        cost: float | None = None
        n_sources = n_tracks = 0
        for status in statuses:
            n_sources += 1
            if status.error is not None:
                # A path not created yet is waiting, not broken (its row says "waiting" too).
                states[RunState.WAITING if status.error_kind == "missing" else RunState.ERROR] += 1
            for track in status.tracks:
                n_tracks += 1
                counts.update(track.counts)
                if status.error is None:
                    states[track_state(track)] += 1
                if track.rate_per_min is not None:
                    rates.append(track.rate_per_min)
                if track.eta is not None and track.remaining:
                    etas.append(track.eta)
                for metric in track.metrics:
                    if metric.unit == "$" and metric.agg == "sum" and metric.value is not None:
                        cost = (cost or 0.0) + metric.value
        # Tracks run side by side (separate jobs): everything is done when the slowest is.
        eta = (max(lo for lo, _ in etas), max(hi for _, hi in etas)) if etas else None
        return cls(n_sources, n_tracks, tuple((s, counts[s]) for s in STATES),
                   sum(rates) if rates else None, eta, cost, tuple(sorted(states.items())))


#: Below this content width the totals put rate and ETA first and draw a shorter bar (80-column terminals).
NARROW = 120


def render_summary(summary: Summary, width: int = NARROW) -> Group:
    """Two lines: the overall bar and item counts; then the counts by state, rate, ETA and cost (on a narrow
    terminal rate, ETA and cost first, so that what is cut at the right edge is the least needed)."""
    counts = dict(summary.counts)
    total = sum(counts.values())
    settled = sum(counts[s] for s in ("done", "failed", "skipped", "cancelled"))
    narrow = width < NARROW
    head = Table.grid(padding=(0, 2))
    head.add_column(no_wrap=True)
    head.add_column(no_wrap=True)
    head.add_column(no_wrap=True)
    sources = Text(f"{summary.sources} source{'s' if summary.sources != 1 else ''}", style="bold")
    sources.append(f" · {summary.tracks} track{'s' if summary.tracks != 1 else ''}", style="")
    items = Text(f"{fmt.count(settled)} / {fmt.count(total)} items settled", style="bold")
    head.add_column(no_wrap=True)
    head.add_row(sources, ProgressBar.of(counts, width=12 if narrow else 30), items, _activity(summary))

    by_state = Text(no_wrap=True)
    for state in ("done", "failed", "skipped", "cancelled", "running", "pending"):
        n = counts[state]
        if n == 0 and state in ("cancelled", "skipped"):
            continue
        glyph, style = GLYPHS[state]
        if by_state:
            by_state.append("  ")
        by_state.append(glyph, style=style)
        by_state.append(f" {state} ")
        by_state.append(fmt.count(n), style="bold" if n else "bright_black")
    rate = Text("rate ")
    rate.append(fmt.per_min(summary.rate_per_min), style="bold")
    eta = Text("ETA ")
    eta.append(fmt.eta(summary.eta), style="bold")
    cost = None
    if summary.cost is not None:
        cost = Text("cost so far ")
        cost.append(f"${summary.cost:,.2f}", style="bold")
    if narrow:  # one Text per line: cut at the right edge only, never a squeeze of every part
        bar = ProgressBar.of(counts, width=12)
        line = Text(no_wrap=True, overflow="ellipsis")
        for part in (sources, _bar_text(bar), items, _activity(summary)):
            if line:
                line.append("  ")
            line.append_text(part)
        return Group(line, joined(rate, eta, cost or "", by_state, sep="  │  "))
    return Group(head, joined(by_state, rate, eta, cost or "", sep="   │  "))


def _bar_text(bar: ProgressBar) -> Text:
    """The bar as Text (so that it can share a line that is cut at its end)."""
    text = Text()
    for state, n in allocate(dict(bar.counts), bar.width):
        glyph, style = GLYPHS[state]
        text.append(glyph * n, style=style)
    text.append(" " + bar.pct_text())
    return text


def _activity(summary: Summary) -> Text:
    """'✖ 1 error  ■ 1 interrupted  ● 5 active': how many tracks are in each state, problems first."""
    activity = Text(no_wrap=True)
    for state in (RunState.ERROR, RunState.INTERRUPTED, RunState.STALLED, RunState.ACTIVE, "counting",
                  RunState.WAITING, RunState.FINISHED):
        n = dict(summary.states).get(state, 0)
        if n:
            glyph, style = BADGES[state]
            if activity:
                activity.append("  ")
            activity.append(f"{glyph} {n} {state}", style=style)
    return activity


class Totals(Widget):
    """The totals panel at the top of the overview."""

    DEFAULT_CSS = """
    Totals {
        height: auto;
        padding: 0 1;
        border: round $primary 50%;
        border-title-color: $text-primary;
    }
    """

    summary: reactive[Summary | None] = reactive(None)
    """The aggregates to show (None before the first scan)."""

    def watch_summary(self, old: Summary | None, new: Summary | None) -> None:
        # Only the first summary changes the height (one line of "looking" to two lines of totals).
        if (old is None) != (new is None):
            self.refresh(layout=True)

    def on_mount(self) -> None:
        self.border_title = "Totals"

    def render(self) -> Group | Text:
        if self.summary is None:
            return Text("looking for databases…", style="bright_black")
        return render_summary(self.summary, self.size.width)
