"""Write a profile as TOML that `userfile.parse_profiles` reads back to an equal profile.

A small dumper of our own (no extra dependency): it only ever writes strings, numbers, booleans, arrays
and inline tables, in the layout documented in `userfile`. Defaults are left out so a file stays short;
commented hints show what could be added.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from batchtop.core.profiles.model import STATES, Action, Profile, RawValue, Sessions, Track
from batchtop.core.sanitize import clean_line, is_secret_name

if TYPE_CHECKING:  # schema -> sql -> profiles would import this package mid-way
    from batchtop.core.schema import Schema, Table

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Track) if f.default is not dataclasses.MISSING}


#: What `core.sanitize` replaces before display (controls, format and bidi characters, surrogates, private
#: use, line and paragraph separators): the dump writes them as escapes, so the printed file keeps the
#: exact names while no such character reaches a terminal.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def _is_control(ch: str) -> bool:
    """Characters written only as escapes: those TOML forbids unescaped (C0 controls and DEL) and those a
    terminal would act on (C1 controls, bidi overrides, ...). Tab is handled by the callers."""
    code = ord(ch)
    return code < 0x20 or code == 0x7F or (code >= 0x80 and unicodedata.category(ch) in _UNSAFE_CATEGORIES)


def basic_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and unsafe characters escaped; always one line."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\uFFFD")  # a lone surrogate cannot be written in UTF-8 or TOML
        elif _is_control(ch):
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def string(text: str, *, multiline: bool = False) -> str:
    """The most readable TOML form of `text`: literal strings spare SQL its escaped double quotes."""
    plain = not any(_is_control(ch) and ch not in "\t\n" for ch in text)
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
    if t.default_state is not None and t.default_state != _DEFAULTS["default_state"]:
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
        raws: list[RawValue] = [raw for raw, s in t.states.items() if s == state and raw is not None]
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


def _body(profile: Profile) -> list[str]:
    lines = [f"name = {basic_string(profile.name)}", f"description = {basic_string(profile.description)}"]
    if profile.secret_tables:
        lines.append(f"secret_tables = {value(profile.secret_tables)}")
    for track in profile.tracks:
        lines += ["", *_track_lines(track)]
    if profile.sessions is not None:
        lines += ["", *_sessions_lines(profile.sessions)]
    return lines


_TABLE_HEADER = re.compile(r"^(# )?(\[\[?)(track|sessions)\b")


def _nested(lines: list[str]) -> list[str]:
    """The lines of one profile as the body of a `[[profile]]` table: `[[track]]` becomes
    `[[profile.track]]` and so on (commented-out headers too). Only header lines start with `[`."""
    return [_TABLE_HEADER.sub(r"\1\2profile.\3", line) for line in lines]


def dump_profile(profile: Profile) -> str:
    """`profile` as commented TOML text; `parse_profiles` reads it back to an equal profile (but origin).

    Action assignments are written as `set` then `clear`, so they read back in that order.
    """
    return "\n".join([*_header(profile), "", *_body(profile)]) + "\n"


def dump_profiles(items: Sequence[tuple[str, Profile]], *, nested: bool = False) -> str:
    """The profiles of several databases (`(path, profile)` pairs) as one file of `[[profile]]` tables.

    A profile two databases share is written once; different profiles of the same name (every detected
    one is called "detected") get a numbered name, since a file's profile names must differ. One
    profile is written as `dump_profile` writes it, unless `nested` (more will be appended).
    """
    kept: list[tuple[list[str], Profile]] = []
    for path, profile in items:
        same = next((paths for paths, p in kept if (p.name, p.tracks, p.sessions, p.secret_tables)
                     == (profile.name, profile.tracks, profile.sessions, profile.secret_tables)), None)
        if same is not None:
            same.append(path)
            continue
        names = {p.name for _, p in kept}
        if profile.name in names:
            n = 2
            while f"{profile.name}-{n}" in names:
                n += 1
            profile = dataclasses.replace(profile, name=f"{profile.name}-{n}")
        kept.append(([path], profile))
    if len(kept) == 1 and not nested:
        return dump_profile(kept[0][1])
    lines = ["# batchtop profiles, one [[profile]] table each. Use the file with `batchtop --profile FILE ...`,",
             "# or save it as .batchtop.toml next to the databases: each database gets the first profile whose",
             "# tables and columns all exist in it."]
    for paths, profile in kept:
        lines += ["", _comment("for " + ", ".join(paths)), *_header(profile), "", "[[profile]]",
                  *_nested(_body(profile))]
    return "\n".join(lines) + "\n"



def skeleton(schema: Schema, where: str, *, nested: bool = False) -> str:
    """A commented-out profile for a database where nothing was detected: every table with its columns.

    Removing the leading `# ` from a table's lines (and from the `name` line) gives a profile that
    parses and applies to the database; lines starting with `##` are explanations and stay comments.
    The first guesses (status, label, error, times) come from the column names and must be checked.
    With `nested`, the tables are written as the body of a `[[profile]]` (see `dump_profiles`).
    """
    tables = [t for n, t in sorted(schema.tables.items()) if not n.lower().startswith("sqlite_")]
    secret_tables = [t.name for t in tables if is_secret_name(t.name)]
    lines = [
        "## " + clean_line(f"batchtop found no progress table in {where}: a skeleton to fill in."),
        "## Remove the leading '# ' from the lines of the table that holds your work items (lines starting",
        "## with '##' stay comments), set `status` to the column holding each item's state and list its raw",
        "## values under [track.states]. Then save it as .batchtop.toml next to the database, or use it with",
        "## `batchtop --profile FILE DATABASE`.",
        "## Canonical states: " + ", ".join(STATES) + "; values not listed are counted apart as unmapped (never as pending).",
        "",
    ]
    if nested:
        lines.append("# [[profile]]")
    lines.append(f"# name = {basic_string(_stem(where))}")
    if secret_tables:
        lines.append(f"# secret_tables = {value(secret_tables)}   ## named like credentials: never read")
    for table in tables:
        if table.name not in secret_tables:
            lines += ["", *_skeleton_track(table)]
    return "\n".join(_nested(lines) if nested else lines) + "\n"


def _skeleton_track(table: Table) -> list[str]:
    """The commented `[[track]]` block of one table, with first guesses from the column names."""
    from batchtop.core.profiles import vocab
    from batchtop.core.profiles.detect import affinity, table_key, time_role

    k = table_key(table)
    secrets = [c.name for c in table.columns if is_secret_name(c.name)]
    usable = [c for c in table.columns if c.name not in secrets and c.name != k]
    listing = ", ".join(f"{key(c.name)} {c.type or 'untyped'}" for c in table.columns)
    lines = [f"## table {basic_string(table.name)}: columns {listing or '(none)'}"]
    if not usable:
        return [*lines, "## (no column besides its key could hold a state)"]
    text = [c for c in usable if affinity(c.type) in ("text", "none")]

    def named(columns: list, words: Sequence[str] | frozenset[str], taken: set[str]) -> str | None:
        return next((c.name for c in columns if c.name not in taken and set(vocab.words(c.name)) & set(words)), None)

    status = (named(usable, vocab.STATUS_WORDS, set()) or named(usable, vocab.FLAG_NAMES, set())
              or (text or usable)[0].name)
    lines += ["# [[track]]", f"# table = {basic_string(table.name)}", f"# key = {basic_string(k)}",
              f"# status = {basic_string(status)}   ## CHECK: the column holding each item's state"]
    taken = {status}
    for role, words in (("error", vocab.ERROR_WORDS), ("label", vocab.LABEL_WORDS)):
        column = named(text, words, taken)
        if column is not None:
            taken.add(column)
            lines.append(f"# {role} = {basic_string(column)}")
    for c in text:
        time_kind = time_role(c)
        if c.name not in taken and time_kind in ("started", "finished", "created"):
            taken.add(c.name)
            lines.append(f"# {time_kind} = {basic_string(c.name)}   ## text timestamps")
    if secrets:
        lines.append(f"# secret = {value(secrets)}   ## named like credentials: never read")
    lines += ["#", "# [track.states]   ## raw values of the status column, per canonical state",
              *(f"# {state} = {value([state])}" for state in ("pending", "running", "done", "failed"))]
    return lines


def _stem(where: str) -> str:
    """'runs/crawl.db' -> 'crawl': a name for the profile."""
    name = where.replace("\\", "/").rsplit("/", 1)[-1]
    return (name.rsplit(".", 1)[0] if "." in name[1:] else name) or "user"
