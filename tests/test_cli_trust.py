"""The headless CLI as a new user meets it: hostile names never reach the terminal, an empty queue is
waiting, unknown schemas get a skeleton, tracebacks show their exception, pipes get whole lines and a
closed pipe ends quietly, several paths everywhere, exit codes as documented."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from actions_support import make_topics
from writers import run_cli

from batchtop.core.backends.sqlite.reader import connect_ro
from batchtop.core.backends.sqlite.schema import read_schema
from batchtop.core.profiles.userfile import applies, parse_profiles
from batchtop.core.signature import TRACEBACK
from batchtop.core.source import Source

#: Escape, OSC 52 clipboard write ended by BEL, a C1 CSI, a bidi override: in names and in text.
HOSTILE = "\x1b]52;c;aGk=\x07\x9b31m\u202eevil"
BAD = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def unsafe(text: str) -> list[str]:
    """Characters a terminal would act on (newlines and tabs are fine)."""
    return [ch for ch in text if ch not in "\n\t" and unicodedata.category(ch) in BAD]


def strings(doc: Any) -> list[str]:
    """Every string (keys too) in a decoded JSON document."""
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for k, v in doc.items() for s in (strings(k) + strings(v))]
    if isinstance(doc, list):
        return [s for v in doc for s in strings(v)]
    return []


def check_clean(out: subprocess.CompletedProcess[bytes]) -> tuple[str, str]:
    stdout, stderr = out.stdout.decode("utf-8"), out.stderr.decode("utf-8")
    assert not unsafe(stdout), (unsafe(stdout), stdout)
    assert not unsafe(stderr), (unsafe(stderr), stderr)
    assert "Traceback" not in stderr
    return stdout, stderr


def traceback_text(exception: str, frames: int = 30) -> str:
    body = "".join(
        f'  File "/srv/app/module_{i}.py", line {i}, in run\n    step(item)\n' for i in range(frames)
    )
    return f"{TRACEBACK}\n{body}{exception}\n"


def queue_db(path: Path, table: str = "jobs", rows: int = 6, error: str = "boom") -> Path:
    conn = sqlite3.connect(path)
    t = '"' + table.replace('"', '""') + '"'
    conn.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT, status TEXT, error TEXT)")
    conn.executemany(
        f"INSERT INTO {t} (name, status, error) VALUES (?, ?, ?)",
        [
            (f"item {i}", ("done", "failed", "pending")[i % 3], error if i % 3 == 1 else None)
            for i in range(rows)
        ],
    )
    conn.commit()
    conn.close()
    return path


# -- item 3: every line sanitised, text and JSON ----------------------------------------------------------


@pytest.mark.slow
def test_hostile_table_profile_and_file_names_never_reach_the_terminal(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    detected = queue_db(d / f"run {HOSTILE}.db", table=f"jobs {HOSTILE}", error=f"bad {HOSTILE}\nline two")
    # A profile from a .batchtop.toml whose name (and track name) carry the payload, escaped in TOML.
    p = tmp_path / "p"
    p.mkdir()
    profiled = queue_db(p / "profiled.db", table="tasks")
    (p / ".batchtop.toml").write_text(
        'name = "prof \\u001b]52;c;aGk=\\u0007 \\u009b \\u202eevil"\n'
        '[[track]]\nname = "t \\u001b]0;title\\u0007"\ntable = "tasks"\nkey = "id"\nstatus = "status"\n'
        'error = "error"\nlabel = "name"\n',
        encoding="utf-8",
    )
    bad_file = d / f"notes {HOSTILE}.db"
    bad_file.write_text("not a database\n" * 10)
    paths = [str(detected), str(profiled), str(bad_file)]
    for argv in (
        ["status", *paths],
        ["failures", *paths],
        ["profile", str(detected)],
        ["failures", str(detected), "--track", f"nope {HOSTILE}"],
    ):
        stdout, _ = check_clean(run_cli(*argv))
        assert stdout
    text = check_clean(run_cli("status", *paths))[0]
    assert "prof \ufffd]52;c;aGk=\ufffd" in text  # the profile name, shown with placeholders
    failures = check_clean(run_cli("failures", *paths))[0]
    assert "jobs \ufffd]52" in failures and "bad \ufffd]52" in failures
    for argv in (
        ["status", *paths, "--json"],
        ["failures", *paths, "--json"],
        ["reset", str(detected), "--all-failed", "--dry-run", "--json"],
    ):
        out = run_cli(*argv)
        stdout, _ = check_clean(out)
        doc = json.loads(stdout)
        bad = [s for s in strings(doc) if unsafe(s)]
        assert not bad, (argv, bad)  # `jq -r` would otherwise print the decoded ESC
    doc = json.loads(run_cli("status", *paths, "--json").stdout)
    by_name = {Path(s["path"]).name.split(" ")[0]: s for s in doc["sources"]}
    assert by_name["profiled.db"]["profile"].startswith("prof \ufffd]52;c;aGk=\ufffd")
    assert by_name["run"]["tracks"][0]["table"].startswith("jobs \ufffd]52")
    assert "not an SQLite database" in by_name["notes"]["error"]


# -- item 8: an empty queue is waiting ----------------------------------------------------------------


def test_an_empty_queue_is_waiting_for_items_not_an_error(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, name TEXT, status TEXT, error TEXT)")
    conn.execute("CREATE TABLE steps (id INTEGER PRIMARY KEY, state INTEGER)")
    conn.commit()
    conn.close()
    out = run_cli("status", str(db), "--json")
    assert out.returncode == 0, out.stderr
    (src,) = json.loads(out.stdout)["sources"]
    assert src["error"] is None and src["state"] == "waiting"
    assert {t["table"]: (t["total"], t["activity"]) for t in src["tracks"]} == {
        "tasks": (0, "waiting"),
        "steps": (0, "waiting"),
    }
    assert all("waiting for items" in t["activity_reason"] for t in src["tracks"])
    text = run_cli("status", str(db))
    assert text.returncode == 0 and b"waiting for items" in text.stdout
    assert b"no progress table" not in text.stdout + text.stderr
    failures = run_cli("failures", str(db))
    assert failures.returncode == 0 and b"tasks: waiting for items" in failures.stdout


def test_an_empty_queue_is_read_again_when_its_first_items_arrive(tmp_path: Path) -> None:
    """The states of an empty table are a guess from the usual spellings: once rows arrive they are
    read from the data (`ok` is a done word the guess does not spell)."""
    db = tmp_path / "fresh.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, name TEXT, status TEXT)")
    source = Source(str(db))
    try:
        assert source.poll().error is None and source.profile is not None
        assert source.snapshot is not None and source.snapshot.tracks[0].total == 0
        conn.executemany(
            "INSERT INTO tasks (name, status) VALUES (?, ?)",
            [(f"t{i}", "ok" if i < 4 else "todo") for i in range(6)],
        )
        assert source.poll().error is None
        counts = source.snapshot.tracks[0].counts
        assert (counts["done"], counts["pending"]) == (4, 2)
    finally:
        source.close()
        conn.close()


# -- item 9: a skeleton where nothing is detected -------------------------------------------------------


def uncomment(text: str) -> str:
    """What a person does with the skeleton: drop the leading '# ' of its lines ('##' lines stay)."""
    return "\n".join(line[2:] if line.startswith("# ") else line for line in text.splitlines()) + "\n"


def unknown_db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute('CREATE TABLE "notes" (id INTEGER PRIMARY KEY, body TEXT, created_at TEXT)')
    conn.executemany(
        "INSERT INTO notes (body, created_at) VALUES (?, ?)",
        [(f"free text number {i} about something", "2026-01-01 10:00:00") for i in range(30)],
    )
    odd = f'odd "name" \\ {HOSTILE}'
    conn.execute(
        f'CREATE TABLE "{odd.replace(chr(34), chr(34) * 2)}" '
        f'(k TEXT PRIMARY KEY, "we""ird {HOSTILE}" TEXT, api_token TEXT) WITHOUT ROWID'
    )
    conn.execute(
        f'INSERT INTO "{odd.replace(chr(34), chr(34) * 2)}" VALUES (?, ?, ?)',
        ("a", "some words here that are not states at all", "sk-secret"),
    )
    conn.commit()
    conn.close()
    return path


def test_profile_prints_a_skeleton_to_fill_in_where_nothing_is_detected(tmp_path: Path) -> None:
    db = unknown_db(tmp_path / "unknown.db")
    assert b"no progress table" in run_cli("status", str(db)).stdout  # nothing is detected
    out = run_cli("profile", str(db))
    assert out.returncode == 0, out.stderr
    stdout, stderr = check_clean(out)
    assert "skeleton" in stderr and "no progress table recognised" in stderr
    assert all(line == "" or line.startswith("#") for line in stdout.splitlines())  # all commented out
    assert '"odd \\"name\\" \\\\ \\u001B]52;c;aGk=\\u0007\\u009B31m\\u202Eevil"' in stdout  # exact, escaped
    assert "api_token" in stdout and "sk-secret" not in stdout
    profiles = parse_profiles(uncomment(stdout), "user:skeleton")
    (profile,) = profiles
    tables = {t.table for t in profile.tracks}
    assert tables == {"notes", f'odd "name" \\ {HOSTILE}'}  # the real names, byte for byte
    odd = next(t for t in profile.tracks if t.table != "notes")
    assert odd.key == "k" and "api_token" in odd.secrets and odd.raw == f'we"ird {HOSTILE}'
    conn = connect_ro(db)
    try:
        assert applies(profile, read_schema(conn))
    finally:
        conn.close()
    edited = tmp_path / "edited.toml"
    edited.write_text(uncomment(stdout), encoding="utf-8")
    status = run_cli("status", str(db), "--profile", str(edited), "--json")
    assert status.returncode == 0, status.stderr
    (src,) = json.loads(status.stdout)["sources"]
    # Every row is read; values the skeleton's states do not list are counted apart, never as pending.
    rows = {t["table"].split(" ")[0]: t["total"] + t["unmapped"] for t in src["tracks"]}
    assert rows == {"notes": 30, "odd": 1}


def test_profile_of_several_databases_is_one_file(tmp_path: Path) -> None:
    a = queue_db(tmp_path / "a.db", table="alpha")
    b = queue_db(tmp_path / "b.db", table="beta")
    c = make_topics(tmp_path / "c.db", failed=2)
    d = make_topics(tmp_path / "d.db", failed=3)  # the same built-in profile: written once
    unknown = unknown_db(tmp_path / "u.db")
    out = run_cli("profile", str(a), str(b), str(c), str(d), str(unknown))
    assert out.returncode == 0, out.stderr
    profiles = parse_profiles(out.stdout.decode(), "user:all")
    assert [p.name for p in profiles] == ["detected", "detected-2", "topic_completions"]
    # The skeleton of the unknown database comes last, as a [[profile]] to uncomment.
    head, marker, skeleton = out.stdout.decode().partition("## batchtop found no progress table")
    assert marker and "u.db" in skeleton and "# [[profile]]" in skeleton
    with_skeleton = parse_profiles(head + uncomment(marker + skeleton), "user:all")
    assert [p.name for p in with_skeleton] == ["detected", "detected-2", "topic_completions", "u"]
    for path in (a, b, c, d, unknown):
        conn = connect_ro(path, immutable=True)  # the job is not running: no -wal/-shm to create
        try:
            schema = read_schema(conn)
        finally:
            conn.close()
        assert any(applies(p, schema) for p in with_skeleton), path


# -- item 10: headlines -----------------------------------------------------------------------------------


def test_failures_show_the_exception_line_of_a_traceback(tmp_path: Path) -> None:
    db = queue_db(tmp_path / "q.db", rows=3, error=traceback_text("ValueError: bad input 7"))
    for argv in (["failures", str(db)], ["failures", str(db), "--json"]):
        out = run_cli(*argv)
        assert out.returncode == 0, out.stderr
        assert b"ValueError: bad input 7" in out.stdout and b"most recent call last" not in out.stdout
    (item,) = json.loads(run_cli("failures", str(db), "--json").stdout)["sources"][0]["tracks"][0]["items"]
    assert item["error"] == "ValueError: bad input 7"
    assert item["error_length"] == len(traceback_text("ValueError: bad input 7"))


# -- item 12: pipes, several paths, exit codes --------------------------------------------------------


def test_text_into_a_pipe_is_never_cut_to_80_columns(tmp_path: Path) -> None:
    table = "a_table_name_long_enough_that_eighty_columns_would_cut_it_" + "x" * 40
    error = "RuntimeError: " + "a long error message that goes on " * 4 + "END"
    db = queue_db(tmp_path / "wide.db", table=table, error=error)
    for env in ({"COLUMNS": "80"}, {"COLUMNS": ""}):
        status = run_cli("status", str(db), env=env)
        assert (
            status.returncode == 0 and table.encode() in status.stdout and "…".encode() not in status.stdout
        )
        failures = run_cli("failures", str(db), env=env)
        assert failures.returncode == 0 and table.encode() in failures.stdout
        assert error.encode() in failures.stdout and "…".encode() not in failures.stdout


@pytest.mark.parametrize(
    "argv", [["status", "--json"], ["status"], ["failures"], ["failures", "--json"], ["profile"]]
)
def test_a_closed_pipe_ends_quietly(tmp_path: Path, argv: list[str]) -> None:
    db = make_topics(tmp_path / "t.db", failed=40)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before batchtop writes a byte (`| head` that already exited)
    env = dict(os.environ, COLUMNS="400", NO_COLOR="1")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "batchtop.tui.cli", argv[0], str(db), *argv[1:]],
            stdout=write,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert proc.stderr == b"", proc.stderr.decode()
    assert proc.returncode == 141


def test_status_json_into_head_prints_no_traceback(tmp_path: Path) -> None:
    dbs = [str(make_topics(tmp_path / f"t{i}.db", failed=5)) for i in range(12)]
    script = f'"{sys.executable}" -m batchtop.tui.cli status --json "$@" | head -1'
    proc = subprocess.run(["sh", "-c", script, "sh", *dbs], capture_output=True, timeout=60, check=False)
    assert proc.stdout == b"{\n" and proc.stderr == b"", proc.stderr.decode()


def test_failures_and_profile_take_several_paths(tmp_path: Path) -> None:
    a, b = make_topics(tmp_path / "a.db", failed=2), make_topics(tmp_path / "b.db", failed=3)
    out = run_cli("failures", str(a), str(b), "--json")
    assert out.returncode == 0, out.stderr
    items = {s["path"]: len(s["tracks"][0]["items"]) for s in json.loads(out.stdout)["sources"]}
    assert items == {str(a): 2, str(b): 3}
    glob = run_cli("failures", str(tmp_path / "*.db"), "--json")
    assert len(json.loads(glob.stdout)["sources"]) == 2


def test_exit_codes_and_argument_checks(tmp_path: Path) -> None:
    db = queue_db(tmp_path / "q.db", table=f"jobs {HOSTILE}")
    nothing = run_cli("failures", str(tmp_path / "none*.db"), "--json")
    assert nothing.returncode == 1 and b"no database matched" in nothing.stderr
    assert json.loads(nothing.stdout) == {"sources": []}
    unknown = run_cli("failures", str(db), "--track", "nope")
    assert unknown.returncode == 1 and b"no track 'nope' (tracks: jobs \xef\xbf\xbd]52" in unknown.stderr
    # A name holding control characters is chosen by its name as printed.
    printed = "jobs \ufffd]52;c;aGk=\ufffd\ufffd31m\ufffdevil"
    chosen = run_cli("failures", str(db), "--track", printed, "--json")
    assert chosen.returncode == 0 and len(json.loads(chosen.stdout)["sources"][0]["tracks"]) == 1
    for argv, word in (
        (["failures", str(db), "--limit", "-1"], b"--limit: -1 is negative"),
        (["status", str(db), "--sample", "-2"], b"--sample: -2 is not a duration"),
        (["journal", "--limit", "-5"], b"--limit: -5 is negative"),
        (["failures", str(db), "--limit", "many"], b"'many' is not a whole number"),
        (["open", str(db), "--interval", "0"], b"--interval: 0 is not allowed"),
    ):
        out = run_cli(*argv)
        assert out.returncode == 2 and word in out.stderr, (argv, out.stderr)
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith(b"batchtop ")
