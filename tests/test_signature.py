"""Error signatures: the guarded rules give exactly what every rule applied would; tracebacks group by
exception, in Python and in SQL alike."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from factories import ERROR_FAMILIES, failures_db

from batchtop.core import groups as G
from batchtop.core import signature as S
from batchtop.core.backends.sqlite.reader import connect_ro
from batchtop.core.backends.sqlite.reads import read_failures
from batchtop.core.backends.sqlite.sql import LIST_CHARS, signature_sql
from batchtop.core.profiles.builtin import TOPICS
from batchtop.core.signature import TRACEBACK, error_signature, signature
from batchtop.core.simulator.errors import FAMILIES

TRACK = TOPICS.tracks[0]


def unguarded(text: str) -> str:
    """`signature()` of a non-traceback text with every rule applied, guards ignored (the old code)."""
    stripped = text.strip()
    if not stripped:
        return "(no message)"
    line = stripped.splitlines()[0][:1000]
    for rule in S._RULES:
        line = rule.pattern.sub(rule.repl, line)
    return S._WS.sub(" ", line).strip()[: S.MAX_SIGNATURE]


def generated_texts() -> list[str]:
    """Simulator and test error families, random strings over the characters the rules look for, and
    random joins of fragments that each rule matches (or nearly matches)."""
    rng = random.Random(11)
    texts = [f.message(rng, 1_760_000_000.0 + rng.randint(0, 10**6)) for _ in range(300) for f in FAMILIES.values()]
    texts += [fn(i) for fn in ERROR_FAMILIES.values() for i in range(0, 3000, 7)]
    alphabet = "0123456789abcdefxAZ_-:./ T'\"()~+\n\t" + "٣٤" + "hts"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(20_000)]
    fragments = ["http", "https://", "://", "0x", "0X1f", "/", "~/", "./", "C:", "a/b/c", "x.y/z", "_", "req_",
                 "id_7", "-", "--", ":", "12:34", "12:34:56", "12:34:56.789", "2024-01-02", "2024-01-02T03:04",
                 "2024-01-02 03:04:05+01:00", "Z", "deadbeef", "deadbeef1", "12345678-1234-1234-1234-123456789abc",
                 "abcdefab-abcd-abcd-abcd-abcdefabcdef", "٣", "٣٣:٣٣:٣٣", "-7", "3.14", " ", "'", "(", ")", "é",
                 "Error", "line", "\n", "\r\n", "\u2028", "x" * 30]
    texts += ["".join(rng.choice(fragments) for _ in range(rng.randint(1, 12))) for _ in range(20_000)]
    texts += ["", "   ", "\n\n", "x" * 1200 + " 12", "1" * 1100]
    return [t for t in texts if not t.strip().startswith(TRACEBACK)]


@pytest.mark.slow
def test_guards_change_nothing() -> None:
    for text in generated_texts():
        assert signature(text) == unguarded(text), repr(text)
        assert signature(text.encode()) == unguarded(text), repr(text)


def traceback(frames: list[tuple[str, int]], exception: str) -> str:
    body = "".join(f'  File "{path}", line {line}, in run\n    step(item)\n' for path, line in frames)
    return f"{TRACEBACK}\n{body}{exception}\n"


def test_tracebacks_group_by_their_exception() -> None:
    one = traceback([("/srv/app/worker.py", 12)], "ValueError: bad row 7")
    two = traceback([("/srv/app/main.py", 3), ("/srv/app/worker.py", 99)], "ValueError: bad row 12")
    other = traceback([("/srv/app/worker.py", 12)], "KeyError: 'answer'")
    assert signature(one) == signature(two) == "ValueError: bad row <n>"
    assert signature(other) == "KeyError: 'answer'"
    assert signature(one.encode()) == signature(one)
    assert signature(f"  {one}\n\n  \n") == signature(one)  # surrounding blank lines are ignored
    assert signature(TRACEBACK) == TRACEBACK[:-1] + ":"  # a bare header is its own signature
    # Text that only mentions a traceback later keeps its first line.
    assert signature(f"Process exited with code 1\n{one}") == "Process exited with code <n>"
    # The memo's digit folding holds for tracebacks too.
    for text in (one, two, other):
        assert S.cached_signature(text.encode().translate(S._FOLD)) == signature(text)


def test_long_tracebacks_agree_in_sql_and_python(tmp_path: Path) -> None:
    """A traceback longer than LIST_CHARS: SQL hands `bt_signature` its head and tail, so the group,
    its pages, `read_failures(signature=)` and the actions' Python twin all see the exception line."""
    frames = [(f"/srv/app/module_{i}.py", i) for i in range(30)]
    texts = [traceback(frames[: 20 + i % 5], f"RuntimeError: worker {i} died") for i in range(6)]
    texts += [traceback(frames[:2], "RuntimeError: worker 99 died")]  # short: the same group
    assert all(len(t) > LIST_CHARS for t in texts[:-1])
    db = failures_db(tmp_path / "t.db", {"timeout": 2}, mode="delete")
    w = sqlite3.connect(db, isolation_level=None)
    w.executemany("INSERT INTO topic_completions (id, topic_path, status, error_message) VALUES (?, ?, 'failed', ?)",
                  [(100 + i, f"tb/{i}", t) for i, t in enumerate(texts)])
    w.close()
    conn = connect_ro(db)
    groups = {g.signature: g for g in G.error_groups(conn, TRACK)}
    assert groups["RuntimeError: worker <n> died"].count == len(texts)
    rows = read_failures(conn, TRACK, limit=20, signature="RuntimeError: worker <n> died")
    assert [r.key for r in rows] == list(range(100 + len(texts) - 1, 99, -1))
    assert [r.key for r in G.group_items(conn, TRACK, "RuntimeError: worker <n> died")] == [r.key for r in rows]
    probe = sqlite3.connect(db)
    probe.create_function("bt_signature", 1, signature, deterministic=True)
    in_sql = [s for (s,) in probe.execute(f"SELECT {signature_sql('error_message')} FROM topic_completions "
                                          "WHERE id >= 100 ORDER BY id")]
    probe.close()
    assert in_sql == [error_signature(t) for t in texts] == ["RuntimeError: worker <n> died"] * len(texts)
    conn.close()
