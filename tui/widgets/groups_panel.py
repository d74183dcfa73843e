"""The failures screen's error groups: a table of one track's failures grouped by signature.

`GroupsPanel` owns the groups, their time axis and the grouping worker. Grouping runs in a thread
worker through `core.groups` (chunked reads, cached per source and track, refreshed incrementally),
rate-limited after polls: at least `REGROUP_GAP` apart and five times the last pass's cost. The worker
never touches a widget: it posts `Progress` while it reads and `Grouped` with each partial and the
final report; the panel updates itself on `Grouped` before the message bubbles to the screen.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable
from textual.worker import get_current_worker

from batchtop.core import fmt
from batchtop.core.errors import Abandoned, BatchtopError
from batchtop.core.group_rate import group_series, span
from batchtop.core.groups import ErrorGroup, GroupReport, cache_for
from batchtop.core.profiles.model import Track
from batchtop.tui.text import safe
from batchtop.tui.widgets.keyed_table import ColumnSpec, KeyedTable
from batchtop.tui.widgets.sparkline import Sparkline

if TYPE_CHECKING:
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


def axis_text(axis: tuple[float, float]) -> str:
    """What the 'Over time' sparklines span: '10:02 → 14:55 (25m 00s a cell)'."""
    start, end = axis
    return f"{fmt.clock(start)} → {fmt.clock(end)} ({fmt.duration((end - start) / RATE_CELLS)} a cell)"


class GroupsPanel(KeyedTable):
    """The error groups of one track, grouped again in a thread worker after polls (rate-limited)."""

    class Progress(Message):
        """A grouping pass has read `rows` failed rows of about `total` (None: not known)."""

        def __init__(self, panel: GroupsPanel, rows: int, total: int | None) -> None:
            super().__init__()
            self.panel = panel
            self.rows = rows
            self.total = total

        @property
        def control(self) -> GroupsPanel:
            return self.panel

    class Grouped(Message):
        """Groups arrived: a partial report while a pass goes on (`final` False), or the end of a pass
        (`final` True) with its report, or with `error` (sanitised) and no report."""

        def __init__(self, panel: GroupsPanel, report: GroupReport | None, error: str | None,
                     final: bool) -> None:
            super().__init__()
            self.panel = panel
            self.report = report
            self.error = error
            self.final = final

        @property
        def control(self) -> GroupsPanel:
            return self.panel

    class Highlighted(Message):
        """The cursor moved to `group` (None: no group under the cursor)."""

        def __init__(self, panel: GroupsPanel, group: ErrorGroup | None) -> None:
            super().__init__()
            self.panel = panel
            self.group = group

        @property
        def control(self) -> GroupsPanel:
            return self.panel

    class Chosen(Message):
        """A group was opened (enter or a click): the screen lists its items."""

        def __init__(self, panel: GroupsPanel, signature: str) -> None:
            super().__init__()
            self.panel = panel
            self.signature = signature

        @property
        def control(self) -> GroupsPanel:
            return self.panel

    def __init__(self, source: Source, track_name: str, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(GROUP_COLUMNS, id=id, classes=classes)
        self.source = source
        self.track_name = track_name
        #: The groups shown, by signature.
        self.groups: dict[str, ErrorGroup] = {}
        #: The last complete report (None before the first pass ends).
        self.report: GroupReport | None = None
        #: The time axis of the groups' 'Over time' sparklines (None: no timestamps).
        self.rate_axis: tuple[float, float] | None = None
        #: Whether a grouping pass is running.
        self.grouping = False
        #: The error of the last pass (sanitised), if it failed.
        self.error: str | None = None
        self._again = False  # a pass was asked for while one ran: start it as this one ends
        self._now = False  # the next pass starts without the rate limit's gap
        self._timer: Timer | None = None
        self._next_at = 0.0

    @property
    def track(self) -> Track | None:
        """The track definition, as of the latest probe."""
        profile = self.source.profile
        return profile.track(self.track_name) if profile is not None else None

    @property
    def highlighted(self) -> ErrorGroup | None:
        """The group under the cursor, if any."""
        key = self.cursor_key
        return self.groups.get(key) if key is not None else None

    # -- scheduling ---------------------------------------------------------------------------------

    def schedule(self) -> None:
        """Group again as soon as the rate limit allows (after the running pass, if one runs)."""
        if self.grouping:
            self._again = True
            return
        wait = self._next_at - time.monotonic()
        if wait <= 0:
            self.start()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self.start)

    def regroup_now(self) -> None:
        """Group again with no gap (also when a pass is running: the next one starts as it ends)."""
        self._now = True
        self._next_at = 0.0
        self.schedule()

    def start(self) -> None:
        """Start a grouping pass now (nothing when one runs or the track is not known yet)."""
        self._timer = None
        track = self.track
        if track is None or self.grouping:
            return
        self.grouping = True
        self._again = self._now = False
        snap = self.source.snapshot
        tsnap = snap.track(self.track_name) if snap is not None else None
        self._group_work(track, tsnap.counts.get("failed") if tsnap else None)

    @work(thread=True, exclusive=True, group="failure-groups", exit_on_error=False)
    def _group_work(self, track: Track, total: int | None) -> None:
        # Every result goes back as a message (`_post`), handled on the UI thread.
        worker = get_current_worker()
        cache = cache_for(self.source, track)

        def progress(rows: int) -> None:
            if worker.is_cancelled:
                raise Abandoned
            self._post(self.Progress(self, rows, total))

        def partial(report: GroupReport) -> None:
            if not worker.is_cancelled:  # the top causes so far, while the pass goes on
                self._post(self.Grouped(self, report, None, final=False))

        try:
            report = cache.refresh(self.source, progress=progress, partial=partial)
        except Abandoned:
            return
        except BatchtopError as exc:
            self._post(self.Grouped(self, None, exc.message, final=True))
            return
        except Exception as exc:  # never kill the screen: show it and keep running
            self._post(self.Grouped(self, None, f"grouping failed: {type(exc).__name__}: {exc}",
                                           final=True))
            return
        if not worker.is_cancelled:
            self._post(self.Grouped(self, report, None, final=True))

    def _post(self, message: Message) -> None:
        """Post from the worker thread (`post_message` is thread-safe). A message made in a thread has no
        sender, and Textual skips `@on` handlers with a selector for those: the panel is the sender."""
        self.post_message(message.set_sender(self))

    # -- results ------------------------------------------------------------------------------------

    @on(Grouped)
    def _grouped(self, event: Grouped) -> None:
        # Runs before the message bubbles on to the screen: the table and state are current there.
        if event.final:
            self.grouping = False
            cost = event.report.elapsed if event.report is not None else 0.0
            self._next_at = 0.0 if self._now else time.monotonic() + max(REGROUP_GAP, 5 * cost)
            self.error = event.error
            if event.report is not None:
                self.report = event.report
        if event.report is not None:
            self._show(event.report)
        if event.final and self._again:
            self.schedule()

    def _show(self, report: GroupReport) -> None:
        self.groups = {g.signature: g for g in report.groups}
        rates = group_series(report.groups, RATE_CELLS)
        self.rate_axis = span(((g.buckets, g.bucket_seconds) for g in report.groups), RATE_CELLS)
        self.sync({g.signature: group_cells(g, rates[g.signature]) for g in report.groups},
                  [g.signature for g in report.groups])

    def detail(self) -> Text:
        """The line under the table: the newest item of the group under the cursor and the time axis."""
        group = self.highlighted
        if group is None:
            return Text("")
        text = Text.assemble("newest: ", safe(group.sample_key, 20, style="bold"), "  ",
                             safe(group.sample_error, 300))
        if self.rate_axis is not None:
            text.append(f"   over time: {axis_text(self.rate_axis)}", style="bright_black")
        return text

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self:
            self.post_message(self.Highlighted(self, self.highlighted))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self and isinstance(event.row_key.value, str):
            self.post_message(self.Chosen(self, event.row_key.value))
