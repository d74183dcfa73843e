"""What a user pointing batchtop at a real queue library's database gets (issue 7's "done means"): right
counts, sane times, no secret, and a saved profile (`batchtop profile A > p.toml`) that keeps working on
the next run (`--profile p.toml B`), for litequeue, persist-queue and huey. optuna and Celery are read the
same way in test_unmapped.py (states a study never showed) and test_secrets.py (kwargs BLOBs)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from factories import HUEY_PROFILE, SECRET_MARKER, huey_db, litequeue_db, persist_queue_db
from writers import run_cli

from batchtop.core.backends.sqlite.items import item_detail
from batchtop.core.profiles.userfile import parse_profiles
from batchtop.core.source import Source

ZERO = dict.fromkeys(("pending", "running", "done", "failed", "skipped", "cancelled"), 0)


def _litequeue(d: Path, now: float) -> tuple[Path, Path, dict[str, dict[str, int]]]:
    a = litequeue_db(d / "a.db", now=now)  # 30 done, 3 failed, 10 ready, 2 locked, in nanoseconds
    b = litequeue_db(d / "b.db", now=now, done=12, failed=5, ready=4, locked=0)
    return a, b, {"Queue": ZERO | {"done": 12, "failed": 5, "pending": 4}}


def _persist_queue(d: Path, now: float) -> tuple[Path, Path, dict[str, dict[str, int]]]:
    a = persist_queue_db(d / "a.db", now=now)
    b = persist_queue_db(d / "b.db", now=now, acked=7, ready=3, unacked=0, failed=2)
    return a, b, {"ack_queue_default": ZERO | {"done": 7, "failed": 2, "pending": 3}}


def _huey(d: Path, now: float) -> tuple[Path, Path, dict[str, dict[str, int]]]:
    a = huey_db(d / "a.db", now=now)
    b = huey_db(d / "b.db", now=now, queued=1, scheduled=4, results=9)
    return (
        a,
        b,
        {
            "queued": ZERO | {"pending": 1},
            "scheduled": ZERO | {"pending": 4},
            "results": ZERO | {"done": 9},
        },
    )


Build = Callable[[Path, float], tuple[Path, Path, dict[str, dict[str, int]]]]


@pytest.mark.slow
@pytest.mark.parametrize(
    "build", [_litequeue, _persist_queue, _huey], ids=["litequeue", "persist-queue", "huey"]
)
def test_a_saved_profile_reads_the_next_run_right_with_sane_times_and_no_secret(
    tmp_path: Path, build: Build
) -> None:
    a, b, expected = build(tmp_path, time.time())
    # huey records no state, so nothing is detected: the user writes a profile (huey's task ids sit in a
    # column named plainly `key`), and `batchtop profile --profile` saves it back as batchtop reads it.
    given = ["--profile", str(tmp_path / "huey.toml")] if build is _huey else []
    if given:
        (tmp_path / "huey.toml").write_text(HUEY_PROFILE, encoding="utf-8")
    saved = run_cli("profile", *given, str(a))
    assert saved.returncode == 0, saved.stderr
    (tmp_path / "p.toml").write_bytes(saved.stdout)
    runs = {
        "status": run_cli("status", "--profile", str(tmp_path / "p.toml"), str(b)),
        "status --json": run_cli("status", "--profile", str(tmp_path / "p.toml"), str(b), "--json"),
        "failures": run_cli("failures", "--profile", str(tmp_path / "p.toml"), str(b)),
        "failures --json": run_cli("failures", "--profile", str(tmp_path / "p.toml"), str(b), "--json"),
        "profile": saved,
    }
    for name, out in runs.items():
        assert out.returncode == 0, (name, out.stderr)
        assert SECRET_MARKER.encode() not in out.stdout + out.stderr, name
        assert b"Traceback" not in out.stderr, name
    (source,) = json.loads(runs["status --json"].stdout)["sources"]
    assert source["error"] is None, source["error"]
    tracks = {t["track"]: t for t in source["tracks"]}
    assert {name: t["counts"] for name, t in tracks.items()} == expected
    assert all(t["unmapped"] == 0 and not t["warnings"] for t in tracks.values())
    # Sane times: nothing read as ahead of the clock, and a finish every 20 s is a rate of a few a minute
    # (litequeue's nanoseconds read as seconds would put every time thousands of years ahead).
    assert b"ahead of the clock" not in runs["status"].stdout
    if build is _litequeue:
        rate = tracks["Queue"]["rate_per_min"]
        assert rate is not None and 0.5 <= rate <= 6, rate


def test_a_huey_result_shows_its_task_id_and_never_its_pickle(tmp_path: Path) -> None:
    # What the item screen shows of one huey result, read through the saved profile: the task id sits in
    # a column named plainly `key` (an id, not a credential), the pickled value is a summary only.
    db = huey_db(tmp_path / "huey.db", results=2)
    (profile,) = parse_profiles(HUEY_PROFILE, "user:huey.toml")
    source = Source(db, forced=profile)
    try:
        assert source.poll().error is None
        track = source.profile.track("results")
        detail = source.run(lambda conn: item_detail(conn, track, "r-1"))
    finally:
        source.close()
    shown = {v.column: v.text for v in detail.columns}
    assert shown["key"] == "r-1" and shown["queue"] == "huey"
    assert shown["value"].startswith("<pickle ") and SECRET_MARKER not in shown["value"]
    assert detail.hidden == ()
