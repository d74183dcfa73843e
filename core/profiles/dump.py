"""Write a profile as TOML that `userfile.parse_profiles` reads back to an equal profile.

A small dumper of our own (no extra dependency): it only ever writes strings, numbers, booleans, arrays
and inline tables, in the layout documented in `userfile`. Defaults are left out so a file stays short;
commented hints show what could be added.
"""

from __future__ import annotations

import dataclasses
import re

from batchtop.core.profiles.model import STATES, Action, Profile, RawValue, Sessions, Track
from batchtop.core.sanitize import clean_line

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Track) if f.default is not dataclasses.MISSING}


def _is_control(ch: str) -> bool:
    """Characters TOML forbids unescaped (C0 controls and DEL); tab is handled by the callers."""
    return ord(ch) < 0x20 or ord(ch) == 0x7F


def basic_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped; always one line."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _is_control(ch):
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\uFFFD")  # a lone surrogate cannot be written in UTF-8 or TOML
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def string(text: str, *, multiline: bool = False) -> str:
    """The most readable TOML form of `text`: literal strings spare SQL its escaped double quotes."""
    plain = not any((_is_control(ch) and ch not in "\t\n") or 0xD800 <= ord(ch) <= 0xDFFF for ch in text)
    needs_escapes = '"' in text or "\\" in text
    if plain and needs_escapes and "'" not in text and "\n" not in text:
        return "'" + text + "'"
    if plain and multiline and (needs_escapes or "\n" in text) and "'''" not in text and not text.endswith("'"):
        # The newline right after the opening ''' is dropped by TOML, so the text keeps its own.
        return "'''\n" + text + "'''" if "\n" in text else "'''" + text + "'''"
    return basic_string(text)


def key(name: str) -> str:
    """A TOML key: bare when it can be, quoted otherwise."""
    return name if _BARE_KEY.fullmatch(name) else basic_string(name)


def value(v: RawValue | bool | tuple | list) -> str:
    """A TOML value for a literal (None never reaches here: TOML has no null)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # 'inf', 'nan', '1e-05' are all valid TOML floats
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, str):
        return basic_string(v)
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _comment(text: str) -> str:
    return "# " + clean_line(text) if text else "#"


def _track_lines(t: Track) -> list[str]:
    lines = ["[[track]]", f"name = {basic_string(t.name)}", f"table = {basic_string(t.table)}",
             f"key = {basic_string(t.key)}"]
    if t.raw is not None:
        lines.append(f"status = {basic_string(t.raw)}")
    else:
        # A track with neither reads NULL for every row: say so explicitly.
        lines.append(f"state_sql = {string(t.raw_sql or 'NULL', multiline=True)}")
    if t.default_state != _DEFAULTS["default_state"]:
        lines.append(f"default_state = {basic_string(t.default_state)}")
    if None in t.states:
        lines.append(f"null_state = {basic_string(t.states[None])}")
    if t.in_flight is not None:
        lines.append(f"in_flight = {string(t.in_flight, multiline=True)}")
    for name in ("label", "error", "started", "finished", "created", "progress", "step"):
        column = getattr(t, name)
        if column is not None:
            lines.append(f"{name} = {basic_string(column)}")
        elif name in ("label", "error", "started", "finished"):
            lines.append(f'# {name} = "column"')
    for name in ("error_states", "tz", "time_format", "time_unit"):
        if getattr(t, name) != _DEFAULTS[name]:
            lines.append(f"{name} = {value(getattr(t, name))}")
    if t.secrets:
        lines.append(f"secret = {value(t.secrets)}")
    if t.not_secret:
        lines.append(f"not_secret = {value(t.not_secret)}")
    if t.metrics:
        lines.append("metrics = [")
        for m in t.metrics:
            parts = [f"column = {basic_string(m.column)}", f"label = {basic_string(m.label)}"]
            parts += [f"agg = {basic_string(m.agg)}"] if m.agg != "sum" else []
            parts += [f"unit = {basic_string(m.unit)}"] if m.unit else []
            lines.append("  { " + ", ".join(parts) + " },")
        lines.append("]")
    if not t.failures_recorded:
        lines.append("failures_recorded = false")
    if t.stale_after is not None:
        lines.append(f"stale_after = {value(float(t.stale_after))}")
    for name in ("no_action_reason", "note"):
        if getattr(t, name) is not None:
            lines.append(f"{name} = {basic_string(getattr(t, name))}")
    lines += ["", "[track.states]"]
    for state in STATES:
        raws = [raw for raw, s in t.states.items() if s == state and raw is not None]
        if raws:
            lines += _wrapped(state, raws)
    for action in t.actions:
        lines += ["", *_action_lines(action)]
    if not t.actions:
        lines += ["", *_action_example(t)]
    return lines


def _wrapped(name: str, values: list[RawValue], width: int = 100) -> list[str]:
    """`name = [...]`, over several lines when long (a detected vocabulary lists every state word)."""
    one = f"{name} = {value(values)}"
    if len(one) <= width:
        return [one]
    lines, line = [f"{name} = ["], "   "
    for v in values:
        item = f" {value(v)},"
        if len(line) + len(item) > width and line.strip():
            lines.append(line)
            line = "   "
        line += item
    return [*lines, line, "]"]


def _action_lines(a: Action) -> list[str]:
    lines = ["[[track.action]]", f"name = {basic_string(a.name)}", f"description = {basic_string(a.description)}",
             f"from = {value(a.from_states)}", f"to = {basic_string(a.to_state)}"]
    sets = [(c, v) for c, v in a.assign if v is not None]
    clears = [c for c, v in a.assign if v is None]
    if sets:
        lines.append("set = { " + ", ".join(f"{key(c)} = {value(v)}" for c, v in sets) + " }")
    if clears:
        lines.append(f"clear = {value(clears)}")
    return lines


def _action_example(t: Track) -> list[str]:
    """A commented-out retry, so allowing one is an edit rather than a read of the docs."""
    pending = next((raw for raw, s in t.states.items() if s == "pending" and raw is not None), "pending")
    target = t.raw or "status"
    lines = ["# [[track.action]]                 # uncomment to allow resetting failed items",
             '# name = "retry"', '# description = "back to pending: the job picks it up again"',
             '# from = ["failed"]', '# to = "pending"', f"# set = {{ {key(target)} = {value(pending)} }}"]
    if t.error:
        lines.append(f"# clear = {value([t.error])}")
    return lines


def _sessions_lines(s: Sessions) -> list[str]:
    lines = ["[sessions]", f"table = {basic_string(s.table)}", f"key = {basic_string(s.key)}"]
    for name in ("started", "finished", "status"):
        if getattr(s, name) is not None:
            lines.append(f"{name} = {basic_string(getattr(s, name))}")
    if s.columns:
        lines.append(f"columns = {value(s.columns)}")
    if s.tz != "utc":
        lines.append(f"tz = {basic_string(s.tz)}")
    if s.note is not None:
        lines.append(f"note = {basic_string(s.note)}")
    return lines


def _header(p: Profile) -> list[str]:
    origin = p.origin if p.origin != "detected" else f"detected (confidence {p.confidence:.2f})"
    lines = [
        _comment(f"batchtop profile {p.name!r}: {p.description}" if p.description else f"batchtop profile {p.name!r}"),
        _comment(f"from: {origin}"),
        "# Use it with `batchtop --profile FILE DATABASE`, or save it as .batchtop.toml next to the database:",
        "# it is then used whenever every table and column it names exists.",
        "# Canonical states: " + ", ".join(STATES) + ".",
        "# Raw values not listed below count apart as unmapped (never as pending), with a warning;",
        "# set default_state to give them a state.",
    ]
    if p.notes:
        lines += ["#", "# What was inferred (check it, then edit below):"]
        lines += [_comment("- " + n) for n in p.notes]
    return lines


def dump_profile(profile: Profile) -> str:
    """`profile` as commented TOML text; `parse_profiles` reads it back to an equal profile (but origin).

    Action assignments are written as `set` then `clear`, so they read back in that order.
    """
    lines = _header(profile)
    lines += ["", f"name = {basic_string(profile.name)}", f"description = {basic_string(profile.description)}"]
    if profile.secret_tables:
        lines.append(f"secret_tables = {value(profile.secret_tables)}")
    for track in profile.tracks:
        lines += ["", *_track_lines(track)]
    if profile.sessions is not None:
        lines += ["", *_sessions_lines(profile.sessions)]
    return "\n".join(lines) + "\n"
