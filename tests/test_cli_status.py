"""`batchtop status --json` and `batchtop failures --json`, run as real subprocesses: the documented
shape, errors per source, stdout for data and stderr for narration, exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import writers
from writers import make_writer, run_cli, truth

STATES = ("pending", "running", "done", "failed", "skipped", "cancelled")
SCHEMAS = ("topic_completions", "llm_results", "documentation_store", "smarthistory", "yt_builder_jobs")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_shape(doc: object) -> None:
    """The documented shape (more keys are allowed)."""
    assert isinstance(doc, dict) and isinstance(doc.get("sources"), list)
    for src in doc["sources"]:
        assert isinstance(src["path"], str)
        for key in ("profile", "journal_mode", "state", "error"):
            assert key in src and (src[key] is None or isinstance(src[key], str)), (key, src.get(key))
        assert isinstance(src["tracks"], list)
        for t in src["tracks"]:
            assert isinstance(t["table"], str)
            assert _is_int(t["total"]) and t["total"] >= 0
            assert set(t["counts"]) == set(STATES)
            assert all(_is_int(v) and v >= 0 for v in t["counts"].values())
            assert sum(t["counts"].values()) == t["total"]
            assert isinstance(t["raw_counts"], dict)
            assert all(isinstance(k, str) and _is_int(v) for k, v in t["raw_counts"].items())
            assert sum(t["raw_counts"].values()) == t["total"]
            assert t["rate_per_min"] is None or isinstance(t["rate_per_min"], float)
            eta = t["eta_seconds"]
            assert eta is None or (isinstance(eta, list) and len(eta) == 2 and all(_is_num(x) for x in eta)
                                   and eta[0] <= eta[1])


@pytest.fixture()
def five(tmp_path: Path) -> list[Path]:
    """One database per built-in profile, written the way its real writer does."""
    paths = []
    for schema in SCHEMAS:
        path = tmp_path / f"{schema}.db"
        make_writer(schema, path).setup()
        paths.append(path)
    return paths


def test_status_json_shape_and_counts(five: list[Path]) -> None:
    out = run_cli("status", *map(str, five), "--json")
    assert out.returncode == 0, out.stderr
    assert out.stderr == b""
    doc = json.loads(out.stdout)
    check_shape(doc)
    by_path = {s["path"]: s for s in doc["sources"]}
    assert set(by_path) == {str(p) for p in five}
    for schema, path in zip(SCHEMAS, five):
        src = by_path[str(path)]
        assert src["profile"] == schema and src["error"] is None
        assert src["journal_mode"] == writers.WRITERS[schema].native_journal
        assert src["state"] in ("active", "stalled", "interrupted", "waiting", "finished")
        ground = truth(path, schema)
        assert {t["table"]: t["raw_counts"] for t in src["tracks"]} == ground
        for t in src["tracks"]:
            assert t["counts"] == writers.expected_counts(schema, ground[t["table"]])


def test_rate_and_eta_when_items_finished_recently(tmp_path: Path) -> None:
    path = tmp_path / "smarthistory.db"
    make_writer("smarthistory", path).setup(completed=30, failed=2, started=3)
    out = run_cli("status", str(path), "--json")
    (t,) = json.loads(out.stdout)["sources"][0]["tracks"]
    assert isinstance(t["rate_per_min"], float) and t["rate_per_min"] > 0
    assert t["eta_seconds"] is not None and 0 < t["eta_seconds"][0] <= t["eta_seconds"][1]


def test_unreadable_source_has_error_others_still_reported(tmp_path: Path, five: list[Path]) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 20)
    missing = tmp_path / "later.db"
    out = run_cli("status", str(five[0]), str(text), str(missing), str(five[1]), "--json")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    check_shape(doc)
    by_path = {s["path"]: s for s in doc["sources"]}
    assert "not an SQLite database" in by_path[str(text)]["error"]
    assert by_path[str(text)]["tracks"] == []
    assert by_path[str(text)]["state"] == "error"
    assert "not found" in by_path[str(missing)]["error"]
    assert not missing.exists()
    for good in five[:2]:
        assert by_path[str(good)]["error"] is None and by_path[str(good)]["tracks"]
    # The human form on stdout, still exit 1.
    human = run_cli("status", str(five[0]), str(text))
    assert human.returncode == 1
    assert b"not an SQLite database" in human.stdout and b"topics" in human.stdout


def test_nothing_matched_is_narrated_on_stderr(tmp_path: Path) -> None:
    out = run_cli("status", str(tmp_path / "*.db"), "--json")
    assert out.returncode == 1
    assert json.loads(out.stdout) == {"sources": []}
    assert b"no database matched" in out.stderr and b"no database matched" not in out.stdout


def test_usage_error_exit_code(tmp_path: Path) -> None:
    out = run_cli("failures")
    assert out.returncode == 2
    assert out.stdout == b""


def test_journal_mode_is_the_files_real_mode(tmp_path: Path) -> None:
    wal, delete = tmp_path / "wal.db", tmp_path / "delete.db"
    make_writer("topics", wal, journal="wal").setup()  # the job is not running: no -wal/-shm
    make_writer("topics", delete, journal="delete").setup()
    doc = json.loads(run_cli("status", str(wal), str(delete), "--json").stdout)
    assert {Path(s["path"]).name: s["journal_mode"] for s in doc["sources"]} == {"wal.db": "wal",
                                                                                "delete.db": "delete"}


# -- failures -----------------------------------------------------------------------------------------

def test_failures_newest_n_with_sanitised_text(tmp_path: Path) -> None:
    path = tmp_path / "completion_tracking.db"
    make_writer("topics", path).setup(completed=4, failed=9, skipped=1, pending=0, in_flight=0)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE topic_completions SET error_message = 'line one\nline two\t\x1b[31mred\x1b[0m \u202eX' "
                  "WHERE id = (SELECT MAX(id) FROM topic_completions WHERE status = 'failed')")
    conn.commit()
    newest = [k for (k,) in conn.execute(
        "SELECT id FROM topic_completions WHERE status = 'failed' ORDER BY id DESC LIMIT 4")]
    conn.close()
    out = run_cli("failures", str(path), "--json", "--limit", "4")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (src,) = doc["sources"]
    assert src["error"] is None
    (track,) = src["tracks"]
    items = track["items"]
    assert [i["key"] for i in items] == newest
    top = items[0]["error"]
    assert top.startswith("line one line two")
    assert not any(ch in top for ch in "\n\t\x1b\u202e")
    assert "red" in top
    assert all(isinstance(i["error_length"], int) for i in items)
    assert all(i["raw"] == "failed" for i in items)


def test_failures_llm_only_error_rows_once_each(tmp_path: Path) -> None:
    path = tmp_path / "llm_results_20260101_120000.db"
    make_writer("llm", path).setup(prompts=60, done=60)
    conn = writers.ro_connect(path)
    expected = [k for (k,) in conn.execute(
        "SELECT id FROM llm_results WHERE result LIKE 'Error:%' ORDER BY id DESC")]
    conn.close()
    out = run_cli("failures", str(path), "--json", "--limit", "100")
    items = json.loads(out.stdout)["sources"][0]["tracks"][0]["items"]
    assert [i["key"] for i in items] == expected
    assert all(i["error"].startswith("Error: Failed after 3 attempts:") for i in items)


def test_failures_of_unreadable_source(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"\x00" * 4096)
    out = run_cli("failures", str(bad), "--json")
    assert out.returncode == 1
    (src,) = json.loads(out.stdout)["sources"]
    assert src["error"] and src["tracks"] == []


def test_failures_docstore_says_failures_are_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "docs.db"
    make_writer("docstore", path).setup()
    out = run_cli("failures", str(path), "--json")
    assert out.returncode == 0
    tracks = json.loads(out.stdout)["sources"][0]["tracks"]
    assert {t["table"]: (t["failures_recorded"], t["items"]) for t in tracks} == {
        "table_metadata": (False, []), "relationship_metadata": (False, [])}
    human = run_cli("failures", str(path))
    assert b"never records failures" in human.stdout


def test_failures_json_when_the_job_locks_between_poll_and_page(tmp_path: Path, monkeypatch, capsys) -> None:
    """The job takes its lock between batchtop's poll and its failures read (a race seen under load in
    test_rollback_lock): `--json` must still print the source, with its error."""
    from batchtop.core import errors
    from batchtop.core.source import Source
    from batchtop.tui import cli

    path = tmp_path / "jobs.db"
    make_writer("jobs", path).setup()

    def locked(self, reader):
        raise errors.Locked("locked by the job, retrying")

    monkeypatch.setattr(Source, "run", locked)
    code = cli.main(["failures", str(path), "--json"])
    out = capsys.readouterr()
    assert code == 1
    (src,) = json.loads(out.out)["sources"]
    assert src["error"] == "locked by the job, retrying"
