"""Which rows an action is for: targets, the action a request means, and the SQL condition selecting them.

Every condition starts with "still in one of the action's from-states" (hazards.md rule 6) and embeds its
literals, so it can be shown in a preview and journaled exactly as it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from batchtop.core.backends.base import SourceLike
from batchtop.core.backends.sqlite.sql import (
    col,
    error_expr,
    like_pattern,
    lit,
    number_seconds_sql,
    search_condition,
    signature_sql,
    state_predicate,
)
from batchtop.core.errors import NoAction
from batchtop.core.profiles.model import Action, RawValue, State, Track
from batchtop.core.sanitize import display
from batchtop.core.timeutil import format_ts


@dataclass(frozen=True)
class Target:
    """Which rows an action is for. Build with the class methods."""

    #: "keys", "group", "match", "where", "failed" or "stale".
    kind: str
    keys: tuple[RawValue, ...] = ()
    signature: str | None = None
    text: str | None = None
    #: Stale: seconds an in-flight item must have run; None uses the track's stale threshold.
    older_than: float | None = None

    @classmethod
    def items(cls, keys: Iterable[RawValue]) -> Target:
        """The row(s) under the cursor, a marked set, or ids given on the command line."""
        return cls("keys", tuple(dict.fromkeys(keys)))

    @classmethod
    def group(cls, signature: str) -> Target:
        """Every failed row whose error has this signature (`batchtop.core.signature`)."""
        return cls("group", signature=signature)

    @classmethod
    def matching(cls, text: str) -> Target:
        """Every failed row whose error or label contains `text` (case-insensitive, like the search)."""
        return cls("match", text=text)

    @classmethod
    def where(cls, text: str) -> Target:
        """Every row in the action's from-states that the filter `text` selects (`core/filters.py`)."""
        from batchtop.core.filtered import Filter

        Filter.parse(text)  # a bad filter fails here, with its position, before anything is read
        return cls("where", text=text)

    @classmethod
    def all_failed(cls) -> Target:
        """Every row in the action's from-states."""
        return cls("failed")

    @classmethod
    def stale(cls, older_than: float | None = None) -> Target:
        """In-flight rows started longer ago than `older_than` seconds (default: the stale threshold)."""
        return cls("stale", older_than=older_than)

    def describe(self) -> str:
        """'3 items', "error group 'Timeout after <n>s'", ..."""
        if self.kind == "keys":
            return f"{len(self.keys)} item{'s' if len(self.keys) != 1 else ''}"
        if self.kind == "group":
            return f"error group “{display(self.signature or '', 80)}”"
        if self.kind == "match":
            return f"failures matching “{display(self.text or '', 80)}”"
        if self.kind == "where":
            return f"items where “{display(self.text or '', 80)}”"
        if self.kind == "stale":
            return "stale in-flight items"
        return "all failed items"


def resolve(source: SourceLike, track: str | Track | None, action: str | None, target: Target) -> tuple[Track, Action]:
    """The track and action a request names (defaults: the only track with actions; reset/retry, or the
    action taking `running` rows for stale targets).

    Raises:
        NoAction: no such track or action, or the track has none (the message says why).
    """
    profile = source.profile
    if profile is None:
        raise source.error or NoAction("the database has not been read yet")
    if isinstance(track, Track):
        trk: Track = track
    elif track is not None:
        named = profile.track(track)
        if named is None:
            raise NoAction(f"no track {track!r} (tracks: {', '.join(t.name for t in profile.tracks)})")
        trk = named
    else:
        with_actions = [t for t in profile.tracks if t.actions]
        if len(with_actions) == 1:
            trk = with_actions[0]
        elif not with_actions:
            reasons = {t.no_action_reason or "this profile declares no actions" for t in profile.tracks}
            raise NoAction("; ".join(sorted(reasons)))
        else:
            raise NoAction(f"several tracks have actions: name one ({', '.join(t.name for t in with_actions)})")
    if not trk.actions:
        raise NoAction(trk.no_action_reason or f"track {trk.name!r} declares no actions")
    act = trk.action(action) if action else default_action(trk, target)
    if act is None:
        names = ", ".join(a.name for a in trk.actions)
        raise NoAction(f"no action {action!r} for {trk.name} (actions: {names})" if action
                       else f"no action of {trk.name} takes {'running' if target.kind == 'stale' else 'failed'} "
                            f"rows (actions: {names})")
    if target.kind == "stale" and "running" not in act.from_states:
        raise NoAction(f"{act.name} does not take running rows; stale items need e.g. "
                       f"{next((a.name for a in trk.actions if 'running' in a.from_states), 'requeue')}")
    secret = [c for c, _ in act.assign if trk.is_secret(c)]
    if secret:
        raise NoAction(f"{act.name} writes secret column(s) {', '.join(secret)}: refused (they are never read)")
    return trk, act


def default_action(track: Track, target: Target) -> Action | None:
    """The action a key press means: the one taking `running` rows for stale targets, else `failed` rows."""
    wanted = "running" if target.kind == "stale" else "failed"
    return next((a for a in track.actions if wanted in a.from_states), None)


def target_condition(track: Track, action: Action, target: Target, cutoff: float | None = None, *,
                     path: str | None = None, columns: Sequence[str] | None = None,
                     now: float | None = None) -> str:
    """Still in the action's from-states, AND the group / filter / stale condition.

    A `where` target's filter is compiled with its values embedded (escaped), so the predicate is
    journaled exactly as it runs; `path`, `columns` and `now` are what its `source:`, column and time
    terms need (a time term's cutoff is fixed when the plan is made).
    """
    states = action.from_states
    if target.kind in ("group", "match", "where", "failed"):
        # These targets are chosen from the failures: an action that also takes pending rows (skip)
        # must not sweep pending rows that happen to match.
        states = tuple(s for s in states if s == State.FAILED)
        if not states:
            raise NoAction(f"{action.name} does not apply to failed items")
    parts = [state_predicate(track, states)]
    # The error as `groups` and the failures search read it (none where the track keeps none for failed rows).
    if target.kind == "group":
        parts.append(f"{signature_sql(error_expr(track))} = {lit(target.signature or '')}")
    elif target.kind == "match":
        parts.append(search_condition(track, lit(like_pattern(target.text or ""))))
    elif target.kind == "where":
        from batchtop.core.filtered import Filter

        sql, _ = Filter.parse(target.text or "").condition(track, now=now if now is not None else time.time(),
                                                            path=path, columns=columns, inline=True)
        parts.append(sql)
    elif target.kind == "stale":
        started = col(track, track.started)
        if started is None or cutoff is None:
            raise NoAction(f"{track.name} has no start time: stale items cannot be told")
        parts.append(_started_before(track, started, cutoff))
    return " AND ".join(parts)


def _started_before(track: Track, started: str, cutoff: float) -> str:
    # Text stamps compare as text in the writer's own zone ('T' or space); epoch numbers (s, ms, µs or ns,
    # as the track says or by magnitude) as seconds.
    text_cut = lit(format_ts(cutoff, track.tz, "space"))
    return (f"(CASE WHEN typeof({started}) = 'text' THEN replace(substr({started}, 1, 19), 'T', ' ') < {text_cut} "
            f"WHEN typeof({started}) IN ('integer', 'real') THEN {number_seconds_sql(started, track.time_unit)} "
            f"< {cutoff:.3f} ELSE 0 END)")


def search_target(db: object, text: str) -> Target:
    """The reset target of what a failures search lists: its filter."""
    return Target.where(text)
