"""``python -m batchtop.core.simulator DIR ...``: run one simulated job (or the demo) as a writer process.

Prints each database path on stdout as soon as the file exists (llm chunk files as they appear), so a
test or a person can open it; a one-line summary goes to stderr at the end. SIGTERM kills the process
abruptly, which is a realistic crash; Ctrl-C stops cleanly between commits.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from batchtop.core.simulator import SCHEMAS, Simulation, demo


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m batchtop.core.simulator",
        description="Play a realistic batch job that writes its progress into an SQLite file in DIR.",
    )
    p.add_argument("directory", metavar="DIR", type=Path, help="directory for the database file(s)")
    p.add_argument("--schema", choices=SCHEMAS, default="topics", help="which real writer to imitate")
    p.add_argument("--items", type=int, default=100, help="items to process (default 100)")
    p.add_argument("--rate", type=float, default=5.0, help="items per second; 0 = as fast as possible")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--fail-rate", type=float, default=0.1, help="probability that an item fails")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=int, default=None, help="concurrent items (default per schema)")
    p.add_argument("--chunk-size", type=int, default=None, help="llm: write results_chunk_N.db files")
    p.add_argument("--timeout", type=float, default=None, help="lock timeout in seconds")
    p.add_argument("--stall-after", type=int, default=None, help="pause after this many commits")
    p.add_argument("--stall-seconds", type=float, default=30.0, help="length of that pause")
    p.add_argument("--crash-after", type=int, default=None, help="stop abruptly after this many commits")
    p.add_argument("--demo", action="store_true", help="build the five-job demo in DIR and keep it running")
    return p


def _simulation(args: argparse.Namespace, stop: threading.Event) -> tuple[threading.Thread,
                                                                          Callable[[], list[Path]],
                                                                          Callable[[], str]]:
    sim = Simulation(
        args.schema, args.directory, args.items, seed=args.seed, fail_rate=args.fail_rate,
        workers=args.workers, chunk_size=args.chunk_size, timeout=args.timeout,
        stall_after=args.stall_after, stall_seconds=args.stall_seconds, crash_after=args.crash_after,
    )

    def summary() -> str:
        text = f"{args.schema}: {sim.commits} commits, {sim.finished} items finished"
        if sim.busy_errors:
            text += f", {sim.busy_errors} busy retries"
        return text + (" (crashed)" if sim.crashed else "")

    work = threading.Thread(target=sim.run, kwargs={"rate": args.rate, "stop_event": stop}, daemon=True)
    return work, lambda: sim.paths, summary


def _demo(args: argparse.Namespace, stop: threading.Event) -> tuple[threading.Thread,
                                                                    Callable[[], list[Path]],
                                                                    Callable[[], str]]:
    d = demo(args.directory, seed=args.seed)
    work = threading.Thread(target=d.run_forever, args=(stop,), daemon=True)
    return work, lambda: d.paths, lambda: f"demo: {len(d.paths)} files in {args.directory}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    stop = threading.Event()
    work, current, summary = (_demo if args.demo else _simulation)(args, stop)
    shown: set[Path] = set()

    def announce() -> None:
        for path in current():
            if path not in shown:
                shown.add(path)
                print(path, flush=True)

    announce()
    deadline = time.monotonic() + args.seconds if args.seconds is not None else None
    work.start()
    try:
        while work.is_alive():
            work.join(0.05)
            announce()
            if deadline is not None and time.monotonic() >= deadline:
                stop.set()
    except KeyboardInterrupt:
        stop.set()
        work.join()
    announce()
    print(summary(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
