"""Write a profile as TOML that `userfile.parse_profiles` reads back to an equal profile.

The document is built with tomlkit (tables, arrays of tables, inline tables, comments), in the layout
documented in `userfile`. Defaults are left out so a file stays short; commented hints show what could
be added. Strings are the one thing written here rather than left to tomlkit: the dump is printed to a
terminal, so besides what TOML requires, every character `core.sanitize` would replace on display
(C1 controls, bidi overrides, ...) is written as an escape, and literal strings spare SQL its escaped
double quotes.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import tomlkit
from tomlkit.items import (
    AoT,
    Array,
    Comment,
    InlineTable,
    Item,
    KeyType,
    SingleKey,
    String,
    StringType,
    Table,
    Trivia,
    Whitespace,
)

from batchtop.core.profiles.model import STATES, Action, Profile, RawValue, Sessions, Track
from batchtop.core.sanitize import clean_line, is_secret_name

if TYPE_CHECKING:  # schema -> sql -> profiles would import this package mid-way
    from batchtop.core.schema import Schema
    from batchtop.core.schema import Table as SchemaTable

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Track) if f.default is not dataclasses.MISSING}
#: A state list longer than this (characters, written on one line) is written one value a line.
WIDTH = 100


#: What `core.sanitize` replaces before display (controls, format and bidi characters, surrogates, private
#: use, line and paragraph separators): the dump writes them as escapes, so the printed file keeps the
#: exact names while no such character reaches a terminal.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def _is_control(ch: str) -> bool:
    """Characters written only as escapes: those TOML forbids unescaped (C0 controls and DEL) and those a
    terminal would act on (C1 controls, bidi overrides, ...). Tab is handled by the callers."""
    code = ord(ch)
    return code < 0x20 or code == 0x7F or (code >= 0x80 and unicodedata.category(ch) in _UNSAFE_CATEGORIES)


def _escaped(text: str) -> str:
    """The body of a TOML basic string: quotes, backslashes and unsafe characters escaped."""
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
    return "".join(out)


def _string(text: str, *, multiline: bool = False) -> String:
    """The most readable TOML string item for `text`: literal strings spare SQL its escaped double quotes."""
    plain = not any(_is_control(ch) and ch not in "\t\n" for ch in text)
    needs_escapes = '"' in text or "\\" in text
    if plain and needs_escapes and "'" not in text and "\n" not in text:
        return String(StringType.SLL, text, text, Trivia())
    if plain and multiline and (needs_escapes or "\n" in text) and "'''" not in text and not text.endswith("'"):
        # The newline right after the opening ''' is dropped by TOML, so the text keeps its own.
        return String(StringType.MLL, text, "\n" + text if "\n" in text else text, Trivia())
    return _basic(text)


def _basic(text: str) -> String:
    """A one-line TOML basic string item (tomlkit writes it as escaped here)."""
    return String(StringType.SLB, text, _escaped(text), Trivia())


def basic_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and unsafe characters escaped; always one line."""
    return _basic(text).as_string()


def string(text: str, *, multiline: bool = False) -> str:
    """The most readable TOML form of `text` (see `_string`)."""
    return _string(text, multiline=multiline).as_string()


def _key(name: str) -> SingleKey:
    """A TOML key item: bare when it can be, a basic string (escaped as values are) otherwise."""
    if _BARE_KEY.fullmatch(name):
        return SingleKey(name, KeyType.Bare)
    return SingleKey(name, KeyType.Basic, original=basic_string(name))


def key(name: str) -> str:
    """A TOML key: bare when it can be, quoted otherwise."""
    return _key(name).as_string()


def _item(v: RawValue | bool | tuple | list) -> Item:
    """A TOML item for a literal (None never reaches here: TOML has no null)."""
    if isinstance(v, str):
        return _basic(v)
    if isinstance(v, (tuple, list)):
        array = tomlkit.array()
        for x in v:
            array.append(_item(x))
        return array
    if isinstance(v, (bool, int, float)):
        return tomlkit.item(v)  # floats as repr: 'inf', 'nan', '1e-05' are all valid TOML floats
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def value(v: RawValue | bool | tuple | list) -> str:
    """A TOML value for a literal (None never reaches here: TOML has no null)."""
    return _item(v).as_string()


def _comment(text: str) -> Comment:
    """A comment line holding `text` made safe for a terminal (`#` alone when empty)."""
    return Comment(Trivia(comment_ws="", comment="# " + clean_line(text) if text else "#"))


def _hint(text: str) -> Comment:
    """A comment line of our own (a commented-out setting or an explanation)."""
    return Comment(Trivia(comment_ws="", comment="# " + text))


def _add(table: Any, name: str, item: Item) -> None:
    table.add(_key(name), item)


def _inline(pairs: Sequence[tuple[str, Item]]) -> InlineTable:
    """`{ a = 1, b = "x" }`: an inline table, spaced inside its braces."""
    out = tomlkit.inline_table()
    for name, item in pairs:
        out.append(_key(name), item)
    if pairs:
        out.value.body[0][1].trivia.indent = " "
        out.append(None, Whitespace(" "))
    return out


def _rows(rows: Sequence[Sequence[Item]], indent: str) -> Array:
    """An array written over several lines, the items of each row on one line, every line ending in `,`."""
    body: list[Item] = []
    for row in rows:
        for i, item in enumerate(row):
            body += [Whitespace(("\n" + indent) if i == 0 else ", "), item]
        body.append(Whitespace(","))
    return Array([*body, Whitespace("\n")], Trivia())


def _track_table(t: Track, prefix: str) -> Table:
    out = tomlkit.table()
    for name, column in (("name", t.name), ("table", t.table), ("key", t.key)):
        _add(out, name, _basic(column))
    if t.raw is not None:
        _add(out, "status", _basic(t.raw))
    else:
        # A track with neither reads NULL for every row: say so explicitly.
        _add(out, "state_sql", _string(t.raw_sql or "NULL", multiline=True))
    if t.default_state is not None and t.default_state != _DEFAULTS["default_state"]:
        _add(out, "default_state", _basic(t.default_state))
    if None in t.states:
        _add(out, "null_state", _basic(t.states[None]))
    if t.in_flight is not None:
        _add(out, "in_flight", _string(t.in_flight, multiline=True))
    for name in ("label", "error", "started", "finished", "created", "progress", "step"):
        column = getattr(t, name)
        if column is not None:
            _add(out, name, _basic(column))
        elif name in ("label", "error", "started", "finished"):
            out.add(_hint(f'{name} = "column"'))
    for name in ("error_states", "tz", "time_format", "time_unit"):
        if getattr(t, name) != _DEFAULTS[name]:
            _add(out, name, _item(getattr(t, name)))
    if t.secrets:
        _add(out, "secret", _item(t.secrets))
    if t.not_secret:
        _add(out, "not_secret", _item(t.not_secret))
    if t.metrics:
        metrics: list[list[Item]] = []
        for m in t.metrics:
            parts: list[tuple[str, Item]] = [("column", _basic(m.column)), ("label", _basic(m.label))]
            parts += [("agg", _basic(m.agg))] if m.agg != "sum" else []
            parts += [("unit", _basic(m.unit))] if m.unit else []
            metrics.append([_inline(parts)])
        _add(out, "metrics", _rows(metrics, "  "))
    if not t.failures_recorded:
        _add(out, "failures_recorded", tomlkit.item(False))
    if t.stale_after is not None:
        _add(out, "stale_after", _item(float(t.stale_after)))
    for name in ("no_action_reason", "note"):
        if getattr(t, name) is not None:
            _add(out, name, _basic(getattr(t, name)))
    states = tomlkit.table()
    for state in STATES:
        raws: list[RawValue] = [raw for raw, s in t.states.items() if s == state and raw is not None]
        if raws:
            _add(states, state, _wrapped(state, raws))
    out.add("states", states)
    if t.actions:
        actions = tomlkit.aot()
        for action in t.actions:
            actions.append(_action_table(action))
        out.add("action", actions)
    else:
        out.add(tomlkit.nl())
        for line in _action_example(t, prefix):
            out.add(_hint(line))
    return out


def _wrapped(name: str, values: list[RawValue]) -> Item:
    """`name = [...]`'s array, over several lines when long (a detected vocabulary lists every state word)."""
    one = _item(values)
    if len(f"{name} = {one.as_string()}") <= WIDTH:
        return one
    rows: list[list[Item]] = [[]]
    line = "   "
    for v in values:
        item = _item(v)
        text = f" {item.as_string()},"
        if len(line) + len(text) > WIDTH and line.strip():
            rows.append([])
            line = "   "
        rows[-1].append(item)
        line += text
    return _rows(rows, "    ")


def _action_table(a: Action) -> Table:
    out = tomlkit.table()
    _add(out, "name", _basic(a.name))
    _add(out, "description", _basic(a.description))
    _add(out, "from", _item(a.from_states))
    _add(out, "to", _basic(a.to_state))
    sets = [(c, v) for c, v in a.assign if v is not None]
    clears = [c for c, v in a.assign if v is None]
    if sets:
        _add(out, "set", _inline([(c, _item(v)) for c, v in sets]))
    if clears:
        _add(out, "clear", _item(clears))
    return out


def _action_example(t: Track, prefix: str) -> list[str]:
    """A commented-out retry, so allowing one is an edit rather than a read of the docs."""
    pending = next((raw for raw, s in t.states.items() if s == "pending" and raw is not None), "pending")
    target = t.raw or "status"
    lines = [f"[[{prefix}track.action]]                 # uncomment to allow resetting failed items",
             'name = "retry"', 'description = "back to pending: the job picks it up again"',
             'from = ["failed"]', 'to = "pending"', f"set = {{ {key(target)} = {value(pending)} }}"]
    if t.error:
        lines.append(f"clear = {value([t.error])}")
    return lines


def _sessions_table(s: Sessions) -> Table:
    out = tomlkit.table()
    _add(out, "table", _basic(s.table))
    _add(out, "key", _basic(s.key))
    for name in ("started", "finished", "status"):
        if getattr(s, name) is not None:
            _add(out, name, _basic(getattr(s, name)))
    if s.columns:
        _add(out, "columns", _item(s.columns))
    if s.tz != "utc":
        _add(out, "tz", _basic(s.tz))
    if s.note is not None:
        _add(out, "note", _basic(s.note))
    return out


def _header(p: Profile) -> list[Comment]:
    origin = p.origin if p.origin != "detected" else f"detected (confidence {p.confidence:.2f})"
    lines = [
        _comment(f"batchtop profile {p.name!r}: {p.description}" if p.description else f"batchtop profile {p.name!r}"),
        _comment(f"from: {origin}"),
        _hint("Use it with `batchtop --profile FILE DATABASE`, or save it as .batchtop.toml next to the database:"),
        _hint("it is then used whenever every table and column it names exists."),
        _hint("Canonical states: " + ", ".join(STATES) + "."),
        _hint("Raw values not listed below count apart as unmapped (never as pending), with a warning;"),
        _hint("set default_state to give them a state."),
    ]
    if p.notes:
        lines += [_comment(""), _hint("What was inferred (check it, then edit below):")]
        lines += [_comment("- " + n) for n in p.notes]
    return lines


def _body(profile: Profile, into: Any, prefix: str = "") -> None:
    """The settings of `profile` added to `into` (the document, or a `[[profile]]` table under `prefix`)."""
    _add(into, "name", _basic(profile.name))
    _add(into, "description", _basic(profile.description))
    if profile.secret_tables:
        _add(into, "secret_tables", _item(profile.secret_tables))
    if profile.tracks:
        into.add("track", AoT([_track_table(track, prefix) for track in profile.tracks]))
    if profile.sessions is not None:
        into.add("sessions", _sessions_table(profile.sessions))


def dump_profile(profile: Profile) -> str:
    """`profile` as commented TOML text; `parse_profiles` reads it back to an equal profile (but origin).

    Action assignments are written as `set` then `clear`, so they read back in that order.
    """
    doc = tomlkit.document()
    for line in _header(profile):
        doc.add(line)
    doc.add(tomlkit.nl())
    _body(profile, doc)
    return tomlkit.dumps(doc)


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
    parts = ["# batchtop profiles, one [[profile]] table each. Use the file with `batchtop --profile FILE ...`,\n"
             "# or save it as .batchtop.toml next to the databases: each database gets the first profile whose\n"
             "# tables and columns all exist in it.\n"]
    # One document per profile, each a `[[profile]]` array of one table: joined, they are one array, and
    # each profile's comments stay right above its own table.
    for paths, profile in kept:
        doc = tomlkit.document()
        doc.add(tomlkit.nl())
        for line in [_comment("for " + ", ".join(paths)), *_header(profile)]:
            doc.add(line)
        doc.add(tomlkit.nl())
        table = tomlkit.table()
        _body(profile, table, prefix="profile.")
        doc.add("profile", AoT([table]))
        parts.append(tomlkit.dumps(doc))
    return "".join(parts)


_TABLE_HEADER = re.compile(r"^(# )?(\[\[?)(track|sessions)\b")


def _nested(lines: list[str]) -> list[str]:
    """The lines of a skeleton as the body of a `[[profile]]` table: `# [[track]]` becomes
    `# [[profile.track]]` and so on. Only header lines start with `[` once uncommented."""
    return [_TABLE_HEADER.sub(r"\1\2profile.\3", line) for line in lines]


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


def _skeleton_track(table: SchemaTable) -> list[str]:
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
