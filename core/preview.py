"""Previews: `plan()` is the dry run of an action. Nothing is written to make one.

It counts the rows, shows a few (sanitised previews, never whole values), and gives the exact predicate
and statements `apply()` will run (`Plan.write_statements()`, from the backend's `write_sql` builder,
which `apply()` executes). It reads on the source's own read-only connection, in bounded statements.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from batchtop.core.backends.sqlite import write_sql
from batchtop.core.backends.sqlite.write_session import (
    READ_ONLY,
    RowState,
    identity_of,
    in_list,
    norm,
    row_states,
)
from batchtop.core.backends.statement import Statement, shown
from batchtop.core.errors import FileReplaced, NoAction, ReadOnlyMode
from batchtop.core.journal import encode_value
from batchtop.core.profiles.model import Action, RawValue, Track
from batchtop.core.signature import headline
from batchtop.core.snapshot import fetch, preview, stale_threshold
from batchtop.core.source import Source
from batchtop.core.sql import col, error_preview, key_expr, q, raw_expr, text_preview
from batchtop.core.targets import Target, resolve, target_condition

#: Plans over this many rows need the count typed to confirm.
CONFIRM_OVER = 100
#: Most rows one action writes (a larger match is done in several runs).
MAX_ROWS = 100_000
#: Sample rows shown in a preview.
SAMPLES = 5


@dataclass(frozen=True)
class SampleRow:
    """One row of a preview (sanitised previews, never whole values)."""

    key: RawValue
    label: str
    error: str
    raw: str


@dataclass(frozen=True)
class Plan:
    """A dry run: what `apply()` would write. Nothing was written to make it."""

    path: str
    #: File identity the rows were read from.
    identity: tuple[int, int]
    profile: str
    track: Track
    action: Action
    target: Target
    #: Still-in-from-states AND the target's own condition; every UPDATE carries it.
    condition: str
    #: The exact condition selecting the rows: `condition`, plus the key list for explicit keys.
    predicate: str
    #: Rows matching now.
    count: int
    #: Keys of the rows matching now, in key order (at most MAX_ROWS).
    keys: tuple[RawValue, ...]
    samples: tuple[SampleRow, ...]
    #: Explicit keys that are not in a from-state (or missing) at preview time: left out.
    not_eligible: tuple[RowState, ...] = ()
    #: Stale targets: the start-time cutoff used (epoch seconds).
    stale_cutoff: float | None = None
    planned_at: float = 0.0
    #: The source the rows were read from: `apply()` holds its lock and closes its reader for the write.
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def cap(self) -> int:
        """Most rows `apply()` will write: what the person confirmed."""
        return len(self.keys)

    @property
    def description(self) -> str:
        """What the writer will do with the rows afterwards."""
        return self.action.description

    @property
    def needs_typed_confirmation(self) -> bool:
        """Over CONFIRM_OVER rows: the person types the count."""
        return self.count > CONFIRM_OVER

    @property
    def by_condition(self) -> bool:
        """Rows are selected by the condition at write time (groups, filters, all failed, stale)."""
        return self.target.kind != "keys"

    def write_statements(self) -> list[Statement]:
        """Every statement `apply()` runs, in order (key lists as selected at preview time)."""
        if getattr(self.source, "kind", "sqlite") == "postgresql":
            from batchtop.core.backends.postgres.write_sql import plan_statements

            return plan_statements(self)
        return write_sql.write_statements(self.track, self.action, list(self.keys), self.condition, self.cap,
                                          self.by_condition)

    def statements(self) -> list[str]:
        """The texts of the statements `apply()` runs that the preview lists: the keys found, the UPDATEs."""
        return shown(self.write_statements())

    def summary(self) -> str:
        """'reset 150 topics (error group ...)' plus the cap when the match is larger."""
        # An explicit list of items needs no description beyond its count.
        target = "" if self.target.kind == "keys" else self.target.describe()
        if self.not_eligible:
            target += (", " if target else "") + f"{len(self.not_eligible)} left out"
        noun = "item" if self.cap == 1 else "items"
        text = f"{self.action.name} {self.cap} {noun} in {self.track.name}" + (f" ({target})" if target else "")
        if self.count > self.cap:
            text += f": {self.count} match, only the first {self.cap} by key; run again for the rest"
        return text

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-safe form (keys encoded as in the journal)."""
        return {
            "path": self.path, "identity": list(self.identity), "profile": self.profile,
            "track": self.track.name, "table": self.track.table, "action": self.action.name,
            "description": self.description, "target": self.target.describe(), "count": self.count,
            "cap": self.cap, "predicate": self.predicate, "statements": len(self.statements()),
            "needs_typed_confirmation": self.needs_typed_confirmation,
            "samples": [{"key": encode_value(s.key), "label": s.label, "error": s.error, "state": s.raw}
                        for s in self.samples],
            "not_eligible": [{"key": encode_value(r.key), "state": r.label} for r in self.not_eligible],
            "stale_cutoff": self.stale_cutoff,
        }


def plan(
    source: Source,
    track: str | Track | None,
    action: str | None,
    target: Target,
    *,
    read_only: bool = False,
    now: float | None = None,
) -> Plan:
    """Preview an action: count, samples and the exact predicate. Nothing is written.

    Raises:
        ReadOnlyMode: read-only mode (nothing is opened).
        NoAction: the track offers no such action (the message says why).
        FileReplaced / FileMissing: the file changed since the source last read it.
        Locked (and other SourceErrors): the read failed; nothing was written.
    """
    if read_only:
        raise ReadOnlyMode(READ_ONLY)
    if not source.is_open:  # closed by a write (see `write_session.quiet`), or quiescent: refresh first
        result = source.poll()
        if result.error is not None:
            raise result.error
    trk, act = resolve(source, track, action, target)
    if target.kind == "keys" and not target.keys:
        raise NoAction("no item selected")
    if source.identity is None or identity_of(source.path) != source.identity:
        raise FileReplaced("file was replaced since the last refresh; nothing written (refresh and retry)")
    when = time.time() if now is None else now

    def read(conn: Any) -> Plan:
        cutoff = None
        if target.kind == "stale":
            older = target.older_than if target.older_than is not None else stale_threshold(conn, trk)
            cutoff = when - older
        columns = [r[1] for r in fetch(conn, f"PRAGMA table_info({q(trk.table)})")] if target.kind == "where" else None
        cond = target_condition(trk, act, target, cutoff, path=source.path, columns=columns, now=when)
        k, t = key_expr(trk), q(trk.table)
        not_eligible: list[RowState] = []
        if target.kind == "keys":
            found = row_states(conn, trk, target.keys, cond)
            keys = [found[norm(x)][0].key for x in target.keys if norm(x) in found and found[norm(x)][1]]
            not_eligible = [found[norm(x)][0] if norm(x) in found else RowState(x, "missing", "")
                            for x in target.keys if norm(x) not in found or not found[norm(x)][1]]
            count = len(keys)
            predicate = f"{in_list(trk, keys)} AND {cond}" if keys else "0"
        else:
            keys = [r[0] for r in fetch(conn, f"SELECT {k} FROM {t} WHERE {cond} ORDER BY {k} LIMIT {MAX_ROWS + 1}")]
            count = len(keys) if len(keys) <= MAX_ROWS else int(fetch(conn, f"SELECT COUNT(*) FROM {t} WHERE {cond}")[0][0])
            keys = keys[:MAX_ROWS]
            predicate = cond
        return Plan(source.path, source.identity or (0, 0), source.profile.name if source.profile else "",
                    trk, act, target, cond, predicate, count, tuple(keys), _samples(conn, trk, keys[:SAMPLES]),
                    tuple(not_eligible), cutoff, when, source)

    return source.run(read)


def _samples(conn: Any, track: Track, keys: list[RawValue]) -> tuple[SampleRow, ...]:
    if not keys:
        return ()
    k = key_expr(track)
    label = col(track, track.label) or k
    err = col(track, track.error) or "NULL"
    rows = fetch(conn, f"SELECT {k}, {text_preview(label, 200)}, {error_preview(err)}, {raw_expr(track)} "
                       f"FROM {q(track.table)} WHERE {in_list(track, keys)} ORDER BY {k}")
    return tuple(SampleRow(key, preview(lab, ll, lk, 160)[0], preview(headline(e) if ek == "text" else e, el, ek, 400)[0],
                           preview(raw, None, None, 40)[0])
                 for key, lab, ll, lk, e, el, ek, raw in rows)
