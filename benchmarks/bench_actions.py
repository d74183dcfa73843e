"""Time plan / apply / undo of a 10,000-row reset, and how long the write lock is held.

    .venv/bin/python benchmarks/bench_actions.py [ROWS]

The lock-hold time (BEGIN IMMEDIATE acquired -> COMMIT done) is what a job waiting on the lock sees.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import actions_support as S  # noqa: E402

from batchtop.core.actions import Target, apply, plan  # noqa: E402
from batchtop.core.backends.sqlite import write_session  # noqa: E402
from batchtop.core.journal import Journal  # noqa: E402
from batchtop.core.source import Source  # noqa: E402
from batchtop.core.undo import undo  # noqa: E402

holds: list[float] = []
_enter, _commit = write_session.WriteSession.__enter__, write_session.WriteSession.commit


def _timed_enter(self: write_session.WriteSession) -> write_session.WriteSession:
    result = _enter(self)
    self._locked_at = time.perf_counter()  # type: ignore[attr-defined]
    return result


def _timed_commit(self: write_session.WriteSession, *a: object, **kw: object) -> list[str]:
    result = _commit(self, *a, **kw)
    holds.append(time.perf_counter() - self._locked_at)  # type: ignore[attr-defined]
    return result


def measure(rows: int) -> list[dict]:
    """Plan, apply and undo a reset of `rows` failed rows on a WAL and a rollback-journal database."""
    write_session.WriteSession.__enter__, write_session.WriteSession.commit = _timed_enter, _timed_commit  # type: ignore[method-assign]
    out = []
    try:
        for mode, maker in (("wal", S.make_topics), ("delete", S.make_jobs)):
            d = Path(tempfile.mkdtemp())
            db = maker(d / "x.db", mode=mode, failed=rows, done=rows // 10)
            journal = Journal(d / "journal.jsonl")
            src = Source(db)
            src.poll(force=True)
            t = time.perf_counter()
            the_plan = plan(src, None, None, Target.all_failed())
            t_plan = time.perf_counter() - t
            t = time.perf_counter()
            outcome = apply(the_plan, journal=journal)
            t_apply = time.perf_counter() - t
            t = time.perf_counter()
            result = undo(journal, source=src)
            t_undo = time.perf_counter() - t
            src.close()
            out.append(
                {
                    "journal": mode,
                    "track": the_plan.track.name,
                    "rows": rows,
                    "plan_ms": round(t_plan * 1000, 1),
                    "apply_ms": round(t_apply * 1000, 1),
                    "apply_lock_held_ms": round(holds[-2] * 1000, 1),
                    "undo_ms": round(t_undo * 1000, 1),
                    "undo_lock_held_ms": round(holds[-1] * 1000, 1),
                    "journal_mb": round(journal.path.stat().st_size / 1e6, 2),
                    "applied": outcome.summary(),
                    "undone": result.summary(),
                }
            )
    finally:
        write_session.WriteSession.__enter__, write_session.WriteSession.commit = _enter, _commit  # type: ignore[method-assign]
    return out


def main(rows: int) -> None:
    for r in measure(rows):
        print(
            f"{r['journal']:6} {r['track']}: plan {r['plan_ms']:.0f} ms; {r['applied']} in {r['apply_ms']:.0f} ms "
            f"(lock held {r['apply_lock_held_ms']:.0f} ms); {r['undone']} in {r['undo_ms']:.0f} ms "
            f"(lock held {r['undo_lock_held_ms']:.0f} ms); journal {r['journal_mb']:.1f} MB"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
