"""User profile files: the TOML format, its round trip, its error messages, and where files are found."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from batchtop.core.backends.sqlite.sample import SAMPLER
from batchtop.core.backends.sqlite.schema import read_schema
from batchtop.core.backends.sqlite.sql import q, state_predicate
from batchtop.core.errors import ProfileError
from batchtop.core.profiles import dump, parse
from batchtop.core.profiles.builtin import BUILTINS
from batchtop.core.profiles.detect import detect
from batchtop.core.profiles.model import Action, Metric, Profile, Sessions, Track
from batchtop.core.profiles.userfile import (
    DIR_PROFILE_NAMES,
    applies,
    dir_profile,
    dump_profile,
    load_profiles,
    missing,
    parse_profiles,
)
from batchtop.core.schema import Column, Schema, Table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def same(a: Profile, b: Profile) -> bool:
    """Equal apart from where they came from (and what a detector said about itself)."""
    return dataclasses.replace(a, origin="", notes=(), confidence=1.0) == dataclasses.replace(
        b, origin="", notes=(), confidence=1.0)


@pytest.mark.parametrize("profile", BUILTINS, ids=[p.name for p in BUILTINS])
def test_builtin_profiles_round_trip(profile: Profile) -> None:
    text = dump_profile(profile)
    tomllib.loads(text)  # valid TOML on its own
    (back,) = parse_profiles(text, "user:/x/p.toml")
    assert back.origin == "user:/x/p.toml"
    assert dataclasses.replace(back, origin=profile.origin) == profile
    assert "--profile" in text and ".batchtop.toml" in text


def test_builtin_raw_sql_dumps_as_state_sql() -> None:
    llm = next(p for p in BUILTINS if p.name == "llm_results")
    text = dump_profile(llm)
    assert "state_sql = " in text and "status = " not in text.split("[[track]]")[1].split("[track.states]")[0]
    assert 'pending = ["NULL", "empty", "NA"]' in text


def test_awkward_profile_round_trips() -> None:
    """Every optional field, and strings TOML makes hard: quotes, backslashes, controls, bidi, newlines."""
    nasty = 'a "quoted" \\back\\slash\ttab\nnew\x01ctl\x7fdel \u202eRTL ünï 😀 \'single\' end'
    track = Track(
        name="work items", table="my table", key="item id", label="the label", raw=None,
        raw_sql="CASE WHEN \"x\" = 'a' THEN 'A'\n  ELSE \"y\" END", states={
            "it's": "pending", 'say "hi"': "running", "\\": "done", 0: "failed", 1.5: "skipped", None: "cancelled",
            nasty: "failed"},
        default_state="failed", in_flight="\"started\" IS NOT NULL AND 'x' = 'x'", error="err",
        error_states=("failed", "cancelled"), started="s", finished="f", created="c", tz="local",
        time_format="iso", progress="pct", step="current step",
        metrics=(Metric("cost usd", "cost", unit="$"), Metric("dur", "mean", agg="avg", unit="s")),
        secrets=("api_token", "pass word"),
        actions=(Action("retry", nasty, ("failed", "cancelled"), (("state col", "it's"), ("n", 0), ("f", 2.5),
                                                                    ("err", None), ("my col", None)),
                        to_state="pending"),),
        no_action_reason=None, failures_recorded=False, stale_after=1800.0, note=nasty,
    )
    profile = Profile(name=nasty, description="multi\nline \"desc\"", tracks=(track, Track("t2", "t2", raw="s")),
                      sessions=Sessions("runs", key="id", started="a", finished="b", status="st", columns=("x y",),
                                        tz="local", note="n"),
                      secret_tables=("creds",), origin="detected", notes=(nasty,), confidence=0.3)
    text = dump_profile(profile)
    (back,) = parse_profiles(text, "user:p.toml")
    assert same(back, profile)
    # Comments never carry a raw control character (TOML forbids them; a terminal would act on them).
    assert not any(ch in text for ch in "\x01\x7f\x1b")


@pytest.mark.parametrize(
    "text",
    ["", "plain", "it's", 'say "hi"', "back\\slash", "'''", "ends with '", "\n", "a\r\nb", "\x00\x1f\x7f",
     "\u2028\u202e\ufeff", "😀", 'both \' and "', "\t", "x" * 500],
)
def test_strings_survive_toml(text: str) -> None:
    for form in (dump.basic_string(text), dump.string(text), dump.string(text, multiline=True)):
        assert tomllib.loads(f"v = {form}\n")["v"] == text, form


def test_detected_profile_dumps_ready_to_edit(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    conn = sqlite3.connect(db)
    conn.executescript("CREATE TABLE tasks (id INTEGER PRIMARY KEY, name TEXT, state INTEGER, last_error TEXT);")
    conn.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?)", [(i, f"n{i}", [0, 1, 2, 5, 9][i % 5], None)
                                                                for i in range(20)])
    conn.commit()
    profile = detect(conn, read_schema(conn), SAMPLER)
    conn.close()
    assert profile is not None
    text = dump_profile(profile)
    assert "detected (confidence" in text and "guess" in text  # the notes travel as comments
    assert "# [[track.action]]" in text and "# set = { state = 0 }" in text
    (back,) = parse_profiles(text, "user:p.toml")
    assert same(back, profile) and back.confidence == 1.0


NUMERIC = """
name = "myqueue"
description = "codes"

[[track]]
table = "tasks"
key = "id"
status = "state"
error = "last_error"
finished = "finished_at"
secret = ["api_token"]
metrics = ["cost", { column = "secs", label = "mean time", agg = "avg", unit = "s" }]
stale_after = 1800

[track.states]
pending = [0, "PENDING"]
running = [1]
done = 2
failed = [5, 9]

[[track.action]]
name = "retry"
from = ["failed"]
set = { state = 0 }
clear = ["last_error", "finished_at"]
"""


def test_numeric_codes_profile(tmp_path: Path) -> None:
    (profile,) = parse_profiles(NUMERIC, "user:q.toml")
    (track,) = profile.tracks
    assert track.name == "tasks" and track.stale_after == 1800.0
    assert dict(track.states) == {0: "pending", "PENDING": "pending", 1: "running", 2: "done", 5: "failed",
                                  9: "failed"}
    assert track.metrics == (Metric("cost", "cost"), Metric("secs", "mean time", agg="avg", unit="s"))
    (action,) = track.actions
    assert action.assign == (("state", 0), ("last_error", None), ("finished_at", None))
    assert (action.from_states, action.to_state) == (("failed",), "pending")
    assert "state = 0" in action.description  # a description is made up when the file has none
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, state INTEGER, last_error TEXT, finished_at TEXT, "
                 "api_token TEXT, cost REAL, secs REAL)")
    conn.executemany("INSERT INTO tasks (state) VALUES (?)", [(c,) for c in (0, 1, 2, 2, 5, 9, 9, 7)])
    count = {s: conn.execute(f"SELECT count(*) FROM {q('tasks')} WHERE {state_predicate(track, [s])}").fetchone()[0]
             for s in ("pending", "running", "done", "failed")}
    assert count == {"pending": 1, "running": 1, "done": 2, "failed": 3}  # unknown 7: unmapped, not pending
    assert applies(profile, read_schema(conn))


def test_several_profiles_in_one_file() -> None:
    text = """
[[profile]]
name = "a"
[[profile.track]]
table = "ta"
status = "s"

[[profile]]
name = "b"
[profile.track]
table = "tb"
state_sql = "CASE WHEN x THEN 'done' END"
"""
    profiles = parse_profiles(text, "user:multi.toml")
    assert [p.name for p in profiles] == ["a", "b"]
    assert profiles[1].tracks[0].raw_sql and profiles[1].tracks[0].states["done"] == "done"  # identity default


BASE = 'name = "p"\n[[track]]\ntable = "tasks"\nstatus = "state"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "p"\n[[track]\ntable = "x"\n', ["bad.toml", "invalid TOML", "line 2"]),
        (BASE + "[track.states]\nfinished = ['DONE']\n",
         ["unknown state 'finished'", "pending, running, done, failed, skipped, cancelled"]),
        ('[[track]]\nstatus = "s"\n', ["bad.toml", "track 1", "missing 'table'"]),
        ('[[track]]\ntable = "t"\n', ["track 't'", "exactly one of 'status'", "'state_sql'"]),
        ('[[track]]\ntable = "t"\nstatus = "a"\nstate_sql = "b"\n', ["exactly one of 'status'"]),
        ('[[track]]\ntable = "t"\nstauts = "s"\n', ["unknown key 'stauts'", "did you mean 'status'?",
                                                     "allowed keys:", "state_sql", "time_format"]),
        ('nmae = "x"\n' + BASE.replace('name = "p"\n', ""), ["unknown key 'nmae'", "allowed keys: description"]),
        (BASE + '[[track.action]]\nname = "r"\nfrom = ["failed"]\nset = { api_token = "x" }\n',
         ["action 'r'", "'api_token' is secret"]),
        (BASE + 'secret = ["blob"]\n[[track.action]]\nname = "r"\nfrom = ["failed"]\nclear = ["blob"]\n',
         ["'blob' is secret"]),
        (BASE + 'label = "api_key"\n', ["label column 'api_key' is secret"]),
        (BASE + '[track.states]\npending = ["x"]\ndone = ["x"]\n', ["'x' is mapped to both pending and done"]),
        (BASE + 'tz = "GMT"\n', ["'tz' is 'GMT'; allowed: utc, local"]),
        (BASE + 'stale_after = "soon"\n', ["'stale_after' must be a positive number"]),
        ('name = "p"\n', ["no [[track]]"]),
        (BASE + '[[track.action]]\nname = "r"\nfrom = ["broken"]\nset = { state = 0 }\n',
         ["'from': unknown state 'broken'"]),
        (BASE + '[[track.action]]\nname = "r"\nfrom = ["failed"]\n', ["must 'set' or 'clear'"]),
        (BASE + '[[track.action]]\nname = "r"\nfrom = ["failed"]\nset = { state = 1979-05-27 }\n',
         ["not a string or a number"]),
        ('name = "x"\n[[profile]]\nname = "y"\n', ["cannot also have top-level keys (name)"]),
        ('[[track]]\ntable = "t"\nstate_sql = "1; DROP TABLE t"\n', ["one SQL expression (no ';')"]),
        (BASE + BASE.replace('name = "p"\n', ""), ["two tracks are called 'tasks'"]),
    ],
)
def test_bad_files_get_clear_errors(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as info:
        load_profiles(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not found"):
        load_profiles(tmp_path / "missing.toml")
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(ProfileError, match="not a regular file"):
        load_profiles(tmp_path / "dir.toml")
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    with pytest.raises(ProfileError, match="not a regular file"):  # and no hang
        load_profiles(fifo)
    (tmp_path / "latin1.toml").write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ProfileError, match="not UTF-8"):
        load_profiles(tmp_path / "latin1.toml")


def test_dir_profile_next_to_the_database(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    assert dir_profile(db) is None
    (tmp_path / ".batchtop.toml").mkdir()  # a directory with the name is not a profile
    assert dir_profile(db) is None
    (tmp_path / "batchtop.toml").write_text(BASE)
    assert dir_profile(db) == tmp_path / "batchtop.toml"
    (tmp_path / ".batchtop.toml").rmdir()
    (tmp_path / ".batchtop.toml").write_text(BASE)
    assert dir_profile(db) == tmp_path / DIR_PROFILE_NAMES[0]
    (profile,) = load_profiles(dir_profile(db))  # type: ignore[arg-type]
    assert profile.origin == f"user:{tmp_path / '.batchtop.toml'}"


def _schema(*tables: Table) -> Schema:
    return Schema({t.name: t for t in tables}, 1)


def _table(name: str, *columns: str, without_rowid: bool = False) -> Table:
    return Table(name, tuple(Column(c, "TEXT", False, 0) for c in columns), frozenset(), without_rowid)


def test_applies_only_when_every_table_and_column_exists() -> None:
    (profile,) = parse_profiles(NUMERIC, "user:q.toml")
    full = _table("tasks", "id", "STATE", "last_error", "finished_at", "cost", "secs")
    assert applies(profile, _schema(full))  # column names are case-insensitive, like SQLite
    assert not applies(profile, _schema(_table("other", "id")))
    assert missing(profile, _schema(_table("other", "id"))) == ["no table 'tasks'"]
    partial = _table("tasks", "id", "state", "finished_at", "cost", "secs")
    assert missing(profile, _schema(partial)) == ["table 'tasks' has no column 'last_error'"]
    (rowid,) = parse_profiles(BASE, "user:b.toml")
    assert applies(rowid, _schema(_table("tasks", "state")))
    assert not applies(rowid, _schema(_table("tasks", "state", without_rowid=True)))
    with_sessions = dataclasses.replace(rowid, sessions=Sessions("runs", started="began"))
    assert missing(with_sessions, _schema(_table("tasks", "state"))) == ["no sessions table 'runs'"]
    assert not applies(with_sessions, _schema(_table("tasks", "state"), _table("runs", "ended")))


def test_builtins_apply_to_their_own_schema_only() -> None:
    def schema_for(p: Profile) -> Schema:
        tables: dict[str, set[str]] = {}
        for t in p.tracks:
            cols = {t.key, t.label, t.raw, t.error, t.started, t.finished, t.created, t.progress, t.step}
            cols |= {m.column for m in t.metrics} | {c for a in t.actions for c, _ in a.assign}
            tables.setdefault(t.table, set()).update(c for c in cols if c and c != "rowid")
        if p.sessions:
            s = p.sessions
            tables.setdefault(s.table, set()).update(
                c for c in (s.key, s.started, s.finished, s.status, *s.columns) if c)
        return _schema(*(_table(n, *sorted(c)) for n, c in tables.items()))

    for p in BUILTINS:
        assert applies(p, schema_for(p)), p.name
        others = [o for o in BUILTINS if o is not p]
        assert not any(applies(p, schema_for(o)) for o in others if o.tracks[0].table != p.tracks[0].table)


def test_format_covers_every_model_field() -> None:
    """A field added to the model must be added to the file format too, or it silently drops on a round trip."""
    renamed = {"raw": "status", "raw_sql": "state_sql", "secrets": "secret", "actions": "action"}
    derived = {"states"}  # plus null_state
    track_fields = {renamed.get(f.name, f.name) for f in dataclasses.fields(Track)}
    assert track_fields - derived <= parse.TRACK_KEYS
    assert {f.name for f in dataclasses.fields(Sessions)} == parse.SESSIONS_KEYS
    assert {f.name for f in dataclasses.fields(Metric)} == parse.METRIC_KEYS
    action = {"from_states": "from", "to_state": "to", "assign": "set"}
    assert {action.get(f.name, f.name) for f in dataclasses.fields(Action)} <= parse.ACTION_KEYS
    profile = {"tracks": "track"}
    kept_out = {"origin", "notes", "confidence"}  # about the file, not in it
    assert {profile.get(f.name, f.name) for f in dataclasses.fields(Profile)} - kept_out == parse.PROFILE_KEYS
