"""Headless action commands: `batchtop reset`, `batchtop undo`, `batchtop journal`.

    batchtop reset PATH|GLOB|DIR... [--track NAME] [--action NAME]
                        (--id ID ... | --group SIGNATURE | --match TEXT | --where FILTER | --all-failed |
                         --stale)
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
             "missing": EXIT_FILE, "deleted": EXIT_FILE, "bad-filter": EXIT_USAGE}
EPILOG = "Exit codes:" + (__doc__ or "").split("Exit codes:")[1].split("\nThis module")[0]
#: Characters of a predicate shown in the human preview (the JSON carries all of it).
PREDICATE_CHARS = 2000


def register(subparsers: Any) -> None:
    """Add `reset` to the `batchtop` subcommands (`undo_cli.register` adds `undo` and `journal`)."""
    # Options default to SUPPRESS so that a same-named option of the main parser is not overwritten.
    p = subparsers.add_parser("reset", help="reset/retry failed items (preview, confirm, journaled write)",
                              description="Reset, retry, skip or requeue items with a conditional write.",
                              epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH|GLOB|DIR",
                   help="databases (several: every plan is shown, then one confirmation for all)")
    p.add_argument("--track", help="track (table) to act on (default: the only one with actions)")
    p.add_argument("--action", help="action name (default: reset/retry; the one taking running rows for --stale)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--id", dest="ids", action="append", metavar="ID", help="an item key (repeatable)")
    target.add_argument("--group", metavar="SIGNATURE", help="every failed item of this error signature")
    target.add_argument("--match", metavar="TEXT", help="every failed item whose error or label contains TEXT")
    target.add_argument("--where", metavar="FILTER", help="every item the filter selects (in the action's "
                                                          "from-states: failed for reset/retry)")
    target.add_argument("--all-failed", action="store_true", help="every failed item")
    target.add_argument("--stale", action="store_true", help="in-flight items older than the stale threshold")
    p.add_argument("--dry-run", action="store_true", help="preview only; nothing is written")
    p.add_argument("--yes", "-y", action="store_true", help="apply without asking")
    common_options(p, json_help=True, journal=True, read_only=True)
    p.add_argument("--profile", action="append", default=[], metavar="FILE", help="a TOML profile file")
    p.set_defaults(func=cmd_reset)


def common_options(p: argparse.ArgumentParser, *, json_help: bool, journal: bool, read_only: bool) -> None:
    if json_help:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    if journal:
        p.add_argument("--journal", metavar="FILE", default=argparse.SUPPRESS,
                       help="action journal (default $BATCHTOP_JOURNAL, else $XDG_STATE_HOME/batchtop/journal.jsonl)")
    if read_only:
        p.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                       help="refuse every write (nothing is opened read-write)")


# -- output -------------------------------------------------------------------------------------------


def fail(command: str, exc: BatchtopError, as_json: bool, doc: dict[str, Any] | None = None) -> int:
    """Report `exc` (stderr, and as JSON on stdout with --json) and return its exit code."""
    code = KIND_EXIT.get(exc.kind, EXIT_REFUSED)
    narrate(f"batchtop {command}: {exc.message}")
    if as_json:
        emit_json({**(doc or {}), "error": {"kind": exc.kind, "message": exc.message, "exit": code}})
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
        from batchtop.core.backends.sqlite.write_session import describe_states

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


def ask_terminal(prompt: str) -> str:
    """Ask on stderr, read the answer from stdin."""
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
    if getattr(args, "where", None) is not None:
        return Target.where(args.where)
    if args.stale:
        return Target.stale()
    return Target.all_failed()


def journal_from(args: argparse.Namespace) -> Any:
    """The journal of `--journal FILE`, else the default one."""
    from batchtop.core.journal import Journal

    return Journal(getattr(args, "journal", None))


def _profiles(args: argparse.Namespace) -> list[Any]:
    from batchtop.core.profiles.userfile import load_profiles

    return [p for f in getattr(args, "profile", None) or [] for p in load_profiles(Path(f))]


def _reset_paths(args: argparse.Namespace) -> list[str]:
    """The databases to act on: one plain path as given (even missing: it is reported, never created);
    several paths, globs and directories as the monitor discovers them."""
    import os

    from batchtop.core.monitor import Monitor

    only = args.paths[0] if len(args.paths) == 1 else None
    if only is not None and not any(ch in only for ch in "*?[") and not os.path.isdir(only):
        return [only]
    monitor = Monitor(args.paths)
    monitor.rescan()
    for notice in monitor.notices:
        narrate(f"batchtop reset: {notice}")
    return [s.path for s in monitor.snapshot_sources()]


def _plan(path: str, args: argparse.Namespace, profiles: list[Any]) -> Any:
    """Read `path` and plan the action on it; the read connection is closed before anyone is asked.

    Raises:
        BatchtopError: unreadable, missing (FileMissing), no such track or action, ...
    """
    from batchtop.core.actions import plan
    from batchtop.core.backends import open_source
    from batchtop.core.errors import FileMissing

    source = open_source(path, profiles=profiles)
    try:
        result = source.poll(force=True)
        if result.error is not None:
            if result.error.kind == "missing":
                raise FileMissing(f"file not found: {path} (nothing created)")
            raise result.error
        return plan(source, args.track, args.action, _target(args))
    finally:
        source.close()  # the read connection is not needed while we ask or write


def cmd_reset(args: argparse.Namespace) -> int:
    """Preview, confirm and apply an action (on every database named, after one confirmation)."""
    from batchtop.core.backends.sqlite.write_session import READ_ONLY

    as_json = getattr(args, "json", False)
    if getattr(args, "read_only", False):
        return fail("reset", ReadOnlyMode(READ_ONLY), as_json)  # before anything is opened
    if getattr(args, "where", None) is not None:
        from batchtop.core.errors import FilterError
        from batchtop.core.filters import parse

        try:
            parse(args.where)  # before anything is opened; the message points at the bad token
        except FilterError as exc:
            return fail("reset", exc, as_json)
    profiles = _profiles(args)
    paths = _reset_paths(args)
    if len(args.paths) == 1 and paths == args.paths:  # one plain path: the single-database form (and JSON shape)
        return _reset_one(args, paths[0], profiles, as_json)
    if args.ids:
        narrate("batchtop reset: --id names items of one database: give a single PATH")
        return EXIT_USAGE
    return _reset_many(args, paths, profiles, as_json)


def _reset_one(args: argparse.Namespace, path: str, profiles: list[Any], as_json: bool) -> int:
    from batchtop.core.actions import apply

    try:
        the_plan = _plan(path, args, profiles)
    except BatchtopError as exc:
        return fail("reset", exc, as_json)
    doc: dict[str, Any] = {"plan": the_plan.as_dict(), "dry_run": bool(args.dry_run), "outcome": None}
    if not as_json:
        print_plan(the_plan)
    if the_plan.cap == 0:
        narrate("batchtop reset: nothing matched; nothing written")
        return finish(doc, as_json, EXIT_REFUSED)
    if args.dry_run:
        narrate("batchtop reset: dry run; nothing written")
        return finish(doc, as_json, EXIT_OK)
    if not confirmed(args, lambda: confirm(the_plan, ask_terminal)):
        return finish(doc, as_json, EXIT_REFUSED)
    try:
        outcome = apply(the_plan, journal=journal_from(args))
    except BatchtopError as exc:
        return fail("reset", exc, as_json, doc)
    doc["outcome"] = outcome.as_dict()
    if not as_json:
        print(display(outcome.summary()))
    if outcome.entry_id:
        narrate(f"batchtop reset: journaled as {outcome.entry_id} (undo with: batchtop undo {outcome.entry_id})")
    return finish(doc, as_json, EXIT_OK if outcome.count else EXIT_REFUSED)


def confirmed(args: argparse.Namespace, ask: Callable[[], bool], command: str = "reset") -> bool:
    """--yes, else a terminal's answer; without a terminal, refused. Says why on stderr."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        narrate(f"batchtop {command}: refusing to write without confirmation: use --yes (or --dry-run)")
        return False
    if not ask():
        narrate(f"batchtop {command}: not confirmed; nothing written")
        return False
    return True


def _reset_many(args: argparse.Namespace, paths: list[str], profiles: list[Any], as_json: bool) -> int:
    """Every database planned and shown first, one confirmation for all, then one write (and one journal
    entry) per database. JSON: `{"databases": [{"path", "plan", "outcome", "error"}], ...}`."""
    from batchtop.core.actions import CONFIRM_OVER, apply

    def error(exc: BatchtopError) -> dict[str, Any]:
        narrate(f"batchtop reset: {exc.message}")
        return {"kind": exc.kind, "message": exc.message, "exit": KIND_EXIT.get(exc.kind, EXIT_REFUSED)}

    dbs: list[dict[str, Any]] = []
    plans: list[tuple[dict[str, Any], Any]] = []
    for path in paths:
        entry: dict[str, Any] = {"path": path, "plan": None, "outcome": None, "error": None}
        dbs.append(entry)
        try:
            the_plan = _plan(path, args, profiles)
        except BatchtopError as exc:
            entry["error"] = error(exc)
            continue
        entry["plan"] = the_plan.as_dict()
        plans.append((entry, the_plan))
        if not as_json:
            print_plan(the_plan)
    total = sum(p.cap for _, p in plans)
    doc: dict[str, Any] = {"databases": dbs, "rows": total, "dry_run": bool(args.dry_run)}
    worst = max((e["error"]["exit"] for e in dbs if e["error"]), default=EXIT_OK)
    if total == 0:
        narrate("batchtop reset: nothing matched" + ("; no database matched" if not paths else "") +
                "; nothing written")
        return finish(doc, as_json, max(worst, EXIT_REFUSED))
    n = sum(1 for _, p in plans if p.cap)
    if args.dry_run:
        narrate(f"batchtop reset: dry run ({total} rows in {n} databases); nothing written")
        return finish(doc, as_json, worst)
    verb = "/".join(dict.fromkeys(p.action.name for _, p in plans if p.cap))
    if not confirmed(args, lambda: confirm_rows(f"{verb} in {n} databases:", total, total > CONFIRM_OVER, ask_terminal)):
        return finish(doc, as_json, EXIT_REFUSED)
    journal = journal_from(args)
    for entry, the_plan in plans:
        if not the_plan.cap:
            continue
        try:
            outcome = apply(the_plan, journal=journal)
        except BatchtopError as exc:
            entry["error"] = error(exc)
            worst = max(worst, entry["error"]["exit"])
            continue
        entry["outcome"] = outcome.as_dict()
        if not as_json:
            print(f"{display(the_plan.path)}: {display(outcome.summary())}")
        if outcome.entry_id:
            narrate(f"batchtop reset: {the_plan.path}: journaled as {outcome.entry_id}")
        if not outcome.count:
            worst = max(worst, EXIT_REFUSED)
    return finish(doc, as_json, worst)


def finish(doc: dict[str, Any], as_json: bool, code: int) -> int:
    """Print `doc` with --json; return `code`."""
    if as_json:
        emit_json(doc)
    return code
