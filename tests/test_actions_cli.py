"""`batchtop reset / undo / journal`: previews, confirmation, exit codes, JSON, and safe output."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from actions_support import dir_state, make_docstore, make_jobs, make_topics, rows, spawn

from batchtop.tui import actions_cli, undo_cli


@pytest.fixture(autouse=True)
def journal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "journal.jsonl"
    monkeypatch.setenv("BATCHTOP_JOURNAL", str(path))
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


class Terminal(io.StringIO):
    """A stdin that claims to be a terminal and answers prompts; records what was asked."""

    def __init__(self, answer: str, before=None) -> None:
        super().__init__(answer + "\n")
        self.before = before

    def isatty(self) -> bool:
        return True

    def readline(self, *a: object) -> str:
        if self.before:
            self.before()
        return super().readline()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="batchtop")
    sub = parser.add_subparsers(dest="command")
    actions_cli.register(sub)
    undo_cli.register(sub)
    args = parser.parse_args(list(argv))
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def failed(db: Path) -> int:
    return rows(db, "SELECT COUNT(*) FROM topic_completions WHERE status = 'failed'")[0][0]


def test_dry_run_previews_and_writes_nothing(data: Path, journal_env: Path, capsys) -> None:
    db = make_topics(data / "topics.db", failed=12)
    state = dir_state(data)
    code, out, err = run(capsys, "reset", str(db), "--all-failed", "--dry-run")
    assert code == 0 and "dry run; nothing written" in err
    assert "reset 12 items in topics (all failed items)" in out and "predicate:" in out and "12 match now" in out
    assert dir_state(data) == state and not journal_env.exists()

    code, out, _ = run(capsys, "reset", str(db), "--all-failed", "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["dry_run"] and doc["outcome"] is None
    assert doc["plan"]["count"] == 12 and doc["plan"]["needs_typed_confirmation"] is False
    assert rows(db, f"SELECT COUNT(*) FROM topic_completions WHERE {doc['plan']['predicate']}") == [(12,)]


def test_db_text_is_sanitised_in_text_and_escaped_in_json(data: Path, capsys) -> None:
    db = make_topics(data / "topics.db", failed=2)
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("UPDATE topic_completions SET error_message = ?, topic_path = ? WHERE id = 1",
                 ("boom \x1b]52;c;aGk=\x07 [bold]x[/] \u202eevil", "Data/\x1b[31mred/topic.json"))
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, "reset", str(db), "--id", "1", "--dry-run")
    assert code == 0 and "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "[bold]x[/]" in out  # shown literally
    code, out, _ = run(capsys, "reset", str(db), "--id", "1", "--dry-run", "--json")
    assert "\x1b" not in out and "\u202e" not in out
    assert json.loads(out)["plan"]["samples"][0]["key"] == 1


def test_without_a_terminal_it_refuses_unless_told_yes(data: Path, journal_env: Path, capsys,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_topics(data / "topics.db", failed=3)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal, even if it says yes
    code, out, err = run(capsys, "reset", str(db), "--all-failed")
    assert code == 1 and "use --yes" in err and failed(db) == 3 and not journal_env.exists()

    code, out, err = run(capsys, "reset", str(db), "--all-failed", "--yes")
    assert code == 0 and out.strip().splitlines()[-1] == "reset 3 of 3" and failed(db) == 0, err
    entry_id = err.split("journaled as ")[1].split()[0]

    code, out, _ = run(capsys, "journal", "--json")
    listed = json.loads(out)["entries"]
    assert code == 0 and [(e["id"], e["status"], e["affected"]) for e in listed] == [(entry_id, "applied", 3)]
    code, out, _ = run(capsys, "journal")
    assert code == 0 and entry_id in out and "applied" in out

    code, out, err = run(capsys, "undo")  # previews, then refuses like reset: not a terminal
    assert code == 1 and "use --yes" in err and "3 still hold what it wrote" in out and failed(db) == 0
    code, out, _ = run(capsys, "undo", "--yes")
    assert code == 0 and out.strip().splitlines()[-1] == "restored 3" and failed(db) == 3
    code, out, _ = run(capsys, "undo", entry_id, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["outcome"]["status"] == "already-undone" and failed(db) == 3
    code, _, err = run(capsys, "undo")
    assert code == 1 and "nothing to undo" in err


def test_terminal_confirmation_small_and_typed(data: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_topics(data / "topics.db", failed=150)
    monkeypatch.setattr(sys, "stdin", Terminal("n"))
    code, _, err = run(capsys, "reset", str(db), "--id", "1", "--id", "2")
    assert code == 1 and "not confirmed" in err and failed(db) == 150
    monkeypatch.setattr(sys, "stdin", Terminal("y"))
    code, out, err = run(capsys, "reset", str(db), "--id", "1", "--id", "2")
    assert code == 0 and "reset 2 rows? [y/N]" in err and failed(db) == 148

    monkeypatch.setattr(sys, "stdin", Terminal("y"))  # over 100 rows: "y" is not enough
    code, _, err = run(capsys, "reset", str(db), "--all-failed")
    assert code == 1 and "Type 148 to confirm" in err and failed(db) == 148
    monkeypatch.setattr(sys, "stdin", Terminal("148"))
    code, out, _ = run(capsys, "reset", str(db), "--all-failed")
    assert code == 0 and out.strip().splitlines()[-1] == "reset 148 of 148" and failed(db) == 0


def test_file_replaced_while_asking_exits_4(data: Path, tmp_path: Path, capsys,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_topics(data / "topics.db", failed=3)
    other = make_topics(tmp_path / "other.db", failed=3)
    monkeypatch.setattr(sys, "stdin", Terminal("y", before=lambda: os.replace(other, db)))
    code, out, err = run(capsys, "reset", str(db), "--all-failed", "--json")
    assert code == 4 and "file was replaced since the preview; nothing written" in err
    assert json.loads(out)["error"] == {"kind": "replaced", "message": "file was replaced since the preview; "
                                        "nothing written", "exit": 4}
    assert failed(db) == 3


def test_exit_codes_for_nothing_usage_missing_and_no_action(data: Path, capsys) -> None:
    db = make_topics(data / "topics.db", failed=3)
    code, _, err = run(capsys, "reset", str(db), "--match", "no such text", "--yes")
    assert code == 1 and "nothing matched" in err
    for argv in (["reset", str(db)], ["reset", str(db), "--all-failed", "--stale"],
                 ["reset", str(db), "--id", "1", "--group", "x"]):
        with pytest.raises(SystemExit) as exc:
            run(capsys, *argv)
        assert exc.value.code == 2
    missing = data / "missing.db"
    code, out, err = run(capsys, "reset", str(missing), "--all-failed", "--yes", "--json")
    assert code == 4 and json.loads(out)["error"]["kind"] == "missing" and not missing.exists()
    docs = make_docstore(data / "docs.db")
    code, _, err = run(capsys, "reset", str(docs), "--all-failed", "--yes")
    assert code == 1 and "never records failures" in err
    code, _, err = run(capsys, "reset", str(db), "--track", "nope", "--all-failed")
    assert code == 1 and "no track 'nope'" in err


def test_read_only_refuses_every_command_and_touches_nothing(data: Path, journal_env: Path, capsys) -> None:
    db = make_topics(data / "topics.db", failed=3)
    state = dir_state(data)
    code, _, err = run(capsys, "reset", str(db), "--all-failed", "--yes", "--read-only")
    assert code == 1 and "read-only mode" in err
    code, out, _ = run(capsys, "undo", "--read-only", "--json")
    assert code == 1 and json.loads(out)["error"]["kind"] == "read-only-mode"
    assert dir_state(data) == state and not journal_env.exists()


@pytest.mark.slow
def test_busy_job_exits_3_within_two_seconds(data: Path, capsys) -> None:
    db = make_jobs(data / "jobs.db", mode="delete")
    holder = subprocess.Popen(spawn("hold", str(db), "3", "exclusive"), stdout=subprocess.PIPE, text=True)
    try:
        assert "locked" in holder.stdout.readline()
        started = time.monotonic()
        code, out, err = run(capsys, "reset", str(db), "--id", "1", "--yes", "--json")
        assert time.monotonic() - started < 2.5
    finally:
        assert holder.wait(10) == 0
    assert code == 3 and json.loads(out)["error"]["kind"] in ("busy", "locked")
    assert rows(db, "SELECT status FROM jobs WHERE job_id = 1") == [("failed",)]


def test_stale_running_jobs_are_requeued(data: Path, capsys) -> None:
    db = make_jobs(data / "jobs.db", failed=1, done=1, queued=0, running=2, running_age=4 * 3600)
    code, out, _ = run(capsys, "reset", str(db), "--stale", "--yes")
    assert code == 0 and out.strip().splitlines()[-1] == "requeued 2 of 2"
    assert rows(db, "SELECT status FROM jobs WHERE job_id > 2") == [("queued",), ("queued",)]


def test_the_real_entry_point_is_headless_and_refuses_without_a_terminal(data: Path, journal_env: Path) -> None:
    db = make_topics(data / "topics.db", failed=2)
    code = ("import sys\nfrom batchtop.tui.cli import main\n"
            "rc = main(sys.argv[1:])\nprint('textual' in sys.modules, rc)\n")
    env = {**os.environ, "BATCHTOP_JOURNAL": str(journal_env)}
    out = subprocess.run([sys.executable, "-c", code, "reset", str(db), "--all-failed"], capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, env=env, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False 1" and "use --yes" in out.stderr
    out = subprocess.run([sys.executable, "-c", code, "reset", str(db), "--all-failed", "--yes", "--json"],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "False 0"
    assert json.loads("\n".join(out.stdout.strip().splitlines()[:-1]))["outcome"]["affected"] == 2


def test_undo_previews_and_asks_like_reset(data: Path, journal_env: Path, capsys,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_topics(data / "topics.db", failed=3)
    code, _, err = run(capsys, "reset", str(db), "--all-failed", "--yes")
    entry_id = err.split("journaled as ")[1].split()[0]
    assert code == 0 and failed(db) == 0
    # The job picks one of the reset rows up before the undo: it will be left alone.
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("UPDATE topic_completions SET status = 'completed' WHERE id = 1")
    conn.commit()
    conn.close()
    state = dir_state(data)
    journal_before = journal_env.read_bytes()

    code, out, err = run(capsys, "undo", "--dry-run")
    assert code == 0 and "dry run; nothing written" in err
    assert f"undo reset {entry_id} (3 items in topics)" in out
    assert "3 written; 2 still hold what it wrote and would be restored" in out
    assert "1 moved by the job since" in out
    code, out, _ = run(capsys, "undo", entry_id, "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["dry_run"] and doc["outcome"] is None
    assert doc["preview"] == {"entry_id": entry_id, "written": 3, "restorable": 2, "moved": 1,
                              "not_restorable": 0, "replaced": False}
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # not a terminal
    code, _, err = run(capsys, "undo")
    assert code == 1 and "use --yes" in err
    monkeypatch.setattr(sys, "stdin", Terminal("n"))
    code, _, err = run(capsys, "undo")
    assert code == 1 and "undo 2 rows? [y/N]" in err and "not confirmed" in err
    assert dir_state(data) == state and journal_env.read_bytes() == journal_before and failed(db) == 0

    monkeypatch.setattr(sys, "stdin", Terminal("y"))
    code, out, _ = run(capsys, "undo")
    assert code == 0 and out.strip().splitlines()[-1].startswith("restored 2; 1 already moved by the job")
    assert failed(db) == 2


def test_undo_of_many_rows_needs_the_count_typed(data: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_topics(data / "topics.db", failed=150)
    assert run(capsys, "reset", str(db), "--all-failed", "--yes")[0] == 0
    monkeypatch.setattr(sys, "stdin", Terminal("y"))
    code, _, err = run(capsys, "undo")
    assert code == 1 and "Type 150 to confirm" in err and failed(db) == 0
    monkeypatch.setattr(sys, "stdin", Terminal("150"))
    code, out, _ = run(capsys, "undo")
    assert code == 0 and out.strip().splitlines()[-1] == "restored 150" and failed(db) == 150
    # Already undone: said at once, nothing asked, nothing written.
    code, out, err = run(capsys, "undo", "--json", "--yes")
    assert code == 1 and "nothing to undo" in err


def test_the_demo_journals_into_its_own_temporary_directory(journal_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    """`batchtop demo` must never write resets tried on simulated jobs into the user's journal."""
    import tempfile

    from batchtop.core.actions import Target, apply, plan
    from batchtop.core.journal import Journal
    from batchtop.tui import demo, factory

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen: dict = {}

    def fake_run_app(monitor, *, poll_interval: float, journal_path: Path) -> int:
        monitor.rescan()
        for source in monitor.snapshot_sources():
            if source.poll(force=True).error is None and source.profile and source.snapshot and any(
                    t.counts["failed"] for t in source.snapshot.tracks):
                track = next(t for t in source.snapshot.tracks if t.counts["failed"])
                try:
                    outcome = apply(plan(source, track.name, None, Target.all_failed()),
                                    journal=Journal(journal_path))
                except Exception as exc:  # a track without a reset action: try the next
                    seen.setdefault("skipped", []).append(repr(exc))
                    continue
                seen["applied"] = outcome.count
                break
        monitor.close()
        seen["journal"] = journal_path
        seen["sources"] = [s.path for s in monitor.snapshot_sources()]
        seen["journal_exists"] = journal_path.exists()
        return 0

    monkeypatch.setattr(factory, "run_app", fake_run_app)
    assert demo.run_demo(poll_interval=0.1) == 0
    journal = seen["journal"]
    assert journal != journal_env and not journal_env.exists()
    assert journal.parent.parent == tmp_path and journal.parent.name.startswith("batchtop-demo-")
    assert seen.get("applied") and seen["journal_exists"]  # a reset in the demo went to the demo's journal
    assert all(not Path(p).is_relative_to(journal) and Path(p).parent != journal.parent for p in seen["sources"])
    assert not journal.parent.exists()  # removed with the demo


def test_reset_takes_several_databases_with_one_confirmation(data: Path, journal_env: Path, capsys,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = make_topics(data / "a.db", failed=3), make_topics(data / "b.db", failed=2)
    none = make_topics(data / "c.db", failed=0)
    code, out, err = run(capsys, "reset", str(data / "*.db"), "--all-failed", "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["rows"] == 5 and not journal_env.exists()
    assert {Path(d["path"]).name: d["plan"]["count"] for d in doc["databases"]} == {"a.db": 3, "b.db": 2, "c.db": 0}
    code, _, err = run(capsys, "reset", str(a), str(b), "--id", "1")  # ids belong to one database
    assert code == 2 and "give a single PATH" in err and failed(a) == 3
    monkeypatch.setattr(sys, "stdin", Terminal("n"))
    code, out, err = run(capsys, "reset", str(a), str(b), str(none), "--all-failed")
    assert code == 1 and "reset in 2 databases: 5 rows? [y/N]" in err and failed(a) == 3 and failed(b) == 2
    assert out.count("predicate:") == 3  # every plan was shown before the question
    code, out, err = run(capsys, "reset", str(a), str(b), str(none), "--all-failed", "--yes")
    assert code == 0 and failed(a) == 0 and failed(b) == 0
    assert f"{a}: reset 3 of 3" in out and f"{b}: reset 2 of 2" in out
    entries = json.loads(run(capsys, "journal", "--json")[1])["entries"]
    assert sorted((Path(e["db"]).name, e["affected"]) for e in entries) == [("a.db", 3), ("b.db", 2)]
    missing = data / "gone.db"
    code, out, _ = run(capsys, "reset", str(a), str(missing), "--all-failed", "--yes", "--json")
    doc = json.loads(out)
    assert code == 4 and doc["databases"][1]["error"]["kind"] == "missing" and not missing.exists()
