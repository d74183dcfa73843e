"""Resource bounds: descriptors and threads stay flat over many polls of many sources, and the memory a
paged list needs does not grow with the table (tracemalloc peak at two table sizes, a ratio, not a time).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import tracemalloc
from pathlib import Path

import pytest
from writers import make_writer

from batchtop.core.monitor import Monitor
from batchtop.core.source import Source

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
def test_descriptors_and_threads_stay_flat_over_many_polls(tmp_path: Path) -> None:
    paths = []
    for i in range(40):
        p = tmp_path / f"job{i:02}.db"
        make_writer("topics" if i % 2 else "jobs", p, journal="wal" if i % 3 == 0 else "delete").setup()
        paths.append(p)
    (tmp_path / "bad.db").write_bytes(b"not a database" * 20)
    (tmp_path / "empty.db").touch()
    base_fds, base_threads = open_fds(), threading.active_count()
    monitor = Monitor([str(tmp_path)])
    monitor.rescan()
    monitor.poll_all(force=True)
    first = open_fds()
    assert first - base_fds <= 45, "more than one descriptor per source"
    for i in range(60):
        if i % 10 == 0:  # a job commits now and then: the changed source is read again
            conn = sqlite3.connect(paths[i // 10])
            conn.execute("CREATE TABLE IF NOT EXISTS touched (x)")
            conn.execute("INSERT INTO touched VALUES (?)", (i,))
            conn.commit()
            conn.close()
        monitor.rescan()
        monitor.poll_all(force=i % 5 == 0)
    assert open_fds() <= first, f"descriptors grew from {first} to {open_fds()} over 60 polls"
    assert threading.active_count() <= base_threads + 1
    monitor.close()
    assert open_fds() <= base_fds + 1, "close() left descriptors open"


def _big_table(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, name TEXT, body TEXT)")
    conn.execute(
        "INSERT INTO blobs (name, body) SELECT 'n' || i, printf('%.2000c', 'x') FROM "
        f"(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) SELECT i FROM n)"
    )
    conn.commit()
    conn.close()


def _peak_of_paging(path: Path, pages: int) -> int:
    from batchtop.core.backends.sqlite.items import table_page
    from batchtop.core.backends.sqlite.reader import connect_ro

    conn = connect_ro(str(path))
    tracemalloc.start()
    try:
        after = None
        for _ in range(pages):
            page = table_page(conn, "blobs", after_rowid=after, limit=100)
            after = page.last
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        conn.close()
    return peak


def test_paged_list_memory_does_not_grow_with_table_size(tmp_path: Path) -> None:
    small, large = tmp_path / "small.db", tmp_path / "large.db"
    _big_table(small, 1_000)
    _big_table(large, 20_000)  # 20x the rows, about 40 MB of text
    peaks = [_peak_of_paging(p, 5) for p in (small, large)]
    assert peaks[1] < 1.5 * peaks[0] + 256 * 1024, f"peak {peaks[0]} B at 1k rows, {peaks[1]} B at 20k rows"


def test_source_poll_memory_does_not_grow_with_error_sizes(tmp_path: Path) -> None:
    """Counts and recent failures of a topics table: huge error texts are never loaded whole."""
    peaks = []
    for size in (1_000, 200_000):
        p = tmp_path / f"t{size}.db"
        make_writer("topics", p, journal="delete").setup(completed=20, failed=30)
        conn = sqlite3.connect(p)
        conn.execute(
            "UPDATE topic_completions SET error_message = printf('%.*c', ?, 'e') WHERE status = 'failed'",
            (size,),
        )
        conn.commit()
        conn.close()
        source = Source(p)
        tracemalloc.start()
        assert source.poll(force=True).error is None
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        source.close()
    assert peaks[1] < 1.5 * peaks[0] + 512 * 1024, peaks
