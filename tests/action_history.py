"""A journaled history of actions on a topics database, frozen in time, for snapshots and screenshots.

`topics_history` runs real actions through core (preview, apply, undo) into a journal, gives the
journal records fixed ids and times, then plays the job: some reset rows are done, some failed again
with the same error, one with a new error, one is running, the rest still pending.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

from factories import FIXED_NOW, pin_mtimes

#: The fixed journal ids: the items reset, its undo, the group reset.
ITEMS_ID, UNDO_ID, GROUP_ID = "5e1f0a2b", "77c0ffee", "ab12cd34"


def freeze_journal(path: Path, fixed: dict[str, tuple[str, float]]) -> None:
    """Give journal records fixed ids and times (`old id -> (new id, time)`); ids inside an undo's target,
    description and link are replaced too."""
    lines = []
    for line in path.read_text().splitlines():
        old = json.loads(line)["id"]
        for was, (new, _) in fixed.items():
            line = line.replace(was, new)
        rec = json.loads(line)
        if old in fixed:
            rec["time"] = fixed[old][1]
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")


def largest_group(db: Path) -> str:
    """The error signature most failed topics share."""
    from batchtop.core.signature import signature

    conn = sqlite3.connect(Path(db).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        errors = [r[0] for r in conn.execute("SELECT error_message FROM topic_completions WHERE status = 'failed'")]
    finally:
        conn.close()
    return Counter(signature(e) for e in errors).most_common(1)[0][0]


def topics_history(db: Path, journal_path: Path, *, now: float = FIXED_NOW) -> str:
    """Reset two items and undo it, then reset the largest error group; the job then works on the group.

    Returns the group's signature. The database's file times are pinned to `now - 30` afterwards.
    """
    from batchtop.core.actions import Target, apply, plan
    from batchtop.core.journal import Journal
    from batchtop.core.source import Source
    from batchtop.core.undo import undo

    group = largest_group(db)
    source = Source(db)
    source.poll(force=True)
    journal = Journal(journal_path)
    conn = sqlite3.connect(db)
    two = [r[0] for r in conn.execute("SELECT id FROM topic_completions WHERE status = 'failed' ORDER BY id LIMIT 2")]
    conn.close()
    items = apply(plan(source, "topics", None, Target.items(two), now=now), journal=journal, source=source)
    undone = undo(journal, items.entry_id, source=source)
    conn = sqlite3.connect(db)
    before = dict(conn.execute("SELECT id, error_message FROM topic_completions WHERE status = 'failed'"))
    conn.close()
    reset = apply(plan(source, "topics", None, Target.group(group), now=now), journal=journal, source=source)
    source.close()
    freeze_journal(journal_path, {items.entry_id: (ITEMS_ID, now - 900), undone.undo_id: (UNDO_ID, now - 840),  # type: ignore[dict-item]
                                  reset.entry_id: (GROUP_ID, now - 600)})
    keys = sorted(reset.affected)
    conn = sqlite3.connect(db)
    conn.executemany("UPDATE topic_completions SET status = 'completed', completed_at = ? WHERE id = ?",
                     [(_utc(now - 300 + i), k) for i, k in enumerate(keys[:3])])
    conn.executemany("UPDATE topic_completions SET status = 'failed', error_message = ?, completed_at = ? "
                     "WHERE id = ?", [(before[k], _utc(now - 200), k) for k in keys[3:5]])
    conn.execute("UPDATE topic_completions SET status = 'failed', completed_at = ?, error_message = "
                 "'ConnectionResetError: [Errno 104] Connection reset by peer' WHERE id = ?", (_utc(now - 100), keys[5]))
    conn.execute("UPDATE topic_completions SET started_at = ? WHERE id = ?", (_utc(now - 30), keys[6]))
    conn.commit()
    conn.close()
    pin_mtimes([db], now - 30)
    return group


def _utc(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
