"""A traceback's headline (its exception line): what lists, `failures` and --json show of an error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from factories import failures_db

from batchtop.core.backends.sqlite.items import item_detail
from batchtop.core.backends.sqlite.reader import connect_ro
from batchtop.core.backends.sqlite.reads import read_failures
from batchtop.core.backends.sqlite.sql import LIST_CHARS
from batchtop.core.profiles.builtin import BUILTINS
from batchtop.core.signature import TRACEBACK, headline, signature

TRACK = next(p for p in BUILTINS if p.name == "topic_completions").tracks[0]


def traceback(exception: str, frames: int = 1) -> str:
    body = "".join(
        f'  File "/srv/app/module_{i}.py", line {i}, in run\n    step(item)\n    ^^^^^^^^^^\n'
        for i in range(frames)
    )
    return f"{TRACEBACK}\n{body}{exception}\n"


def test_the_headline_is_the_exception_line() -> None:
    assert headline(traceback("ValueError: bad input")) == "ValueError: bad input"
    # A message over several lines: its first line, not the last.
    assert headline(traceback("ValueError: bad input\nwhile reading row 7")) == "ValueError: bad input"
    # Chained: the last exception.
    chained = (
        traceback("KeyError: 'a'") + "\nDuring handling of the above exception, another exception "
        "occurred:\n\n" + traceback("RuntimeError: gave up")
    )
    assert headline(chained) == "RuntimeError: gave up"
    # Surrounding white space, a traceback without frames, a bare header.
    assert headline("\n  " + traceback("OSError: disk full") + "\n\n") == "OSError: disk full"
    assert headline(f"{TRACEBACK}\nValueError: x") == "ValueError: x"
    assert headline(TRACEBACK) == TRACEBACK
    # Any other text is left as it is (lists show its start, collapsed to one line).
    assert headline("line one\nline two") == "line one\nline two"
    assert headline(f"Process exited with code 1\n{traceback('ValueError: x')}").startswith("Process exited")


def test_signature_is_built_from_the_headline() -> None:
    one = traceback("ValueError: bad row 7\nmore detail 1")
    two = traceback("ValueError: bad row 12\nmore detail 2", frames=3)
    assert signature(one) == signature(two) == "ValueError: bad row <n>"


def test_lists_show_the_headline_and_the_item_the_whole_text(tmp_path: Path) -> None:
    db = failures_db(tmp_path / "t.db", {"timeout": 1}, mode="delete")
    long_tb = traceback("RuntimeError: worker 3 died", frames=30)
    assert len(long_tb) > LIST_CHARS  # its exception line is beyond the list's preview of the head
    w = sqlite3.connect(db, isolation_level=None)
    w.execute(
        "INSERT INTO topic_completions (id, topic_path, status, error_message) VALUES (900, 'tb', 'failed', ?)",
        (long_tb,),
    )
    w.close()
    conn = connect_ro(db)
    try:
        (row,) = read_failures(conn, TRACK, limit=5, keys=[900])
        assert row.error == "RuntimeError: worker 3 died"
        assert row.error_len == len(long_tb)
        from batchtop.tui.widgets.items_panel import item_cells

        assert item_cells(row, False)[-1].plain == "RuntimeError: worker 3 died"  # the TUI's failures list
        error = item_detail(conn, TRACK, 900).error  # the item screen: the whole traceback, paged
        assert error is not None and error.text.startswith(TRACEBACK) and error.length == len(long_tb)
    finally:
        conn.close()
