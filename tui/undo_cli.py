"""Headless `batchtop undo` (preview, confirm, undo) and `batchtop journal` (list actions).

The options, exit codes and output rules are those of `actions_cli`; `register` adds the two commands.
"""

from __future__ import annotations

import argparse
from typing import Any

from batchtop.core.errors import BatchtopError, ReadOnlyMode
from batchtop.core.sanitize import display
from batchtop.tui.actions_cli import (
    EPILOG,
    EXIT_OK,
    EXIT_REFUSED,
    PREDICATE_CHARS,
    ask_terminal,
    common_options,
    confirm_rows,
    confirmed,
    emit_json,
    fail,
    finish,
    journal_from,
)
from batchtop.tui.cli_args import count
from batchtop.tui.output import narrate


def register(subparsers: Any) -> None:
    """Add `undo` and `journal` to the `batchtop` subcommands (after `actions_cli.register`'s `reset`)."""
    p = subparsers.add_parser("undo", help="undo a journaled action (preview, confirm; rows the job moved "
                                           "since are left alone)",
                              description="Undo a journaled action: restore the rows that still hold what it "
                                          "wrote.", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action_id", nargs="?", metavar="ACTION_ID",
                   help="journal id (default: the newest applied action not yet undone)")
    p.add_argument("--dry-run", action="store_true", help="preview only; nothing is written")
    p.add_argument("--yes", "-y", action="store_true", help="undo without asking")
    common_options(p, json_help=True, journal=True, read_only=True)
    p.set_defaults(func=cmd_undo)

    p = subparsers.add_parser("journal", help="list journaled actions, newest first")
    p.add_argument("--limit", type=count, default=20, metavar="N")
    common_options(p, json_help=True, journal=True, read_only=False)
    p.set_defaults(func=cmd_journal)


def print_undo_plan(entry: Any, preview: Any) -> None:
    """The human preview of an undo, on stdout."""
    from batchtop.core.backends.sqlite.write_session import sql_lit

    what = (
        f"{entry.action} {entry.id} ({len(entry.affected):,} item{'s' if len(entry.affected) != 1 else ''} "
        f"in {entry.track})"
    )
    wrote = " AND ".join(f"{c} IS {sql_lit(v)}" for c, v in entry.after)
    keys = ", ".join(str(k) for k in entry.affected[:8]) + (
        f", … {len(entry.affected) - 8:,} more" if len(entry.affected) > 8 else ""
    )
    lines = [
        f"undo {display(what)}",
        f"  file:        {display(entry.db)}",
        f"  track:       {display(entry.track)} (table {display(entry.table)})",
        f"  when:        {entry.summary()['time_text']}",
        f"  target:      {display(entry.target)}",
        f"  rows:        {preview.written:,} written; {preview.restorable:,} still hold what it wrote and "
        f"would be restored",
        f"  keys:        {display(keys, 300)}",
        f"  restores:    {display(', '.join(entry.columns))}",
        f"  only where:  {display(wrote, PREDICATE_CHARS)}",
    ]
    if preview.moved:
        lines.append(f"  left alone:  {preview.moved:,} moved by the job since")
    if preview.not_restorable:
        lines.append(f"  left alone:  {preview.not_restorable:,} too large to journal")
    if preview.replaced:
        lines.append("  warning:     the file was replaced since the action: the undo will refuse")
    print("\n".join(lines))


def cmd_undo(args: argparse.Namespace) -> int:
    """Preview, confirm and undo a journaled action."""
    from batchtop.core.actions import CONFIRM_OVER
    from batchtop.core.backends.sqlite.write_session import READ_ONLY
    from batchtop.core.undo import find, undo

    as_json = getattr(args, "json", False)
    if getattr(args, "read_only", False):
        return fail("undo", ReadOnlyMode(READ_ONLY), as_json)
    journal = journal_from(args)
    try:
        entry = find(journal, args.action_id)
        track, preview = (None, None) if entry.status != "applied" else _look(entry)
    except BatchtopError as exc:
        return fail("undo", exc, as_json)
    doc: dict[str, Any] = {
        "journal": str(journal.path),
        "entry": entry.summary(),
        "preview": preview.as_dict() if preview else None,
        "dry_run": bool(args.dry_run),
        "outcome": None,
    }
    if preview is not None:
        # An action already undone (or never applied) needs no confirmation: undo() only reports it.
        if not as_json:
            print_undo_plan(entry, preview)
        if args.dry_run:
            narrate("batchtop undo: dry run; nothing written")
            return finish(doc, as_json, EXIT_OK)
        if not confirmed(
            args,
            lambda: confirm_rows("undo", preview.restorable, preview.restorable > CONFIRM_OVER, ask_terminal),
            "undo",
        ):
            return finish(doc, as_json, EXIT_REFUSED)
    try:
        outcome = undo(journal, entry.id, track=track)
    except BatchtopError as exc:
        return fail("undo", exc, as_json, doc)
    doc["outcome"] = outcome.as_dict()
    if not as_json:
        print(display(outcome.summary()))
    return finish(
        doc, as_json, EXIT_OK if outcome.status == "restored" and outcome.restored else EXIT_REFUSED
    )


def _look(entry: Any) -> tuple[Any, Any]:
    """The entry's track as profiled now (None when unreadable) and the undo's preview, read-only.

    Raises:
        BatchtopError: the database cannot be read (missing, locked, ...).
    """
    from batchtop.core.backends import open_source
    from batchtop.core.backends.sqlite.undo import preview_undo

    source = open_source(entry.db)
    backend = getattr(source, "backend", None)  # PostgreSQL: its own preview (SQLite's is inline)
    if backend is not None:
        preview_undo = backend.preview_undo
    try:
        result = source.poll(force=True)
        track = source.profile.track(entry.track) if result.error is None and source.profile else None
        if source.identity is None:
            raise result.error or source.error or BatchtopError(f"cannot read {entry.db}")
        return track, source.run(lambda conn: preview_undo(conn, entry, source.identity))
    finally:
        source.close()


def cmd_journal(args: argparse.Namespace) -> int:
    """List journaled actions, newest first."""
    as_json = getattr(args, "json", False)
    journal = journal_from(args)
    try:
        entries = journal.entries(limit=max(0, args.limit))
    except BatchtopError as exc:
        return fail("journal", exc, as_json)
    if journal.damaged_lines:
        narrate(f"batchtop journal: {journal.damaged_lines} damaged line(s) skipped in {journal.path}")
    if as_json:
        emit_json(
            {
                "journal": str(journal.path),
                "damaged_lines": journal.damaged_lines,
                "entries": [e.summary() for e in entries],
            }
        )
        return EXIT_OK
    if not entries:
        narrate(f"batchtop journal: no actions journaled in {journal.path}")
        return EXIT_OK
    for e in entries:
        s = e.summary()
        what = f"undo of {e.undoes}" if e.kind == "undo" else f"{e.action} {e.track}"
        print(
            f"{e.id}  {s['time_text']}  {e.status:<8} {display(what, 40):<28} {len(e.affected):>6} of "
            f"{e.planned:<6} {display(e.target, 40):<30} {display(e.db)}"
        )
    return EXIT_OK
