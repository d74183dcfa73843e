"""The preview lists the statements `apply()` really runs on SQLite: traced on the write connection."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from actions_support import make_topics

from batchtop.core.actions import Plan, Target, apply, plan
from batchtop.core.backends.sqlite import write_session
from batchtop.core.journal import Journal
from batchtop.core.source import Source


def traced_apply(monkeypatch: pytest.MonkeyPatch, the_plan: Plan, journal: Journal) -> list[str]:
    """Apply `the_plan`, returning every statement the write connection ran, in order."""
    trace: list[str] = []
    real = sqlite3.connect

    def connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real(*args, **kwargs)  # type: ignore[arg-type]
        conn.set_trace_callback(trace.append)
        return conn

    monkeypatch.setattr(write_session.sqlite3, "connect", connect)  # the write module opens the rw connection
    apply(the_plan, journal=journal)
    return trace


@pytest.mark.parametrize("target", [Target.items([2, 4, 6]), Target.all_failed()], ids=["keys", "condition"])
def test_the_preview_statements_are_the_ones_apply_runs(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = make_topics(tmp_path / "topics.db", failed=8, done=2, pending=1)
    source = Source(db)
    assert source.poll(force=True).error is None
    the_plan = plan(source, "topics", "reset", target)
    source.close()
    statements = the_plan.write_statements()
    trace = traced_apply(monkeypatch, the_plan, Journal(tmp_path / "journal.jsonl"))
    # Inside the write transaction, after the lock: exactly the before-images and UPDATEs the preview built.
    in_transaction = trace[trace.index("BEGIN IMMEDIATE") + 1:trace.index("COMMIT")]
    written = [s.text for s in statements if s.role != "find-keys"]
    assert [s for s in in_transaction if not s.startswith("PRAGMA")] == written
    # What the person reads in the preview: the UPDATEs run are those texts, in that order.
    shown = the_plan.statements()
    assert [s for s in in_transaction if s.startswith("UPDATE")] == [s for s in shown if s.startswith("UPDATE")] != []
    # A condition target's keys are found before the lock, by the preview's condition.
    found = trace[:trace.index("BEGIN IMMEDIATE")]
    assert (statements[0].role == "find-keys") == (target.kind != "keys")
    assert any(the_plan.condition in s for s in found) == (target.kind != "keys")
