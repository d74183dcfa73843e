"""A saved profile keeps working on the next run: every state word is listed, and values a profile does
not map are counted apart as `unmapped` (never silently pending), with a warning."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from factories import FIXED_NOW, celery_db, fixed_clock, optuna_db
from writers import run_cli

from batchtop.core.profiles.userfile import parse_profiles
from batchtop.core.source import Source
from batchtop.core.status import to_json
from batchtop.core.tracker import source_status

ZERO = dict.fromkeys(("pending", "running", "done", "failed", "skipped", "cancelled"), 0)


def _saved_profile(db: Path, out: Path) -> Path:
    """`batchtop profile DB > out`."""
    result = run_cli("profile", str(db))
    assert result.returncode == 0, result.stderr
    out.write_bytes(result.stdout)
    return out


def _status_json(profile: Path, db: Path) -> dict:
    result = run_cli("status", "--profile", str(profile), str(db), "--json")
    assert result.returncode == 0, result.stderr
    (source,) = json.loads(result.stdout)["sources"]
    assert source["error"] is None, source["error"]
    return source


def test_a_saved_optuna_profile_reads_states_its_study_never_showed(tmp_path: Path) -> None:
    # Study A ran no trial to PRUNED yet; study B, read with A's saved profile, has finished with some.
    a = optuna_db(tmp_path / "a.db", {"COMPLETE": 6, "RUNNING": 2, "FAIL": 1})
    b = optuna_db(tmp_path / "b.db", {"COMPLETE": 5, "PRUNED": 4, "FAIL": 1})
    profile = _saved_profile(a, tmp_path / "p.toml")
    assert '"PRUNED"' in profile.read_text() and '"WAITING"' in profile.read_text()
    source = _status_json(profile, b)
    (track,) = source["tracks"]
    assert track["counts"] == ZERO | {"done": 5, "skipped": 4, "failed": 1}
    assert track["unmapped"] == 0 and track["total"] == 10
    assert track["activity"] == "finished"  # not "stalled" with 4 pretend-pending trials


def test_a_saved_celery_profile_reads_revoked_ignored_and_rejected(tmp_path: Path) -> None:
    a = celery_db(tmp_path / "a.db", {"SUCCESS": 4, "FAILURE": 2, "PENDING": 1, "STARTED": 1})
    b = celery_db(tmp_path / "b.db", {"SUCCESS": 3, "REVOKED": 2, "IGNORED": 1, "REJECTED": 1, "RETRY": 1})
    source = _status_json(_saved_profile(a, tmp_path / "p.toml"), b)
    (track,) = source["tracks"]
    assert track["counts"] == ZERO | {"done": 3, "cancelled": 2, "skipped": 1, "failed": 1, "pending": 1}
    assert track["unmapped"] == 0


PROFILE = """name = "jobs"
[[track]]
table = "jobs"
status = "state"
key = "id"

[track.states]
done = ["ok"]
failed = ["bad"]
"""


def _jobs(path: Path, states: list[str | None]) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)")
    conn.executemany("INSERT INTO jobs (state) VALUES (?)", [(s,) for s in states])
    conn.commit()
    conn.close()
    return path


def test_values_a_profile_does_not_map_are_counted_apart_with_a_warning(tmp_path: Path) -> None:
    db = _jobs(tmp_path / "jobs.db", ["ok"] * 5 + ["bad"] + ["PAUSED_BY_OPERATOR"] * 3 + [None])
    (profile,) = parse_profiles(PROFILE, "user:p.toml")
    source = Source(db, forced=profile, clock=fixed_clock(FIXED_NOW))
    snap = source.poll().snapshot.tracks[0]
    assert snap.counts == ZERO | {"done": 5, "failed": 1}
    assert (snap.unmapped, snap.total) == (4, 6)  # counted apart: not in the total, not pending
    assert {r.raw: r.count for r in snap.unmapped_values} == {"PAUSED_BY_OPERATOR": 3, "NULL": 1}
    status = source_status(source, FIXED_NOW)
    (track,) = status.tracks
    assert track.activity.state == "finished" and track.remaining == 0
    assert track.warning is not None and "4 rows hold values the profile does not map" in track.warning
    assert "PAUSED_BY_OPERATOR 3" in track.warning and track.note.startswith(track.warning)  # shown on screen
    doc = to_json(status)["tracks"][0]
    assert doc["unmapped"] == 4 and doc["unmapped_values"] == {"PAUSED_BY_OPERATOR": 3, "NULL": 1}
    assert doc["total"] == sum(doc["counts"].values()) == 6
    assert doc["warnings"] == [track.warning]
    source.close()
    # The same in `batchtop status`, text and JSON.
    (tmp_path / "p.toml").write_text(PROFILE)
    out = run_cli("status", "--profile", str(tmp_path / "p.toml"), str(db))
    assert out.returncode == 0, out.stderr
    assert b"warning:" in out.stdout and b"does not map" in out.stdout and b"PAUSED_BY_OPERATOR" in out.stdout
    assert _status_json(tmp_path / "p.toml", db)["tracks"][0]["unmapped"] == 4
    # A profile that names a default state gives such values that state, on purpose.
    (forgiving,) = parse_profiles(PROFILE.replace('key = "id"', 'key = "id"\ndefault_state = "pending"'), "p")
    source = Source(db, forced=forgiving, clock=fixed_clock(FIXED_NOW))
    snap = source.poll().snapshot.tracks[0]
    source.close()
    assert snap.unmapped == 0 and snap.counts["pending"] == 4


def test_a_detected_profile_leaves_unknown_values_unmapped_and_says_so(tmp_path: Path) -> None:
    db = _jobs(tmp_path / "q.db", ["done"] * 4 + ["failed"] * 2 + ["pending"] * 3 + ["frobnicated"] * 2)
    source = Source(db, clock=fixed_clock(FIXED_NOW))
    result = source.poll()
    source.close()
    (track,) = result.snapshot.tracks
    assert track.counts["pending"] == 3 and track.unmapped == 2
    assert "frobnicated not understood: counted apart as unmapped" in " ".join(result.snapshot.profile.notes)
