"""batchtop benchmarks: every issue-8 target in one command, each beside a "no monitor" baseline.

    .venv/bin/python -m benchmarks                          # everything: 10k/100k/1M/10M (long)
    .venv/bin/python -m benchmarks --sizes 10k,100k,1M --targets core,screens,latency
    .venv/bin/python -m benchmarks --targets job,rollback --job-rows 1M --job-seconds 10 --rounds 3
    .venv/bin/python -m benchmarks --targets idle --idle-dbs 1,100,1000 --idle-seconds 30
    .venv/bin/python -m benchmarks --build-only --sizes 10M  # just build (and cache) the databases
    .venv/bin/python -m benchmarks --smoke                  # tiny sizes, seconds: checks the harness works

`benchmarks/run.py` is the same command. Targets: core (polls in-process), screens (TUI first screen,
exact counts, RSS, error groups), latency (commit -> screen), job (WAL rate and WAL size beside each
monitor), rollback ("database is locked"), idle (1/100/1000 unchanged databases), actions, signature.
Results go to benchmarks/results/bench-<time>.{md,json} (`--out`), with the machine description and each
target checked against issue 8. Databases are cached (`--cache`, default ~/.cache/batchtop/bench).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import dbs, results  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("core", "screens", "latency", "job", "rollback", "idle", "actions", "signature")


def _sizes(text: str) -> list[int]:
    return [dbs.parse_size(s) for s in text.split(",") if s.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    p.add_argument("--targets", default=",".join(TARGETS), help=f"comma list of: {', '.join(TARGETS)}")
    p.add_argument(
        "--sizes", default="10k,100k,1M,10M", help="rows of the databases for core/screens/latency"
    )
    p.add_argument("--variants", default=",".join(dbs.VARIANTS), help="schemas for core and screens")
    p.add_argument(
        "--duration", type=float, help="seconds per measuring window (sets --job-seconds and --idle-seconds)"
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds of alternating alone/attached job runs")
    p.add_argument("--job-rows", default="1M")
    p.add_argument("--job-variant", default="topics")
    p.add_argument("--job-seconds", type=float, default=10.0)
    p.add_argument(
        "--job-conditions", default="tui:overview,tui:source,tui:failures,tui:tables,status,sqlite3"
    )
    p.add_argument("--rollback-rows", help="rows of the rollback-journal database (default: --job-rows)")
    p.add_argument("--rollback-commits", type=int, default=1000)
    p.add_argument("--rollback-interval-ms", type=float, default=0.0, help="pause between the job's commits")
    p.add_argument(
        "--latency-sizes", help="rows for the latency target (default: 200k and the largest of --sizes)"
    )
    p.add_argument("--latency-variant", default="topics")
    p.add_argument(
        "--latency-screens",
        default="source,sqlite3",
        help="comma list: overview, source (TUI screens) and sqlite3 (the watch loop); the overview shows "
        "counts from 100,000 on in compact form (150.0k), where one commit shows only as a moved bar",
    )
    p.add_argument("--latency-commits", type=int, default=30)
    p.add_argument("--latency-gap-ms", type=float, default=1000.0)
    p.add_argument("--idle-dbs", default="1,100,1000")
    p.add_argument("--idle-rows", type=int, default=2000)
    p.add_argument("--idle-seconds", type=float, default=30.0)
    p.add_argument(
        "--settle", type=float, default=5.0, help="seconds after a screen appears before measuring"
    )
    p.add_argument(
        "--failed-rows", default="1M", help="rows of the all-failed database (capped at each size)"
    )
    p.add_argument("--actions-rows", type=int, default=10_000)
    p.add_argument("--signature-texts", type=int, default=20_000)
    p.add_argument("--lock-sample-ms", type=float, default=2.0, help="/proc/locks sampling interval")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for a screen")
    p.add_argument(
        "--cache", help="database cache (default $BATCHTOP_BENCH_CACHE or ~/.cache/batchtop/bench)"
    )
    p.add_argument("--work", help="scratch directory for database copies (default: a temporary one)")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="where results are written")
    p.add_argument("--build-only", action="store_true", help="build the databases the run needs, then stop")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and short windows (the test suite's run)")
    p.add_argument("--json", action="store_true", help="also print the results as JSON on stdout")
    # The options of the first benchmarks/run.py, kept working.
    p.add_argument("--rows", help=argparse.SUPPRESS)
    p.add_argument("--many", help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    return p


SMOKE = dict(
    sizes="2k",
    variants="topics",
    rounds=1,
    job_rows="2k",
    job_seconds=1.0,
    job_conditions="tui:overview",
    rollback_commits=20,
    latency_sizes="2k",
    latency_screens="overview",
    latency_commits=2,
    latency_gap_ms=300.0,
    idle_dbs="2",
    idle_rows=200,
    idle_seconds=1.0,
    settle=0.2,
    failed_rows="2k",
    actions_rows=100,
    signature_texts=200,
    timeout=60.0,
    out=str(Path(tempfile.gettempdir()) / "batchtop-bench-smoke"),
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM (a timeout, a kill) unwinds like Ctrl-C: every pane, writer and scratch copy is cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.smoke:
        raw = sys.argv[1:] if argv is None else argv
        given = {a[2:].split("=", 1)[0].replace("-", "_") for a in raw if a.startswith("--")}
        for k, v in SMOKE.items():
            if k not in given:
                setattr(args, k, v)
    if args.rows:
        args.sizes = args.rows
    if args.many:
        args.idle_dbs = args.many
    if args.dir and not args.work:
        args.work = args.dir
    if args.duration:
        args.job_seconds = args.idle_seconds = args.duration
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}; choose from {', '.join(TARGETS)}")
    sizes = _sizes(args.sizes)
    variants = [v for v in args.variants.split(",") if v]
    bad = set(variants + [args.job_variant, args.latency_variant]) - set(dbs.VARIANTS)
    if bad:
        parser.error(f"unknown variant(s) {', '.join(sorted(bad))}; choose from {', '.join(dbs.VARIANTS)}")
    cache = dbs.cache_root(args.cache)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="batchtop-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    log = _logger(args.json)
    stem = "bench-" + time.strftime("%Y%m%d-%H%M%S")
    res: dict = {
        "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": results.machine(),
        "pid": os.getpid(),
        "targets_run": targets,
        "builds": [],
        "errors": {},
    }
    log(
        f"batchtop benchmarks -> {'(build only)' if args.build_only else f'{args.out}/{stem}.md'}  (cache {cache}, {res['machine']['cpu_count']} CPUs, "
        f"load {res['machine']['load_average'][0]:.2f})"
    )

    job_rows = dbs.parse_size(args.job_rows)
    rollback_rows = dbs.parse_size(args.rollback_rows) if args.rollback_rows else job_rows
    latency_sizes = _sizes(args.latency_sizes) if args.latency_sizes else sorted({200_000, max(sizes)})
    failed_cap = dbs.parse_size(args.failed_rows)

    def built(spec: dbs.Spec) -> dbs.Built:
        b = dbs.ensure(spec, cache, log=log)
        if not any(x["key"] == spec.key for x in res["builds"]):
            res["builds"].append(
                {
                    "key": spec.key,
                    "rows": spec.rows,
                    "size_mb": round(b.size_bytes / 1e6, 1),
                    "build_s": b.build_seconds,
                    "counts": b.counts,
                }
            )
        return b

    # Build first: a long build then never interrupts a measurement.
    needed: list[dbs.Spec] = []
    if "core" in targets or "screens" in targets:
        for n in sizes:
            needed += [dbs.Spec(v, n) for v in variants]
            needed += [
                dbs.Spec(v, min(n, failed_cap), done_share=0.0, failed_share=1.0)
                for v in (variants if "core" in targets else ["topics"])
            ]
    if "latency" in targets:
        needed += [dbs.Spec(args.latency_variant, n) for n in latency_sizes]
    if "job" in targets:
        needed.append(dbs.Spec(args.job_variant, job_rows))
    if "rollback" in targets:
        needed.append(dbs.Spec(args.job_variant, rollback_rows, journal="delete"))
    seen = set()
    for spec in needed:
        if spec.key not in seen:
            seen.add(spec.key)
            built(spec)
    if args.build_only:
        log(json.dumps(res["builds"], indent=1))
        return 0

    def save() -> None:
        res["load_average_end"] = list(os.getloadavg())
        results.write(res, Path(args.out), stem)

    try:
        for target in targets:
            log(f"== {target}")
            try:
                RUNNERS[target](
                    args,
                    res,
                    built,
                    work,
                    log,
                    sizes=sizes,
                    variants=variants,
                    job_rows=job_rows,
                    rollback_rows=rollback_rows,
                    latency_sizes=latency_sizes,
                    failed_cap=failed_cap,
                    cache=cache,
                )
            except Exception as exc:  # noqa: BLE001 - one broken target must not lose the others' figures
                res["errors"][target] = f"{type(exc).__name__}: {exc}"
                log(traceback.format_exc())
            save()
    finally:
        save()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    j, m = Path(args.out) / f"{stem}.json", Path(args.out) / f"{stem}.md"
    log(f"wrote {m} and {j}")
    if args.json:
        print(j.read_text())
    else:
        print(m.read_text())
    return 1 if res["errors"] else 0


def _logger(quiet_stdout: bool):
    def log(message: str) -> None:
        print(message, file=sys.stderr if quiet_stdout else sys.stdout, flush=True)

    return log


# -- targets ----------------------------------------------------------------------------------------------


def run_core(args, res, built, work, log, *, sizes, variants, failed_cap, cache, **_) -> None:
    res["core"] = []
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for n in sizes:
        for v in variants:
            built(dbs.Spec(v, n))
            scratch = work / f"core-{v}-{n}"
            argv = [
                sys.executable,
                "-m",
                "benchmarks.bench_core",
                "--variant",
                v,
                "--rows",
                str(n),
                "--failed-rows",
                str(min(n, failed_cap)),
                "--cache",
                str(cache),
                "--work",
                str(scratch),
            ]
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env)
            shutil.rmtree(scratch, ignore_errors=True)
            if proc.returncode != 0:
                res["core"].append({"where": f"{v} {n:,}", "error": proc.stderr.strip().splitlines()[-1:]})
                log(proc.stderr)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            res["core"].append(r)
            ch = r["changed_poll"].get("1", {})
            log(
                f"  core {v:15} {n:>10,}: first poll {r['first_poll']['ms']} ms, unchanged "
                f"{r['unchanged_poll']['p50_ms']} ms ({r['unchanged_poll']['sql_beyond_gate_per_poll']} SQL), "
                f"after 1 change {ch.get('p50_ms')} ms, peak RSS {r['memory']['peak_rss_mb']} MB"
            )


def run_screens(args, res, built, work, log, *, sizes, variants, failed_cap, **_) -> None:
    from benchmarks import bench_screens

    res["screens"] = {"open": [], "groups": []}
    for n in sizes:
        for v in variants:
            r = bench_screens.bench_open(
                built(dbs.Spec(v, n)),
                timeout=args.timeout,
                idle_seconds=min(args.idle_seconds, 10.0),
                settle=min(args.settle, 2.0),
            )
            res["screens"]["open"].append(r)
            log(
                f"  screens {v:15} {n:>10,}: first screen {r.get('first_screen_s')} s, exact "
                f"{r.get('exact_counts_s')} s, RSS {r.get('memory', {}).get('peak_rss_mb')} MB {r.get('error', '')}"
            )
        r = bench_screens.bench_groups(
            built(dbs.Spec("topics", min(n, failed_cap), done_share=0.0, failed_share=1.0)),
            timeout=args.timeout,
        )
        res["screens"]["groups"].append(r)
        log(
            f"  groups {min(n, failed_cap):>10,} failed: first group {r.get('first_group_s')} s {r.get('error', '')}"
        )


def run_latency(args, res, built, work, log, *, latency_sizes, **_) -> None:
    from benchmarks import bench_latency

    res["latency"] = []
    for n in latency_sizes:
        for screen in args.latency_screens.split(","):
            r = bench_latency.bench_latency(
                built(dbs.Spec(args.latency_variant, n)),
                work,
                screen=screen.strip(),
                commits=args.latency_commits,
                gap_ms=args.latency_gap_ms,
                settle=args.settle,
            )
            res["latency"].append(r)
            log(
                f"  latency {n:>10,} {screen}: p50 {r.get('p50_ms')} ms p95 {r.get('p95_ms')} ms "
                f"({r.get('detected')} seen, {r.get('missed')} missed) {r.get('error', '')}"
            )
    shutil.rmtree(work / "latency", ignore_errors=True)


def run_job(args, res, built, work, log, *, job_rows, **_) -> None:
    from benchmarks import bench_job

    conditions = tuple(c for c in args.job_conditions.split(",") if c)
    res["job"] = bench_job.bench_wal(
        built(dbs.Spec(args.job_variant, job_rows)),
        work,
        conditions,
        rounds=args.rounds,
        seconds=args.job_seconds,
        settle=args.settle,
        lock_interval=args.lock_sample_ms / 1000,
        log=log,
    )
    shutil.rmtree(work / "job", ignore_errors=True)


def run_rollback(args, res, built, work, log, *, rollback_rows, **_) -> None:
    from benchmarks import bench_job

    conditions = tuple(c for c in args.job_conditions.split(",") if c)
    res["rollback"] = bench_job.bench_rollback(
        built(dbs.Spec(args.job_variant, rollback_rows, journal="delete")),
        work,
        conditions,
        commits=args.rollback_commits,
        rounds=1,
        settle=args.settle,
        lock_interval=args.lock_sample_ms / 1000,
        interval_ms=args.rollback_interval_ms,
        log=log,
    )
    shutil.rmtree(work / "job", ignore_errors=True)


def run_idle(args, res, built, work, log, *, cache, **_) -> None:
    from benchmarks import bench_idle

    res["idle"] = {"tui": [], "fanout": []}
    for count in (int(x) for x in args.idle_dbs.split(",") if x):
        folder = dbs.idle_dir(cache, count, args.idle_rows)
        r = bench_idle.bench_idle_tui(
            folder, count, seconds=args.idle_seconds, settle=args.settle, timeout=args.timeout
        )
        res["idle"]["tui"].append(r)
        log(
            f"  idle {count:>5} dbs: CPU {r.get('cpu_pct')} % of a core, RSS {r.get('rss_mb')} MB, "
            f"{r.get('terminal_bytes_per_s')} terminal bytes/s, watched {r.get('sources_watched')}"
        )
        if count <= 100 and not args.smoke:
            copy = work / f"idle-loop-{count}"
            shutil.copytree(folder, copy, dirs_exist_ok=True)
            loop = bench_idle.bench_idle_loop(copy, count, seconds=args.idle_seconds, settle=args.settle)
            shutil.rmtree(copy, ignore_errors=True)
            res["idle"].setdefault("sqlite3", []).append(loop)
            log(f"  idle {count:>5} dbs, watch -n1 sqlite3 loop: CPU {loop['cpu_pct']} % of a core")
        f = bench_idle.bench_fanout(folder, count)
        res["idle"]["fanout"].append(f)
        log(
            f"  fanout {count:>5} dbs: first pass {f['first_pass_ms']} ms, unchanged {f['unchanged_pass_p50_ms']} ms"
        )


def run_actions(args, res, built, work, log, **_) -> None:
    from benchmarks import bench_actions

    res["actions"] = bench_actions.measure(args.actions_rows)
    for r in res["actions"]:
        log(
            f"  actions {r['journal']}: apply {r['apply_ms']} ms (lock {r['apply_lock_held_ms']} ms), "
            f"undo {r['undo_ms']} ms"
        )


def run_signature(args, res, built, work, log, **_) -> None:
    from benchmarks import bench_signature

    res["signature"] = bench_signature.measure(args.signature_texts)
    log("  signature: " + ", ".join(f"{k} {v['us_per_call']} µs" for k, v in res["signature"].items()))


RUNNERS = {
    "core": run_core,
    "screens": run_screens,
    "latency": run_latency,
    "job": run_job,
    "rollback": run_rollback,
    "idle": run_idle,
    "actions": run_actions,
    "signature": run_signature,
}


if __name__ == "__main__":
    sys.exit(main())
