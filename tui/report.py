"""Rich tables for the headless CLI (`batchtop status`, `batchtop failures`) on a terminal.

Every DB-derived string is sanitised and wrapped in `Text` (never markup).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from batchtop.core.status import SourceStatus
from batchtop.tui.text import fmt_age, fmt_eta, fmt_rate, safe
from batchtop.tui.widgets.badge import badge

COUNT_STYLES = {
    "pending": "white", "running": "cyan", "done": "green", "failed": "red", "skipped": "yellow",
    "cancelled": "magenta",
}


def print_status(statuses: Sequence[SourceStatus], now: float, console: Console | None = None) -> None:
    """One table per source: tracks with counts, progress, rate, ETA and activity."""
    console = console or Console()
    for status in statuses:
        title = Text.assemble(safe(status.path), ("  " + (status.profile or "no profile"), "dim"),
                              ("  " + (status.journal_mode or ""), "dim"))
        if status.error and not status.tracks:
            console.print(title)
            console.print(Text.assemble(("  error: ", "bold red"), safe(status.error)))
            continue
        table = Table(title=title, title_justify="left", expand=False, pad_edge=False, box=None,
                      header_style="bold")
        table.add_column("track", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("done %", justify="right", no_wrap=True)
        table.add_column("total", justify="right", no_wrap=True)
        # States no track of this source has are left out, so the table fits a narrow terminal.
        shown = [s for s in COUNT_STYLES if any(t.counts[s] for t in status.tracks)]
        for name in shown:
            table.add_column(name, justify="right", style=COUNT_STYLES[name], no_wrap=True)
        table.add_column("rate", justify="right", no_wrap=True)
        table.add_column("ETA", justify="right", no_wrap=True)
        table.add_column("changed", justify="right", no_wrap=True, min_width=7)
        for t in status.tracks:
            table.add_row(
                safe(t.name), badge(t.activity.state),
                f"{t.progress:.1%}", f"{t.total:,}", *[f"{t.counts[s]:,}" for s in shown],
                fmt_rate(t.rate_per_min), fmt_eta(t.eta), fmt_age(now, t.last_change),
            )
        console.print(table)
        for t in status.tracks:
            if t.metrics:
                parts = "  ·  ".join(f"{m.label} {m.text()}" for m in t.metrics)
                console.print(Text.assemble(("  " + t.name + ": ", "dim"), safe(parts)))
            if t.stale:
                console.print(Text(f"  {t.name}: {t.stale} in-flight item(s) look stale (crashed worker?)",
                                   style="yellow"))
            if t.warning:
                console.print(Text.assemble(("  warning: ", "bold yellow"), safe(t.name), ": ",
                                            safe(t.warning, style="yellow")))
        if status.error:
            console.print(Text.assemble(("  now: ", "bold red"), safe(status.error),
                                        (" (showing the last good read)", "dim")))


def print_failures(sources: Sequence[dict[str, Any]], console: Console | None = None) -> None:
    """Newest failures per track."""
    console = console or Console()
    for src in sources:
        console.print(safe(src["path"], style="bold"))
        if src["error"]:
            console.print(Text.assemble(("  error: ", "bold red"), safe(src["error"])))
            continue
        for track in src["tracks"]:
            if not track["failures_recorded"]:
                console.print(Text(f"  {track['track']}: this writer never records failures "
                                   "(a failed item stays pending)", style="dim"))
                continue
            if not track["items"]:
                console.print(Text(f"  {track['track']}: no failures", style="green"))
                continue
            table = Table(title=Text(track["track"]), title_justify="left")
            table.add_column("key", justify="right", no_wrap=True)
            table.add_column("item", no_wrap=True)
            table.add_column("error", style="red", no_wrap=True)
            for item in track["items"]:
                more = item["error_length"] - len(item["error"])
                err = safe(item["error"], 120)
                if more > 0:
                    err.append(f" (+{more:,} chars)", style="dim")
                table.add_row(safe(item["key"]), safe(item["label"], 60), err)
            console.print(table)
