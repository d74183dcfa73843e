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

from batchtop.core import write  # noqa: E402
from batchtop.core.actions import Target, apply, plan  # noqa: E402
from batchtop.core.journal import Journal  # noqa: E402
from batchtop.core.source import Source  # noqa: E402
from batchtop.core.undo import undo  # noqa: E402

holds: list[float] = []
_enter, _commit = write.WriteSession.__enter__, write.WriteSession.commit


def _timed_enter(self: write.WriteSession) -> write.WriteSession:
    result = _enter(self)
    self._locked_at = time.perf_counter()  # type: ignore[attr-defined]
    return result


def _timed_commit(self: write.WriteSession, *a: object, **kw: object) -> list[str]:
    result = _commit(self, *a, **kw)
    holds.append(time.perf_counter() - self._locked_at)  # type: ignore[attr-defined]
    return result


def main(rows: int) -> None:
    write.WriteSession.__enter__, write.WriteSession.commit = _timed_enter, _timed_commit  # type: ignore[method-assign]
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
        print(f"{mode:6} {the_plan.track.name}: plan {t_plan * 1000:.0f} ms; {outcome.summary()} in "
              f"{t_apply * 1000:.0f} ms (lock held {holds[-2] * 1000:.0f} ms); {result.summary()} in "
              f"{t_undo * 1000:.0f} ms (lock held {holds[-1] * 1000:.0f} ms); journal "
              f"{journal.path.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
