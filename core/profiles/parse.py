"""Validate a decoded TOML profile document into `Profile` objects (the format is in `userfile`).

Every problem raises `ProfileError` naming the file, the profile/track/action, and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, NoReturn

from batchtop.core.errors import ProfileError
from batchtop.core.profiles.model import STATES, Action, Metric, Profile, RawValue, Sessions, Track
from batchtop.core.sanitize import is_secret_name
from batchtop.core.timeutil import TIME_UNITS

PROFILE_KEYS = frozenset({"name", "description", "secret_tables", "track", "sessions"})
TRACK_KEYS = frozenset({
    "name", "table", "key", "label", "status", "state_sql", "states", "default_state", "null_state",
    "in_flight", "error", "error_states", "started", "finished", "created", "tz", "time_format", "time_unit",
    "progress",
    "step", "secret", "not_secret", "metrics", "failures_recorded", "stale_after", "note", "no_action_reason", "action",
})
ACTION_KEYS = frozenset({"name", "description", "from", "to", "set", "clear"})
METRIC_KEYS = frozenset({"column", "label", "agg", "unit"})
SESSIONS_KEYS = frozenset({"table", "key", "started", "finished", "status", "columns", "tz", "note"})


class _Reader:
    """Typed access to one TOML table, failing with its location on unknown keys and wrong types."""

    def __init__(self, data: Any, where: str, allowed: frozenset[str]) -> None:
        self.where = where
        if not isinstance(data, dict):
            self.fail(f"expected a table of keys, got {type(data).__name__}")
        self.data: dict[str, Any] = data
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(f"unknown key {key!r}{hint}; allowed keys: {', '.join(sorted(allowed))}")

    def fail(self, message: str) -> NoReturn:
        raise ProfileError(f"{self.where}: {message}")

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(f"missing {key!r}")
            return default
        if not isinstance(value, str) or (required and not value):
            self.fail(f"{key!r} must be a non-empty string" if required else f"{key!r} must be a string")
        return value

    def choice(self, key: str, allowed: Iterable[str], default: str) -> str:
        value = self.text(key, default) or ""
        allowed = tuple(allowed)
        if value not in allowed:
            self.fail(f"{key!r} is {value!r}; allowed: {', '.join(allowed)}")
        return value

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        """A list of strings (a single string is accepted as a one-item list)."""
        value = self.data.get(key)
        if value is None:
            return default
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
            self.fail(f"{key!r} must be a list of strings")
        return tuple(items)

    def states(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        values = self.texts(key, default)
        for v in values:
            if v not in STATES:
                self.fail(f"{key!r}: unknown state {v!r}; canonical states: {', '.join(STATES)}")
        return values

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{key!r} must be true or false")
        return value

    def tables(self, key: str) -> list[Any]:
        """An array of tables (`[[key]]`); a single `[key]` table counts as one."""
        value = self.data.get(key, [])
        return [value] if isinstance(value, dict) else value if isinstance(value, list) else [value]


def _raw(reader: _Reader, value: Any, what: str) -> RawValue:
    """A raw value literal: text or a number (true/false are the codes 1/0)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, int, float)):
        return value
    reader.fail(f"{what}: {value!r} is not a string or a number")


def _states(r: _Reader) -> dict[RawValue, str]:
    data = r.data.get("states")
    if data is None:
        # Writers that already use the canonical names need no mapping.
        states: dict[RawValue, str] = {s: s for s in STATES}
    else:
        if not isinstance(data, dict):
            r.fail("'states' must be a table: canonical state = [raw values]")
        states = {}
        for state, values in data.items():
            if state not in STATES:
                r.fail(f"[track.states]: unknown state {state!r}; canonical states: {', '.join(STATES)}")
            for value in values if isinstance(values, list) else [values]:
                raw = _raw(r, value, f"[track.states] {state}")
                if raw in states and states[raw] != state:
                    r.fail(f"[track.states]: raw value {raw!r} is mapped to both {states[raw]} and {state}")
                states[raw] = state
    if "null_state" in r.data:
        states[None] = r.choice("null_state", STATES, "pending")
    return states


def _metric(r: _Reader, item: Any) -> Metric:
    if isinstance(item, str) and item:
        return Metric(item, item)
    m = _Reader(item, f"{r.where}: metric", METRIC_KEYS)
    column = m.text("column", required=True)
    assert column is not None
    return Metric(column, m.text("label", column) or column, agg=m.choice("agg", ("sum", "avg"), "sum"),
                  unit=m.text("unit", "") or "")


def _sql(r: _Reader, key: str) -> str | None:
    value = r.text(key)
    if value is not None and ";" in value:
        r.fail(f"{key!r} must be one SQL expression (no ';')")
    return value


def _secret(r: _Reader, column: str | None, role: str, secrets: tuple[str, ...],
            not_secret: tuple[str, ...] = ()) -> None:
    if column is not None and (column in secrets or (column not in not_secret and is_secret_name(column))):
        r.fail(f"{role} column {column!r} is secret (listed in 'secret' or named like a credential); "
               "secret columns are never shown or written (list it in 'not_secret' if it holds no secret)")


def _action(track: _Reader, data: Any, index: int, secrets: tuple[str, ...], not_secret: tuple[str, ...]) -> Action:
    name = data.get("name") if isinstance(data, dict) else None
    a = _Reader(data, f"{track.where}: action {name!r}" if name else f"{track.where}: action {index + 1}",
                ACTION_KEYS)
    name = a.text("name", required=True)
    assert name is not None
    from_states = a.states("from")
    if not from_states:
        a.fail("missing 'from': the canonical states a row must be in for the action to touch it")
    sets = a.data.get("set", {})
    if not isinstance(sets, dict):
        a.fail("'set' must be a table: { column = value, ... }")
    clear = a.texts("clear")
    assign = [(str(col), _raw(a, value, f"set {col}")) for col, value in sets.items()]
    assign += [(col, None) for col in clear]
    if not assign:
        a.fail("an action must 'set' or 'clear' at least one column")
    both = set(sets) & set(clear)
    if both:
        a.fail(f"column {sorted(both)[0]!r} is both set and cleared")
    for col, _ in assign:
        _secret(a, col, "action target", secrets, not_secret)
    description = a.text("description")
    if description is None:
        description = ", ".join(f"{c} = {v!r}" if v is not None else f"{c} cleared" for c, v in assign)
    return Action(name, description, from_states, tuple(assign), to_state=a.choice("to", STATES, "pending"))


def _track(data: Any, where: str, index: int) -> Track:
    label = data.get("name") or data.get("table") if isinstance(data, dict) else None
    r = _Reader(data, f"{where}: track {label!r}" if label else f"{where}: track {index + 1}", TRACK_KEYS)
    table = r.text("table", required=True)
    assert table is not None
    status, state_sql = r.text("status"), _sql(r, "state_sql")
    if (status is None) == (state_sql is None):
        r.fail("needs exactly one of 'status' (the state column) or 'state_sql' (an SQL expression)")
    secrets, not_secret = r.texts("secret"), r.texts("not_secret")
    both = sorted(set(secrets) & set(not_secret))
    if both:
        r.fail(f"column {both[0]!r} is listed in both 'secret' and 'not_secret'")
    stale = r.data.get("stale_after")
    if stale is not None and (isinstance(stale, bool) or not isinstance(stale, (int, float)) or stale <= 0):
        r.fail("'stale_after' must be a positive number of seconds")
    metrics = r.data.get("metrics", [])
    track = Track(
        name=r.text("name", table) or table, table=table, key=r.text("key", "rowid") or "rowid",
        label=r.text("label"), raw=status, raw_sql=state_sql, states=_states(r),
        default_state=r.choice("default_state", STATES, "pending") if "default_state" in r.data else None,
        in_flight=_sql(r, "in_flight"),
        error=r.text("error"), error_states=r.states("error_states", ("failed",)),
        started=r.text("started"), finished=r.text("finished"), created=r.text("created"),
        tz=r.choice("tz", ("utc", "local"), "utc"), time_format=r.choice("time_format", ("space", "iso"), "space"),
        time_unit=r.choice("time_unit", TIME_UNITS, "auto"),
        progress=r.text("progress"), step=r.text("step"),
        metrics=tuple(_metric(r, m) for m in (metrics if isinstance(metrics, list) else [metrics])),
        secrets=secrets, not_secret=not_secret, no_action_reason=r.text("no_action_reason"),
        failures_recorded=r.flag("failures_recorded", True),
        stale_after=None if stale is None else float(stale), note=r.text("note"),
    )
    for role, column in (("label", track.label), ("status", track.raw), ("error", track.error),
                         ("progress", track.progress), ("step", track.step),
                         *(("metric", m.column) for m in track.metrics)):
        _secret(r, column, role, secrets, not_secret)
    actions = tuple(_action(r, a, i, secrets, not_secret) for i, a in enumerate(r.tables("action")))
    names = [a.name for a in actions]
    if len(set(names)) != len(names):
        r.fail(f"two actions are called {next(n for n in names if names.count(n) > 1)!r}")
    return replace(track, actions=actions)


def _sessions(data: Any, where: str) -> Sessions:
    r = _Reader(data, f"{where}: [sessions]", SESSIONS_KEYS)
    table = r.text("table", required=True)
    assert table is not None
    return Sessions(table=table, key=r.text("key", "rowid") or "rowid", started=r.text("started"),
                    finished=r.text("finished"), status=r.text("status"), columns=r.texts("columns"),
                    tz=r.choice("tz", ("utc", "local"), "utc"), note=r.text("note"))


def _profile(data: Any, where: str, origin: str) -> Profile:
    r = _Reader(data, where, PROFILE_KEYS)
    items = r.tables("track")
    if not items:
        r.fail("no [[track]]: a profile needs at least one table of work items")
    tracks = tuple(_track(t, where, i) for i, t in enumerate(items))
    names = [t.name for t in tracks]
    if len(set(names)) != len(names):
        r.fail(f"two tracks are called {next(n for n in names if names.count(n) > 1)!r}")
    sessions = _sessions(data["sessions"], where) if "sessions" in data else None
    return Profile(name=r.text("name", "user") or "user", description=r.text("description", "") or "",
                   tracks=tracks, sessions=sessions, secret_tables=r.texts("secret_tables"), origin=origin)


def parse_document(document: dict[str, Any], where: str, origin: str) -> list[Profile]:
    """Profiles from a decoded TOML document: top-level keys, or `[[profile]]` tables.

    An `[alerts]` table beside them is validated and left out (`core.alert_config` reads it); a document
    holding only that table describes no profile.
    """
    from batchtop.core.alert_config import split_document

    document, alerts = split_document(document, where)
    if alerts is not None and not document:
        return []
    if "profile" not in document:
        return [_profile(document, where, origin)]
    extra = sorted(k for k in document if k != "profile")
    if extra:
        raise ProfileError(f"{where}: a file with [[profile]] tables cannot also have top-level keys "
                           f"({', '.join(extra)}): move them into a [[profile]]")
    items = document["profile"]
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not items:
        raise ProfileError(f"{where}: 'profile' must be an array of tables ([[profile]])")
    profiles = []
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        profiles.append(_profile(item, f"{where}: profile {name!r}" if name else f"{where}: profile {i + 1}",
                                 origin))
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise ProfileError(f"{where}: two profiles are called {next(n for n in names if names.count(n) > 1)!r}")
    return profiles
