"""The source screen's "recent actions" panel: what became of the rows the latest actions touched.

    after reset #ab12cd34: 120 done · 10 pending · 12 failed again (same error) · 3 new error

The journal and the cohorts are read in a thread worker (cohorts on the source's read-only connection),
at most every `GAP` seconds however often the source is polled, and at once after an action; and only
when something changed: the journal file (its size and time) or the source's snapshot (a poll that read
new data). Otherwise only the ages move. The panel hides itself while no action on this database is
journaled.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import Static

from batchtop.core import fmt
from batchtop.core.cohort import Cohort, read_cohort
from batchtop.core.errors import BatchtopError
from batchtop.core.journal import Entry, Journal
from batchtop.core.source import Source
from batchtop.tui.text import safe

#: Most recent actions shown.
SHOWN = 3
#: Seconds between two reads at least (polls can come every 100 ms).
GAP = 2.0


@dataclass(frozen=True)
class Line:
    """One action and its cohort (or why there is none)."""

    entry: Entry
    cohort: Cohort | None
    error: str | None = None


def read_lines(source: Source, journal: Journal, shown: int = SHOWN) -> tuple[list[Line], str | None]:
    """Thread: the newest actions on `source`'s database and their cohorts, or why the journal could not
    be read (never raises BatchtopError)."""
    try:
        journal.check_outside(source.path)  # never open() a watched database (hazards.md rule 8)
        entries = [e for e in journal.entries(db=source.path) if e.kind == "action"][:shown]
    except BatchtopError as exc:
        return [], exc.message
    lines = []
    for entry in entries:
        track = source.profile.track(entry.track) if source.profile is not None else None
        if track is None or entry.status == "aborted":
            lines.append(Line(entry, None, None if entry.status == "aborted" else "track not found"))
            continue
        try:
            lines.append(Line(entry, read_cohort(source, track, entry)))
        except BatchtopError as exc:
            lines.append(Line(entry, None, exc.message))
    return lines, None


def journal_signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of the journal file, None when it does not exist (thread: a stat)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def cohort_parts(c: Cohort) -> Text:
    """'120 done · 10 pending · 12 failed again (same error) · 3 new error'."""
    parts = [(c.done, "done", "green"), (c.pending, "pending", ""), (c.running, "running", "cyan"),
             (c.failed_same, "failed again (same error)", "bold red"), (c.failed_new, "new error", "yellow"),
             (c.other, "skipped or cancelled", "magenta"), (c.missing, "gone", "bright_black")]
    out = Text()
    for n, label, style in parts:
        if n:
            if out:
                out.append(" · ", style="bright_black")
            out.append(f"{n:,} {label}", style=style)
    return out or Text("nothing to show", style="bright_black")


def render_lines(lines: list[Line], now: float, error: str | None = None) -> Text:
    """One line per action, newest first (after the journal's own error, if any)."""
    text = safe(error, 300, style="bold red") if error else Text()
    for line in lines:
        if text:
            text.append("\n")
        e = line.entry
        text.append_text(safe(f"after {e.action} #{e.id}", 60, style="bold"))
        text.append(": ")
        if e.status == "aborted":
            text.append("aborted, nothing was written", style="bright_black")
        elif line.cohort is not None:
            text.append_text(cohort_parts(line.cohort))
        else:
            text.append_text(safe(line.error or "", 200, style="yellow"))
        note = f"  ({len(e.affected):,} rows, {fmt.ago(now, e.time)}"
        text.append(note + (", undone)" if e.status == "undone" else ")"), style="bright_black")
    return text


class _LinesRead(Message, bubble=False):
    """From the panel's worker to the panel: the lines read (or kept), and what `_show` needs with them."""

    def __init__(self, lines: list[Line], error: str | None, read_from: tuple[object, object], at: float,
                 source: Source, journal: Journal, now: Callable[[], float]) -> None:
        super().__init__()
        self.lines = lines
        self.error = error
        self.read_from = read_from
        self.at = at
        self.source = source
        self.journal = journal
        self.now = now


class CohortPanel(Static):
    """Recent actions on one database and what became of their rows; hidden when there are none."""

    DEFAULT_CSS = """
    CohortPanel {
        height: auto;
        border: round $accent 50%;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.display = False
        self._busy = False
        self._again = False
        self._next_at = 0.0
        #: What the lines were read from: the journal's signature and the source's snapshot.
        self._read_from: tuple[object, object] | None = None
        self._error: str | None = None
        #: Lines shown (tests read them).
        self.lines: list[Line] = []

    def on_mount(self) -> None:
        self.border_title = Text("Recent actions on this database", style="bold")
        self.border_subtitle = Text("J: journal · u: undo the newest")

    def reload(self, source: Source | None, journal: Journal, now: Callable[[], float], force: bool = False) -> None:
        """Read the journal and cohorts again (now when `force`, else at most every GAP seconds)."""
        if source is None:
            return
        if self._busy:
            self._again = self._again or force
            return
        if not force and time.monotonic() < self._next_at:
            return
        self._busy = True
        self._again = False
        seen, shown, error_shown = self._read_from, self.lines, self._error

        def work() -> None:
            read_from = (journal_signature(journal.path), source.snapshot)
            fresh = seen is None or read_from[0] != seen[0] or read_from[1] is not seen[1]
            if force or fresh:
                lines, error = read_lines(source, journal)
            else:  # nothing changed: only the ages move
                lines, error = shown, error_shown
            # post_message is thread-safe: the lines are shown on the UI thread by `_lines_read`.
            self.post_message(_LinesRead(lines, error, read_from, now(), source, journal, now))

        self.run_worker(work, name="cohorts", group="cohorts", thread=True, exclusive=True, exit_on_error=False)

    @on(_LinesRead)
    def _lines_read(self, event: _LinesRead) -> None:
        self._show(event.lines, event.error, event.read_from, event.at, event.source, event.journal, event.now)

    def _show(self, lines: list[Line], error: str | None, read_from: tuple[object, object], at: float,
              source: Source, journal: Journal, now: Callable[[], float]) -> None:
        self._busy = False
        self._next_at = time.monotonic() + GAP
        self._read_from, self._error = read_from, error
        self.lines = lines
        self.display = bool(lines or error)
        if lines or error:
            self.update(render_lines(lines, at, error))
        if self._again:
            self.reload(source, journal, now, force=True)
