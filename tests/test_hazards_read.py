"""The reading rows of the hazards table (shared/design/hazards.md): each bad input gets its specific
message while the other sources of the same Monitor keep being reported, and no file is changed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import writers
from writers import (
    SECRET_MARKER,
    file_state,
    finish_writer,
    make_writer,
    read_report,
    run_cli,
    start_writer,
    stop_writer,
    truth,
)

from batchtop.core.monitor import Monitor
from batchtop.core.source import Source
from batchtop.core.status import to_json

STATES = writers.STATES


def good_db(directory: Path, name: str = "good.db") -> tuple[Path, dict[str, int]]:
    """A healthy topics database and the counts it must show."""
    path = directory / name
    make_writer("topics", path, journal="delete").setup(completed=5, failed=2, skipped=1, pending=1, in_flight=1)
    return path, {"pending": 1, "running": 1, "done": 5, "failed": 2, "skipped": 1, "cancelled": 0}


def statuses(*paths: Path, monitor: Monitor | None = None):
    """Poll every path once in one Monitor; {path: SourceStatus}."""
    m = monitor or Monitor([str(p) for p in paths])
    m.rescan()
    m.poll_all()
    out = {s.path: s for s in m.statuses()}
    if monitor is None:
        m.close()
    return out


def assert_good(status, counts: dict[str, int]) -> None:
    assert status.error is None, status.error
    assert status.tracks[0].counts == counts


def single_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message


# -- files that are not (valid) databases ----------------------------------------------------------

def test_zero_byte_file_is_an_empty_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    good, counts = good_db(tmp_path)
    result = statuses(empty, good)
    bad = result[str(empty)]
    assert bad.error_kind == "empty"
    assert "empty database" in bad.error
    assert_good(result[str(good)], counts)
    assert empty.stat().st_size == 0
    assert sorted(os.listdir(tmp_path)) == ["empty.db", "good.db"]


@pytest.mark.parametrize("content", [
    b"This is a plain text file, not a database.\n" * 20,
    b"short text\n",
    random.Random(7).randbytes(8192),  # what an encrypted database looks like
], ids=["text", "short-text", "random-bytes"])
def test_not_a_database(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(content)
    good, counts = good_db(tmp_path)
    before = file_state(tmp_path)
    result = statuses(bad, good)
    assert result[str(bad)].error_kind == "not-a-database"
    assert "not an SQLite database" in result[str(bad)].error
    assert_good(result[str(good)], counts)
    assert file_state(tmp_path) == before


def _damage_truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _damage_flip(data: bytes) -> bytes:
    out = bytearray(data)
    rng = random.Random(3)
    for page in range(1, len(data) // 4096):  # every page but the first: header and schema still read
        for _ in range(64):
            i = page * 4096 + rng.randrange(4096)
            out[i] ^= 0xFF
    return bytes(out)


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_flip], ids=["truncated", "byte-flipped"])
def test_damaged_database(tmp_path: Path, damage) -> None:
    src = tmp_path / "src.db"
    make_writer("topics", src, journal="delete").setup(completed=150, failed=100, skipped=20)
    conn = sqlite3.connect(src)
    conn.execute("UPDATE topic_completions SET error_message = printf('%.300c', 'e')")
    conn.commit()
    conn.close()
    bad = tmp_path / "damaged.db"
    bad.write_bytes(damage(src.read_bytes()))
    src.unlink()
    good, counts = good_db(tmp_path)
    before = file_state(tmp_path)
    result = statuses(bad, good)
    assert result[str(bad)].error_kind == "damaged", result[str(bad)].error
    assert "damaged" in result[str(bad)].error
    assert_good(result[str(good)], counts)
    assert file_state(tmp_path) == before


def test_unknown_schema_says_what_was_found(tmp_path: Path) -> None:
    if importlib.util.find_spec("batchtop.core.profiles.detect") is None:
        pytest.skip("core/profiles/detect.py (the detector) is not there yet")
    other = tmp_path / "notes.db"
    conn = sqlite3.connect(other)
    conn.executescript("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
                       "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT);"
                       "INSERT INTO notes (body) VALUES ('hello'), ('world');")
    conn.close()
    good, counts = good_db(tmp_path)
    result = statuses(other, good)
    bad = result[str(other)]
    assert bad.error_kind == "unknown-schema"
    assert "no progress table recognised" in bad.error
    assert "notes" in bad.error and "kv" in bad.error
    assert_good(result[str(good)], counts)


# -- schema changes while open -----------------------------------------------------------------------

def _rows(path: Path) -> int:
    conn = writers.ro_connect(path, live=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM topic_completions").fetchone()[0]
    except sqlite3.OperationalError:
        return -1
    finally:
        conn.close()


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_schema_changes_while_open(tmp_path: Path, journal: str) -> None:
    path = tmp_path / "completion_tracking.db"
    make_writer("topics", path, journal=journal).setup()
    expected = writers.expected_counts("topics", truth(path, "topics")["topic_completions"])
    source = Source(path)
    job = sqlite3.connect(path, isolation_level=None)

    def refresh():
        """One refresh: at most one message, a single sanitised line; never an exception."""
        result = source.poll()
        if result.error is not None:
            single_line(result.error.message)
            assert result.error.kind in ("schema-changed", "unknown-schema"), result.error
        return result

    def claims_builtin_correctly(result) -> None:
        """When the builtin profile is shown, the counts are right; otherwise it is not claimed."""
        if result.error is None and source.profile.name == "topic_completions":
            assert result.snapshot.tracks[0].counts == expected

    assert refresh().snapshot.tracks[0].counts == expected

    job.execute("ALTER TABLE topic_completions ADD COLUMN priority INTEGER DEFAULT 0")
    r = refresh()
    assert r.error is None and r.changed and source.profile.name == "topic_completions"
    assert r.snapshot.tracks[0].counts == expected

    job.execute("ALTER TABLE topic_completions DROP COLUMN error_message")
    r = refresh()
    # The built-in profile needs error_message: it must not be claimed any longer.
    assert r.error is not None or source.profile.name != "topic_completions"
    if r.error is None:
        assert r.snapshot.tracks[0].total == _rows(path)
    assert refresh().events == ()

    job.execute("ALTER TABLE topic_completions ADD COLUMN error_message TEXT")
    r = refresh()
    assert r.error is None and source.profile.name == "topic_completions"
    assert r.snapshot.tracks[0].counts == expected

    job.execute("ALTER TABLE topic_completions RENAME TO topic_completions_old")
    r = refresh()
    assert r.error is not None or all(t.table != "topic_completions" for t in r.snapshot.tracks)
    job.execute("ALTER TABLE topic_completions_old RENAME TO topic_completions")
    r = refresh()
    assert r.error is None and source.profile.name == "topic_completions"
    claims_builtin_correctly(r)

    job.execute("DROP TABLE topic_completions")
    r = refresh()
    assert r.error is not None and r.error.kind == "unknown-schema"
    assert refresh().error.message == r.error.message  # the same one message at every refresh
    job.executescript(writers.TOPICS_DDL)
    job.executemany("INSERT INTO topic_completions (topic_path, status) VALUES (?, 'completed')",
                    [(f"Data/x/{i}.json",) for i in range(5)])
    r = refresh()
    assert r.error is None and source.profile.name == "topic_completions"
    assert r.snapshot.tracks[0].counts == {**dict.fromkeys(STATES, 0), "done": 5}
    job.close()
    source.close()


# -- files that appear, disappear or are replaced ---------------------------------------------------

def test_missing_path_is_never_created_and_is_shown_once_it_appears(tmp_path: Path) -> None:
    watched = tmp_path / "jobs"
    watched.mkdir()
    later = watched / "later.db"
    good, counts = good_db(tmp_path)
    monitor = Monitor([str(later), str(good)])
    for _ in range(3):
        result = statuses(monitor=monitor)
        assert result[str(later)].error_kind == "missing"
        assert "not found" in result[str(later)].error
        assert_good(result[str(good)], counts)
    assert os.listdir(watched) == []
    make_writer("jobs", later).setup()
    result = statuses(monitor=monitor)
    assert result[str(later)].error is None
    assert result[str(later)].profile == "yt_builder_jobs"
    assert result[str(later)].tracks[0].total == 14
    monitor.close()


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_file_deleted_while_open(tmp_path: Path, journal: str) -> None:
    path = tmp_path / "smarthistory.db"
    make_writer("smarthistory", path, journal=journal).setup()
    good, counts = good_db(tmp_path)
    monitor = Monitor([str(path), str(good)])
    first = statuses(monitor=monitor)
    assert first[str(path)].error is None
    os.unlink(path)
    for _ in range(3):
        result = statuses(monitor=monitor)
        gone = result[str(path)]
        assert gone.error_kind == "deleted" and gone.error == "file deleted"
        assert gone.stale_snapshot  # the last good counts are still shown, marked as such
        assert_good(result[str(good)], counts)
    monitor.close()
    assert sorted(os.listdir(tmp_path)) == ["good.db"]


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_file_replaced_is_reopened(tmp_path: Path, journal: str) -> None:
    path = tmp_path / "completion_tracking.db"
    make_writer("topics", path, journal=journal).setup()
    source = Source(path)
    first = source.poll()
    assert first.error is None and first.snapshot.tracks[0].total == 24
    staging = tmp_path / "completion_tracking.db.new"
    make_writer("topics", staging, journal=journal).setup(completed=2, failed=1, skipped=0, pending=0, in_flight=0)
    os.replace(staging, path)
    result = source.poll()
    assert result.error is None
    assert "file replaced: reopened" in result.events
    assert result.snapshot.identity == (path.stat().st_dev, path.stat().st_ino) != first.snapshot.identity
    assert result.snapshot.tracks[0].counts == {**dict.fromkeys(STATES, 0), "done": 2, "failed": 1}
    assert source.poll(force=True).events == ()
    source.close()


# -- a job that died or holds a lock ----------------------------------------------------------------

@pytest.mark.slow
def test_job_killed_mid_transaction_rollback_hot_journal(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    make_writer("jobs", path, journal="delete").setup()
    report = finish_writer(start_writer("jobs", path, "--commits", "4", "--trajectory", "--crash"))
    committed = report["trajectory"][-1]["jobs"]
    assert (tmp_path / "jobs.db-journal").stat().st_size > 0  # a hot journal: the job died mid-write
    good, counts = good_db(tmp_path)
    before = file_state(tmp_path)
    for _ in range(2):
        result = statuses(path, good)
        hot = result[str(path)]
        assert hot.error_kind == "recovering"
        assert "waiting for the job to recover" in hot.error
        assert_good(result[str(good)], counts)
    assert file_state(tmp_path) == before, "the hot journal or the database was touched"
    # The job restarts: its first connection rolls the journal back. Only committed rows are shown.
    conn = sqlite3.connect(path)
    conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
    conn.close()
    assert not (tmp_path / "jobs.db-journal").exists()
    after = statuses(path)[str(path)]
    assert after.error is None
    assert {r.raw: r.count for r in after.tracks[0].raw_counts} == committed


@pytest.mark.slow
def test_job_killed_mid_transaction_wal(tmp_path: Path) -> None:
    path = tmp_path / "completion_tracking.db"
    make_writer("topics", path, journal="wal").setup()
    report = finish_writer(start_writer("topics", path, "--journal", "wal", "--commits", "4", "--trajectory",
                                        "--crash"))
    committed = report["trajectory"][-1]["topic_completions"]
    assert (tmp_path / "completion_tracking.db-wal").stat().st_size > 0
    before = file_state(tmp_path)
    source = Source(path)
    for _ in range(3):
        result = source.poll(force=True)
        assert result.error is None, result.error
        track = result.snapshot.tracks[0]
        assert {r.raw: r.count for r in track.raw_counts} == committed  # nothing uncommitted is shown
        assert not any("UNCOMMITTED" in f.label for f in track.recent_failures)
    source.close()
    assert file_state(tmp_path) == before, "the job's -wal/-shm or the database were touched"
    # The job restarts (recovering its WAL) and goes on: an open source follows it.
    assert source.poll().error is None
    finish_writer(start_writer("topics", path, "--journal", "wal", "--commits", "6"))
    expected = truth(path, "topics")["topic_completions"]
    assert sum(expected.values()) == sum(committed.values()) + 3
    deadline = time.monotonic() + 5
    while True:
        result = source.poll()
        seen = result.error or {r.raw: r.count for r in result.snapshot.tracks[0].raw_counts}
        if seen == expected or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert seen == expected
    source.close()


@pytest.mark.slow
def test_job_holds_exclusive_lock(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    make_writer("jobs", path, journal="delete").setup()
    good, counts = good_db(tmp_path)
    monitor = Monitor([str(path), str(good)])
    first = statuses(monitor=monitor)
    assert first[str(path)].error is None
    proc = start_writer("jobs", path, "--hold-exclusive", "2.5")
    try:
        assert read_report(proc) == {"locked": True}
        for _ in range(3):
            started = time.monotonic()
            monitor.poll_all(force=True)
            assert time.monotonic() - started < 1.5, "a poll must not wait for the job's lock"
            result = {s.path: s for s in monitor.statuses()}
            locked = result[str(path)]
            assert locked.error_kind == "locked"
            assert locked.error == "locked by the job, retrying"
            assert locked.tracks and locked.stale_snapshot  # the last good read stays visible
            assert_good(result[str(good)], counts)
        assert read_report(proc, timeout=10) == {"released": True}
    finally:
        stop_writer(proc)
    deadline = time.monotonic() + 5
    while True:
        recovered = statuses(monitor=monitor)[str(path)]
        if recovered.error is None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert recovered.error is None
    assert recovered.tracks[0].total == 14
    monitor.close()


def test_a_sidecar_that_cannot_be_opened_for_a_moment_is_read_again_not_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job creating or removing its -wal under our read gives SQLITE_CANTOPEN once: the poll reads
    again at once instead of showing "cannot open the file (permission denied...)" until the next tick;
    a file that stays unopenable is still reported."""
    from batchtop.core.backends.sqlite.snapshot_read import SnapshotReader

    path = tmp_path / "jobs.db"
    make_writer("jobs", path, journal="wal").setup()
    source = Source(path)
    assert source.poll(force=True).error is None
    real, failures = SnapshotReader.read, [1]

    def flaky(self, *args, **kwargs):
        if failures[0]:
            failures[0] -= 1
            exc = sqlite3.OperationalError("unable to open database file")
            exc.sqlite_errorname = "SQLITE_CANTOPEN"  # type: ignore[attr-defined]
            raise exc
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SnapshotReader, "read", flaky)
    again = source.poll(force=True)
    assert again.error is None and again.snapshot is not None and again.snapshot.tracks[0].total == 14
    failures[0] = 2  # fails on the retry too: that is reported, and read again at the next poll
    shown = source.poll(force=True)
    assert shown.error is not None and shown.error.kind == "permission"
    assert source.poll(force=True).error is None


# -- WAL database whose job is not running ----------------------------------------------------------

def test_wal_without_sidecars_creates_none_and_sees_the_job_later(tmp_path: Path) -> None:
    path = tmp_path / "llm_results_20260101_120000.db"
    make_writer("llm", path, journal="wal").setup(prompts=40, done=10)
    before = file_state(tmp_path)
    assert sorted(before) == [path.name]
    source = Source(path)
    for _ in range(5):
        result = source.poll(force=True)
        assert result.error is None
        assert result.snapshot.journal_mode == "wal"
    source.close()
    out = run_cli("status", str(path), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["sources"][0]["journal_mode"] == "wal"
    assert file_state(tmp_path) == before, "no -wal/-shm may be created by reading"
    # The job reopens the database and writes; the source shows it.
    proc = start_writer("llm", path, "--journal", "wal", "--commits", "10", "--idle", "30")
    try:
        read_report(proc)
        expected = truth(path, "llm", live=True)["llm_results"]
        deadline = time.monotonic() + 5
        while True:
            result = source.poll()
            seen = {r.raw: r.count for r in result.snapshot.tracks[0].raw_counts}
            if seen == expected or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert result.error is None and seen == expected
        source.close()
    finally:
        stop_writer(proc)


def _copied_run_directory(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A topics database whose last 60 completions live only in its -wal, copied without the -shm (as
    `cp run.db run.db-wal elsewhere/` does while the job runs), and the counts sqlite3 reads from it."""
    job = tmp_path / "job"
    job.mkdir()
    original = job / "completion_tracking.db"
    make_writer("topics", original, journal="wal").setup(completed=0, failed=0, skipped=0, pending=80, in_flight=0)
    conn = sqlite3.connect(original, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint=0")  # every commit stays in the -wal, as between checkpoints
    for _ in range(60):
        conn.execute("UPDATE topic_completions SET status = 'completed', completed_at = '2026-01-01 11:00:00' "
                     "WHERE id = (SELECT MIN(id) FROM topic_completions WHERE status = 'pending')")
    copy = tmp_path / "copy"
    copy.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(str(original) + suffix, str(copy / original.name) + suffix)
    conn.close()
    # What sqlite3 reads: a plain reader (which creates a -shm) on a scratch copy of the copy.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(str(copy / original.name) + suffix, str(scratch / original.name) + suffix)
    check = sqlite3.connect(scratch / original.name)
    expected = dict(check.execute("SELECT status, COUNT(*) FROM topic_completions GROUP BY 1").fetchall())
    check.close()
    assert expected == {"completed": 60, "pending": 20}
    return copy / original.name, expected


def test_wal_with_frames_but_no_shm_shows_the_committed_frames_and_creates_nothing(tmp_path: Path) -> None:
    path, expected = _copied_run_directory(tmp_path)
    before = file_state(path.parent)
    assert sorted(before) == [path.name, path.name + "-wal"]
    source = Source(path)
    for _ in range(3):
        result = source.poll(force=True)
        assert result.error is None, result.error
        assert {r.raw: r.count for r in result.snapshot.tracks[0].raw_counts} == expected
        assert result.snapshot.journal_mode == "wal"
    assert not source.poll().changed  # nothing changed: no query
    detail = source.run(lambda conn: conn.execute("SELECT COUNT(*) FROM topic_completions "
                                                  "WHERE status = 'completed'").fetchone())
    assert detail == (60,)
    source.close()
    out = run_cli("status", str(path), "--json")
    assert out.returncode == 0, out.stderr
    track = json.loads(out.stdout)["sources"][0]["tracks"][0]
    assert track["counts"]["done"] == 60 and track["total"] == 80
    assert file_state(path.parent) == before, "reading must create or change no file next to the database"


def test_wal_frames_unreadable_without_a_shm_say_so_instead_of_stale_counts(tmp_path: Path, monkeypatch) -> None:
    # An SQLite build without a VFS that lacks shared memory: the -wal cannot be read read-only.
    path, _ = _copied_run_directory(tmp_path)
    before = file_state(path.parent)
    monkeypatch.setattr("batchtop.core.backends.sqlite.reader.NO_SHM_VFS", "no-such-vfs")
    result = Source(path).poll()
    assert result.snapshot is None
    assert result.error is not None and result.error.kind == "wal-unreadable"
    assert "-shm is missing" in result.error.message
    assert file_state(path.parent) == before


# -- odd file names ----------------------------------------------------------------------------------

ODD_NAMES = ("a?b.db", "50%.db", "#1.db", "sp ace.db", "ünï.db", "-x.db")


def test_odd_file_names_open_the_right_file(tmp_path: Path) -> None:
    expected = {}
    for n, name in enumerate(ODD_NAMES, start=1):
        make_writer("topics", tmp_path / name).setup(completed=n, failed=0, skipped=0, pending=0, in_flight=0)
        expected[name] = n
    # Decoys that a naive `file:` URI would open instead ('a?b.db' -> 'a', '#1.db' -> '', '50%.db' -> '50').
    for decoy in ("a", "50"):
        make_writer("topics", tmp_path / decoy).setup(completed=99, failed=0, skipped=0, pending=0, in_flight=0)
    before = file_state(tmp_path)
    for name, n in expected.items():
        source = Source(tmp_path / name)
        result = source.poll()
        assert result.error is None, (name, result.error)
        assert result.snapshot.tracks[0].counts["done"] == n, name
        source.close()
    result = statuses(*[tmp_path / n for n in ODD_NAMES])
    assert {Path(p).name: s.tracks[0].counts["done"] for p, s in result.items()} == expected
    out = run_cli("status", "--json", *[str(tmp_path / n) for n in ODD_NAMES])
    assert out.returncode == 0, out.stderr
    got = {Path(s["path"]).name: s["tracks"][0]["counts"]["done"] for s in json.loads(out.stdout)["sources"]}
    assert got == expected
    # A name starting with '-' given relative to the working directory, after '--'.
    out = run_cli("status", "--json", "--", "-x.db", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (src,) = json.loads(out.stdout)["sources"]
    assert src["path"] == str(tmp_path / "-x.db") and src["tracks"][0]["counts"]["done"] == expected["-x.db"]
    assert file_state(tmp_path) == before, "a stray file appeared or a database changed"


# -- hostile values ----------------------------------------------------------------------------------

def test_invalid_utf8_is_shown_with_replacement_characters(tmp_path: Path) -> None:
    path = tmp_path / "completion_tracking.db"
    make_writer("topics", path).setup(completed=2, failed=1, skipped=0, pending=0, in_flight=0)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE topic_completions SET error_message = CAST(X'4552523AFFFE2062616420C3' AS TEXT), "
                 "topic_path = CAST(X'446174612FFF2E6A736F6E' AS TEXT) WHERE status = 'failed'")
    conn.execute("INSERT INTO topic_completions (topic_path, status) VALUES ('Data/odd.json', CAST(X'646F6E65FF' AS TEXT))")
    conn.commit()
    conn.close()
    result = Source(path).poll()
    assert result.error is None, result.error
    track = result.snapshot.tracks[0]
    (failure,) = track.recent_failures
    assert "\ufffd" in failure.error and failure.error.startswith("ERR:")
    assert "\ufffd" in failure.label
    assert any("\ufffd" in r.raw for r in track.raw_counts)
    out = run_cli("failures", str(path), "--json")
    assert out.returncode == 0, out.stderr
    (item,) = json.loads(out.stdout)["sources"][0]["tracks"][0]["items"]
    assert "\ufffd" in item["error"]
    out = run_cli("status", str(path))
    assert out.returncode == 0 and b"OperationalError" not in out.stdout + out.stderr


@pytest.mark.slow
def test_50mb_error_value_stays_fast_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "completion_tracking.db"
    make_writer("topics", path).setup(completed=3, failed=2, skipped=0, pending=0, in_flight=0)
    size = 50 * 1024 * 1024
    conn = sqlite3.connect(path)
    conn.execute("UPDATE topic_completions SET error_message = 'Traceback: ' || printf('%.*c', ?, 'x') "
                 "WHERE id = (SELECT MAX(id) FROM topic_completions WHERE status = 'failed')", (size,))
    conn.commit()
    conn.close()
    source = Source(path)
    started = time.monotonic()
    result = source.poll()
    elapsed = time.monotonic() - started
    assert result.error is None
    assert elapsed < 2.0, f"a poll took {elapsed:.2f}s"
    big = max(result.snapshot.tracks[0].recent_failures, key=lambda f: f.error_len)
    assert big.error_len == size + len("Traceback: ")
    assert len(big.error) <= 500
    assert big.error.startswith("Traceback: xxx")
    source.close()
    out = run_cli("failures", str(path), "--json")
    assert out.returncode == 0
    assert len(out.stdout) < 20_000
    items = json.loads(out.stdout)["sources"][0]["tracks"][0]["items"]
    assert max(i["error_length"] for i in items) == size + len("Traceback: ")
    assert max(len(i["error"]) for i in items) <= 500


# -- secrets -----------------------------------------------------------------------------------------

PLAIN_MARKER = "PLAINSECRET7f3a9c01"


@pytest.mark.slow
def test_secret_columns_never_leave_the_database(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.db"
    make_writer("jobs", jobs).setup(credentials=PLAIN_MARKER)
    conn = sqlite3.connect(jobs)
    conn.execute("UPDATE youtube_credentials SET credentials_json = credentials_json || ?", (SECRET_MARKER,))
    conn.commit()
    conn.close()
    # A user table where the secret is the first text column (a naive label) and failures exist.
    tasks = tmp_path / "tasks.db"
    conn = sqlite3.connect(tasks)
    conn.executescript("CREATE TABLE tasks (id INTEGER PRIMARY KEY, api_key TEXT, name TEXT, status TEXT, "
                       "error TEXT, updated_at TEXT);")
    conn.executemany("INSERT INTO tasks (api_key, name, status, error, updated_at) VALUES (?, ?, ?, ?, ?)",
                     [(PLAIN_MARKER, f"task {i}", s, "boom" if s == "failed" else None, "2026-01-01 10:00:00")
                      for i, s in enumerate(["done", "failed", "pending", "failed", "done", "running"] * 3)])
    # ... and one where a token column is the only text column besides status and error.
    conn.executescript("CREATE TABLE uploads (id INTEGER PRIMARY KEY, access_token TEXT, status TEXT, error TEXT);")
    conn.executemany("INSERT INTO uploads (access_token, status, error) VALUES (?, ?, ?)",
                     [(PLAIN_MARKER, s, "quota exceeded" if s == "failed" else None)
                      for s in ["done", "failed", "pending", "done"] * 3])
    conn.commit()
    conn.close()
    outputs = []
    for args in (["status", str(jobs), str(tasks), "--json"], ["status", str(jobs), str(tasks)],
                 ["failures", str(jobs), "--json"], ["failures", str(jobs)],
                 ["failures", str(tasks), "--json"], ["failures", str(tasks)],
                 ["profile", str(jobs)], ["profile", str(tasks)]):
        out = run_cli(*args)
        outputs.append((args, out.stdout + out.stderr))
        assert out.returncode in (0, 1), (args, out.stderr)
    for args, text in outputs:
        for marker in (PLAIN_MARKER, SECRET_MARKER):
            assert marker.encode() not in text, f"secret leaked by batchtop {' '.join(args)}"
    # The failures are still listed (secrecy is not bought by showing nothing).
    jobs_failures = json.loads(run_cli("failures", str(jobs), "--json").stdout)
    assert len(jobs_failures["sources"][0]["tracks"][0]["items"]) == 3
    task_failures = json.loads(run_cli("failures", str(tasks), "--json").stdout)
    assert {t["table"]: len(t["items"]) for t in task_failures["sources"][0]["tracks"]} == {"tasks": 6, "uploads": 3}


# -- markup and terminal escapes ----------------------------------------------------------------------

ESC_PAYLOADS = (
    "\x1b]52;c;ZXZpbA==\x07",  # OSC 52: write the clipboard
    "\x1b[31mred\x1b[0m",
    "\x9b31m",  # C1 CSI
    "\u202eevil\u202c",  # bidi override
    "[@click=app.quit]click[/]",
    "x [/] y",
    "[bold]B[/bold]",
)
FORBIDDEN = ("\x1b", "\x9b", "\x9d", "\x90", "\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\x00", "\x7f")


def _clean(text: str) -> bool:
    return not any(ch in text for ch in FORBIDDEN) and not any(0x80 <= ord(c) <= 0x9F for c in text)


def test_escape_and_markup_payloads_never_reach_the_terminal(tmp_path: Path) -> None:
    name = "evil\x1b[31m[red]\u202e.db"
    path = tmp_path / name
    make_writer("topics", path).setup(completed=1, failed=0, skipped=0, pending=0, in_flight=0)
    conn = sqlite3.connect(path)
    for i, payload in enumerate(ESC_PAYLOADS):
        conn.execute("INSERT INTO topic_completions (topic_path, status, error_message, completed_at) "
                     "VALUES (?, 'failed', ?, '2026-01-01 10:00:00')", (f"Data/{payload}/{i}.json", f"Error {payload}"))
    conn.execute("INSERT INTO topic_completions (topic_path, status) VALUES ('Data/s.json', ?)",
                 ("\x1b[2J\u202e[blink]",))
    conn.commit()
    conn.close()
    for args in (["status", str(path)], ["failures", str(path)], ["status", str(path), "--json"],
                 ["failures", str(path), "--json", "--limit", "50"]):
        out = run_cli(*args)
        assert out.returncode == 0, (args, out.stderr)
        text = (out.stdout + out.stderr).decode("utf-8")
        assert _clean(text), f"batchtop {args[0]} wrote a control/bidi character: {text[:400]!r}"
        if "--json" in args:
            data = json.loads(out.stdout)
            src = data["sources"][0]
            if args[0] == "failures":
                items = src["tracks"][0]["items"]
                assert len(items) == len(ESC_PAYLOADS)
                for item in items:
                    assert _clean(item["error"]) and _clean(item["label"]) and _clean(str(item["raw"]))
            else:
                assert all(_clean(k) for k in src["tracks"][0]["raw_counts"])
        elif args[0] == "failures":
            assert "[bold]B[/bold]" in text  # markup is shown literally, not interpreted
            assert "[@click=app.quit]click[/]" in text


def test_status_json_of_a_source_in_error_is_still_complete(tmp_path: Path) -> None:
    """Not a hazard row itself: the JSON of an unreadable source carries its error, sanitised."""
    bad = tmp_path / "bad\x1b[2J.db"
    bad.write_bytes(b"\x1b]52;c;ZXZpbA==\x07 not a database" * 10)
    source = Source(bad)
    source.poll()
    from batchtop.core.tracker import source_status

    data = to_json(source_status(source, time.time()))
    assert data["error_kind"] == "not-a-database" and _clean(data["error"])
