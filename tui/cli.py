"""`batchtop` command line: the TUI by default, and headless commands for scripts and CI.

Headless commands never import Textual (and Rich only to print tables on a terminal), so they start
fast. Data goes to stdout, narration to stderr.

Every string printed (text and JSON, stdout and stderr) is sanitised: it can come from a database, a
file name or a profile. Into a pipe or a file, text is never cut to a width.

Exit codes:
    0  every source was read (or the action was applied / the dry run shown)
    1  at least one source could not be read (its `error` says why; the others are still reported),
       or nothing matched (no database, no such --track) / the action was refused
    2  usage error
    3  busy: the job holds a lock; try again
    4  the file was replaced or is missing
    141 stdout was closed early (`| head`): the command stopped quietly
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchtop.core.errors import BatchtopError, ProfileError
from batchtop.tui.cli_args import count, load_profiles, monitor_of, positive, seconds, track_named
from batchtop.tui.output import EXIT_PIPE, emit_json, narrate, silence_stdout

EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE = 0, 1, 2
COMMANDS = ("status", "failures", "profile", "simulate", "demo", "reset", "undo", "journal", "open", "serve",
            "export", "watch")

DESCRIPTION = "Watch the SQLite files long batch jobs track their progress in; triage and reset failures."
EPILOG = """\
With no command, batchtop opens the live monitor on PATH|GLOB|DIR ... (default: the current directory).
Exit codes: 0 ok; 1 a source could not be read or nothing matched; 2 usage; 3 busy; 4 file replaced;
141 output pipe closed early.
"""


def version() -> str:
    """The installed distribution's version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("batchtop")
    except PackageNotFoundError:  # pragma: no cover - run from a bare checkout
        return "unknown"


def cmd_status(args: argparse.Namespace) -> int:
    """Print counts, rate and ETA of every source once (or after sampling for --sample seconds)."""
    from batchtop.core.status import to_json

    monitor = monitor_of(args, args.paths)
    if not monitor.sources:
        narrate("batchtop: no database matched")
        if args.json:
            emit_json({"sources": []})
        return EXIT_UNREADABLE
    monitor.poll_all()
    if args.sample > 0:
        time.sleep(args.sample)
        monitor.poll_all()
    statuses = monitor.statuses()
    monitor.close()
    if args.json:
        emit_json({"sources": [to_json(s) for s in statuses]})
    elif args.summary:
        from batchtop.tui.triage_cli import print_summary

        print_summary(statuses, args.chunks)
    else:
        from batchtop.tui.report import print_status

        print_status(statuses, now=time.time())
    return EXIT_UNREADABLE if any(s.error for s in statuses) else EXIT_OK


def cmd_failures(args: argparse.Namespace) -> int:
    """Print the newest failed items (their error's headline) of every source, sanitised."""
    from batchtop.core.backends.sqlite.reads import read_failures
    from batchtop.core.sanitize import clean_line

    if args.group or args.where is not None:
        from batchtop.tui import triage_cli

        return triage_cli.cmd_failures(args)
    monitor = monitor_of(args, args.paths)
    if not monitor.sources:
        narrate("batchtop: no database matched")
        if args.json:
            emit_json({"sources": []})
        return EXIT_UNREADABLE
    known: set[str] = set()
    out, code, found = [], EXIT_OK, False
    for source, result in monitor.poll_all():
        if result.error or source.profile is None:
            code = EXIT_UNREADABLE
            out.append({"path": source.path, "error": result.error.message if result.error else "unreadable",
                        "tracks": []})
            continue
        totals = {t.name: t.total for t in source.snapshot.tracks} if source.snapshot else {}
        known.update(t.name for t in source.profile.tracks)
        tracks, error = [], None
        for track in track_named(source.profile.tracks, args.track):
            found = True
            try:
                if getattr(source, "kind", "sqlite") == "postgresql":
                    rows = source.failures(track, limit=args.limit)
                else:
                    rows = source.run(lambda conn, t=track: read_failures(conn, t, limit=args.limit))
            except BatchtopError as exc:  # e.g. the job took its lock between the poll and this read
                error, code = exc.message, EXIT_UNREADABLE
                continue
            tracks.append({"track": track.name, "table": track.table, "total": totals.get(track.name),
                           "failures_recorded": track.failures_recorded,
                           "items": [{"key": r.key, "label": r.label, "error": r.error,
                                      "error_length": r.error_len, "when": r.when, "raw": r.raw}
                                     for r in rows]})
        out.append({"path": source.path, "error": error, "tracks": tracks})
    monitor.close()
    if args.track is not None and not found and known:
        names = ", ".join(sorted(clean_line(n) for n in known))
        message = f"no track {args.track!r} (tracks: {names})"
        narrate(f"batchtop failures: {message}")
        for src in out:
            src["error"] = src["error"] or message
        code = EXIT_UNREADABLE
    if args.json:
        emit_json({"sources": out})
    else:
        from batchtop.tui.report import print_failures

        print_failures(out)
    return code


def cmd_profile(args: argparse.Namespace) -> int:
    """Print the profile batchtop uses for each PATH as TOML, ready to edit; where nothing is detected,
    a commented skeleton of the tables and columns to fill in."""
    from batchtop.core.backends.sqlite.schema import read_schema
    from batchtop.core.profiles.dump import dump_profiles, skeleton

    monitor = monitor_of(args, args.paths)
    found: list[tuple[str, Any]] = []
    skeletons: list[str] = []
    code = EXIT_OK
    polled = monitor.poll_all()
    for source, result in polled:
        if source.profile is not None:
            found.append((source.path, source.profile))
            continue
        error = result.error or source.error
        schema = None
        if error is not None and error.kind == "unknown-schema":
            try:
                schema = source.run(read_schema)
            except BatchtopError:
                schema = None
        if schema is None or not schema.tables:
            narrate(f"batchtop: {source.path}: {error.message if error else 'unreadable'}")
            code = EXIT_UNREADABLE
            continue
        narrate(f"batchtop: {source.path}: {error.message if error else 'nothing detected'}; printed a "
                 "commented skeleton of its tables to fill in")
        skeletons.append(skeleton(schema, source.path, nested=len(polled) > 1))
    monitor.close()
    if not polled:
        narrate("batchtop: no database matched")
        return EXIT_UNREADABLE
    parts = ([dump_profiles(found, nested=bool(skeletons))] if found else []) + skeletons
    if parts:
        print("\n".join(parts), end="")
    return code


def cmd_simulate(args: argparse.Namespace) -> int:
    """Play a simulated job into DIR."""
    from batchtop.core.simulator.__main__ import main as simulate

    argv = [args.dir, "--schema", args.schema, "--items", str(args.items), "--rate", str(args.rate)]
    if args.seconds is not None:
        argv += ["--seconds", str(args.seconds)]
    return simulate(argv)


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the simulator on a temporary directory and open the monitor on it."""
    from batchtop.tui.demo import run_demo

    return run_demo()


def cmd_open(args: argparse.Namespace) -> int:
    """Open the live monitor."""
    from batchtop.core.alert_config import find_alert_config
    from batchtop.core.chunks import parse_group_by
    from batchtop.core.monitor import Monitor
    from batchtop.tui.alerting import AlertSettings
    from batchtop.tui.factory import run_app

    config = find_alert_config(args.profile, args.paths or ["."])  # ProfileError: exit 2, in main
    try:
        alerts = AlertSettings.parse(args.alerts, args.notify, args.event_log, config)
        group_by = parse_group_by(args.group_by)
    except ValueError as exc:
        narrate(f"batchtop: {exc}")
        return EXIT_USAGE
    monitor = Monitor(args.paths or ["."], profiles=load_profiles(args.profile))
    return run_app(monitor, poll_interval=args.interval, watch=not args.no_watch,
                   read_only=args.read_only, journal_path=Path(args.journal) if args.journal else None,
                   alerts=alerts if alerts.kinds else None, group_by=group_by)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (subcommands; bare paths mean `open`)."""
    from batchtop.tui import triage_cli

    parser = argparse.ArgumentParser(prog="batchtop", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"batchtop {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        p.add_argument("--profile", action="append", default=[], metavar="FILE",
                       help="a TOML profile file (repeatable)")
        return p

    p = add("open", cmd_open, "open the live monitor (the default)")
    p.add_argument("paths", nargs="*", metavar="PATH|GLOB|DIR")
    p.add_argument("--interval", type=positive, default=1.0, help="fallback poll interval in seconds")
    p.add_argument("--no-watch", action="store_true", help="poll on a timer only (no directory watch)")
    p.add_argument("--read-only", action="store_true", help="never open a read-write connection")
    p.add_argument("--journal", metavar="FILE", help="action journal file")
    triage_cli.add_open_options(p)

    p = add("status", cmd_status, "print counts, rate and ETA of each database")
    p.add_argument("paths", nargs="+", metavar="PATH|GLOB|DIR")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--sample", type=seconds, default=0.0, metavar="SECONDS",
                   help="poll twice, SECONDS apart, to measure a rate where rows carry no timestamps")
    triage_cli.add_status_options(p)

    p = add("failures", cmd_failures, "print the newest failed items (a traceback shows its exception line)")
    p.add_argument("paths", nargs="+", metavar="PATH|GLOB|DIR")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--limit", type=count, default=20, metavar="N", help="items per track (default 20)")
    p.add_argument("--track", help="only this track (exit 1 when no database has it)")
    triage_cli.add_failures_options(p)

    p = add("profile", cmd_profile, "print the profile used for each PATH as TOML (a skeleton where "
                                    "nothing is detected)")
    p.add_argument("paths", nargs="+", metavar="PATH|GLOB|DIR")

    p = add("simulate", cmd_simulate, "play a simulated job into DIR")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--schema", default="topics", choices=("topics", "llm", "docstore", "smarthistory", "jobs"))
    p.add_argument("--items", type=count, default=500)
    p.add_argument("--rate", type=positive, default=5.0, help="items per second")
    p.add_argument("--seconds", type=seconds, default=None, help="stop after this long")

    add("demo", cmd_demo, "a live simulated run of all five schemas, opened in the monitor")
    triage_cli.register(sub)

    from batchtop.tui import serve

    serve.add_parser(sub)

    from batchtop.tui import actions_cli, undo_cli

    actions_cli.register(sub)
    undo_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `batchtop` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv = ["open", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so that a closed pipe is caught below and not at exit
        return code
    except BrokenPipeError:
        # `batchtop status | head`: the reader has all it wanted. Nothing more can be said on stdout.
        silence_stdout()
        return EXIT_PIPE
    except ProfileError as exc:
        narrate(f"batchtop: {exc.message}")
        return EXIT_USAGE
    except BatchtopError as exc:
        narrate(f"batchtop: {exc.message}")
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
