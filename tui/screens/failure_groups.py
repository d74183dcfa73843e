"""The failures screen's error groups: the grouping worker, its progress, and the groups table.

`GroupsPart` is mixed into `FailuresScreen`: grouping runs in a thread worker through `core.groups`
(chunked reads, cached per source and track, refreshed incrementally), rate-limited after polls.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.timer import Timer
from textual.widgets import ProgressBar, Static
from textual.worker import get_current_worker

from batchtop.core import fmt
from batchtop.core.errors import BatchtopError
from batchtop.core.group_rate import group_series, span
from batchtop.core.groups import CHUNK, ErrorGroup, GroupReport, cache_for
from batchtop.core.profiles.model import Track
from batchtop.tui.screens.live import ScreenMixin
from batchtop.tui.text import safe
from batchtop.tui.widgets.keyed_table import ColumnSpec, KeyedTable
from batchtop.tui.widgets.sparkline import Sparkline

if TYPE_CHECKING:
    from batchtop.core.snapshot import TrackSnapshot
    from batchtop.core.source import Source

#: Seconds between two regroupings at least (and 5x the last one's cost: a slow file is read gently).
REGROUP_GAP = 2.0

# Fixed widths only: DataTable caches rendered rows by its update count, and an auto width computed
# later (on idle) can leave a row drawn at the old width until the next update.
#: Cells of each group's sparkline of failures over time (all groups on one time axis).
RATE_CELLS = 10
GROUP_COLUMNS = (
    ColumnSpec("count", "Count", 8, "right"),
    ColumnSpec("share", "Share", 15),
    ColumnSpec("rate", "Over time", RATE_CELLS),
    ColumnSpec("first", "First seen", 11),
    ColumnSpec("last", "Last seen", 11),
    ColumnSpec("signature", "Error group", 46),
    ColumnSpec("sample", "Newest item", 22),
)


def share_bar(share: float, width: int = 8) -> Text:
    """'██▍      12.3%': a bar in eighths of a cell, then the percentage."""
    eighths = round(max(0.0, min(1.0, share)) * width * 8)
    if share > 0 and eighths == 0:
        eighths = 1  # one failure among a million still shows
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return Text.assemble((bar.ljust(width), "red"), f" {fmt.percent(share):>6}")


def group_cells(group: ErrorGroup, rate: tuple[int, ...] = ()) -> tuple[Text | Sparkline, ...]:
    """The cells of one group (all DB text through `safe`); `rate` is its failures per time cell."""
    sample = f"{group.sample_key} {group.sample_label}".strip()
    trend = Sparkline(rate, width=RATE_CELLS, style="red") if rate else Text("—", style="bright_black")
    return (Text(f"{group.count:,}", justify="right"), share_bar(group.share), trend,
            Text(fmt.clock(group.first_seen, seconds=False)),
            Text(fmt.clock(group.last_seen, seconds=False)), safe(group.signature, 120), safe(sample, 80, style="dim"))


class GroupsPart(ScreenMixin):
    """The grouping half of `FailuresScreen` (a mixin: the screen provides the widgets and the rest)."""

    source: Source
    track_name: str
    _groups: dict[str, ErrorGroup]
    _report: GroupReport | None
    _rate_axis: tuple[float, float] | None
    _grouping: bool
    _group_again: bool
    _group_now: bool
    _group_timer: Timer | None
    _next_group_at: float
    _progress_total: int | None
    _error: str | None

    if TYPE_CHECKING:  # provided by the screen and its item list (`ItemsPart`)
        @property
        def track(self) -> Track | None: ...
        def _track_snapshot(self) -> TrackSnapshot | None: ...
        def _show_empty(self, text: Text | None) -> None: ...
        def _show_status(self) -> None: ...
        def _show_items_title(self, note: str | None = None) -> None: ...

    # -- grouping -----------------------------------------------------------------------------------

    def _schedule_grouping(self) -> None:
        if self._grouping:
            self._group_again = True
            return
        wait = self._next_group_at - time.monotonic()
        if wait <= 0:
            self._start_grouping()
        elif self._group_timer is None:
            self._group_timer = self.set_timer(wait, self._start_grouping)

    def _start_grouping(self) -> None:
        self._group_timer = None
        track = self.track
        if track is None or self._grouping:
            return
        self._grouping = True
        self._group_again = self._group_now = False
        snap = self._track_snapshot()
        self._progress_total = snap.counts.get("failed") if snap else None
        self._group_work(track)

    @work(thread=True, exclusive=True, group="failure-groups", exit_on_error=False)
    def _group_work(self, track: Track) -> None:
        worker = get_current_worker()
        cache = cache_for(self.source, track)

        def progress(rows: int) -> None:
            if worker.is_cancelled:
                raise _Abandoned
            self.app.call_from_thread(self._show_progress, rows)

        def partial(report: GroupReport) -> None:
            if not worker.is_cancelled:  # the top causes so far, while the pass goes on
                self.app.call_from_thread(self._show_groups, report)

        try:
            report = cache.refresh(self.source, progress=progress, partial=partial)
        except _Abandoned:
            return
        except BatchtopError as exc:
            self.app.call_from_thread(self._grouped, None, exc.message)
            return
        except Exception as exc:  # never kill the screen: show it and keep running
            self.app.call_from_thread(self._grouped, None, f"grouping failed: {type(exc).__name__}: {exc}")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._grouped, report, None)

    def _show_progress(self, rows: int) -> None:
        total = self._progress_total
        if not total or total <= CHUNK:
            return  # small: done before a bar would be worth showing
        bar = self.query_one("#fx-progress", ProgressBar)
        bar.remove_class("hidden")
        bar.update(total=max(total, rows), progress=rows)
        self.query_one("#fx-status", Static).update(Text(f"grouping… {rows:,} of ~{total:,} failed rows read"))

    def _grouped(self, report: GroupReport | None, error: str | None) -> None:
        self._grouping = False
        self.query_one("#fx-progress", ProgressBar).add_class("hidden")
        cost = report.elapsed if report is not None else 0.0
        self._next_group_at = 0.0 if self._group_now else time.monotonic() + max(REGROUP_GAP, 5 * cost)
        self._error = error
        if report is not None:
            self._report = report
            self._show_groups(report)
        self._show_status()
        if self._group_again:
            self._schedule_grouping()

    def _show_groups(self, report: GroupReport) -> None:
        self._groups = {g.signature: g for g in report.groups}
        table = self.query_one("#fx-groups", KeyedTable)
        rates = group_series(report.groups, RATE_CELLS)
        self._rate_axis = span(((g.buckets, g.bucket_seconds) for g in report.groups), RATE_CELLS)
        table.sync({g.signature: group_cells(g, rates[g.signature]) for g in report.groups},
                   [g.signature for g in report.groups])
        if report.failed == 0:
            self._show_empty(Text.assemble(("✓ No failed items", "bold green"), " in ",
                                           safe(self.track_name, 40), ": nothing to triage."))
        else:
            self._show_empty(None)
        self._show_group_detail()
        self._show_items_title()

    def _show_group_detail(self) -> None:
        key = self.query_one("#fx-groups", KeyedTable).cursor_key
        group = self._groups.get(key) if key is not None else None
        detail = self.query_one("#fx-group-detail", Static)
        if group is None:
            detail.update("")
            return
        text = Text.assemble("newest: ", safe(group.sample_key, 20, style="bold"), "  ",
                             safe(group.sample_error, 300))
        if self._rate_axis is not None:
            text.append(f"   over time: {axis_text(self._rate_axis)}", style="bright_black")
        detail.update(text)


def axis_text(axis: tuple[float, float]) -> str:
    """What the 'Over time' sparklines span: '10:02 → 14:55 (25m 00s a cell)'."""
    start, end = axis
    return f"{fmt.clock(start)} → {fmt.clock(end)} ({fmt.duration((end - start) / RATE_CELLS)} a cell)"


class _Abandoned(Exception):
    """Raised from the progress callback when the grouping worker was cancelled."""
