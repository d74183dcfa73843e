"""Actions: what each profile writes, previews that write nothing, targets, cohorts and read-only mode."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from actions_support import (
    SECRET,
    dir_state,
    make_docstore,
    make_jobs,
    make_llm,
    make_smarthistory,
    make_topics,
    rows,
    utc,
)

from batchtop.core.actions import CONFIRM_OVER, Outcome, Target, apply, plan
from batchtop.core.backends.sqlite import write_session
from batchtop.core.backends.sqlite.cohort import cohort
from batchtop.core.backends.sqlite.write_session import RowState
from batchtop.core.errors import FileMissing, NoAction, ReadOnlyMode
from batchtop.core.journal import Journal
from batchtop.core.profiles.model import Action
from batchtop.core.source import Source
from batchtop.core.undo import undo


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state" / "journal.jsonl")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def no_rw(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail the test if anything opens a read-write connection; yields the URIs attempted."""
    attempts: list[str] = []

    class Guard:
        def __getattr__(self, name: str) -> object:
            return getattr(sqlite3, name)

        def connect(self, database: str, *a: object, **kw: object) -> sqlite3.Connection:
            attempts.append(str(database))
            raise AssertionError(f"read-write connection opened: {database}")

    monkeypatch.setattr(write_session, "sqlite3", Guard())  # the only module that opens read-write connections
    yield attempts


def opened(path: Path) -> Source:
    source = Source(path)
    result = source.poll(force=True)
    assert result.error is None, result.error
    return source


def table_rows(path: Path, table: str, key: str) -> dict[object, tuple]:
    return {r[0]: r for r in rows(path, f"SELECT {key}, * FROM {table} ORDER BY {key}")}


def columns(path: Path, table: str) -> list[str]:
    return [r[1] for r in rows(path, f"PRAGMA table_info({table})")]


def changed_columns(before: tuple, after: tuple, names: list[str]) -> dict[str, object]:
    return {n: a for n, b, a in zip(names, before[1:], after[1:]) if b != a}


# -- what each profile writes ---------------------------------------------------------------------


def test_topics_reset_clears_error_and_timings_only(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=6, done=4, pending=2)
    before = table_rows(db, "topic_completions", "id")
    src = opened(db)
    outcome = apply(plan(src, "topics", "reset", Target.all_failed()), journal=journal)
    src.close()
    assert outcome.count == 6 and outcome.summary() == "reset 6 of 6"
    assert sorted(p.name for p in data.iterdir()) == ["topics.db"]  # no -wal/-shm left behind
    after = table_rows(db, "topic_completions", "id")
    names = columns(db, "topic_completions")
    for key, row in before.items():
        diff = changed_columns(row, after[key], names)
        if row[4] == "failed":
            assert diff == {"status": "pending", "error_message": None, "started_at": None,
                            "completed_at": None, "duration_seconds": None}
        else:
            assert diff == {}


def test_topics_skip_writes_status_only(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=3, done=2, pending=0)
    before = table_rows(db, "topic_completions", "id")
    src = opened(db)
    outcome = apply(plan(src, "topics", "skip", Target.items([1, 2])), journal=journal)
    src.close()
    assert sorted(outcome.affected) == [1, 2]
    after = table_rows(db, "topic_completions", "id")
    names = columns(db, "topic_completions")
    assert [changed_columns(before[k], after[k], names) for k in (1, 2, 3)] == [{"status": "skipped"}] * 2 + [{}]


def test_skip_of_all_failed_never_sweeps_pending_rows(data: Path, journal: Journal) -> None:
    """skip takes failed and pending rows, but a failures-derived target means failed rows only."""
    db = make_topics(data / "topics.db", failed=3, done=2, pending=4)
    src = opened(db)
    outcome = apply(plan(src, "topics", "skip", Target.all_failed()), journal=journal)
    src.close()
    assert outcome.count == 3
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute("SELECT status, COUNT(*) FROM topic_completions GROUP BY 1").fetchall())
    assert counts.get("pending") == 4 and counts.get("skipped") == 3 and "failed" not in counts


def test_llm_retry_sets_result_null_only(data: Path, journal: Journal) -> None:
    db = make_llm(data / "llm_results_20260101_120000.db", failed=5, done=3, pending=2)
    before = table_rows(db, "llm_results", "id")
    src = opened(db)
    the_plan = plan(src, None, None, Target.all_failed())  # defaults: the only track, its retry
    src.close()
    assert (the_plan.track.name, the_plan.action.name, the_plan.count) == ("prompts", "retry", 5)
    outcome = apply(the_plan, journal=journal)
    assert outcome.summary() == "retried 5 of 5"
    after = table_rows(db, "llm_results", "id")
    names = columns(db, "llm_results")
    for key, row in before.items():
        expected = {"result": None} if str(row[3]).startswith("Error:") else {}
        assert changed_columns(row, after[key], names) == expected


def test_jobs_retry_queues_and_clears_progress_error_finish(data: Path, journal: Journal) -> None:
    db = make_jobs(data / "yt-builder.db", failed=4, done=3, queued=1)
    before = table_rows(db, "jobs", "job_id")
    src = opened(db)
    outcome = apply(plan(src, "jobs", "retry", Target.items([1, 2, 3, 4])), journal=journal)
    src.close()
    assert outcome.count == 4
    after = table_rows(db, "jobs", "job_id")
    names = columns(db, "jobs")
    for key, row in before.items():
        diff = changed_columns(row, after[key], names)
        if row[4] == "failed":
            assert diff == {"status": "queued", "progress": 0, "error": None, "finished_at": None}
        else:
            assert diff == {}
    text = journal.path.read_text()
    assert SECRET not in text and "credentials_json" not in text


@pytest.mark.parametrize("maker,tracks", [(make_docstore, ("tables", "relationships")), (make_smarthistory, ("sessions",))])
def test_profiles_without_safe_actions_refuse_with_their_reason(data: Path, journal: Journal, no_rw: list[str],
                                                               maker, tracks) -> None:
    db = maker(data / "x.db")
    src = opened(db)
    for name in tracks:
        track = src.profile.track(name)
        assert track is not None and not track.actions and track.no_action_reason
        for target in (Target.all_failed(), Target.items([1]), Target.stale()):
            with pytest.raises(NoAction) as err:
                plan(src, name, None, target)
            assert err.value.message == track.no_action_reason
    with pytest.raises(NoAction):
        plan(src, None, None, Target.all_failed())
    src.close()
    assert no_rw == [] and not journal.path.exists()


# -- plans --------------------------------------------------------------------------------------------


def test_plan_is_a_dry_run_with_the_exact_predicate(data: Path) -> None:
    db = make_topics(data / "topics.db", failed=CONFIRM_OVER + 5, done=3)
    src = opened(db)
    src.close()
    state = dir_state(data)
    src = opened(db)
    the_plan = plan(src, "topics", "reset", Target.all_failed())
    small = plan(src, "topics", "reset", Target.items([1, 2]))
    src.close()
    assert dir_state(data) == state
    assert the_plan.count == CONFIRM_OVER + 5 and the_plan.needs_typed_confirmation
    assert not small.needs_typed_confirmation
    assert the_plan.description.startswith("status = 'pending'")
    assert len(the_plan.samples) == 5 and the_plan.samples[0].raw == "failed" and the_plan.samples[0].error
    # The predicate selects exactly the planned rows when SQLite runs it, and every UPDATE carries it.
    assert rows(db, f"SELECT COUNT(*) FROM topic_completions WHERE {the_plan.predicate}")[0][0] == the_plan.count
    assert rows(db, f"SELECT COUNT(*) FROM topic_completions WHERE {small.predicate}")[0][0] == 2
    assert all(the_plan.condition in s for s in the_plan.statements())
    assert all(s.startswith("UPDATE") and s.endswith('RETURNING "id"') for s in small.statements())


def test_explicit_ids_left_out_are_reported(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=2, done=2, pending=0)
    src = opened(db)
    the_plan = plan(src, "topics", "reset", Target.items(["1", 3, 99]))  # '1' as typed on a command line
    src.close()
    assert the_plan.keys == (1,)
    assert {(r.key, r.state) for r in the_plan.not_eligible} == {(3, "done"), (99, "missing")}
    assert "2 left out" in the_plan.summary()


def test_group_and_match_targets_select_by_condition(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=30, done=5)
    src = opened(db)
    group = plan(src, "topics", "reset", Target.group("Error Timeout after <n>s talking to api.example.com (topic <n>)"))
    match = plan(src, "topics", "reset", Target.matching("429"))
    nothing = plan(src, "topics", "reset", Target.matching("100%_no_such"))
    src.close()
    timeouts = rows(db, "SELECT id FROM topic_completions WHERE error_message LIKE '%Timeout%' ORDER BY id")
    assert group.keys == tuple(r[0] for r in timeouts) and group.count == 10
    assert match.count == 10 and all("429" in s.error for s in match.samples)
    assert nothing.count == 0 and nothing.cap == 0
    outcome = apply(group, journal=journal)
    assert outcome.count == 10
    assert rows(db, "SELECT COUNT(*) FROM topic_completions WHERE error_message LIKE '%Timeout%'")[0][0] == 0


def test_every_error_group_resets_exactly_its_members(data: Path, journal: Journal) -> None:
    """The groups the failures screen shows and the group a reset selects are the same rows,
    invalid UTF-8 in an error included (a SQL function cannot take such TEXT)."""
    from batchtop.core.groups import error_groups

    db = make_topics(data / "topics.db", failed=30, done=5)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE topic_completions SET error_message = CAST(X'426164FF20627974652031' AS TEXT) "
                 "WHERE id IN (1, 2)")
    conn.commit()
    conn.close()
    src = opened(db)
    track = src.profile.track("topics")
    groups = error_groups(src, track)
    assert sum(g.count for g in groups) == 30 and len(groups) == 4
    for group in groups:
        the_plan = plan(src, track, "reset", Target.group(group.signature))
        assert the_plan.count == group.count, group.signature
        assert apply(the_plan, journal=journal).count == group.count
    src.close()
    assert rows(db, "SELECT COUNT(*) FROM topic_completions WHERE status = 'failed'") == [(0,)]


def test_undo_restores_values_byte_exact(data: Path, journal: Journal) -> None:
    """Invalid UTF-8 TEXT, BLOBs, floats and NULLs come back exactly as they were, with their types."""
    db = make_topics(data / "topics.db", failed=3, done=0, pending=0)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE topic_completions SET error_message = CAST(X'426164FF' AS TEXT) WHERE id = 1")
    conn.execute("UPDATE topic_completions SET error_message = X'00FF', duration_seconds = 0.1 WHERE id = 2")
    conn.execute("UPDATE topic_completions SET started_at = NULL, duration_seconds = 1e300 WHERE id = 3")
    conn.commit()
    conn.close()
    exact = "SELECT id, hex(error_message), typeof(error_message), started_at, duration_seconds, " \
            "typeof(duration_seconds), status FROM topic_completions ORDER BY id"
    before = rows(db, exact)
    src = opened(db)
    apply(plan(src, "topics", "reset", Target.all_failed()), journal=journal)
    assert rows(db, exact) != before
    assert undo(journal, source=src).summary() == "restored 3"
    src.close()
    assert rows(db, exact) == before


def test_condition_targets_never_write_more_than_confirmed(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=0, done=0, pending=20)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE topic_completions SET status = 'failed', error_message = 'x' WHERE id > 10")
    conn.commit()
    src = opened(db)
    the_plan = plan(src, "topics", "reset", Target.all_failed())
    src.close()
    assert the_plan.keys == tuple(range(11, 21))
    # The job fails five more topics (lower keys than the planned ones) and one planned topic completes.
    conn.execute("UPDATE topic_completions SET status = 'failed', error_message = 'late' WHERE id <= 5")
    conn.execute("UPDATE topic_completions SET status = 'completed' WHERE id = 12")
    conn.commit()
    conn.close()
    outcome = apply(the_plan, journal=journal)
    assert outcome.count == the_plan.cap == 10
    assert outcome.changed_count == 1 and outcome.changed[0].label == "done (completed)"
    assert outcome.new_matches == 5 and outcome.left_over == 4
    assert outcome.summary() == ("reset 10 of 10; 1 had changed (now done (completed)); 5 of them matched only "
                                 "after the preview; 4 previewed rows not written (cap 10): run again")
    assert rows(db, "SELECT id FROM topic_completions WHERE status = 'failed'") == [(17,), (18,), (19,), (20,)]


def test_stale_target_requeues_only_old_in_flight_rows(data: Path, journal: Journal) -> None:
    now = time.time()
    db = make_jobs(data / "jobs.db", failed=1, done=2, queued=0, running=3, now=now, running_age=7200)
    conn = sqlite3.connect(db)
    from actions_support import local_iso

    conn.execute("UPDATE jobs SET started_at = ? WHERE job_id = 6", (local_iso(now - 30),))  # alive
    conn.commit()
    conn.close()
    src = opened(db)
    the_plan = plan(src, "jobs", None, Target.stale(older_than=3600))
    default = plan(src, "jobs", None, Target.stale())  # the track's derived threshold (>= 10 min)
    src.close()
    assert the_plan.action.name == "requeue" and the_plan.keys == (4, 5)
    assert default.keys == (4, 5) and default.stale_cutoff is not None
    outcome = apply(the_plan, journal=journal)
    assert outcome.summary() == "requeued 2 of 2"
    assert rows(db, "SELECT job_id, status, progress, current_step FROM jobs WHERE job_id >= 4") == [
        (4, "queued", 0, None), (5, "queued", 0, None), (6, "running", 75, "Mixing audio")]


def test_stale_topics_are_pending_rows_started_long_ago(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=1, done=1, pending=1, running=2)
    src = opened(db)
    the_plan = plan(src, "topics", None, Target.stale(older_than=600))
    src.close()
    assert the_plan.action.name == "requeue" and the_plan.keys == (4, 5)
    apply(the_plan, journal=journal)
    assert rows(db, "SELECT id, status, started_at FROM topic_completions WHERE id >= 3") == [
        (3, "pending", None), (4, "pending", None), (5, "pending", None)]


def test_stale_needs_an_action_taking_running_rows(data: Path) -> None:
    db = make_llm(data / "llm.db")
    src = opened(db)
    with pytest.raises(NoAction):
        plan(src, None, None, Target.stale())
    src.close()


def test_an_action_writing_a_secret_column_is_refused(data: Path) -> None:
    db = make_topics(data / "topics.db")
    src = opened(db)
    track = src.profile.track("topics")
    bad = replace(track, actions=(Action("reset", "x", ("failed",), (("status", "pending"), ("api_token", None))),))
    with pytest.raises(NoAction, match="secret"):
        plan(src, bad, "reset", Target.all_failed())
    src.close()


def test_bulk_explicit_ids_are_chunked_in_one_transaction(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=1200, done=0, pending=0)
    src = opened(db)
    the_plan = plan(src, "topics", "reset", Target.items(range(1, 1201)))
    src.close()
    assert len(the_plan.statements()) == 3
    outcome = apply(the_plan, journal=journal)
    assert outcome.count == 1200
    (entry,) = journal.entries()
    assert len(entry.affected) == 1200 and len(entry.before) == 1200


@pytest.mark.slow
def test_ten_thousand_row_reset_is_quick(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=10_000, done=1000, pending=0)
    src = opened(db)
    the_plan = plan(src, "topics", "reset", Target.all_failed())
    src.close()
    outcome = apply(the_plan, journal=journal)
    assert outcome.count == 10_000
    print(f"10,000-row reset: {outcome.seconds:.3f} s")
    assert outcome.seconds < 5.0
    started = time.monotonic()
    result = undo(journal, track=the_plan.track)
    print(f"10,000-row undo: {time.monotonic() - started:.3f} s")
    assert len(result.restored) == 10_000


def test_missing_file_is_refused_and_never_created(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db")
    src = opened(db)
    the_plan = plan(src, "topics", "reset", Target.all_failed())
    src.close()
    db.unlink()
    with pytest.raises(FileMissing):
        apply(the_plan, journal=journal)
    assert not db.exists() and sorted(p.name for p in data.iterdir()) == []


# -- outcomes and cohorts -----------------------------------------------------------------------------


def test_outcome_messages_say_what_really_happened() -> None:
    running = RowState(1, "running", "running")
    assert Outcome("a", "reset", "t", 150, tuple(range(148)), (running, running), 2).summary() == \
        "reset 148 of 150; 2 had changed (now running)"
    assert Outcome(None, "reset", "t", 1, (), (running,), 1).summary() == "0 reset: status changed to running"
    mixed = (running, RowState(2, "done", "completed"))
    assert Outcome(None, "retry", "t", 2, (), mixed, 2).summary() == \
        "0 retried: 2 had changed (now running: 1, done (completed): 1)"


def test_cohort_tells_whether_the_fix_worked(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=10, done=0, pending=0)
    src = opened(db)
    the_plan = plan(src, "topics", "reset", Target.all_failed())
    apply(the_plan, journal=journal)
    old_error = rows(db, "SELECT error_message FROM topic_completions WHERE id = 3")  # cleared now
    assert old_error == [(None,)]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE topic_completions SET status = 'completed' WHERE id IN (1, 2, 4, 5)")
    conn.execute("UPDATE topic_completions SET status = 'failed', "
                 "error_message = 'Error Timeout after 99s talking to api.example.com (topic 3)' WHERE id = 3")
    conn.execute("UPDATE topic_completions SET status = 'failed', error_message = 'KeyError: cards' WHERE id = 6")
    conn.execute("UPDATE topic_completions SET started_at = ? WHERE id = 7", (utc(time.time()),))
    conn.execute("DELETE FROM topic_completions WHERE id = 8")
    conn.commit()
    conn.close()
    (entry,) = journal.entries()
    result = src.run(lambda c: cohort(c, the_plan.track, entry))
    src.close()
    assert (result.total, result.done, result.failed_same, result.failed_new, result.running, result.pending,
            result.missing) == (10, 4, 1, 1, 1, 2, 1)
    assert result.new_signatures == (("KeyError: cards", 1),)
    assert result.summary() == ("of 10 reset: 4 done, 2 pending, 1 running, 1 failed again (same error), "
                                "1 failed with a new error, 1 gone")


# -- read-only mode -------------------------------------------------------------------------------------


def test_read_only_mode_refuses_every_entry_point_and_changes_nothing(data: Path, tmp_path: Path,
                                                                      no_rw: list[str]) -> None:
    db = make_topics(data / "topics.db")
    other_journal = Journal(tmp_path / "elsewhere" / "journal.jsonl")
    src = opened(db)
    the_plan = plan(src, "topics", "reset", Target.all_failed())  # made before the switch to read-only
    src.close()
    state = dir_state(data)
    src = opened(db)
    with pytest.raises(ReadOnlyMode):
        plan(src, "topics", "reset", Target.all_failed(), read_only=True)
    with pytest.raises(ReadOnlyMode):
        apply(the_plan, journal=other_journal, read_only=True)
    with pytest.raises(ReadOnlyMode):
        undo(other_journal, read_only=True)
    src.close()
    assert dir_state(data) == state
    assert no_rw == [] and not (tmp_path / "elsewhere").exists()


def test_cohort_of_an_undone_action_says_restored(data: Path, journal: Journal) -> None:
    db = make_topics(data / "topics.db", failed=4, done=0, pending=0)
    src = opened(db)
    apply(plan(src, "topics", "reset", Target.all_failed()), journal=journal)
    undo(journal, source=src)
    entry = next(e for e in journal.entries() if e.kind == "action")
    assert entry.status == "undone"
    result = src.run(lambda c: cohort(c, src.profile.track("topics"), entry))
    src.close()
    assert result.failed_same == 4 and result.undone
    assert result.summary() == "of 4 reset (undone): 4 restored by the undo"
