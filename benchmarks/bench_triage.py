"""Triage at scale: cross-file groups, a filtered count, and an export, on chunk files of many failures.

    .venv/bin/python benchmarks/bench_triage.py [FAILURES] [FILES]

Builds FILES chunk files (default 4) holding FAILURES failed rows in all (default 200,000; seven error
families) in a temporary directory, then prints: the cold and the unchanged (delta) cross-file grouping,
a filtered count (`sig:... since:...`), an export of one cause to CSV (rows per second, bytes), and the
peak Python memory of exporting 20,000 rows (tracemalloc).
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from factories import big_failures_db  # noqa: E402

from batchtop.core.backends.keyset import count_matching  # noqa: E402
from batchtop.core.crossgroups import cross_groups  # noqa: E402
from batchtop.core.export import Writer, rows  # noqa: E402
from batchtop.core.filtered import Filter, compile_for  # noqa: E402
from batchtop.core.monitor import Monitor  # noqa: E402


class Sink(io.TextIOBase):
    """Counts what is written, keeps nothing."""

    size = 0

    def write(self, s: str) -> int:
        self.size += len(s)
        return len(s)


def main() -> None:
    failures = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        for i in range(files):
            big_failures_db(Path(tmp) / f"results_chunk_{i:03d}.db", failures // files)
        print(f"built {files} files, {failures:,} failures: {time.perf_counter() - started:.1f}s")
        monitor = Monitor([tmp])
        monitor.rescan()
        monitor.poll_all()
        pairs = [(s, t) for s in monitor.snapshot_sources() for t in s.profile.tracks]
        for label in ("cold", "unchanged"):
            started = time.perf_counter()
            report = cross_groups(pairs)
            top = report.groups[0]
            print(
                f"cross-file groups ({label}): {time.perf_counter() - started:.2f}s, {report.distinct} signatures, "
                f"top {top.count:,} in {len(top.sources)} files"
            )
        flt = Filter.parse(f'sig:"{top.signature}"')
        started = time.perf_counter()
        total = 0
        compiled = []
        for source, track in pairs:
            sql, params = compile_for(source, track, flt, now=time.time(), path=source.path)
            compiled.append((source, track, sql, params))
            total += count_matching(source, track, sql, params)
        print(f"filtered count: {total:,} rows in {time.perf_counter() - started:.2f}s")
        sink = Sink()
        writer = Writer(sink, "csv")
        started = time.perf_counter()
        for source, track, sql, params in compiled:
            for record in rows(source, track, sql, params, path=source.path):
                writer.write(record)
        took = time.perf_counter() - started
        print(
            f"export of one cause: {writer.count:,} rows, {sink.size / 1e6:.1f} MB in {took:.2f}s "
            f"({writer.count / took:,.0f} rows/s)"
        )
        source, track, _, _ = compiled[0]
        sql, params = compile_for(source, track, Filter.parse("key<=20000"), now=0.0, path=source.path)
        tracemalloc.start()
        writer = Writer(Sink(), "csv")
        for record in rows(source, track, sql, params, path=source.path):
            writer.write(record)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"export peak Python memory, {writer.count:,} rows: {peak / 1e6:.2f} MB")
        monitor.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
