"""Rich tables for the headless CLI (`batchtop status`, `batchtop failures`).

Every string from a database, a file name or a profile is sanitised and wrapped in `Text` (never
markup). On a terminal the tables fit its width; into a pipe or a file nothing is cut to a width.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from batchtop.core import fmt
from batchtop.core.status import SourceStatus
from batchtop.tui.text import safe
from batchtop.tui.widgets.badge import badge

#: Line width into a pipe or a file: wide enough that no table is ever cut (Rich would assume 80).
PIPE_WIDTH = 100_000


class _Console(Console):
    """A Console whose closed pipe is a `BrokenPipeError` for `cli.main` to end quietly (Rich's own
    handler exits with 1 from wherever it is)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def make_console() -> Console:
    """The terminal's width on a terminal; otherwise no width limit and no colour."""
    if sys.stdout.isatty():
        return _Console()
    return _Console(width=PIPE_WIDTH, no_color=True, highlight=False)


COUNT_STYLES = {
    "pending": "white", "running": "cyan", "done": "green", "failed": "red", "skipped": "yellow",
    "cancelled": "magenta",
}


def print_status(statuses: Sequence[SourceStatus], now: float, console: Console | None = None) -> None:
    """One table per source: tracks with counts, progress, rate, ETA and activity."""
    console = console or make_console()
    for status in statuses:
        title = Text.assemble(safe(status.path), "  ", safe(status.profile or "no profile", style="dim"),
                              "  ", safe(status.journal_mode or "", style="dim"))
        if status.error and not status.tracks:
            console.print(title)
            console.print(Text.assemble(("  error: ", "bold red"), safe(status.error)))
            continue
        # The source line is printed on its own: as a table title Rich would wrap it to the table's width.
        console.print(title, no_wrap=True, overflow="ignore", crop=False)
        table = Table(expand=False, pad_edge=False, box=None, header_style="bold")
        table.add_column("track", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("done %", justify="right", no_wrap=True)
        table.add_column("total", justify="right", no_wrap=True)
        # States no track of this source has are left out, so the table fits a narrow terminal.
        shown = [s for s in COUNT_STYLES if any(t.counts[s] for t in status.tracks)]
        for state in shown:
            table.add_column(state, justify="right", style=COUNT_STYLES[state], no_wrap=True)
        table.add_column("rate", justify="right", no_wrap=True)
        table.add_column("ETA", justify="right", no_wrap=True)
        table.add_column("changed", justify="right", no_wrap=True, min_width=7)
        for t in status.tracks:
            table.add_row(
                safe(t.name), badge(t.activity.state),
                fmt.percent(t.progress), f"{t.total:,}", *[f"{t.counts[s]:,}" for s in shown],
                fmt.per_min(t.rate_per_min), fmt.DASH if not t.total else fmt.eta(t.eta, t.remaining), fmt.ago(now, t.last_change),
            )
        console.print(table)
        for t in status.tracks:
            name = safe(t.name, style="dim")
            if not t.total:
                console.print(Text.assemble("  ", name, (": ", "dim"), safe(t.activity.reason)))
            if t.metrics:
                parts = "  ·  ".join(f"{m.label} {m.text()}" for m in t.metrics)
                console.print(Text.assemble("  ", name, (": ", "dim"), safe(parts)))
            if t.stale:
                console.print(Text.assemble("  ", name, Text(f": {t.stale} in-flight item(s) look stale "
                                                             "(crashed worker?)", style="yellow")))
            if t.warning:
                console.print(Text.assemble(("  warning: ", "bold yellow"), safe(t.name), ": ",
                                            safe(t.warning, style="yellow")))
        if status.error:
            console.print(Text.assemble(("  now: ", "bold red"), safe(status.error),
                                        (" (showing the last good read)", "dim")))


def print_failures(sources: Sequence[dict[str, Any]], console: Console | None = None) -> None:
    """Newest failures per track."""
    console = console or make_console()
    for src in sources:
        console.print(safe(src["path"], style="bold"))
        if src["error"]:
            console.print(Text.assemble(("  error: ", "bold red"), safe(src["error"])))
            continue
        for track in src["tracks"]:
            name = safe(track["track"])
            if not track["failures_recorded"]:
                console.print(Text.assemble("  ", name, (": this writer never records failures "
                                                         "(a failed item stays pending)", "dim")))
                continue
            if not track["items"]:
                waiting = not track.get("total", 1)
                console.print(Text.assemble("  ", name, (": waiting for items (no rows yet)", "dim") if waiting
                                            else (": no failures", "green")))
                continue
            table = Table(title=name, title_justify="left")
            table.add_column("key", justify="right", no_wrap=True)
            table.add_column("item", no_wrap=True)
            table.add_column("error", style="red", no_wrap=True)
            # On a terminal long texts are cut to fit; into a pipe the previews are printed whole.
            fit = console.is_terminal
            for item in track["items"]:
                more = item["error_length"] - len(item["error"])
                err = safe(item["error"], 120 if fit else None)
                if more > 0:
                    err.append(f" (+{more:,} chars)", style="dim")
                table.add_row(safe(item["key"]), safe(item["label"], 60 if fit else None), err)
            console.print(table)
