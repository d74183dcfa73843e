"""Real writer processes committing while the real CLI reads, in WAL and rollback-journal modes.

The job (tests/writers.py as a subprocess, with the real writer's connection and commit pattern) commits
hundreds of times; `batchtop status --json` runs in a loop beside it. The job never sees "database is
locked", every CLI read is a consistent committed state (the llm writer's row count never changes, only
its states), and the last read after the job ends equals the ground truth. In WAL mode the `-wal` stays
within 1.2x of what the job alone leaves behind (our reads never starve its checkpoints).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from writers import finish_writer, make_writer, read_report, run_cli, start_writer, truth

COMMITS = 400


def _run(tmp_path: Path, name: str, journal: str, with_reader: bool) -> tuple[dict, list, int]:
    path = tmp_path / name
    make_writer("llm", path, journal=journal).setup(prompts=COMMITS + 50, done=0)
    outs: list = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            outs.append(run_cli("status", str(path), "--json"))

    thread = threading.Thread(target=reader)
    proc = start_writer(
        "llm",
        path,
        "--journal",
        journal,
        "--commits",
        str(COMMITS),
        "--interval-ms",
        "2",
        "--busy-timeout",
        "0.2",
        "--idle",
        "3",
    )
    if with_reader:
        thread.start()
    try:
        report = read_report(proc, timeout=90)  # the job reports, then idles with its connection open
        wal = os.path.getsize(f"{path}-wal") if os.path.exists(f"{path}-wal") else 0
    finally:
        stop.set()
        if with_reader:
            thread.join(timeout=60)
        finish_writer(proc)
    return report, outs, wal


@pytest.mark.slow
@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_cli_reads_beside_a_committing_job(tmp_path: Path, journal: str) -> None:
    report, outs, wal = _run(tmp_path, "llm_results_20260101_120000.db", journal, with_reader=True)
    assert report["commits"] == COMMITS
    assert report["locked"] == 0, f"the job got 'database is locked' {report['locked']} times"
    assert len(outs) >= 3, "the CLI did not get to read while the job ran"
    totals = set()
    for out in outs:
        src = json.loads(out.stdout)["sources"][0]
        if src["error"] is not None:
            assert src["error"] == "locked by the job, retrying", src["error"]
            continue
        t = src["tracks"][0]
        totals.add(t["total"] + t["unmapped"])
    assert totals == {COMMITS + 50}, f"an inconsistent read: totals {totals}"
    last = json.loads(run_cli("status", str(tmp_path / "llm_results_20260101_120000.db"), "--json").stdout)
    expected = truth(tmp_path / "llm_results_20260101_120000.db", "llm")["llm_results"]
    assert last["sources"][0]["tracks"][0]["raw_counts"] == expected
    if journal == "wal":
        (tmp_path / "alone").mkdir()
        _, _, alone = _run(tmp_path / "alone", "llm_results_20260101_120000.db", journal, with_reader=False)
        assert wal <= 1.2 * alone + 64 * 1024, (
            f"-wal {wal} B with batchtop reading, {alone} B for the job alone"
        )
