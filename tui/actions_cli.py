"""Headless action commands: `batchtop reset`, `batchtop undo`, `batchtop journal`.

    batchtop reset PATH [--track NAME] [--action NAME]
                        (--id ID ... | --group SIGNATURE | --match TEXT | --all-failed | --stale)
                        [--dry-run] [--yes] [--json] [--journal FILE] [--read-only] [--profile FILE]
    batchtop undo [ACTION_ID] [--journal FILE] [--json] [--read-only]
    batchtop journal [--json] [--journal FILE] [--limit N]

`reset` previews first (count, sample rows, the exact predicate). Without `--yes` it asks on a terminal
(typing the row count when more than 100 rows would change) and refuses when stdin is not a terminal.
No transaction is open while it waits. Data (the preview, the outcome, JSON) goes to stdout; prompts and
narration go to stderr. DB text is sanitised before it is printed; JSON is ASCII with escapes.

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
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from batchtop.core.errors import BatchtopError, ReadOnlyMode
from batchtop.core.sanitize import clean_line, display

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

    p = subparsers.add_parser("undo", help="undo a journaled action (rows the job moved since are left alone)")
    p.add_argument("action_id", nargs="?", metavar="ACTION_ID",
                   help="journal id (default: the newest applied action not yet undone)")
    _common(p, json_help=True, journal=True, read_only=True)
    p.set_defaults(func=cmd_undo)

    p = subparsers.add_parser("journal", help="list journaled actions, newest first")
    p.add_argument("--limit", type=int, default=20, metavar="N")
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


def narrate(message: str) -> None:
    """One sanitised line on stderr."""
    print(clean_line(message), file=sys.stderr)


def _emit_json(doc: dict[str, Any]) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=True, default=str))


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
    if plan.needs_typed_confirmation:
        answer = ask(f"This changes {plan.cap} rows. Type {plan.cap} to confirm: ")
        return answer.strip() == str(plan.cap)
    return ask(f"{plan.action.name} {plan.cap} row{'s' if plan.cap != 1 else ''}? [y/N] ").strip().lower() in ("y", "yes")


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
    from batchtop.core.backends import open_source
    from batchtop.core.write import READ_ONLY, FileMissing

    as_json = getattr(args, "json", False)
    if getattr(args, "read_only", False):
        return fail("reset", ReadOnlyMode(READ_ONLY), as_json)  # before anything is opened
    profiles = []
    if getattr(args, "profile", None):
        from batchtop.core.profiles.userfile import load_profiles

        for f in args.profile:
            profiles.extend(load_profiles(Path(f)))
    source = open_source(args.path, profiles=profiles)
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
    """Undo a journaled action."""
    from batchtop.core.undo import find, undo
    from batchtop.core.write import READ_ONLY

    as_json = getattr(args, "json", False)
    if getattr(args, "read_only", False):
        return fail("undo", ReadOnlyMode(READ_ONLY), as_json)
    journal = _journal(args)
    try:
        entry = find(journal, args.action_id)
        outcome = undo(journal, entry.id, track=_current_track(entry))
    except BatchtopError as exc:
        return fail("undo", exc, as_json)
    if as_json:
        _emit_json({"journal": str(journal.path), "outcome": outcome.as_dict()})
    else:
        print(display(outcome.summary()))
    return EXIT_OK if outcome.status == "restored" and outcome.restored else EXIT_REFUSED


def _current_track(entry: Any) -> Any:
    """The entry's track as profiled now (to say where moved rows are), or None when unreadable."""
    from batchtop.core.backends import open_source

    source = open_source(entry.db)
    try:
        if source.poll(force=True).error is None and source.profile is not None:
            return source.profile.track(entry.track)
        return None
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
