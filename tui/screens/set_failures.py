"""Failures across many files: error groups merged by signature over a chunk set (or every source).

One row per cause, however many chunk files it spans: count, share, failures over time, the files it
occurs in. Grouping runs in a thread worker through `core.crossgroups` (each file's incremental
`groups.GroupCache`, so a regroup after polls reads only what changed), with provisional groups while a
first pass over hundreds of thousands of failures goes on. Enter opens the cause in its largest file;
`x` resets it in every file with one preview (`dialogs.set_preview`), `e` exports it from every file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Header, ProgressBar, Static
from textual.worker import get_current_worker

from batchtop.core import fmt
from batchtop.core.backends.sqlite.write_session import READ_ONLY
from batchtop.core.crossgroups import CrossGroup, CrossReport, cross_groups
from batchtop.core.errors import BatchtopError
from batchtop.core.export import export_files, filter_text_of
from batchtop.core.group_rate import group_series, span
from batchtop.core.groups import CHUNK
from batchtop.core.profiles.model import Track
from batchtop.core.sanitize import clean_line
from batchtop.core.source import Source
from batchtop.core.targets import Target
from batchtop.tui.action_support import app_now, journal_of, read_only, tell
from batchtop.tui.dialogs.export_path import ExportPathDialog
from batchtop.tui.messages import Notice, post_notice
from batchtop.tui.screens.failure_export import default_name
from batchtop.tui.screens.live import LiveScreen
from batchtop.tui.text import plain, safe
from batchtop.tui.widgets.groups_panel import RATE_CELLS, axis_text, share_bar
from batchtop.tui.widgets.keyed_table import ColumnSpec, KeyedTable
from batchtop.tui.widgets.sparkline import Sparkline
from batchtop.tui.widgets.status_line import StatusLine

#: Seconds between two regroupings at least (and 5x the last one's cost).
REGROUP_GAP = 2.0

COLUMNS = (
    ColumnSpec("count", "Count", 9, "right"),
    ColumnSpec("share", "Share", 15),
    ColumnSpec("rate", "Over time", RATE_CELLS),
    ColumnSpec("files", "Files", 6, "right"),
    ColumnSpec("last", "Last seen", 11),
    ColumnSpec("signature", "Error group", 56),
    ColumnSpec("where", "Largest in", 26),
)


def group_cells(group: CrossGroup, rate: tuple[int, ...]) -> tuple[Text | Sparkline, ...]:
    """The cells of one merged group (all DB and file text through `safe`)."""
    trend = Sparkline(rate, width=RATE_CELLS, style="red") if rate else Text("—", style="bright_black")
    top = group.occurrences[0]
    return (Text(f"{group.count:,}", justify="right"), share_bar(group.share), trend,
            Text(f"{len(group.sources):,}", justify="right"), Text(fmt.clock(group.last_seen, seconds=False)),
            safe(group.signature, 160), safe(f"{os.path.basename(top.path)} {top.count:,}", 60, style="dim"))


class _Progress(Message, bubble=False):
    """From the grouping worker to its screen: rows read so far of about `total`."""

    def __init__(self, rows: int, total: int) -> None:
        super().__init__()
        self.rows = rows
        self.total = total


class _Grouped(Message, bubble=False):
    """From the grouping worker to its screen: a provisional report (`final` False), or the end of the
    pass with its report or its error (sanitised), and its cost in seconds."""

    def __init__(self, report: CrossReport | None, error: str | None, cost: float, final: bool) -> None:
        super().__init__()
        self.report = report
        self.error = error
        self.cost = cost
        self.final = final


class SetFailuresScreen(LiveScreen):
    """The error groups of a set of files, merged across them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open in file"),
        Binding("x", "reset", "Reset in all files"),
        Binding("e", "export", "Export"),
        Binding("r", "regroup", "Regroup", show=False),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape | Back to the overview. |
    | enter | The group's items in the file where it is largest (the failures screen of that file). |
    | x | Preview, then reset/retry the group in every file it occurs in (one confirmation, one journal entry per file). |
    | e | Export the group's items from every file to one CSV or JSON Lines file. |
    | r | Group the failures again now. |
    """

    def __init__(self, paths: Sequence[str], name: str) -> None:
        super().__init__()
        self.paths, self.set_name = tuple(paths), name
        self.report: CrossReport | None = None
        self._groups: dict[str, CrossGroup] = {}
        self._rate_axis: tuple[float, float] | None = None
        self._grouping = self._again = False
        self._timer: Timer | None = None
        self._next_at = 0.0
        self._seen: object = None
        self._error: str | None = None
        #: When groups were first on screen (monotonic; benchmarks read it).
        self.first_shown: float | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="sf-title")
        yield Static(id="sf-status")
        yield ProgressBar(id="sf-progress", show_eta=False, classes="hidden")
        yield Static(id="sf-empty", classes="hidden")
        yield KeyedTable(COLUMNS, id="sf-groups")
        yield Static(id="sf-detail")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        n = len(self.paths)
        self.query_one("#sf-title", Static).update(Text.assemble(
            "Failures across ", (f"{n} file{'s' if n != 1 else ''}", "bold"), " · ", safe(self.set_name, 80)))
        self.sub_title = f"failures across {n} files · {plain(self.set_name, 60)}"
        self.tick()
        self._seen = self._failed_now()
        self._start()
        self.query_one("#sf-groups", KeyedTable).focus()

    # -- sources ------------------------------------------------------------------------------------

    def _pairs(self) -> list[tuple[Source, Track]]:
        """Every readable (source, track) of the set that records failures."""
        out = []
        for path in self.paths:
            source = self.batchtop.source_of(path)
            if source is None or source.profile is None:
                continue
            out += [(source, t) for t in source.profile.tracks if t.failures_recorded]
        return out

    def _failed_now(self) -> object:
        """The failed counts of the set as of the latest polls (regroup only when they moved)."""
        views = self.batchtop.views
        return tuple(
            (p, tuple((t.name, t.counts.get("failed", 0)) for t in views[p].status.tracks))
            for p in self.paths if p in views
        )

    # -- live updates -------------------------------------------------------------------------------

    def refresh_views(self, dirty: set[str]) -> None:
        self.tick()
        if not dirty.intersection(self.paths):
            return
        failed = self._failed_now()
        if failed != self._seen:
            self._seen = failed
            self._schedule()

    def tick(self) -> None:
        self.show_status_of(None)

    def _schedule(self) -> None:
        if self._grouping:
            self._again = True
            return
        wait = self._next_at - time.monotonic()
        if wait <= 0:
            self._start()
        elif self._timer is None:
            self._timer = self.set_timer(wait, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._grouping:
            return
        self._grouping, self._again = True, False
        self._show_status("grouping…")
        self._work(self._pairs())

    @work(thread=True, exclusive=True, group="set-groups", exit_on_error=False)
    def _work(self, pairs: list[tuple[Source, Track]]) -> None:
        worker = get_current_worker()
        started = time.perf_counter()
        total = 0
        for source, track in pairs:
            snap = source.snapshot.track(track.name) if source.snapshot is not None else None
            total += snap.counts.get("failed", 0) if snap is not None else 0

        # Results go back as messages (post_message is thread-safe), handled on the UI thread in order.
        def partial(report: CrossReport) -> None:
            if not worker.is_cancelled:
                self.post_message(_Grouped(report, None, 0.0, final=False))

        def progress(rows: int) -> None:
            if not worker.is_cancelled:
                self.post_message(_Progress(rows, total))

        try:
            report = cross_groups(pairs, partial=partial, progress=progress)
        except BatchtopError as exc:
            self.post_message(_Grouped(None, exc.message, 0.0, final=True))
            return
        except Exception as exc:  # noqa: BLE001 - never kill the screen: say it and keep running
            self.post_message(_Grouped(None, f"grouping failed: {type(exc).__name__}: {exc}", 0.0, final=True))
            return
        if not worker.is_cancelled:
            self.post_message(_Grouped(report, None, time.perf_counter() - started, final=True))

    @on(_Grouped)
    def _grouped(self, event: _Grouped) -> None:
        if not event.final:
            assert event.report is not None
            self._show(event.report, True)
        else:
            self._done(event.report, event.error, event.cost)

    @on(_Progress)
    def _progressed(self, event: _Progress) -> None:
        self._progress(event.rows, event.total)

    def _progress(self, rows: int, total: int) -> None:
        if total <= CHUNK:
            return
        bar = self.query_one("#sf-progress", ProgressBar)
        bar.remove_class("hidden")
        bar.update(total=max(total, rows), progress=rows)
        self._show_status(f"grouping… {rows:,} of ~{total:,} failed rows read")

    def _done(self, report: CrossReport | None, error: str | None, cost: float) -> None:
        self._grouping = False
        self._next_at = time.monotonic() + max(REGROUP_GAP, 5 * cost)
        self.query_one("#sf-progress", ProgressBar).add_class("hidden")
        self._error = error
        if report is not None:
            self._show(report, False)
        else:
            self._show_status(None)
        if self._again:
            self._schedule()

    def _show(self, report: CrossReport, provisional: bool) -> None:
        if self.first_shown is None:
            self.first_shown = time.monotonic()
        self.report = report
        self._groups = {g.signature: g for g in report.groups}
        rates = group_series(report.groups, RATE_CELLS)
        self._rate_axis = span(((g.buckets, g.bucket_seconds) for g in report.groups), RATE_CELLS)
        table = self.query_one("#sf-groups", KeyedTable)
        table.sync({g.signature: group_cells(g, rates[g.signature]) for g in report.groups},
                   [g.signature for g in report.groups])
        empty = self.query_one("#sf-empty", Static)
        nothing = not provisional and report.failed == 0 and not report.errors
        empty.set_class(not nothing, "hidden")
        table.set_class(nothing, "hidden")
        if nothing:
            empty.update(Text.assemble(("✓ No failed items", "bold green"), f" in these {len(self.paths)} files: "
                                       "nothing to triage."))
        self._show_detail()
        self._show_status("grouping… (provisional: the rows read so far)" if provisional else None)

    def _show_status(self, doing: str | None) -> None:
        report = self.report
        text = Text()
        if report is not None:
            text.append(f"{report.failed:,} failures · {report.distinct:,} causes")
            if len(report.groups) < report.distinct:
                text.append(f" (top {len(report.groups):,})")
            files = len({o.path for g in report.groups for o in g.occurrences})
            text.append(f" · in {files:,} of {len(self.paths):,} files")
        if doing:
            text.append(f"  {doing}", style="bright_black")
        problems = list(report.errors) if report is not None else []
        if self._error:
            text.append("  ✖ ", style="bold red")
            text.append_text(safe(self._error, 200, style="red"))
        for path, message in problems[:2]:
            text.append("  ✖ ", style="bold red")
            text.append_text(safe(f"{os.path.basename(path)}: {message}", 120, style="red"))
        self.query_one("#sf-status", Static).update(text)

    def on_data_table_row_highlighted(self) -> None:
        self._show_detail()

    def on_data_table_row_selected(self) -> None:
        self.action_open()  # the table takes enter (and a click) for itself

    def _current(self) -> CrossGroup | None:
        key = self.query_one("#sf-groups", KeyedTable).cursor_key
        return self._groups.get(key) if key is not None else None

    def _show_detail(self) -> None:
        group = self._current()
        detail = self.query_one("#sf-detail", Static)
        if group is None:
            detail.update("")
            return
        where = " · ".join(f"{os.path.basename(o.path)} {o.count:,}" for o in group.occurrences[:6])
        more = f" · +{len(group.occurrences) - 6} more" if len(group.occurrences) > 6 else ""
        text = Text.assemble(("in: ", "bright_black"), safe(where + more, 300), "\n",
                             ("newest: ", "bright_black"), safe(group.sample_key, 20, style="bold"), "  ",
                             safe(group.sample_error, 300))
        if self._rate_axis is not None:
            text.append(f"\nover time: {axis_text(self._rate_axis)}", style="bright_black")
        detail.update(text)

    # -- actions ------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the overview."""
        self.dismiss()

    def action_regroup(self) -> None:
        """Group the failures again now."""
        self._next_at = 0.0
        self._schedule()

    def action_open(self) -> None:
        """The group's items in the file where it is largest."""
        group = self._current()
        if group is not None:
            self.batchtop.open_failures(group.sample_path, group.sample_track, group=group.signature)

    def _parts_of(self, group: CrossGroup) -> list[tuple[Source, str]]:
        out = []
        for o in group.occurrences:
            source = self.batchtop.source_of(o.path)
            if source is not None:
                out.append((source, o.track))
        return out

    def action_reset(self) -> None:
        """Preview, then reset/retry the group in every file it occurs in."""
        group = self._current()
        if group is None:
            tell(self, "no error group under the cursor", "warning")
            return
        if read_only(self):
            tell(self, READ_ONLY, "warning")
            return
        from batchtop.tui.dialogs.set_preview import SetPreviewScreen

        def closed(outcomes: object) -> None:
            if outcomes:
                self.action_regroup()

        self.app.push_screen(SetPreviewScreen(self._parts_of(group), Target.group(group.signature),
                                              journal=journal_of(self), now=app_now(self),
                                              read_only=read_only(self)), closed)

    def action_export(self) -> None:
        """Ask for a file name, then export the group's items from every file it occurs in."""
        group = self._current()
        if group is None:
            tell(self, "no error group under the cursor", "warning")
            return
        stem = f"{self.set_name}-{group.signature[:40]}"
        dialog = ExportPathDialog(f"error group “{group.signature}” from {len(group.sources)} files",
                                  default_name(stem, "group", app_now(self)))
        self.app.push_screen(dialog, lambda out: self._export_to(out, group))

    def _export_to(self, out: str | None, group: CrossGroup) -> None:
        if not out:
            return
        path = os.path.abspath(os.path.expanduser(out))
        parts = []
        for source, track_name in self._parts_of(group):
            track = source.profile.track(track_name) if source.profile is not None else None
            if track is not None:
                parts.append((source, track, source.path))
        flt = filter_text_of("group", signature=group.signature)

        def export() -> None:
            # The path and error text may hold anything: a Notice shows one sanitised line, never markup.
            try:
                n = export_files(parts, flt, path)
            except FileExistsError:
                notice = Notice(f"Not exported: {path} exists (never overwritten)", "error")
            except (BatchtopError, OSError) as exc:
                message = exc.message if isinstance(exc, BatchtopError) else str(exc)
                notice = Notice(f"Export failed: {message}", "error")
            else:
                notice = Notice(clean_line(f"Exported {n:,} rows from {len(parts)} files to {path}"), "information")
            post_notice(self, notice)

        self.app.run_worker(export, thread=True, group="export", exclusive=False, exit_on_error=False)
