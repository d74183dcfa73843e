"""The failures screen's export key: what the list shows (the filter, the open group, or every failure)
to a CSV or JSON Lines file, written by `core.export` in a thread worker."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from textual.binding import Binding

from batchtop.core.errors import BatchtopError
from batchtop.core.export import export_file, filter_text_of
from batchtop.tui.action_support import app_now
from batchtop.tui.dialogs.export_path import ExportPathDialog
from batchtop.tui.messages import Notice, post_notice

if TYPE_CHECKING:
    from textual.screen import Screen

    from batchtop.core.profiles.model import Track
    from batchtop.core.source import Source
    from batchtop.core.targets import Target

#: Hidden from the footer (its look is unchanged); listed by `?` and the command palette.
EXPORT_BINDINGS = [Binding("e", "export", "Export listed", show=False)]


def default_name(db_path: str, track: str, now: float, ext: str = "csv") -> str:
    """`batchtop-<db>-<track>-<YYYYmmdd-HHMMSS>.csv` in the working directory (characters kept safe)."""
    stem = "".join(
        ch if ch.isalnum() or ch in "-_." else "_"
        for ch in f"{os.path.splitext(os.path.basename(db_path))[0]}-{track}"
    )[:80]
    return os.path.abspath(f"batchtop-{stem}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}.{ext}")


def start_export(screen: Screen[object], source: Source, track: Track, target: Target) -> None:
    """Ask for a file name, then export `target` in a thread worker; the outcome is a toast (`Notice`)."""
    flt = filter_text_of(target.kind, target.text, target.signature)
    dialog = ExportPathDialog(target.describe(), default_name(source.path, track.name, app_now(screen)))
    screen.app.push_screen(dialog, lambda out: _export_to(screen, out, source, track, flt))


def _export_to(screen: Screen[object], out: str | None, source: Source, track: Track, flt: str) -> None:
    if not out:
        return
    path = os.path.abspath(os.path.expanduser(out))

    def work() -> None:
        # The path and error text may hold anything: a Notice shows one sanitised line, never markup.
        try:
            n = export_file(source, track, flt, path, path=source.path)
        except FileExistsError:
            notice = Notice(f"Not exported: {path} exists (never overwritten)", "error", 8, limit=None)
        except (BatchtopError, OSError) as exc:
            message = exc.message if isinstance(exc, BatchtopError) else str(exc)
            notice = Notice(f"Export failed: {message}", "error", 8, limit=None)
        else:
            notice = Notice(f"Exported {n:,} rows to {path}", "information", 8, limit=None)
        post_notice(screen, notice)

    screen.app.run_worker(work, thread=True, group="export", exclusive=False, exit_on_error=False)
