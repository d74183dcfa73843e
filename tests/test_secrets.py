"""Secrets: credential column names, credentials inside text, JSON and BLOBs (Celery's kwargs, pickles),
and a profile's own `secret` / `not_secret` lists."""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import pytest
from factories import CELERY_STATES, FIXED_NOW, SECRET_MARKER, celery_db, fixed_clock
from writers import run_cli

from batchtop.core.backends.sqlite.items import item_detail, read_value, table_page
from batchtop.core.blobs import blob_text, mask_secrets
from batchtop.core.errors import ProfileError
from batchtop.core.items import CHUNK_CHARS
from batchtop.core.profiles.userfile import dump_profile, parse_profiles
from batchtop.core.sanitize import is_secret_name, redact, redact_page
from batchtop.core.source import Source

MARKER_HEX = SECRET_MARKER.encode().hex()


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "apiKey",
        "x-api-key",
        "token",
        "auth_token",
        "access_token",
        "refresh_token",
        "session_token",
        "client_secret",
        "private_key",
        "ssh_key",
        "secret_key",
        "password",
        "passwd",
        "user_password",
        "bearer",
        "auth",
        "authorization",
        "Authorization",
        "cookie",
        "cookies",
        "credentials_json",
        "jwt",
        "aws_access_key_id",
    ],
)
def test_credential_names_are_secret(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "key",
        "task_key",
        "cache_key",
        "idempotency_key",
        "public_key",
        "keys",
        "author",
        "token_count",
        "prompt_tokens",
        "max_tokens",
        "session_id",
        "secretary",
        "monkey",
    ],
)
def test_ids_and_counts_are_not_secret_by_name(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ('{"api_key": "abc123def456", "key": "task-42"}', '{"api_key": "***", "key": "task-42"}'),
        ("{'password': 'hunter2', 'user': 'bob'}", "{'password': '***', 'user': 'bob'}"),
        ('{"credentials": {"refresh": "r-1", "access": "a-2"}, "n": 1}', '{"credentials": "***", "n": 1}'),
        ('{"client_secret": "GOCSPX-abc', '{"client_secret": "***'),  # a preview cut inside the value
        ("Authorization: Bearer abc.def.ghi", "Authorization: ***"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: ***"),
        ("GET /v1?api_key=abc&page=2", "GET /v1?api_key=***&page=2"),
        ("x-api-key: 12345 then", "x-api-key: *** then"),
        ("session_token=s3cr3t; path=/", "session_token=***; path=/"),
        ("key: task-1 failed", "key: task-1 failed"),
        ("postgres://app:pw@db/x", "postgres://app:***@db/x"),
    ],
)
def test_credentials_inside_text_and_json_are_redacted(text: str, hidden: str) -> None:
    assert redact(text) == hidden
    assert redact(hidden) == hidden


def test_a_secret_split_across_two_pages_stays_hidden() -> None:
    text = '{"prompt": "' + "x" * 40 + '", "api_key": "' + SECRET_MARKER + '", "n": 1}'
    cut = text.index(SECRET_MARKER) + 5
    first, second = text[:cut], text[cut:]
    assert SECRET_MARKER[:5] not in redact(first)
    assert SECRET_MARKER[5:] not in redact_page(second, first)
    assert redact_page(second, first).endswith('", "n": 1}')


def test_blobs_holding_json_are_text_pickles_a_summary_and_binary_masked() -> None:
    data = json.dumps({"api_key": SECRET_MARKER, "model": "m"}).encode()
    assert blob_text(data, len(data)) == '{"api_key": "***", "model": "m"}'
    for protocol in range(6):
        pickled = pickle.dumps({"api_key": SECRET_MARKER, "n": 1}, protocol=protocol)
        shown = blob_text(pickled, len(pickled))
        assert shown.startswith(f"<pickle {len(pickled)} bytes, protocol {protocol}, a dict: not shown")
        assert SECRET_MARKER not in shown and MARKER_HEX[:12] not in shown
    packed = (
        b"\x82\xa7api_key\xb4" + SECRET_MARKER.encode() + b"\xa1n\x01"
    )  # msgpack {"api_key": ..., "n": 1}
    assert SECRET_MARKER.encode() not in mask_secrets(packed)
    assert b"api_key" in mask_secrets(packed) and len(mask_secrets(packed)) == len(packed)


def _celery(tmp_path: Path) -> Path:
    return celery_db(tmp_path / "celery-results.db", {"SUCCESS": 5, "FAILURE": 3, "STARTED": 1, "PENDING": 2})


def test_celery_kwargs_blobs_are_shown_as_redacted_json_and_results_never(tmp_path: Path) -> None:
    path = _celery(tmp_path)
    source = Source(path, clock=fixed_clock(FIXED_NOW))
    assert source.poll().error is None
    track = source.profile.track("celery_taskmeta")
    detail = source.run(lambda conn: item_detail(conn, track, 7))
    by = {v.column: v for v in detail.columns}
    assert json.loads(by["kwargs"].text) == {
        "api_key": "***",
        "model": "gpt-4o-mini",
        "prompt": "summarise doc 6",
        "client_secret": "***",
    }
    assert json.loads(by["args"].text) == ["doc-6", {"session_token": "***"}]
    assert by["result"].text.startswith("<pickle ") and by["result"].more == 0
    pages = [
        source.run(lambda conn, c=c: read_value(conn, track, 7, c, 0, CHUNK_CHARS))
        for c in ("kwargs", "args", "result")
    ]
    # Pages of 9 bytes: the secret is cut across pages, and hidden on every one.
    offset, small = 0, []
    while True:
        chunk = source.run(lambda conn, o=offset: read_value(conn, track, 7, "kwargs", o, 9))
        small.append(chunk.text)
        if not chunk.more:
            break
        offset += chunk.count
    rows = source.run(lambda conn: table_page(conn, "celery_taskmeta", limit=50))
    shown = [v.text for _, values in rows.rows for v in values]
    source.close()
    for text in [v.text for v in detail.columns] + [p.text for p in pages] + small + shown:
        assert SECRET_MARKER not in text and MARKER_HEX[:12] not in text.replace(" ", ""), text
    assert pages[0].text == by["kwargs"].text and pages[2].text == by["result"].text
    for args in (
        ["status", str(path), "--json"],
        ["failures", str(path), "--json"],
        ["failures", str(path)],
        ["profile", str(path)],
    ):
        out = run_cli(*args)
        assert out.returncode == 0, out.stderr
        assert SECRET_MARKER.encode() not in out.stdout + out.stderr, args


def test_a_profile_marks_columns_secret_or_not_secret(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE tasks (id INTEGER PRIMARY KEY, key TEXT, auth_method TEXT, notes TEXT, state TEXT)"
    )
    conn.execute(
        "INSERT INTO tasks (key, auth_method, notes, state) VALUES ('t-1', 'oauth', ?, 'done')",
        (SECRET_MARKER,),
    )
    conn.commit()
    conn.close()
    text = (
        'name = "tasks"\n[[track]]\ntable = "tasks"\nstatus = "state"\nkey = "id"\n'
        'secret = ["notes"]\nnot_secret = ["auth_method"]\n'
    )
    (profile,) = parse_profiles(text, "user:p.toml")
    track = profile.tracks[0]
    assert (track.secrets, track.not_secret) == (("notes",), ("auth_method",))
    assert track.is_secret("notes") and not track.is_secret("auth_method") and not track.is_secret("key")
    assert track.is_secret("api_key")
    (back,) = parse_profiles(dump_profile(profile), "user:p.toml")
    assert back.tracks[0].not_secret == ("auth_method",)
    source = Source(db, forced=profile)
    assert source.poll().error is None
    detail = source.run(lambda conn: item_detail(conn, track, 1))
    source.close()
    assert {v.column: v.text for v in detail.columns} == {
        "id": "1",
        "key": "t-1",
        "auth_method": "oauth",
        "state": "done",
    }
    assert detail.hidden == ("notes",)
    with pytest.raises(ProfileError, match="both 'secret' and 'not_secret'"):
        parse_profiles(text.replace('["auth_method"]', '["notes"]'), "user:p.toml")
    # A column named like a credential may label items once the profile says it holds none.
    parse_profiles(text + 'label = "auth_method"\n', "user:p.toml")
    with pytest.raises(ProfileError, match="is secret"):
        parse_profiles(text.replace('not_secret = ["auth_method"]\n', "") + 'label = "auth_method"\n', "p")


def test_every_celery_state_reads_as_its_canonical_state(tmp_path: Path) -> None:
    path = celery_db(tmp_path / "c.db", dict.fromkeys(CELERY_STATES, 1))
    source = Source(path, clock=fixed_clock(FIXED_NOW))
    snap = source.poll().snapshot
    source.close()
    assert snap.tracks[0].counts == {
        "pending": 3,
        "running": 1,
        "done": 1,
        "failed": 2,
        "skipped": 1,
        "cancelled": 1,
    }
