"""The benchmark harness runs end to end at tiny sizes and writes sane result files.

No timing is asserted (targets are measured by `python -m benchmarks`, never by unit tests): these tests
check that the one command works, measures each target it was asked for, and records the machine.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

# Runs the benchmark targets end to end: out of the fast loop.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


def _run(tmp_path: Path, *args: str, timeout: float = 600) -> tuple[dict, str]:
    out = tmp_path / "results"
    argv = [
        sys.executable,
        "-m",
        "benchmarks",
        "--smoke",
        "--cache",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        [*argv, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the harness closes its tmux panes and writers before exiting
        stdout, stderr = proc.communicate(timeout=30)
        pytest.fail(f"benchmark smoke run timed out:\n{stdout[-3000:]}{stderr[-3000:]}")
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    (json_file,) = out.glob("bench-*.json")
    (md_file,) = out.glob("bench-*.md")
    return json.loads(json_file.read_text()), md_file.read_text()


def _machine_ok(res: dict) -> None:
    m = res["machine"]
    assert isinstance(m["cpu_count"], int) and m["cpu_count"] >= 1
    assert m["python"].count(".") == 2 and m["sqlite"] == sqlite3.sqlite_version
    assert re.fullmatch(r"[0-9a-f]{40}", m["git_commit"])
    assert len(m["load_average"]) == 3


def test_core_targets_run_and_write_results(tmp_path: Path) -> None:
    """No TUI: polls, failures and groups, actions, signature; the files hold what was measured."""
    res, md = _run(
        tmp_path, "--targets", "core,actions,signature", "--variants", "topics,topics_noindex,derived,llm"
    )
    _machine_ok(res)
    assert res["errors"] == {}
    assert {r["db"]["variant"] for r in res["core"]} == {"topics", "topics_noindex", "derived", "llm"}
    for r in res["core"]:
        assert r["first_poll"]["error"] is None and r["first_poll"]["profile"]
        # Every variant is read as what it is: the derived one through its state_sql profile.
        assert (
            r["first_poll"]["profile"]
            == {
                "topics": "topic_completions",
                "topics_noindex": "topic_completions",
                "derived": "bench_derived",
                "llm": "llm_results",
            }[r["db"]["variant"]]
        )
        assert r["unchanged_poll"]["n"] == 500 and r["unchanged_poll"]["sql_statements"] >= 500
        assert r["changed_poll"]["1"]["sql_statements"] > 1  # a change is read
        assert "count_errors" not in r  # the poll after K changes shows the true counts
        assert (
            r["failures"]["error_groups"]["failed_rows"] == 2000
            and r["failures"]["error_groups"]["groups"] > 1
        )
        assert r["memory"]["peak_rss_mb"] > 0
    assert {a["journal"] for a in res["actions"]} == {"wal", "delete"}
    assert set(res["signature"]) == {"families", "plain", "tracebacks"}
    checks = {t["target"] for t in res["targets"]}
    assert "SQL per unchanged poll (beyond the data_version gate)" in checks
    assert all(t["verdict"] in ("met", "MISSED", "n/a") for t in res["targets"])
    assert "## Targets (issue 8)" in md and "## Polls in-process" in md and "llm 2,000" in md
    # Each built database is described, with the counts read back from it.
    assert all(sum(b["counts"].values()) == b["rows"] for b in res["builds"])


def test_build_only_caches_each_variant(tmp_path: Path) -> None:
    """`--build-only` builds the seed schema and its variants once; a second run reuses the cache."""
    args = [
        sys.executable,
        "-m",
        "benchmarks",
        "--build-only",
        "--targets",
        "core",
        "--sizes",
        "3k",
        "--cache",
        str(tmp_path),
    ]
    first = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("building ") == 8  # 4 variants, each plain and all-failed
    dbs = sorted(tmp_path.glob("*/*.db"))
    assert len(dbs) == 8
    topics = next(p for p in dbs if p.parent.name.startswith("topics-3000-wal-d0.75"))
    conn = sqlite3.connect(f"{topics.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"idx_status", "idx_completed_at"} <= indexes
    finally:
        conn.close()
    noindex = next(p for p in dbs if p.parent.name.startswith("topics_noindex-3000-wal-d0.75"))
    conn = sqlite3.connect(f"{noindex.as_uri()}?mode=ro", uri=True)
    try:
        assert "idx_status" not in {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    finally:
        conn.close()
    second = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "building " not in second.stdout


@pytest.mark.skipif(
    shutil.which("tmux") is None or shutil.which("sqlite3") is None or shutil.which("watch") is None,
    reason="the TUI benchmarks need tmux, watch and the sqlite3 shell",
)
def test_tui_targets_run_end_to_end(tmp_path: Path) -> None:
    """The TUI in tmux: screens, latency, the job beside monitors, rollback, idle (a few tiny runs)."""
    res, md = _run(
        tmp_path,
        "--targets",
        "screens,latency,job,rollback,idle",
        "--job-conditions",
        "tui:failures,sqlite3",
        "--latency-screens",
        "overview,sqlite3",
    )
    _machine_ok(res)
    assert res["errors"] == {}
    (opened,) = res["screens"]["open"]
    assert opened["first_screen_s"] is not None and opened["exact_counts_s"] is not None, opened
    assert opened["memory"]["peak_rss_mb"] > 10 and opened["idle"]["cpu_pct"] >= 0
    (groups,) = res["screens"]["groups"]
    assert groups["first_group_s"] is not None, groups
    latency = {r["screen"]: r for r in res["latency"]}
    assert latency["overview"]["detected"] >= 1 and latency["overview"]["p95_ms"] > 0
    assert latency["sqlite3"]["detected"] + latency["sqlite3"]["missed"] == 2
    job = res["job"]["conditions"]
    assert job["alone"]["rate_per_s_median"] > 0
    for c in ("tui:failures", "sqlite3"):
        assert job[c]["rate_vs_alone_median"] > 0 and job[c]["wal_peak_mb_median"] >= 0
        assert job[c]["monitor_cpu_pct_median"] is not None
    # The lock sampler saw the monitor's read transactions (the job's own are excluded).
    failures_runs = [r for r in res["job"]["runs"] if r["condition"] == "tui:failures"]
    assert failures_runs[0]["monitor_read_locks"]["samples"] > 0
    alone_runs = [r for r in res["job"]["runs"] if r["condition"] == "alone"]
    assert all(r["monitor_read_locks"]["read_txns_seen"] == 0 for r in alone_runs)
    rb = res["rollback"]["conditions"]
    assert set(rb) == {"alone", "tui:failures", "sqlite3"}
    assert all(r["locked_total"] >= 0 for r in rb.values())
    (idle,) = res["idle"]["tui"]
    assert idle["sources_watched"] == 2 and idle["cpu_pct"] >= 0 and idle["rss_mb"] > 10
    assert "## batchtop beside `watch -n1 sqlite3" in md and "## Rollback journal" in md
    # Nothing is left running: every tmux server the run started is gone.
    assert (
        f"/btbench-{res['pid']}-"
        not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    )
