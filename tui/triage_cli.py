"""Headless triage commands: `export`, `watch`, `failures --group`, `failures --where`, `status --summary`.

    batchtop export PATH|GLOB|DIR... [--where FILTER] [--format csv|jsonl] [-o FILE] [--track NAME]
    batchtop watch PATH|GLOB|DIR... --until finished|stalled|failed [--timeout S] [--interval S] [--json]
    batchtop failures PATH... --group [--json] [--limit N] [--track NAME]
    batchtop failures PATH... --where FILTER [--json] [--limit N]
    batchtop status PATH... --summary [--chunks pattern|dir|none]

Data goes to stdout, narration to stderr; every string printed is sanitised. Never imports Textual or
Rich.

Exit codes of `watch`:
    0  a condition asked for was reached (stdout says which: finished, stalled or failed)
    1  --timeout passed first (stdout says `timeout`)
    2  usage error (bad arguments, bad --until)
    130 interrupted (ctrl-c)
Other commands: 0 ok; 1 a source could not be read or nothing matched; 2 usage (a bad --where filter:
stderr points at the bad token).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from batchtop.core import fmt
from batchtop.core.errors import BatchtopError
from batchtop.core.sanitize import clean
from batchtop.tui import spark_text
from batchtop.tui.cli_args import monitor_of, positive, seconds, track_named
from batchtop.tui.output import emit_json, narrate

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
#: Filter of `export` without --where: the failures.
DEFAULT_EXPORT = "state:failed"


def register(subparsers: Any) -> None:
    """Add `export` and `watch` to the `batchtop` subcommands."""
    p = subparsers.add_parser(
        "export",
        help="export failures or any filtered view to CSV or JSON Lines",
        description="Stream the rows a filter selects to CSV or JSON Lines "
        "(sanitised, secrets never read, formulas neutralised).",
    )
    p.add_argument("paths", nargs="+", metavar="PATH|GLOB|DIR")
    p.add_argument("--where", metavar="FILTER", help=f"rows to export (default: {DEFAULT_EXPORT!r})")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    p.add_argument("--track", help="only this track")
    p.add_argument("--profile", action="append", default=[], metavar="FILE", help="a TOML profile file")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser(
        "watch",
        help="wait until runs finish, stall or fail (exit code says which)",
        description="Poll until a condition holds; for scripts waiting on a run.",
        epilog="Exit codes:" + (__doc__ or "").split("Exit codes of `watch`:")[1].split("Other commands")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH|GLOB|DIR")
    p.add_argument(
        "--until",
        action="append",
        required=True,
        metavar="CONDITION",
        help="finished, stalled or failed (repeatable, or comma-separated: the first reached wins)",
    )
    p.add_argument(
        "--timeout", type=seconds, default=None, metavar="S", help="give up after S seconds (exit 1)"
    )
    p.add_argument("--interval", type=positive, default=2.0, metavar="S", help="seconds between polls")
    p.add_argument("--json", action="store_true", help="machine-readable outcome")
    p.add_argument("--profile", action="append", default=[], metavar="FILE", help="a TOML profile file")
    p.set_defaults(func=cmd_watch)


def add_open_options(p: argparse.ArgumentParser) -> None:
    """Alert options of the live monitor (`batchtop open`)."""
    p.add_argument(
        "--alerts",
        metavar="KINDS",
        default=None,
        help="alerts to raise: all, none, or a comma list of new-signature, spike, failed, stalled, "
        "finished (default, or $BATCHTOP_ALERTS: all but failed, every new failure)",
    )
    p.add_argument(
        "--notify",
        metavar="HOW",
        default=None,
        help="how to tell: bell (default, or $BATCHTOP_NOTIFY), osc9, osc777, bell+osc9, "
        "bell+osc777, off (the event log `E` lists alerts either way)",
    )
    p.add_argument(
        "--event-log", metavar="FILE", default=None, help="also append every alert to FILE (JSONL)"
    )
    p.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="HOW",
        help="show chunk files as one combined row per set: pattern (names alike once digits are "
        "wildcards), dir, pattern:GLOB (repeatable), or none (default); g in the overview cycles",
    )


def add_failures_options(p: argparse.ArgumentParser) -> None:
    """`--group` and `--where` of `batchtop failures`."""
    p.add_argument(
        "--group", action="store_true", help="group failures by error signature across every database"
    )
    p.add_argument("--where", metavar="FILTER", help="only failures matching FILTER (see the README)")


def add_status_options(p: argparse.ArgumentParser) -> None:
    """`--summary` and `--chunks` of `batchtop status`."""
    p.add_argument("--summary", action="store_true", help="one line per database, then totals")
    p.add_argument(
        "--chunks",
        choices=("pattern", "dir", "none"),
        default="none",
        help="with --summary: one line per set of chunk files (run-*.db)",
    )


# -- helpers ------------------------------------------------------------------------------------------


def _parse_filter(text: str, command: str) -> Any:
    from batchtop.core.errors import FilterError
    from batchtop.core.filtered import Filter

    try:
        return Filter.parse(text)
    except FilterError as exc:
        narrate(f"batchtop {command}: {exc.message}")
        for line in exc.caret().splitlines():
            print("  " + line, file=sys.stderr)
        return None


def _polled(args: argparse.Namespace) -> Any:
    monitor = monitor_of(args, args.paths)
    monitor.poll_all()
    return monitor


def _pairs(monitor: Any, track: str | None) -> tuple[list[tuple[Any, Any]], list[tuple[str, str]]]:
    """(source, track) of every readable source (only `track` when named), and unreadable sources."""
    pairs, errors = [], []
    for source in monitor.snapshot_sources():
        if source.error is not None or source.profile is None:
            errors.append((source.path, source.error.message if source.error else "unreadable"))
            continue
        pairs += [(source, t) for t in track_named(source.profile.tracks, track)]
    return pairs, errors


def _compile_all(
    pairs: list[tuple[Any, Any]], flt: Any, command: str, errors: list[tuple[str, str]]
) -> tuple[list[tuple[Any, Any, str, dict]], Any]:
    """Compile the filter for each track: (source, track, sql, params), and the error when none compiled.
    A source that cannot take the filter (unreadable) is said and added to `errors`."""
    from batchtop.core.errors import FilterError
    from batchtop.core.filtered import compile_for

    now = time.time()
    out, first = [], None
    for source, track in pairs:
        try:
            sql, params = compile_for(source, track, flt, now=now, path=source.path)
        except FilterError as exc:
            first = first or exc
            narrate(f"batchtop {command}: skipped {source.path} {track.name}: {exc.reason}")
            continue
        except BatchtopError as exc:
            narrate(f"batchtop {command}: {source.path}: {exc.message}")
            errors.append((source.path, exc.message))
            continue
        out.append((source, track, sql, params))
    return out, first if not out else None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# -- export ---------------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    """Stream the matching rows of every database to CSV or JSON Lines."""
    from batchtop.core.errors import FilterError
    from batchtop.core.export import Writer, metric_names, rows

    flt = _parse_filter(args.where if args.where is not None else DEFAULT_EXPORT, "export")
    if flt is None:
        return EXIT_USAGE
    monitor = _polled(args)
    try:
        pairs, errors = _pairs(monitor, args.track)
        for path, message in errors:
            narrate(f"batchtop export: {path}: {message}")
        if not monitor.sources:
            narrate("batchtop export: no database matched")
            return EXIT_FAIL
        if args.output:
            for source in monitor.snapshot_sources():
                if any(_same_file(args.output, source.path + s) for s in ("", "-wal", "-shm", "-journal")):
                    narrate(f"batchtop export: refusing to write over a watched database: {args.output}")
                    return EXIT_USAGE
        compiled, bad = _compile_all(pairs, flt, "export", errors)
        if bad is not None:
            assert isinstance(bad, FilterError)
            narrate(f"batchtop export: {bad.message}")
            return EXIT_USAGE
        extra = [m for _, t, _, _ in compiled for m in metric_names(t)]
        out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
        code = EXIT_FAIL if errors else EXIT_OK
        try:
            writer = Writer(out, args.format, extra)
            for source, track, sql, params in compiled:
                try:
                    for record in rows(source, track, sql, params, path=source.path):
                        writer.write(record)
                except BatchtopError as exc:  # locked, damaged or replaced mid-export: say so, go on
                    narrate(f"batchtop export: {source.path} {track.name}: {exc.message} (export incomplete)")
                    code = EXIT_FAIL
        finally:
            if out is not sys.stdout:
                out.close()
        where = f"to {args.output}" if args.output else "to stdout"
        narrate(f"batchtop export: {writer.count:,} rows from {len(compiled)} track(s) {where}")
        return code
    finally:
        monitor.close()


# -- failures --group / --where ----------------------------------------------------------------------


def cmd_failures(args: argparse.Namespace) -> int:
    """`batchtop failures --group` (signatures across databases) or `--where FILTER`."""
    if args.group and args.where is not None:
        narrate("batchtop failures: --group groups every failure; use --where without --group")
        return EXIT_USAGE
    return _groups(args) if args.group else _where(args)


def _groups(args: argparse.Namespace) -> int:
    from batchtop.core.crossgroups import RATE_CELLS, cross_groups, to_json

    monitor = _polled(args)
    try:
        pairs, errors = _pairs(monitor, args.track)
        if not monitor.sources:
            narrate("batchtop failures: no database matched")
            if args.json:
                emit_json({"groups": []})
            return EXIT_FAIL
        report = cross_groups(pairs, limit=args.limit or None)
    finally:
        monitor.close()
    doc = to_json(report)
    doc["errors"] = [{"path": p, "error": m} for p, m in errors] + doc["errors"]
    code = EXIT_FAIL if doc["errors"] or not pairs else EXIT_OK
    if args.json:
        emit_json(doc)
        return code
    for e in doc["errors"]:
        narrate(f"batchtop failures: {e['path']}: {e['error']}")
    print(
        f"{report.failed:,} failures, {report.distinct:,} error signatures"
        + (f" (top {len(report.groups)})" if len(report.groups) < report.distinct else "")
    )
    axis = doc["rate_axis"]
    if axis is not None:
        start, end = (fmt.clock(t, seconds=False) for t in (axis["start"], axis["end"]))
        print(f"{'':>9} {'':6}  {'over time':<{RATE_CELLS}}  {start} -> {end}")
    for g, d in zip(report.groups, doc["groups"], strict=True):
        files = {o.path for o in g.occurrences}
        where = ", ".join(f"{os.path.basename(o.path)} {o.count:,}" for o in g.occurrences[:3])
        more = f", +{len(g.occurrences) - 3} more" if len(g.occurrences) > 3 else ""
        trend = spark_text.plain(d["rate"], RATE_CELLS) if axis is not None else ""
        print(clean(f"{g.count:>9,} {fmt.percent(g.share):>6}  {trend}  {g.signature}  [{len(files)} file(s): {where}{more}]"))
    return code


def _where(args: argparse.Namespace) -> int:
    from batchtop.core.export import rows
    from batchtop.core.filtered import failed_predicate

    flt = _parse_filter(args.where, "failures")
    if flt is None:
        return EXIT_USAGE
    monitor = _polled(args)
    try:
        pairs, errors = _pairs(monitor, args.track)
        if not monitor.sources:
            narrate("batchtop failures: no database matched")
            if args.json:
                emit_json({"sources": []})
            return EXIT_FAIL
        compiled, bad = _compile_all(pairs, flt, "failures", errors)
        if bad is not None:
            narrate(f"batchtop failures: {bad.message}")
            return EXIT_USAGE
        by_path: dict[str, dict[str, Any]] = {p: {"path": p, "error": m, "tracks": []} for p, m in errors}
        for source, track, sql, params in compiled:
            cond = f"({sql}) AND {failed_predicate(source, track)}"
            items = []
            for r in rows(source, track, cond, params, path=source.path, newest_first=True):
                items.append(
                    {
                        "key": r["key"],
                        "label": r["label"],
                        "error": r["headline"],
                        "error_length": r["error_length"],
                        "when": r["when"],
                        "raw": r["raw"],
                        "signature": r["signature"],
                    }
                )
                if len(items) >= args.limit:
                    break
            doc = by_path.setdefault(source.path, {"path": source.path, "error": None, "tracks": []})
            doc["tracks"].append({"track": track.name, "table": track.table, "items": items})
    finally:
        monitor.close()
    out = list(by_path.values())
    if args.json:
        emit_json({"sources": out, "where": flt.text})
    else:
        for src in out:
            if src["error"]:
                narrate(f"batchtop failures: {src['path']}: {src['error']}")
            for t in src["tracks"]:
                print(clean(f"{src['path']} {t['track']}: {len(t['items'])} matching"))
                for it in t["items"]:
                    print(clean(f"  {it['key']}  {it['label']}  {it['error']}"))
    return EXIT_FAIL if errors else EXIT_OK


# -- status --summary -------------------------------------------------------------------------------


def print_summary(statuses: Sequence[Any], chunks: str = "none") -> None:
    """`batchtop status --summary`: one line per source (or per set of chunk files), then totals."""
    from batchtop.core.chunks import combine, group_paths
    from batchtop.core.waiting import summary_lines

    if chunks == "none":
        for line in summary_lines(statuses):
            print(line)
        return
    by_path = {s.path: s for s in statuses}
    for chunk_set in group_paths([s.path for s in statuses], by=chunks):
        members = [by_path[p] for p in chunk_set.paths]
        if len(members) == 1:
            print(summary_lines(members)[0])
            continue
        c = combine(chunk_set.name, members)
        rate = fmt.per_min(c.rate_per_min)
        eta = f"ETA {fmt.eta(c.eta, c.remaining)}"
        pct = fmt.percent(c.progress if c.total else None)
        print(
            clean(
                f"{c.name} ({c.files} files{f', {c.errors} unreadable' if c.errors else ''}): "
                f"{c.state} {c.settled:,}/{c.total:,} {pct} failed {c.counts['failed']:,} "
                f"running {c.counts['running']:,} {rate} {eta}"
            )
        )
    if len(statuses) > 1:
        print(summary_lines(statuses)[-1])


# -- watch ----------------------------------------------------------------------------------------------


def _conditions(values: Sequence[str]) -> list[str] | None:
    from batchtop.core.waiting import CONDITIONS

    out = [w.strip().lower() for v in values for w in v.split(",") if w.strip()]
    bad = [w for w in out if w not in CONDITIONS]
    if bad or not out:
        narrate(
            f"batchtop watch: unknown condition(s) {', '.join(bad) or '(none)'}: give {', '.join(CONDITIONS)}"
        )
        return None
    return out


def cmd_watch(args: argparse.Namespace, *, sleep: Any = time.sleep, clock: Any = time.monotonic) -> int:
    """Poll every database until a condition holds or the timeout passes."""
    from batchtop.core.waiting import Baseline, reached, summary_lines

    until = _conditions(args.until)
    if until is None:
        return EXIT_USAGE
    monitor = monitor_of(args, args.paths)
    started = clock()
    baseline: Baseline | None = None
    last_scan = started
    try:
        while True:
            monitor.poll_all()  # gated: an unchanged database costs a data_version check, no query
            statuses = monitor.statuses()
            if baseline is None:
                baseline = Baseline.of(statuses)
            else:
                # Files that appeared later count their failures from zero.
                for s in statuses:
                    for t in s.tracks:
                        baseline.failed.setdefault((s.path, t.name), 0)
            outcome = reached(statuses, until, baseline)
            elapsed = clock() - started
            if outcome is None and args.timeout is not None and elapsed >= args.timeout:
                outcome = "timeout"
            if outcome is not None:
                lines = summary_lines(statuses)
                if args.json:
                    emit_json({"outcome": outcome, "elapsed": round(elapsed, 3), "summary": lines})
                else:
                    print(outcome)
                    for line in lines:
                        narrate(line)
                return EXIT_FAIL if outcome == "timeout" else EXIT_OK
            wait = args.interval
            if args.timeout is not None:
                wait = max(0.0, min(wait, args.timeout - elapsed))
            sleep(wait)
            if clock() - last_scan >= 10 * args.interval:
                monitor.rescan()  # chunk files that appeared since
                last_scan = clock()
    finally:
        monitor.close()
