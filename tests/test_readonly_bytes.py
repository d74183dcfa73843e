"""No read ever changes a byte: hash, size, mtime (ns) of every file and the directory listing stay the
same after `batchtop status` / `batchtop failures` (subprocesses) and after 20 in-process polls.

Covered for WAL and rollback-journal databases, with and without sidecars present: a job that is not
running (no sidecars), a job that is running but idle (WAL: its -wal/-shm are open), a WAL job that
died and left its sidecars, and a rollback job that died mid-transaction (hot journal).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import writers
from writers import file_state, finish_writer, make_writer, read_report, run_cli, start_writer, stop_writer

from batchtop.core.source import Source

CASES = ("wal-quiescent", "wal-live-idle", "wal-left-behind", "delete-quiescent", "delete-live-idle",
         "delete-hot-journal")


def _prepare(tmp_path: Path, case: str):
    """Build the database for `case`; returns (path, job process or None, expected sidecars)."""
    journal = case.split("-")[0]
    path = tmp_path / "completion_tracking.db"
    make_writer("topics", path, journal=journal).setup()
    proc = None
    if case.endswith("live-idle"):
        proc = start_writer("topics", path, "--journal", journal, "--commits", "3", "--idle", "60")
        read_report(proc)  # committed, now idle with its connection open
        sidecars = {"-wal", "-shm"} if journal == "wal" else set()
    elif case == "wal-left-behind":
        # A job killed between commits: its -wal holds committed frames, its -shm stays.
        proc = start_writer("topics", path, "--journal", "wal", "--commits", "3", "--idle", "60")
        read_report(proc)
        stop_writer(proc)
        proc = None
        sidecars = {"-wal", "-shm"}
    elif case == "delete-hot-journal":
        finish_writer(start_writer("topics", path, "--journal", "delete", "--commits", "3", "--crash"))
        sidecars = {"-journal"}
    else:
        sidecars = set()
    return path, proc, sidecars


@pytest.mark.parametrize("case", CASES)
def test_reads_change_no_byte(tmp_path: Path, case: str) -> None:
    path, proc, sidecars = _prepare(tmp_path, case)
    try:
        before = file_state(tmp_path)
        assert set(before) == {path.name} | {path.name + s for s in sidecars}, sorted(before)

        out = run_cli("status", str(path), "--json")
        assert out.returncode in (0, 1), out.stderr
        (src,) = json.loads(out.stdout)["sources"]
        if case == "delete-hot-journal":
            assert src["error_kind"] == "recovering"
        else:
            assert src["error"] is None, src
            assert src["tracks"][0]["total"] > 0
        run_cli("status", str(path))
        run_cli("failures", str(path), "--json")
        assert file_state(tmp_path) == before, "batchtop status/failures changed a file"

        source = Source(path)
        for _ in range(20):
            result = source.poll(force=True)
            if case != "delete-hot-journal":
                assert result.error is None, result.error
        source.close()
        assert file_state(tmp_path) == before, "polling changed a file"
    finally:
        if proc is not None:
            stop_writer(proc)


def test_wal_job_can_write_after_we_read_its_quiescent_database(tmp_path: Path) -> None:
    """After batchtop read a WAL database whose job is not running, the job starts and writes normally
    (no -wal/-shm of ours in its way), and the next poll shows its new data."""
    path = tmp_path / "smarthistory.db"
    make_writer("smarthistory", path, journal="wal").setup()
    before = file_state(tmp_path)
    source = Source(path)
    first = source.poll()
    assert first.error is None and first.snapshot.journal_mode == "wal"
    source.close()
    assert file_state(tmp_path) == before
    report = finish_writer(start_writer("smarthistory", path, "--commits", "9", "--busy-timeout", "0.2"))
    assert report["locked"] == 0
    result = source.poll()
    assert result.error is None
    assert result.snapshot.tracks[0].total == first.snapshot.tracks[0].total + 3
    assert writers.truth(path, "smarthistory") == {
        "user_sessions": {k: v for k, v in
                          _raw(result.snapshot.tracks[0]).items()}}
    source.close()


def _raw(track) -> dict[str, int]:
    return {r.raw: r.count for r in track.raw_counts}
