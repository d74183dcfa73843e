"""Every static bad input of the hazards table (shared/design/hazards.md), driven through the real CLI.

One directory (the "zoo") holds every bad input next to one healthy database. `batchtop status --json`,
`batchtop failures --json` and plain `batchtop status` run over it once each (as subprocesses); each table
row is then one parametrised test asserting what the row promises: its specific message, that the healthy
database is still reported correctly, that no escape or control byte reaches stdout/stderr, and that no
byte, mtime or directory entry of the zoo changed. The dynamic rows (writers, kills, locks, replacement)
live in test_reliability_writers.py, test_reliability_faults.py and test_hazards_read.py.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import FORBIDDEN_BYTES, HOSTILE_VALUES
from writers import file_state, make_writer, run_cli

GOOD_COUNTS = {"pending": 1, "running": 1, "done": 5, "failed": 2, "skipped": 1, "cancelled": 0}
ODD_NAMES = ("a?b.db", "50%.db", "#1.db", "sp ace.db", "ünï.db", "-x.db")
HOSTILE_TABLE = "[@click=app.quit]t[/] \x1b]52;c;QUFBQQ==\x07 \u202e"
HOSTILE_COLUMN = "c [/] \x1b[31mCOL \x9b1m"


def _topics(path: Path, completed: int) -> None:
    make_writer("topics", path, journal="delete").setup(
        completed=completed, failed=2, skipped=1, pending=1, in_flight=1
    )


def _damaged(path: Path, flip: bool) -> None:
    src = path.with_suffix(".src")
    make_writer("topics", src, journal="delete").setup(completed=150, failed=100, skipped=20)
    conn = sqlite3.connect(src)
    conn.execute("UPDATE topic_completions SET error_message = printf('%.300c', 'e')")
    conn.commit()
    conn.close()
    data = bytearray(src.read_bytes())
    src.unlink()
    if flip:
        rng = random.Random(3)
        for page in range(1, len(data) // 4096):
            for _ in range(64):
                data[page * 4096 + rng.randrange(4096)] ^= 0xFF
    else:
        del data[len(data) // 2 :]
    path.write_bytes(bytes(data))


def _hostile_values(path: Path) -> None:
    _topics(path, 1)
    conn = sqlite3.connect(path)
    for i, payload in enumerate(HOSTILE_VALUES):
        conn.execute(
            "INSERT INTO topic_completions (topic_path, status, error_message, completed_at) "
            "VALUES (?, 'failed', ?, '2026-01-01 10:00:00')",
            (f"Data/{payload}/{i}", f"E {payload}"),
        )
    conn.execute(
        "INSERT INTO topic_completions (topic_path, status, error_message, completed_at) VALUES "
        "(CAST(X'fffe41c328' AS TEXT), 'failed', CAST(X'c328ff1b5b33316d' AS TEXT), '2026-01-01')"
    )
    conn.commit()
    conn.close()


def _hostile_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f'CREATE TABLE "{HOSTILE_TABLE}" ("{HOSTILE_COLUMN}" TEXT, b BLOB)')
    conn.execute('CREATE TABLE "x [/] y" (c TEXT)')
    conn.commit()
    conn.close()


def _wal_quiescent(path: Path) -> None:
    make_writer("llm", path, journal="wal").setup(prompts=20, done=5)
    for side in ("-wal", "-shm"):
        assert not os.path.exists(f"{path}{side}")


@dataclass(frozen=True)
class Row:
    """One row of the hazards table: the file(s) it makes and what `status --json` must say of them."""

    name: str  # the file in the zoo
    make: object  # callable(Path)
    kind: str | None  # expected error_kind (None: readable, no error)
    message: str | None  # expected substring of the error


ROWS = (
    Row("empty.db", lambda p: p.touch(), "empty", "empty database, no progress tables"),
    Row(
        "text.db",
        lambda p: p.write_text("plain text, not a database\n" * 30),
        "not-a-database",
        "not an SQLite database",
    ),
    Row(
        "random.db",
        lambda p: p.write_bytes(random.Random(7).randbytes(8192)),
        "not-a-database",
        "not an SQLite database",
    ),
    Row("truncated.db", lambda p: _damaged(p, flip=False), "damaged", "damaged"),
    Row("flipped.db", lambda p: _damaged(p, flip=True), "damaged", "damaged"),
    Row("unknown.db", _hostile_tables, "unknown-schema", "no progress table recognised; found tables:"),
    Row("hostile.db", _hostile_values, None, None),
    Row("quiescent_wal.db", _wal_quiescent, None, None),
)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Build the zoo, run the CLI over it once, and record the directory before and after."""
    d = tmp_path_factory.mktemp("zoo")
    _topics(d / "good.db", 5)
    for row in ROWS:
        row.make(d / row.name)
    for i, name in enumerate(ODD_NAMES):  # a distinct total per name: the right file must open
        _topics(d / name, 10 + i)
    os.link(d / "good.db", d / "hardlink.db")
    os.symlink("good.db", d / "symlink.db")
    os.mkfifo(d / "fifo.db")
    (d / "directory.db").mkdir()
    (d / "orphan.db-wal").write_bytes(b"not really a wal")
    (d / "orphan.db-shm").write_bytes(b"")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(d / "socket.db"))
    before = file_state(d)
    runs = {
        "status-json": run_cli("status", str(d), "--json", timeout=60),
        "failures-json": run_cli("failures", str(d), "--json", "--limit", "50", timeout=60),
        "status-text": run_cli("status", str(d), timeout=60),
        "failures-text": run_cli("failures", str(d), "--limit", "50", timeout=60),
    }
    after = file_state(d)
    sock.close()
    status = {Path(s["path"]).name: s for s in json.loads(runs["status-json"].stdout)["sources"]}
    failures = {Path(s["path"]).name: s for s in json.loads(runs["failures-json"].stdout)["sources"]}
    return {"dir": d, "runs": runs, "status": status, "failures": failures, "before": before, "after": after}


def _assert_zoo_intact(zoo: dict) -> None:
    assert zoo["after"] == zoo["before"], "reading changed a byte, an mtime or the directory listing"
    good = zoo["status"]["good.db"]
    assert good["error"] is None and good["tracks"][0]["counts"] == GOOD_COUNTS


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_bad_input_gets_its_message_and_changes_nothing(zoo: dict, row: Row) -> None:
    src = zoo["status"][row.name]
    assert src["error_kind"] == row.kind, src
    if row.message is None:
        assert src["error"] is None and src["tracks"], src
    else:
        assert row.message in src["error"] and "\n" not in src["error"] and "Traceback" not in src["error"]
    # The same source in the failures JSON carries the same error, and the CLI did not crash on it.
    assert zoo["failures"][row.name]["error"] == src["error"]
    _assert_zoo_intact(zoo)


@pytest.mark.parametrize("run", ["status-json", "failures-json", "status-text", "failures-text"])
def test_no_escape_byte_in_any_cli_output(zoo: dict, run: str) -> None:
    out = zoo["runs"][run]
    assert out.returncode == 1, out.stderr  # 1: some sources could not be read (the zoo's bad inputs)
    assert b"Traceback" not in out.stderr
    for stream in (out.stdout, out.stderr):
        for forbidden in (*FORBIDDEN_BYTES, b"\x1b", b"\x07", b"\xc2\x9b", b"\xe2\x80\xae"):
            assert forbidden not in stream, f"{forbidden!r} in batchtop {run}"
    text = (out.stdout + out.stderr).decode()
    assert all(not 0x80 <= ord(c) <= 0x9F for c in text), "a C1 control reached the output"


def test_markup_payloads_are_shown_literally(zoo: dict) -> None:
    items = zoo["failures"]["hostile.db"]["tracks"][0]["items"]
    errors = " ".join(item["error"] for item in items)
    for literal in ("[@click=app.quit]x[/]", "x [/] y"):
        assert literal in errors  # neither interpreted nor dropped
        assert literal in zoo["runs"]["failures-text"].stdout.decode()
    assert "\ufffd" in errors  # invalid UTF-8 is shown with U+FFFD, not an OperationalError


def test_hostile_table_and_column_names_are_sanitised(zoo: dict) -> None:
    error = zoo["status"]["unknown.db"]["error"]
    assert "[@click=app.quit]t[/]" in error and "x [/] y" in error
    assert "\x1b" not in error and "\x07" not in error and "\u202e" not in error


def test_odd_names_open_the_right_file(zoo: dict) -> None:
    for i, name in enumerate(ODD_NAMES):
        src = zoo["status"][name]
        assert src["error"] is None, (name, src)
        assert src["tracks"][0]["total"] == 10 + i + 5, name
    _assert_zoo_intact(zoo)  # no stray file (a '?' or '#' once opened and created another one)


def test_links_fifos_sockets_directories_and_sidecars_are_skipped(zoo: dict) -> None:
    listed = set(zoo["status"])
    for skipped in ("fifo.db", "socket.db", "directory.db", "orphan.db-wal", "orphan.db-shm"):
        assert skipped not in listed
    assert {"good.db", "hardlink.db", "symlink.db"} & listed == {"good.db"}  # one entry per inode
    stderr = zoo["runs"]["status-json"].stderr.decode()
    assert "two hard links to one database" in stderr


def test_quiescent_wal_database_creates_no_sidecar(zoo: dict) -> None:
    assert zoo["status"]["quiescent_wal.db"]["journal_mode"] == "wal"
    assert not (zoo["dir"] / "quiescent_wal.db-wal").exists()
    assert not (zoo["dir"] / "quiescent_wal.db-shm").exists()


def test_missing_path_is_reported_and_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "later.db"
    out = run_cli("status", str(missing), "--json")
    assert out.returncode == 1
    src = json.loads(out.stdout)["sources"][0]
    assert src["error_kind"] == "missing" and "file not found" in src["error"]
    assert os.listdir(tmp_path) == []
    _topics(missing, 3)  # the job creates it: the next run shows it
    src = json.loads(run_cli("status", str(missing), "--json").stdout)["sources"][0]
    assert src["error"] is None and src["tracks"][0]["total"] == 8


@pytest.mark.parametrize("command", ["status", "failures"])
def test_closed_pipe_exits_quietly(tmp_path: Path, command: str) -> None:
    """`batchtop ... | head -1`: the reader goes away early; no traceback, exit 141 (or 0 if it was fast)."""
    for i in range(40):
        _topics(tmp_path / f"job{i:02}.db", 5)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batchtop.tui.cli",
            command,
            str(tmp_path),
            "--json",
            *(["--limit", "500"] if command == "failures" else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, NO_COLOR="1", TERM="dumb"),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    rc = proc.wait(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err[-1500:]
    assert rc in (0, 141), (rc, err[-500:])
