"""`batchtop watch --until` against the simulator (a real writer process), and `status --summary`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from factories import failures_db, topics_db

from batchtop.tui import cli

BATCHTOP = [sys.executable, "-m", "batchtop.tui.cli"]


def watch(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATCHTOP, "watch", *argv], capture_output=True, text=True, timeout=timeout)


def simulate(directory: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*BATCHTOP, "simulate", str(directory), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not list(directory.glob("*.db")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


@pytest.mark.slow
def test_until_finished_exits_0_once_the_simulated_run_ends(tmp_path: Path) -> None:
    proc = simulate(tmp_path, "--schema", "topics", "--items", "30", "--rate", "30")
    try:
        done = watch(str(tmp_path), "--until", "finished", "--timeout", "40", "--interval", "0.2")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "finished"
    assert "finished 30/30 100.0%" in done.stderr


@pytest.mark.slow
def test_until_failed_exits_0_at_the_first_new_failure(tmp_path: Path) -> None:
    proc = simulate(tmp_path, "--schema", "llm", "--items", "400", "--rate", "20")
    try:
        got = watch(str(tmp_path), "--until", "failed", "--timeout", "40", "--interval", "0.2", "--json")
        still_running = proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["outcome"] == "failed"
    assert still_running  # it stopped on the failure, not on the end of the run


def test_timeout_exits_1_and_says_so(tmp_path: Path) -> None:
    path = failures_db(tmp_path / "a.db", {"rate": 2}, done=0)
    # All settled already: "finished" holds at once, "failed" needs a new failure (none come).
    got = watch(str(path), "--until", "failed", "--timeout", "0.5", "--interval", "0.1")
    assert got.returncode == 1 and got.stdout.strip() == "timeout"
    got = watch(str(path), "--until", "failed,finished", "--timeout", "5")
    assert got.returncode == 0 and got.stdout.strip() == "finished"


def test_until_stalled_sees_a_job_that_stopped_writing(tmp_path: Path) -> None:
    path = topics_db(tmp_path / "t.db", now=time.time(), ago=3600.0, in_flight=2)
    got = watch(str(path), "--until", "stalled", "--timeout", "5")
    assert got.returncode == 0 and got.stdout.strip() == "stalled"


def test_bad_condition_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["watch", str(tmp_path), "--until", "done"])
    assert code == 2 and "unknown condition(s) done" in capsys.readouterr().err


def test_status_summary_is_one_line_per_source_then_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures_db(tmp_path / "run-0001.db", {"rate": 2}, done=3)
    failures_db(tmp_path / "run-0002.db", {"timeout": 1}, done=4)
    (tmp_path / "broken.db").write_text("not a database")
    code = cli.main(["status", str(tmp_path), "--summary"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1  # one source could not be read
    assert lines[0].startswith("broken.db: error not an SQLite database")
    assert lines[1].startswith("run-0001.db: finished 5/5 100.0% failed 2 running 0")
    assert lines[2].startswith("run-0002.db: finished 5/5 100.0% failed 1 running 0")
    assert lines[3] == "total (3 sources): 10/10 100.0% failed 3 running 0 —"
    code = cli.main(["status", str(tmp_path), "--summary", "--chunks", "pattern"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("run-*.db (2 files): finished 10/10 100.0% failed 3 running 0")
    assert len(lines) == 3
