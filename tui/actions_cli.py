"""Headless action commands: `batchtop reset`, `batchtop undo`, `batchtop journal`.

    batchtop reset PATH [--track NAME] [--action NAME]
                        (--id ID ... | --group SIGNATURE | --match TEXT | --all-failed | --stale)
                        [--dry-run] [--yes] [--json] [--journal FILE] [--read-only] [--profile FILE]
    batchtop undo [ACTION_ID] [--dry-run] [--yes] [--journal FILE] [--json] [--read-only]
    batchtop journal [--json] [--journal FILE] [--limit N]

`reset` and `undo` preview first (reset: count, sample rows, the exact predicate; undo: the action, and
how many of its rows still hold what it wrote and would be restored). Without `--yes` they ask on a
terminal (typing the row count when more than 100 rows would change) and refuse when stdin is not a
terminal. No transaction is open while they wait. Data (the preview, the outcome, JSON) goes to stdout;
prompts and narration go to stderr. Every string printed is sanitised, text and JSON alike; JSON is
ASCII with escapes.

Exit codes:
    0  applied (or the dry run / listing was shown)
    1  nothing matched, or refused: not confirmed, read-only mode, no such action, already undone,
       the action journal could not be written (rolled back), or SQLite refused the write
    2  usage error
    3  busy or locked: the job holds the lock; nothing written, retry later
    4  the file was replaced since the preview, or is missing; nothing written

This module never imports Textual (headless commands start fast) and only standard-library printing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchtop.core.errors import BatchtopError, ReadOnlyMode
from batchtop.core.sanitize import display
from batchtop.tui.output import emit_json, narrate

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_BUSY, EXIT_FILE = 0, 1, 2, 3, 4
#: Error kinds (BatchtopError.kind) and their exit codes; every other error exits 1.
KIND_EXIT = {"busy": EXIT_BUSY, "locked": EXIT_BUSY, "recovering": EXIT_BUSY, "replaced": EXIT_FILE,
             "missing": EXIT_FILE, "deleted": EXIT_FILE}
EPILOG = "Exit codes:" + (__doc__ or "").split("Exit codes:")[1].split("\nThis module")[0]
#: Characters of a predicate shown in the human preview (the JSON carries all of it).
PREDICATE_CHARS = 2000


def register(subparsers: Any) -> None:
    """Add `reset`, `undo` and `journal` to the `batchtop` subcommands."""
    # Options default to SUPPRESS so that a same-named option of the main parser is not overwritten.
    p = subparsers.add_parser("reset", help="reset/retry failed items (preview, confirm, journaled write)",
                              description="Reset, retry, skip or requeue items with a conditional write.",
                              epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH")
    p.add_argument("--track", help="track (table) to act on (default: the only one with actions)")
    p.add_argument("--action", help="action name (default: reset/retry; the one taking running rows for --stale)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--id", dest="ids", action="append", metavar="ID", help="an item key (repeatable)")
    target.add_argument("--group", metavar="SIGNATURE", help="every failed item of this error signature")
    target.add_argument("--match", metavar="TEXT", help="every failed item whose error or label contains TEXT")
    target.add_argument("--all-failed", action="store_true", help="every failed item")
    target.add_argument("--stale", action="store_true", help="in-flight items older than the stale threshold")
    p.add_argument("--dry-run", action="store_true", help="preview only; nothing is written")
    p.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    _common(p, json_help=True, journal=True, read_only=True)
    p.add_argument("--profile", action="append", default=[], metavar="FILE", help="a TOML profile file")
    p.set_defaults(func=cmd_reset)

    p = subparsers.add_parser("undo", help="undo a journaled action (preview, confirm; rows the job moved "
                                           "since are left alone)",
                              description="Undo a journaled action: restore the rows that still hold what it "
                                          "wrote.", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action_id", nargs="?", metavar="ACTION_ID",
                   help="journal id (default: the newest applied action not yet undone)")
    p.add_argument("--dry-run", action="store_true", help="preview only; nothing is written")
    p.add_argument("--yes", "-y", action="store_true", help="undo without asking")
    _common(p, json_help=True, journal=True, read_only=True)
    p.set_defaults(func=cmd_undo)

    from batchtop.tui.cli import count

    p = subparsers.add_parser("journal", help="list journaled actions, newest first")
    p.add_argument("--limit", type=count, default=20, metavar="N")
    _common(p, json_help=True, journal=True, read_only=False)
    p.set_defaults(func=cmd_journal)


def _common(p: argparse.ArgumentParser, *, json_help: bool, journal: bool, read_only: bool) -> None:
    if json_help:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    if journal:
        p.add_argument("--journal", metavar="FILE", default=argparse.SUPPRESS,
                       help="action journal (default $BATCHTOP_JOURNAL, else $XDG_STATE_HOME/batchtop/journal.jsonl)")
    if read_only:
        p.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                       help="refuse every write (nothing is opened read-write)")


# -- output -------------------------------------------------------------------------------------------


def _emit_json(doc: dict[str, Any]) -> None:
    emit_json(doc)


def fail(command: str, exc: BatchtopError, as_json: bool, doc: dict[str, Any] | None = None) -> int:
    """Report `exc` (stderr, and as JSON on stdout with --json) and return its exit code."""
    code = KIND_EXIT.get(exc.kind, EXIT_REFUSED)
    narrate(f"batchtop {command}: {exc.message}")
    if as_json:
        _emit_json({**(doc or {}), "error": {"kind": exc.kind, "message": exc.message, "exit": code}})
    return code


def print_plan(plan: Any) -> None:
    """The human preview, on stdout."""
    predicate = display(plan.predicate)
    if len(predicate) > PREDICATE_CHARS:
        predicate = predicate[:PREDICATE_CHARS] + f"… ({len(predicate) - PREDICATE_CHARS} more characters; --json shows all)"
    statements = len(plan.statements())
    lines = [
        display(plan.summary()),
        f"  file:        {display(plan.path)}",
        f"  profile:     {display(plan.profile)}  (table {display(plan.track.table)})",
        f"  action:      {display(plan.action.name)}: {display(plan.description)}",
        f"  rows:        {plan.count} match now" + (f", {plan.cap} will be written" if plan.cap != plan.count else ""),
        f"  predicate:   {predicate}",
        f"  statements:  {statements} in one transaction; every UPDATE also requires the rows to be still "
        "in the state shown",
    ]
    if plan.samples:
        lines.append("  sample:")
        lines += [f"    {display(str(s.key), 24):<10} {display(s.raw, 16):<10} {display(s.label, 50):<50} "
                  f"{display(s.error, 80)}" for s in plan.samples]
        if plan.count > len(plan.samples):
            lines.append(f"    … and {plan.count - len(plan.samples)} more")
    if plan.not_eligible:
        from batchtop.core.write import describe_states

        lines.append(f"  left out:    {len(plan.not_eligible)} not in a state this action takes "
                     f"({display(describe_states(plan.not_eligible))})")
    print("\n".join(lines))


def confirm(plan: Any, ask: Callable[[str], str]) -> bool:
    """Ask on the terminal: y/N, or the typed row count for large plans."""
    return confirm_rows(plan.action.name, plan.cap, plan.needs_typed_confirmation, ask)


def confirm_rows(verb: str, rows: int, typed: bool, ask: Callable[[str], str]) -> bool:
    """'reset 3 rows? [y/N]', or over CONFIRM_OVER rows the typed count."""
    if typed:
        answer = ask(f"This changes {rows} rows. Type {rows} to confirm: ")
        return answer.strip() == str(rows)
    return ask(f"{display(verb)} {rows} row{'s' if rows != 1 else ''}? [y/N] ").strip().lower() in ("y", "yes")


def print_undo_plan(entry: Any, preview: Any) -> None:
    """The human preview of an undo, on stdout."""
    from batchtop.core.write import sql_lit

    what = f"{entry.action} {entry.id} ({len(entry.affected):,} item{'s' if len(entry.affected) != 1 else ''} " \
           f"in {entry.track})"
    wrote = " AND ".join(f"{c} IS {sql_lit(v)}" for c, v in entry.after)
    keys = ", ".join(str(k) for k in entry.affected[:8]) + (f", … {len(entry.affected) - 8:,} more"
                                                             if len(entry.affected) > 8 else "")
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


def _ask(prompt: str) -> str:
    print(prompt, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline()


# -- commands -----------------------------------------------------------------------------------------


def _target(args: argparse.Namespace) -> Any:
    from batchtop.core.actions import Target

    if args.ids:
        return Target.items(int(i) if i.lstrip("-").isdigit() else i for i in args.ids)
    if args.group is not None:
        return Target.group(args.group)
    if args.match is not None:
        return Target.matching(args.match)
    if args.stale:
        return Target.stale()
    return Target.all_failed()


def _journal(args: argparse.Namespace) -> Any:
    from batchtop.core.journal import Journal

    return Journal(getattr(args, "journal", None))


def cmd_reset(args: argparse.Namespace) -> int:
    """Preview, confirm and apply an action."""
    from batchtop.core.actions import apply, plan
    from batchtop.core.source import Source
    from batchtop.core.write import READ_ONLY, FileMissing

    as_json = getattr(args, "json", False)
    if getattr(args, "read_only", False):
        return fail("reset", ReadOnlyMode(READ_ONLY), as_json)  # before anything is opened
    profiles = []
    if getattr(args, "profile", None):
        from batchtop.core.profiles.userfile import load_profiles

        for f in args.profile:
            profiles.extend(load_profiles(Path(f)))
    source = Source(args.path, profiles=profiles)
    try:
        result = source.poll(force=True)
        if result.error is not None:
            error = result.error
            if error.kind == "missing":
                error = FileMissing(f"file not found: {args.path} (nothing created)")
            return fail("reset", error, as_json)
        the_plan = plan(source, args.track, args.action, _target(args))
    except BatchtopError as exc:
        return fail("reset", exc, as_json)
    finally:
        source.close()  # the read connection is not needed while we ask or write
    doc: dict[str, Any] = {"plan": the_plan.as_dict(), "dry_run": bool(args.dry_run), "outcome": None}
    if not as_json:
        print_plan(the_plan)
    if the_plan.cap == 0:
        narrate("batchtop reset: nothing matched; nothing written")
        return _done(doc, as_json, EXIT_REFUSED)
    if args.dry_run:
        narrate("batchtop reset: dry run; nothing written")
        return _done(doc, as_json, EXIT_OK)
    if not args.yes:
        if not sys.stdin.isatty():
            narrate("batchtop reset: refusing to write without confirmation: use --yes (or --dry-run)")
            return _done(doc, as_json, EXIT_REFUSED)
        if not confirm(the_plan, _ask):
            narrate("batchtop reset: not confirmed; nothing written")
            return _done(doc, as_json, EXIT_REFUSED)
    try:
        outcome = apply(the_plan, journal=_journal(args))
    except BatchtopError as exc:
        return fail("reset", exc, as_json, doc)
    doc["outcome"] = outcome.as_dict()
    if not as_json:
        print(display(outcome.summary()))
    if outcome.entry_id:
        narrate(f"batchtop reset: journaled as {outcome.entry_id} (undo with: batchtop undo {outcome.entry_id})")
    return _done(doc, as_json, EXIT_OK if outcome.count else EXIT_REFUSED)


def _done(doc: dict[str, Any], as_json: bool, code: int) -> int:
    if as_json:
        _emit_json(doc)
    return code


def cmd_undo(args: argparse.Namespace) -> int:
    """Preview, confirm and undo a journaled action."""
    from batchtop.core.actions import CONFIRM_OVER
    from batchtop.core.undo import find, undo
    from batchtop.core.write import READ_ONLY

    as_json = getattr(args, "json", False)
    if getattr(args, "read_only", False):
        return fail("undo", ReadOnlyMode(READ_ONLY), as_json)
    journal = _journal(args)
    try:
        entry = find(journal, args.action_id)
        track, preview = (None, None) if entry.status != "applied" else _look(entry)
    except BatchtopError as exc:
        return fail("undo", exc, as_json)
    doc: dict[str, Any] = {"journal": str(journal.path), "entry": entry.summary(),
                           "preview": preview.as_dict() if preview else None, "dry_run": bool(args.dry_run),
                           "outcome": None}
    if preview is not None:
        # An action already undone (or never applied) needs no confirmation: undo() only reports it.
        if not as_json:
            print_undo_plan(entry, preview)
        if args.dry_run:
            narrate("batchtop undo: dry run; nothing written")
            return _done(doc, as_json, EXIT_OK)
        if not args.yes:
            if not sys.stdin.isatty():
                narrate("batchtop undo: refusing to write without confirmation: use --yes (or --dry-run)")
                return _done(doc, as_json, EXIT_REFUSED)
            if not confirm_rows("undo", preview.restorable, preview.restorable > CONFIRM_OVER, _ask):
                narrate("batchtop undo: not confirmed; nothing written")
                return _done(doc, as_json, EXIT_REFUSED)
    try:
        outcome = undo(journal, entry.id, track=track)
    except BatchtopError as exc:
        return fail("undo", exc, as_json, doc)
    doc["outcome"] = outcome.as_dict()
    if not as_json:
        print(display(outcome.summary()))
    return _done(doc, as_json, EXIT_OK if outcome.status == "restored" and outcome.restored else EXIT_REFUSED)


def _look(entry: Any) -> tuple[Any, Any]:
    """The entry's track as profiled now (None when unreadable) and the undo's preview, read-only.

    Raises:
        BatchtopError: the database cannot be read (missing, locked, ...).
    """
    from batchtop.core.source import Source
    from batchtop.core.undo import preview_undo

    source = Source(entry.db)
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
    journal = _journal(args)
    try:
        entries = journal.entries(limit=max(0, args.limit))
    except BatchtopError as exc:
        return fail("journal", exc, as_json)
    if journal.damaged_lines:
        narrate(f"batchtop journal: {journal.damaged_lines} damaged line(s) skipped in {journal.path}")
    if as_json:
        _emit_json({"journal": str(journal.path), "damaged_lines": journal.damaged_lines,
                    "entries": [e.summary() for e in entries]})
        return EXIT_OK
    if not entries:
        narrate(f"batchtop journal: no actions journaled in {journal.path}")
        return EXIT_OK
    for e in entries:
        s = e.summary()
        what = f"undo of {e.undoes}" if e.kind == "undo" else f"{e.action} {e.track}"
        print(f"{e.id}  {s['time_text']}  {e.status:<8} {display(what, 40):<28} {len(e.affected):>6} of "
              f"{e.planned:<6} {display(e.target, 40):<30} {display(e.db)}")
    return EXIT_OK
