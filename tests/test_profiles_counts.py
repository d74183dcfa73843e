"""Built-in profiles count exactly what the real writers wrote, in both journal modes, while they write.

Every database here is filled by tests/writers.py, which reproduces field-notes.md (DDL, vocabulary,
timestamps, connection and commit pattern). The expected numbers come from direct SQL and the
field-notes mapping, never from batchtop's own profile code.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import writers
from writers import CANON, STATES, expected_counts, finish_writer, make_writer, start_writer, truth

from batchtop.core.source import Source
from batchtop.core.status import to_json
from batchtop.core.tracker import source_status

SCHEMAS = ("topic_completions", "llm_results", "documentation_store", "smarthistory", "yt_builder_jobs")
JOURNALS = ("wal", "delete")
#: Commits each concurrent writer makes, and the pause between them.
COMMITS = {"topic_completions": 80, "llm_results": 60, "documentation_store": 40, "smarthistory": 80,
           "yt_builder_jobs": 60}


def observed(snapshot) -> dict[str, dict[str, int]]:
    """{table: {raw label: count}} as batchtop shows them."""
    out = {}
    for t in snapshot.tracks:
        raw: dict[str, int] = {}
        for r in t.raw_counts:
            raw[r.raw] = raw.get(r.raw, 0) + r.count
        out[t.table] = raw
    return out


def check_snapshot(schema: str, snapshot) -> None:
    """Internal consistency of one snapshot: no negative count, totals add up, raw labels map right."""
    for t in snapshot.tracks:
        assert set(t.counts) == set(STATES)
        assert all(n >= 0 for n in t.counts.values()), t.counts
        assert sum(r.count for r in t.raw_counts) == t.total == sum(t.counts.values())
        for r in t.raw_counts:
            assert r.count > 0
            assert CANON[schema].get(r.raw) == r.state, f"{schema}: raw {r.raw!r} shown as {r.state}"
        by_state = dict.fromkeys(STATES, 0)
        for r in t.raw_counts:
            by_state[r.state] += r.count
        assert by_state == t.counts
        # The newest-failures page is read from the same commit as the counts.
        assert len(t.recent_failures) == min(t.counts["failed"], 20), (t.counts, len(t.recent_failures))


def assert_matches_truth(schema: str, snapshot, ground: dict[str, dict[str, int]]) -> None:
    """Counts by raw value and by canonical state equal the direct-SQL ground truth."""
    seen = observed(snapshot)
    assert set(seen) == set(ground), (seen, ground)
    for table, groups in ground.items():
        assert seen[table] == groups, f"{table}: batchtop {seen[table]} != SELECT status, COUNT(*) {groups}"
        track = next(t for t in snapshot.tracks if t.table == table)
        assert track.counts == expected_counts(schema, groups)


def poll_ok(source: Source):
    result = source.poll(force=True)
    assert result.error is None, f"{source.path}: {result.error}"
    assert result.snapshot is not None
    return result.snapshot


# -- counts while a writer process commits ----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("journal", JOURNALS)
@pytest.mark.parametrize("schema", SCHEMAS)
def test_counts_exact_while_writer_commits(tmp_path: Path, schema: str, journal: str) -> None:
    """Poll repeatedly while a writer subprocess commits: every snapshot is a state the database really
    went through (in commit order), and the final poll equals `SELECT status, COUNT(*)`."""
    path = tmp_path / f"{schema}.db"
    make_writer(schema, path, journal=journal).setup()
    initial = truth(path, schema)
    source = Source(path)
    first = poll_ok(source)
    check_snapshot(schema, first)
    assert_matches_truth(schema, first, initial)
    assert first.profile.name == schema

    proc = start_writer(schema, path, "--journal", journal, "--commits", str(COMMITS[schema]),
                        "--interval-ms", "2", "--busy-timeout", "5", "--trajectory")
    snapshots = []
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            result = source.poll()
            # A reader may meet the job's lock, or its WAL index being rebuilt as the job opens:
            # both are "retry at the next tick", never a wrong count.
            if result.error is not None:
                assert result.error.kind in ("locked", "recovering"), result.error
            elif result.changed:
                check_snapshot(schema, result.snapshot)
                snapshots.append(observed(result.snapshot))
            time.sleep(0.005)
    finally:
        report = finish_writer(proc)
    assert report["commits"] == COMMITS[schema] or schema == "llm_results"
    states = [merge_in_flight(s) for s in [initial] + report["trajectory"]]
    assert len(snapshots) >= 2, "the poll loop saw the writer's commits"
    # Every snapshot equals a state after some commit, and they come in commit order.
    position = 0
    for seen in snapshots:
        later = [k for k in range(position, len(states)) if states[k] == merge_in_flight(seen)]
        assert later, f"snapshot {seen} is no state the database went through after commit {position}"
        position = later[0]

    ground = truth(path, schema)
    assert merge_in_flight(ground) == states[-1]
    # The long-lived source settles on the exact counts once the job stops ...
    deadline = time.monotonic() + 5
    while True:
        final = poll_ok(source)
        check_snapshot(schema, final)
        if observed(final) == ground or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert_matches_truth(schema, final, ground)
    source.close()
    # ... and a fresh one (`batchtop status`) reads them at once.
    fresh = Source(path)
    assert_matches_truth(schema, poll_ok(fresh), ground)
    fresh.close()


def merge_in_flight(state: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Fold 'X (started)' into 'X': the in-flight split of pending rows is read on a cost-adaptive
    cadence (core/slow_reads.py), so only its sum with plain pending is exact at every commit."""
    out = {}
    for table, groups in state.items():
        merged: dict[str, int] = {}
        for label, n in groups.items():
            base = label.removesuffix(" (started)")
            merged[base] = merged.get(base, 0) + n
        out[table] = merged
    return out


# -- field-notes specifics, one profile at a time -----------------------------------------------------

@pytest.mark.parametrize("journal", JOURNALS)
def test_topics_pending_with_started_at_is_running(tmp_path: Path, journal: str) -> None:
    path = tmp_path / "completion_tracking.db"
    make_writer("topics", path, journal=journal).setup(completed=7, failed=2, skipped=1, pending=3, in_flight=4)
    snap = poll_ok(Source(path))
    (track,) = snap.tracks
    assert track.counts == {"pending": 3, "running": 4, "done": 7, "failed": 2, "skipped": 1, "cancelled": 0}
    raw = {(r.raw, r.state): r.count for r in track.raw_counts}
    assert raw == {("pending", "pending"): 3, ("pending (started)", "running"): 4, ("completed", "done"): 7,
                   ("failed", "failed"): 2, ("skipped", "skipped"): 1}
    # Metric totals: cost so far, cards so far, mean duration.
    conn = writers.ro_connect(path)
    cost, cards, mean = conn.execute(
        "SELECT SUM(cost_usd), SUM(flashcard_count), AVG(duration_seconds) FROM topic_completions").fetchone()
    conn.close()
    metrics = {m.label: m.value for m in track.metrics}
    assert metrics["cost"] == pytest.approx(cost)
    assert metrics["cards"] == cards
    assert metrics["mean duration"] == pytest.approx(mean)
    assert {f.error for f in track.recent_failures} <= set(writers.TOPIC_ERRORS)
    assert len(track.recent_failures) == 2


@pytest.mark.parametrize("journal", JOURNALS)
def test_in_flight_split_follows_the_job(tmp_path: Path, journal: str) -> None:
    """Three of four in-flight topics finish: the next refresh (a moment later) shows 1 running, not a
    remembered 4 running and a negative pending count."""
    path = tmp_path / "completion_tracking.db"
    w = make_writer("topics", path, journal=journal)
    w.setup(completed=2, failed=0, skipped=0, pending=0, in_flight=4)
    source = Source(path)
    assert poll_ok(source).tracks[0].counts == {**dict.fromkeys(STATES, 0), "done": 2, "running": 4}
    for i in (2, 3, 4):  # the in-flight topics are 2..5
        w.finish(i, "completed")
    w.close()
    time.sleep(0.1)
    (track,) = poll_ok(source).tracks
    assert track.counts == {**dict.fromkeys(STATES, 0), "done": 5, "running": 1}
    assert {r.raw: r.count for r in track.raw_counts} == {"completed": 5, "pending (started)": 1}
    source.close()


def test_llm_results_states_derived_from_result(tmp_path: Path) -> None:
    path = tmp_path / "llm_results_20260101_120000.db"
    w = make_writer("llm", path, journal="wal")
    w.setup(prompts=8, done=0)
    values = {
        1: None,
        2: "",
        3: "NA",
        4: "Error: Failed after 3 attempts: ",  # a timeout: empty exception text
        5: "Error: Failed after 3 attempts: APIConnectionError('Connection reset')",
        6: "The answer mentions Error: but is a response",
        7: "N/A is not NA",
        8: "A plain response",
    }
    conn = sqlite3.connect(path)
    for i, v in values.items():
        conn.execute("UPDATE llm_results SET result = ? WHERE id = ?", (v, i))
        if v and v.startswith("Error:"):
            conn.execute("UPDATE llm_results SET result = ? WHERE id = ?", (v, i))  # written twice
    conn.commit()
    conn.close()
    snap = poll_ok(Source(path))
    (track,) = snap.tracks
    assert track.counts == {"pending": 3, "running": 0, "done": 3, "failed": 2, "skipped": 0, "cancelled": 0}
    assert {r.raw: r.count for r in track.raw_counts} == {"NULL": 1, "empty": 1, "NA": 1, "Error:": 2,
                                                         "response": 3}
    failures = {f.key: f.error for f in track.recent_failures}
    assert set(failures) == {4, 5}
    assert failures[4].startswith("Error: Failed after 3 attempts:")
    assert "APIConnectionError" in failures[5]
    assert_matches_truth("llm_results", snap, truth(path, "llm"))


@pytest.mark.parametrize("journal", JOURNALS)
def test_docstore_pending_only_sessions_and_duplicates(tmp_path: Path, journal: str) -> None:
    one = tmp_path / "one.db"
    make_writer("docstore", one, journal=journal).setup(tables=10, relationships=6, sessions=1)
    snap1 = poll_ok(Source(one))
    assert snap1.session_count == 1
    assert all(t.attempted_earlier == 0 for t in snap1.tracks)

    two = tmp_path / "two.db"
    make_writer("docstore", two, journal=journal).setup(tables=10, relationships=6, sessions=2)
    snap = poll_ok(Source(two))
    assert snap.session_count == 2
    assert [s.status for s in snap.sessions] == ["in_progress", "in_progress"]
    assert all(s.finished is None for s in snap.sessions)
    tables = snap.track("tables")
    rels = snap.track("relationships")
    failing = sum(1 for t in range(10) if writers.doc_fails(t))
    # Nothing is ever `failed`: a failed table stays pending, and it was attempted in the earlier run.
    assert tables.counts == {"pending": failing, "running": 0, "done": 10 - failing, "failed": 0, "skipped": 0,
                             "cancelled": 0}
    assert tables.attempted_earlier == failing
    assert tables.recent_failures == ()
    # Each run appends the relationships again: duplicates are counted as rows, as the writer stores them.
    assert rels.total == 12
    assert rels.counts["failed"] == 0
    assert_matches_truth("documentation_store", snap, truth(two, "docstore"))


@pytest.mark.parametrize("journal", JOURNALS)
def test_smarthistory_started_completed_failed(tmp_path: Path, journal: str) -> None:
    path = tmp_path / "smarthistory.db"
    make_writer("smarthistory", path, journal=journal).setup(completed=5, failed=3, started=2)
    snap = poll_ok(Source(path))
    assert snap.profile.name == "smarthistory"
    assert [t.table for t in snap.tracks] == ["user_sessions"]
    (track,) = snap.tracks
    assert track.counts == {"pending": 0, "running": 2, "done": 5, "failed": 3, "skipped": 0, "cancelled": 0}
    conn = writers.ro_connect(path)
    raw_sum, tags = conn.execute("SELECT SUM(processed_raw_count), SUM(tags_generated) FROM user_sessions").fetchone()
    conn.close()
    metrics = {m.label: m.value for m in track.metrics}
    assert metrics["raw processed"] == raw_sum
    assert metrics["tags"] == tags
    assert len(track.recent_failures) == 3
    assert all("UNIQUE constraint failed" in f.error for f in track.recent_failures)


@pytest.mark.parametrize("journal", JOURNALS)
def test_jobs_six_raw_states_stale_running_and_errors_only_on_failures(tmp_path: Path, journal: str) -> None:
    now = time.time()
    path = tmp_path / "jobs.db"
    make_writer("jobs", path, journal=journal, clock=lambda: now - 60).setup(stale_started=now - 3 * 3600)
    source = Source(path, clock=lambda: now)
    snap = poll_ok(source)
    (track,) = snap.tracks
    raw = {r.raw: (r.state, r.count) for r in track.raw_counts}
    # preparing and queued are both pending, and stay visible by their raw names.
    assert raw == {"preparing": ("pending", 1), "queued": ("pending", 2), "running": ("running", 3),
                   "completed": ("done", 5), "failed": ("failed", 3), "cancelled": ("cancelled", 1)}
    # Only the job whose progress stopped 3 h ago is stale; the two started a minute ago are not.
    assert track.stale(now) == 1
    status = to_json(source_status(source, now))
    assert status["tracks"][0]["stale_running"] == 1
    assert status["tracks"][0]["resume"]["stale_running"] == 1
    # An hour later (injected clock), the fresh ones are stale too.
    assert track.stale(now + 3600) == 3
    # `error` on a completed job is not a failure; every failure shown is a failed row.
    conn = writers.ro_connect(path)
    failed = {k for (k,) in conn.execute("SELECT job_id FROM jobs WHERE status = 'failed'")}
    (completed_with_error,) = conn.execute(
        "SELECT COUNT(*) FROM jobs WHERE status != 'failed' AND error IS NOT NULL").fetchone()
    conn.close()
    assert completed_with_error >= 1
    assert {f.key for f in track.recent_failures} == failed
    assert all(f.raw == "failed" for f in track.recent_failures)
    errors = {f.error for f in track.recent_failures}
    assert errors == {"Process exited with code 1", "Process exited with code -15"}
    assert not any("retrying after exit code" in e for e in errors)
    assert_matches_truth("yt_builder_jobs", snap, truth(path, "jobs"))


def test_jobs_naive_local_times_read_in_the_writers_zone(tmp_path: Path) -> None:
    """The job writes naive local time ('T'); in New York (UTC-5) a job started a minute ago must not
    look 5 hours old (stale) to a monitor running in the same zone."""
    path = tmp_path / "jobs.db"
    env = dict(os.environ, TZ="America/New_York")
    code = (f"import sys, time; sys.path.insert(0, {str(Path(__file__).parent)!r}); import writers; "
            f"now = time.time(); writers.make_writer('jobs', {str(path)!r}, clock=lambda: now - 60).setup()")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    out = writers.run_cli("status", str(path), "--json", env={"TZ": "America/New_York"})
    assert out.returncode == 0, out.stderr
    (src,) = json.loads(out.stdout)["sources"]
    (track,) = src["tracks"]
    assert track["counts"]["running"] == 2
    assert track["stale_running"] == 0
