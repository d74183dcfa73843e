"""The failures screen's export key: what the list shows (the filter, the open group, or every failure)
to a CSV or JSON Lines file, written by `core.export` in a thread worker."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from textual.binding import Binding
from textual.notifications import SeverityLevel

from batchtop.core.errors import BatchtopError
from batchtop.core.export import export_file, filter_text_of
from batchtop.core.sanitize import clean_line
from batchtop.tui.dialogs.export_path import ExportPathDialog
from batchtop.tui.screens.live import ScreenMixin

if TYPE_CHECKING:
    from batchtop.core.actions import Target
    from batchtop.core.profiles.model import Track

#: Hidden from the footer (its look is unchanged); listed by `?` and the command palette.
EXPORT_BINDINGS = [Binding("e", "export", "Export listed", show=False)]


def default_name(db_path: str, track: str, now: float, ext: str = "csv") -> str:
    """`batchtop-<db>-<track>-<YYYYmmdd-HHMMSS>.csv` in the working directory (characters kept safe)."""
    stem = "".join(
        ch if ch.isalnum() or ch in "-_." else "_"
        for ch in f"{os.path.splitext(os.path.basename(db_path))[0]}-{track}"
    )[:80]
    return os.path.abspath(f"batchtop-{stem}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}.{ext}")


class ExportPart(ScreenMixin):
    """Mixed into `FailuresScreen`; uses its `source`, `track`, `listed_target()` and `app`."""

    source: Any
    track_name: str

    if TYPE_CHECKING:  # provided by the screen and its actions part (`FailureActions`)
        @property
        def track(self) -> Track | None: ...
        def listed_target(self) -> Target: ...

    def action_export(self) -> None:
        """Ask for a file name, then export everything listed."""
        track = self.track
        if track is None or not track.failures_recorded:
            return
        target = self.listed_target()
        flt = filter_text_of(target.kind, target.text, target.signature)
        now = self.app.clock() if hasattr(self.app, "clock") else time.time()
        dialog = ExportPathDialog(target.describe(), default_name(self.source.path, track.name, now))
        self.app.push_screen(dialog, lambda out: self._export_to(out, track, flt))

    def _export_to(self, out: str | None, track: Any, flt: str) -> None:
        if not out:
            return
        source, path = self.source, os.path.abspath(os.path.expanduser(out))

        def work() -> None:
            try:
                n = export_file(source, track, flt, path, path=source.path)
            except FileExistsError:
                self.app.call_from_thread(
                    self._said, f"Not exported: {path} exists (never overwritten)", "error"
                )
            except (BatchtopError, OSError) as exc:
                message = exc.message if isinstance(exc, BatchtopError) else str(exc)
                self.app.call_from_thread(self._said, f"Export failed: {message}", "error")
            else:
                self.app.call_from_thread(self._said, f"Exported {n:,} rows to {path}", "information")

        self.app.run_worker(work, thread=True, group="export", exclusive=False, exit_on_error=False)

    def _said(self, message: str, severity: SeverityLevel) -> None:
        # The path and error text may hold anything: one sanitised line, never markup (hazards.md 1).
        self.app.notify(clean_line(message), severity=severity, markup=False, timeout=8)
