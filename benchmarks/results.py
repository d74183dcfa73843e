"""Machine description, the issue-8 target checks, and the Markdown / JSON result files."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=REPO).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict:
    """What the figures depend on: CPU, memory, load, Python, SQLite, Textual and the code's commit."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    try:
        from importlib.metadata import version

        textual = version("textual")
    except Exception:  # noqa: BLE001 - informational only
        textual = ""
    commit = _run(["git", "rev-parse", "HEAD"])
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory": mem,
        "load_average": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "sqlite3_cli": _run(["sqlite3", "--version"]).split(" ")[0],
        "textual": textual,
        "tmux": _run(["tmux", "-V"]),
        "git_commit": commit,
        "git_branch": _run(["git", "rev-parse", "--abbrev-ref", "HEAD"]),
        "git_dirty": dirty,
    }


# -- targets ----------------------------------------------------------------------------------------------


def _check(rows: list, target: str, where: str, value, limit, ok: bool | None, unit: str = "") -> None:
    rows.append(
        {
            "target": target,
            "where": where,
            "measured": value,
            "limit": limit,
            "unit": unit,
            "verdict": "n/a" if ok is None else ("met" if ok else "MISSED"),
        }
    )


def target_checks(res: dict) -> list[dict]:
    """Each issue-8 target against what this run measured (only what was run is checked)."""
    rows: list[dict] = []
    idle = res.get("idle", {}).get("tui", [])
    limits = {1: 0.3, 100: 1.0, 1000: 3.0}
    for r in idle:
        n = r.get("databases")
        limit = limits.get(n, 1.0 if n and n <= 100 else 3.0)
        where = f"{n} dbs" + (f" ({r['sources_watched']} watched)" if r.get("sources_watched") != n else "")
        if "cpu_pct" in r:
            _check(rows, "idle CPU (% of a core)", where, r["cpu_pct"], limit, r["cpu_pct"] <= limit, "%")
        if n == 100 and "peak_rss_mb" in r:
            _check(rows, "idle RSS", "100 dbs", r["peak_rss_mb"], 150, r["peak_rss_mb"] <= 150, "MB")
    job = res.get("job", {}).get("conditions", {})
    for c, r in job.items():
        if c == "alone" or c == "sqlite3":
            continue  # sqlite3 is the comparison, not a target
        if "rate_vs_alone_median" in r:
            _check(
                rows,
                "job rate vs alone",
                c,
                r["rate_vs_alone_median"],
                0.98,
                r["rate_vs_alone_median"] >= 0.98,
            )
            _check(
                rows,
                "job WAL peak vs alone",
                c,
                r["wal_peak_vs_alone_median"],
                1.2,
                r["wal_peak_vs_alone_median"] <= 1.2,
                "x",
            )
            _check(
                rows,
                "longest read txn (job, WAL)",
                c,
                r["longest_read_txn_ms"],
                20,
                r["longest_read_txn_ms"] <= 20,
                "ms",
            )
        elif "error" in r:
            _check(rows, "job rate vs alone", c, r["error"], 0.98, None)
    rb = res.get("rollback", {}).get("conditions", {})
    for c, r in rb.items():
        if c in ("alone", "sqlite3"):
            continue
        if "locked_total" in r:
            _check(
                rows,
                '"database is locked" (rollback, 0.2 s)',
                c,
                r["locked_total"],
                0,
                r["locked_total"] == 0,
            )
            _check(
                rows,
                "longest read txn (rollback)",
                c,
                r["longest_read_txn_ms"],
                20,
                r["longest_read_txn_ms"] <= 20,
                "ms",
            )
    for r in res.get("latency", []):
        if r.get("p95_ms") is not None:
            limit = 50 if r["db"]["rows"] <= 200_000 else 100
            _check(
                rows,
                "commit -> screen p95",
                f"{r['db']['variant']} {r['db']['rows']:,} {r['screen']}",
                r["p95_ms"],
                limit,
                r["p95_ms"] <= limit,
                "ms",
            )
    core = res.get("core", [])
    for r in core:
        where = f"{r.get('db', {}).get('variant')} {r.get('db', {}).get('rows', 0):,}"
        u = r.get("unchanged_poll")
        if u:
            _check(
                rows,
                "SQL per unchanged poll (beyond the data_version gate)",
                where,
                u["sql_beyond_gate_per_poll"],
                0,
                u["sql_beyond_gate_per_poll"] == 0,
            )
        for k, c in r.get("changed_poll", {}).items():
            if "longest_read_txn_ms" in c:
                _check(
                    rows,
                    f"longest read txn, poll after {k} changed",
                    where,
                    c["longest_read_txn_ms"],
                    20,
                    c["longest_read_txn_ms"] <= 20,
                    "ms",
                )
        if r.get("count_errors"):
            _check(rows, "counts exact after a poll", where, len(r["count_errors"]), 0, False)
    # O(K): the poll after one changed row must not grow with the table.
    by_variant: dict[str, list[dict]] = {}
    for r in core:
        if "1" in r.get("changed_poll", {}) and "p50_ms" in r["changed_poll"]["1"]:
            by_variant.setdefault(r["db"]["variant"], []).append(r)
    for v, rs in by_variant.items():
        rs.sort(key=lambda r: r["db"]["rows"])
        if len(rs) > 1:
            small, big = rs[0]["changed_poll"]["1"]["p50_ms"], rs[-1]["changed_poll"]["1"]["p50_ms"]
            limit = round(2 * small + 5, 1)
            _check(
                rows,
                "poll after 1 changed row: O(K), not O(rows) (<= 2x smallest + 5 ms)",
                f"{v} {rs[-1]['db']['rows']:,} vs {rs[0]['db']['rows']:,}",
                big,
                limit,
                big <= limit,
                "ms",
            )
    for r in res.get("screens", {}).get("open", []):
        where = f"{r['db']['variant']} {r['db']['rows']:,}"
        if r.get("first_screen_s") is not None:
            _check(
                rows,
                "first screen (from start)",
                where,
                r["first_screen_s"],
                1.0,
                r["first_screen_s"] <= 1.0,
                "s",
            )
        if r.get("exact_counts_s") is not None:
            _check(
                rows,
                "exact counts (from start)",
                where,
                r["exact_counts_s"],
                10.0,
                r["exact_counts_s"] <= 10.0,
                "s",
            )
        if r.get("memory"):
            _check(
                rows,
                "TUI RSS with the database open",
                where,
                r["memory"]["peak_rss_mb"],
                200,
                r["memory"]["peak_rss_mb"] <= 200,
                "MB",
            )
    for r in res.get("screens", {}).get("groups", []):
        if r.get("first_group_s") is not None:
            where = f"{r['db']['variant']} {r['db']['failed']:,} failed"
            _check(
                rows,
                "error groups: first group on screen (from `f`)",
                where,
                r["first_group_s"],
                1.0,
                r["first_group_s"] <= 1.0,
                "s",
            )
    return rows


# -- writing ----------------------------------------------------------------------------------------------


def write(res: dict, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    res["targets"] = target_checks(res)
    j = out_dir / f"{stem}.json"
    j.write_text(json.dumps(res, indent=1, default=str) + "\n")
    m = out_dir / f"{stem}.md"
    m.write_text(markdown(res))
    return j, m


def _table(head: list[str], rows: list[list]) -> list[str]:
    def cell(v) -> str:
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 10 else f"{v:,.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v).replace("|", "\\|")

    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(cell(v) for v in r) + " |" for r in rows),
        "",
    ]


def _versus(res: dict) -> list[str]:
    """batchtop (TUI) beside the `watch -n1 sqlite3` loop, for the figures both were measured on."""
    job = res.get("job", {}).get("conditions", {})
    rb = res.get("rollback", {}).get("conditions", {})
    lat = res.get("latency", [])
    idle = {r["databases"]: r for r in res.get("idle", {}).get("tui", [])}
    idle_loop = {r["databases"]: r for r in res.get("idle", {}).get("sqlite3", [])}
    tui_screens = [c for c in job if c.startswith("tui:") and "rate_vs_alone_median" in job[c]]

    def worst(key: str, pick=max, source=job, screens=tui_screens):
        vals = [source[c][key] for c in screens if source.get(c, {}).get(key) is not None]
        return pick(vals) if vals else None

    rows = []
    if "sqlite3" in job and tui_screens:
        rows += [
            [
                "job's commit rate vs alone (worst screen)",
                worst("rate_vs_alone_median", min),
                job["sqlite3"].get("rate_vs_alone_median"),
            ],
            [
                "job's WAL peak vs alone (worst screen)",
                worst("wal_peak_vs_alone_median"),
                job["sqlite3"].get("wal_peak_vs_alone_median"),
            ],
            [
                "monitor CPU while the job commits, % of a core (overview)",
                job.get("tui:overview", {}).get("monitor_cpu_pct_median"),
                job["sqlite3"].get("monitor_cpu_pct_median"),
            ],
            [
                "longest read transaction, ms (worst screen)",
                worst("longest_read_txn_ms"),
                job["sqlite3"].get("longest_read_txn_ms"),
            ],
        ]
    rb_screens = [c for c in rb if c.startswith("tui:") and "locked_total" in rb[c]]
    if "sqlite3" in rb and rb_screens:
        rows.append(
            [
                '"database is locked" per 1,000 commits, rollback journal (worst screen)',
                max(rb[c]["locked_per_1000_commits"] for c in rb_screens),
                rb["sqlite3"].get("locked_per_1000_commits"),
            ]
        )
    for r in lat:
        if r.get("screen") != "overview":
            continue
        loop = next((x for x in lat if x.get("screen") == "sqlite3" and x["db"] == r["db"]), None)
        if loop:
            rows.append(
                [
                    f"commit -> screen p50 / p95 ms, {r['db']['rows']:,} rows",
                    f"{r.get('p50_ms')} / {r.get('p95_ms')}",
                    f"{loop.get('p50_ms')} / {loop.get('p95_ms')}",
                ]
            )
    for n in sorted(set(idle) & set(idle_loop)):
        rows.append(
            [
                f"idle CPU with {n} unchanged databases, % of a core",
                idle[n].get("cpu_pct"),
                idle_loop[n].get("cpu_pct"),
            ]
        )
    if not rows:
        return []
    return ["## batchtop beside `watch -n1 sqlite3 ... GROUP BY status`", ""] + _table(
        ["", "batchtop (TUI)", "watch sqlite3"], rows
    )


def markdown(res: dict) -> str:
    m = res.get("machine", {})
    lines = [
        "# batchtop benchmarks",
        "",
        f"`{res.get('command', '')}`",
        "",
        f"{m.get('date_utc')} UTC · {m.get('cpu_count')} CPUs ({m.get('cpu_model')}) · {m.get('memory')} · "
        f"load {', '.join(f'{x:.2f}' for x in m.get('load_average', []))} at start, "
        f"{', '.join(f'{x:.2f}' for x in res.get('load_average_end', []))} at end · Python {m.get('python')} · "
        f"SQLite {m.get('sqlite')} (CLI {m.get('sqlite3_cli')}) · Textual {m.get('textual')} · "
        f"{m.get('tmux')} · commit {str(m.get('git_commit'))[:10]}{' (dirty)' if m.get('git_dirty') else ''} "
        f"on {m.get('git_branch')}",
        "",
    ]
    if res.get("targets"):
        lines += ["## Targets (issue 8)", ""]
        lines += _table(
            ["target", "where", "measured", "limit", "verdict"],
            [
                [
                    t["target"],
                    t["where"],
                    f"{t['measured']}{t['unit'] if t['unit'] != 'x' else '×'}",
                    f"{t['limit']}{t['unit'] if t['unit'] != 'x' else '×'}",
                    t["verdict"],
                ]
                for t in res["targets"]
            ],
        )
    lines += _versus(res)
    if "idle" in res:
        lines += ["## Idle (TUI in tmux 200×50, nothing changes)", ""]
        lines += _table(
            [
                "databases",
                "watched",
                "CPU % of a core",
                "RSS MB",
                "peak RSS MB",
                "terminal bytes/s",
                "all listed after s",
            ],
            [
                [
                    r.get("databases"),
                    r.get("sources_watched"),
                    r.get("cpu_pct"),
                    r.get("rss_mb"),
                    r.get("peak_rss_mb"),
                    r.get("terminal_bytes_per_s"),
                    r.get("all_listed_s"),
                ]
                for r in res["idle"].get("tui", [])
            ],
        )
        if res["idle"].get("sqlite3"):
            lines += [
                "`watch -n1` running `sqlite3 ... GROUP BY status` on each database (the comparison):",
                "",
            ]
            lines += _table(
                ["databases", "CPU % of a core"],
                [[r["databases"], r.get("cpu_pct")] for r in res["idle"]["sqlite3"]],
            )
        if res["idle"].get("fanout"):
            lines += ["In-process `Monitor.poll_all`, no TUI:", ""]
            lines += _table(
                ["databases", "first pass ms", "unchanged pass p50 ms", "max ms", "connections open"],
                [
                    [
                        r["databases"],
                        r["first_pass_ms"],
                        r["unchanged_pass_p50_ms"],
                        r["unchanged_pass_max_ms"],
                        r["connections_open"],
                    ]
                    for r in res["idle"]["fanout"]
                ],
            )
    if "job" in res and "conditions" in res["job"]:
        j = res["job"]
        db = j.get("db", {})
        lines += [
            f"## The job (WAL, {db.get('variant')} {db.get('rows', 0):,} rows, committing as fast as it can, "
            f"{j.get('seconds_per_run')} s per run, {j.get('rounds')} rounds alternating with alone runs)",
            "",
        ]
        a = j["conditions"].get("alone", {})
        lines.append(
            f"Alone: median {a.get('rate_per_s_median')} commits/s, WAL peak {a.get('wal_peak_mb_median')} MB."
        )
        lines.append("")
        lines += _table(
            [
                "monitor",
                "rate vs alone",
                "WAL peak vs alone",
                "commits/s",
                "WAL peak MB",
                "monitor CPU %",
                "longest read txn ms",
                "read txns > 20 ms",
                "job's slowest commit ms",
            ],
            [
                [
                    c,
                    r.get("rate_vs_alone_median", r.get("error")),
                    r.get("wal_peak_vs_alone_median"),
                    r.get("rate_per_s_median"),
                    r.get("wal_peak_mb_median"),
                    r.get("monitor_cpu_pct_median"),
                    r.get("longest_read_txn_ms"),
                    r.get("read_txns_over_20ms"),
                    r.get("job_commit_ms_max"),
                ]
                for c, r in j["conditions"].items()
                if c != "alone"
            ],
        )
    if "rollback" in res and "conditions" in res["rollback"]:
        rb = res["rollback"]
        db = rb.get("db", {})
        lines += [
            f"## Rollback journal ({db.get('variant')} {db.get('rows', 0):,} rows, {rb.get('commits_per_run')} "
            f"commits per run, busy timeout 0.2 s)",
            "",
        ]
        lines += _table(
            [
                "monitor",
                '"database is locked"',
                "per 1,000 commits",
                "commits/s",
                "job's slowest commit ms",
                "longest read txn ms",
                "read txns > 20 ms",
                "monitor CPU %",
            ],
            [
                [
                    c,
                    r.get("locked_total", r.get("error")),
                    r.get("locked_per_1000_commits"),
                    r.get("rate_per_s_median"),
                    r.get("job_commit_ms_max"),
                    r.get("longest_read_txn_ms"),
                    r.get("read_txns_over_20ms"),
                    r.get("monitor_cpu_pct_median"),
                ]
                for c, r in rb["conditions"].items()
            ],
        )
    if res.get("latency"):
        lines += ["## Commit → on screen (tmux pipe-pane byte stream; TUI defaults)", ""]
        lines += _table(
            ["database", "screen", "commits", "detected", "missed", "p50 ms", "p95 ms", "max ms"],
            [
                [
                    f"{r['db']['variant']} {r['db']['rows']:,}",
                    r.get("screen"),
                    r.get("commits"),
                    r.get("detected"),
                    r.get("missed", r.get("error")),
                    r.get("p50_ms"),
                    r.get("p95_ms"),
                    r.get("max_ms"),
                ]
                for r in res["latency"]
            ],
        )
    if res.get("core"):
        lines += ["## Polls in-process (job's connection open; statements traced)", ""]
        rows = []
        for r in res["core"]:
            if "error" in r:
                rows.append([r.get("where"), r["error"], *[None] * 8])
                continue
            ch = r.get("changed_poll", {})
            rows.append(
                [
                    f"{r['db']['variant']} {r['db']['rows']:,}",
                    r["first_poll"]["ms"],
                    r["first_poll"]["longest_read_txn_ms"],
                    r["unchanged_poll"]["p50_ms"],
                    r["unchanged_poll"]["sql_beyond_gate_per_poll"],
                    *[
                        ch.get(k, {}).get("p50_ms", ch.get(k, {}).get("skipped"))
                        for k in ("1", "100", "10000")
                    ],
                    max((c.get("longest_read_txn_ms", 0) for c in ch.values()), default=None),
                    r.get("memory", {}).get("peak_rss_mb"),
                ]
            )
        lines += _table(
            [
                "database",
                "first poll ms",
                "its read txn ms",
                "unchanged poll ms",
                "SQL beyond gate",
                "poll after 1 ms",
                "after 100 ms",
                "after 10,000 ms",
                "longest read txn ms",
                "peak RSS MB",
            ],
            rows,
        )
        fr = [r["failures"] for r in res["core"] if "failures" in r]
        if fr:
            lines += ["Failures (all rows failed):", ""]
            lines += _table(
                ["database", "failed rows", "first page ms", "next page ms", "first groups s", "error groups s",
                 "groups"],
                [
                    [
                        f"{f['db']['variant']} {f['db']['rows']:,}",
                        f["db"]["failed"],
                        f["failures_first_page_ms"],
                        f["failures_next_page_ms"],
                        f["error_groups"].get("first_partial_s"),
                        f["error_groups"]["seconds"],
                        f["error_groups"]["groups"],
                    ]
                    for f in fr
                ],
            )
    sc = res.get("screens", {})
    if sc.get("open"):
        lines += ["## The TUI on one database (times from start, screen polled every 50 ms)", ""]
        lines += _table(
            [
                "database",
                "first screen s",
                "exact counts s",
                "RSS MB",
                "peak RSS MB",
                "idle CPU %",
                "idle terminal bytes/s",
            ],
            [
                [
                    f"{r['db']['variant']} {r['db']['rows']:,}",
                    r.get("first_screen_s"),
                    r.get("exact_counts_s"),
                    r.get("memory", {}).get("rss_mb"),
                    r.get("memory", {}).get("peak_rss_mb"),
                    r.get("idle", {}).get("cpu_pct"),
                    r.get("idle", {}).get("terminal_bytes_per_s"),
                ]
                for r in sc["open"]
            ],
        )
    if sc.get("groups"):
        lines += ["Error groups in the TUI (`f` on the overview):", ""]
        lines += _table(
            ["database", "failed rows", "failures screen s", "first group s", "peak RSS MB"],
            [
                [
                    f"{r['db']['variant']} {r['db']['rows']:,}",
                    r["db"].get("failed"),
                    r.get("failures_screen_s"),
                    r.get("first_group_s", r.get("error")),
                    r.get("memory", {}).get("peak_rss_mb"),
                ]
                for r in sc["groups"]
            ],
        )
    if res.get("actions"):
        lines += ["## Reset / undo of all failed rows", ""]
        lines += _table(
            ["journal", "track", "rows", "plan ms", "apply ms", "lock held ms", "undo ms", "lock held ms"],
            [
                [
                    r["journal"],
                    r["track"],
                    r["rows"],
                    r["plan_ms"],
                    r["apply_ms"],
                    r["apply_lock_held_ms"],
                    r["undo_ms"],
                    r["undo_lock_held_ms"],
                ]
                for r in res["actions"]
            ],
        )
    if res.get("signature"):
        lines += ["## signature()", ""]
        lines += _table(
            ["corpus", "µs per call"], [[k, v["us_per_call"]] for k, v in res["signature"].items()]
        )
    if res.get("builds"):
        lines += ["## Databases", ""]
        lines += _table(
            ["database", "rows", "size MB", "build s", "counts"],
            [[b["key"], b["rows"], b["size_mb"], b["build_s"], b["counts"]] for b in res["builds"]],
        )
    errors = res.get("errors", {})
    if errors:
        lines += ["## Errors", ""] + [f"- {k}: {v}" for k, v in errors.items()] + [""]
    lines += ["Method: see `benchmarks/README.md` and each module's docstring.", ""]
    return "\n".join(lines)
