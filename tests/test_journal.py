"""The action journal: where it lives, exact values, torn lines, folded statuses, refusals."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from batchtop.core.errors import JournalError
from batchtop.core.journal import (
    VALUE_LIMIT,
    Journal,
    Omitted,
    RawText,
    Record,
    decode_value,
    default_path,
    encode_value,
)


def record(entry_id: str, **extra: object) -> dict[str, object]:
    base = {"v": 1, "kind": "action", "id": entry_id, "time": 1.0, "db": "/x.db", "identity": [1, 2],
            "profile": "p", "track": "t", "table": "t", "key": "id", "action": "reset", "affected": [1],
            "columns": ["status"], "before": [["failed"]], "after": [["status", "pending"]], "status": "applied"}
    return {**base, **extra}


def test_records_keep_the_journal_format(tmp_path: Path) -> None:
    """`Record.to_json` writes today's keys in today's order; old dict lines and new records read the same."""
    common = dict(id="aaaa0001", time=1.0, db="/x.db", identity=(1, 2), profile="p", track="t", table="t",
                  key="id", description="d", target="everything", predicate="1", planned=1, affected=(1,),
                  columns=("status",))
    action = Record(kind="action", action="reset", before=(("failed",),), signatures=("sig",),
                    after=(("status", "pending"),), **common)  # type: ignore[arg-type]
    assert list(action.to_json()) == [
        "v", "kind", "id", "time", "db", "identity", "profile", "track", "table", "key", "action", "description",
        "target", "predicate", "planned", "affected", "columns", "before", "signatures", "after", "status"]
    assert action.to_json()["before"] == [["failed"]] and action.to_json()["identity"] == [1, 2]
    undo = Record(kind="undo", action="undo", undoes="aaaa0001", **{**common, "id": "bbbb0001"})  # type: ignore[arg-type]
    assert list(undo.to_json())[-2:] == ["undoes", "status"]
    assert undo.to_json()["before"] == [] and undo.to_json()["after"] == []
    journal = Journal(tmp_path / "j.jsonl")
    journal.append(action)
    journal.append(undo)
    old = Journal(tmp_path / "old.jsonl")
    old.append(action.to_json())
    old.append(undo.to_json())
    assert journal.path.read_bytes() == old.path.read_bytes()
    assert {e.id: e.status for e in journal.entries()} == {"aaaa0001": "undone", "bbbb0001": "applied"}


def test_default_path_follows_env_then_xdg_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path({}) == tmp_path / "home" / ".local" / "state" / "batchtop" / "journal.jsonl"
    assert default_path({"XDG_STATE_HOME": "/st"}) == Path("/st/batchtop/journal.jsonl")
    assert default_path({"XDG_STATE_HOME": "relative"}).parts[-4:] == (".local", "state", "batchtop", "journal.jsonl")
    assert default_path({"XDG_STATE_HOME": "/st", "BATCHTOP_JOURNAL": "/j/x.jsonl"}) == Path("/j/x.jsonl")
    monkeypatch.setenv("BATCHTOP_JOURNAL", str(tmp_path / "env.jsonl"))
    assert Journal().path == tmp_path / "env.jsonl"
    assert Journal(tmp_path / "arg.jsonl").path == tmp_path / "arg.jsonl"  # the argument wins


def test_nothing_is_created_until_the_first_append(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "a" / "b" / "journal.jsonl")
    assert journal.entries() == [] and journal.latest_undoable() is None
    assert not (tmp_path / "a").exists()
    journal.append(record("aaaa0001"))
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_values_round_trip_exactly() -> None:
    values = [None, 0, -5, 2**62, 1.5, float("inf"), "plain", "ünï\x1b[31m", RawText(b"\xff\xfebad"),
              b"\x00\x01blob"]
    back = [decode_value(json.loads(json.dumps(encode_value(v), allow_nan=False))) for v in values]
    assert back == values
    assert isinstance(back[8], RawText) and type(back[9]) is bytes
    big = decode_value(encode_value("x" * (VALUE_LIMIT + 1)))
    assert isinstance(big, Omitted) and big.length == VALUE_LIMIT + 1


def test_torn_last_line_is_skipped_and_later_appends_survive(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append(record("aaaa0001", time=1.0))
    with open(journal.path, "ab") as f:  # a crash half-way through a record
        f.write(b'{"v":1,"kind":"action","id":"torn')
    assert [e.id for e in journal.entries()] == ["aaaa0001"] and journal.damaged_lines == 1
    journal.append(record("aaaa0002", time=2.0))
    assert [e.id for e in journal.entries()] == ["aaaa0002", "aaaa0001"] and journal.damaged_lines == 1


def test_statuses_fold_aborted_and_undone(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append(record("aaaa0001", time=1.0))
    journal.append(record("aaaa0002", time=2.0))
    journal.append(record("aaaa0003", time=3.0))
    journal.mark("aaaa0003", "aborted", "COMMIT failed: disk full")
    journal.append(record("bbbb0001", kind="undo", undoes="aaaa0002", time=4.0))
    journal.append(record("bbbb0002", kind="undo", undoes="aaaa0001", time=5.0))
    journal.mark("bbbb0002", "aborted", "busy")
    by_id = {e.id: e for e in journal.entries()}
    assert by_id["aaaa0003"].status == "aborted" and "disk full" in by_id["aaaa0003"].status_note
    assert by_id["aaaa0002"].status == "undone" and by_id["aaaa0002"].status_note == "undone by bbbb0001"
    assert by_id["aaaa0001"].status == "applied"  # its undo never committed
    assert journal.latest_undoable().id == "aaaa0001"
    assert journal.get("aaaa0002").id == "aaaa0002" and journal.get("bbbb") is None  # ambiguous prefix
    assert journal.get("aaaa0003").summary()["status"] == "aborted"


def test_a_pending_record_can_be_marked_aborted(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append(record("aaaa0001"))
    size = journal.path.stat().st_size
    pending = journal.begin(record("aaaa0002"))
    assert journal.path.stat().st_size > size
    assert pending.abort("COMMIT failed") is True
    assert journal.get("aaaa0002").status == "aborted"


@pytest.mark.parametrize("kind", ["parent-is-a-file", "directory", "fifo"])
def test_unwritable_journal_paths_raise_journal_error(tmp_path: Path, kind: str) -> None:
    if kind == "parent-is-a-file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "journal.jsonl"
    elif kind == "directory":
        path = tmp_path / "dir"
        path.mkdir()
    else:
        path = tmp_path / "fifo"
        os.mkfifo(path)
    with pytest.raises(JournalError):
        Journal(path).append(record("aaaa0001"))  # a FIFO must fail, not hang


def test_journal_must_live_outside_the_database(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    for name in ("x.db", "x.db-wal", "x.db-journal"):
        with pytest.raises(JournalError):
            Journal(tmp_path / name).check_outside(str(db))
    Journal(tmp_path / "journal.jsonl").check_outside(str(db))


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    code = (
        "import sys\nfrom batchtop.core.journal import Journal\n"
        "j = Journal(sys.argv[1])\n"
        "for i in range(40):\n"
        "    j.append({'v': 1, 'kind': 'action', 'id': f'{sys.argv[2]}{i:04d}', 'time': i, 'before': [['x' * 20000]]})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), tag]) for tag in ("p", "q")]
    threads = [threading.Thread(target=lambda t=t: [Journal(path).append(record(f"t{t}{i:03d}")) for i in range(40)])
               for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p.wait(30) == 0 for p in procs)
    journal = Journal(path)
    assert len(journal.entries()) == 160 and journal.damaged_lines == 0


def test_abort_cuts_the_record_off_when_not_even_a_status_line_fits(tmp_path: Path) -> None:
    """Disk full right after the record: the record is removed instead, so the journal never lies."""
    path = tmp_path / "journal.jsonl"
    Journal(path).append(record("aaaa0001"))
    code = (
        "import resource, signal, sys\n"
        "from batchtop.core.journal import Journal\n"
        "j = Journal(sys.argv[1])\n"
        "pending = j.begin({'v': 1, 'kind': 'action', 'id': 'aaaa0002', 'time': 2.0, 'status': 'applied'})\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "size = j.path.stat().st_size\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))\n"
        "print(pending.abort('COMMIT failed'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "True", out.stderr
    journal = Journal(path)
    assert [e.id for e in journal.entries()] == ["aaaa0001"] and journal.damaged_lines == 0
