"""Injection, property-tested: hostile text in every place it can come from never reaches the output raw.

Strings built from markup characters (`[]@$/\\=#:;`), markup fragments, control, C1, bidi, line-separator
and NUL characters go into cell values (label, error, status), table names, column names, the database's
file name, and the profile name and track name of a `.batchtop.toml` next to it. Every headless command
(`status`, `failures`, text and JSON) must then print no control/format character at all, print the
sanitised input (core.sanitize.clean_line) where it shows that field, and never interpret markup.

Examples are bounded (a few dozen, small strings) so the whole module runs in seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import tempfile
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from batchtop.core.sanitize import clean, clean_line, redact
from batchtop.tui.cli import main

HOSTILE_CHARS = (
    "[]@$/\\=#:; ab\x1b\x07\x00\x7f\x9b\x9d\x90\x85\u202e\u202d\u2066\u2067\u200f\u2028\u2029\ufeff\t\n"
)
FRAGMENTS = (
    "[@click=app.quit]",
    "[/]",
    "[b]",
    "\x1b]52;c;QUJD\x07",
    "\x1b]8;;http://x\x1b\\",
    "\x1b[2J",
    "$(x)",
)

hostile = st.lists(
    st.one_of(st.sampled_from(HOSTILE_CHARS), st.sampled_from(FRAGMENTS)), min_size=1, max_size=8
).map("".join)
#: A file name: no '/' and no NUL (the OS refuses them), not '.'/'..'.
#: An SQL identifier cannot hold a NUL (sqlite3 refuses the statement).
identifiers = hostile.map(lambda s: s.replace("\x00", "_"))
file_names = hostile.map(lambda s: s.replace("/", "_").replace("\x00", "_") + ".db")

#: No shrinking phase: it can take minutes on a multi-field failure; the failing example is still printed.
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def _is_bad(ch: str) -> bool:
    return ch not in "\n" and unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def run(*args: str) -> tuple[int, str, str]:
    """The CLI in-process (fast enough for property tests); exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def assert_clean(text: str, where: str) -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in text if _is_bad(c)})
    assert not bad, f"{where}: control/format characters {bad} in the output"


def _toml(s: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML escapes)."""
    return json.dumps(s, ensure_ascii=True)


def _build(
    d: Path, name: str, label: str, error: str, status: str, table: str, column: str, profile: str, track: str
) -> Path:
    path = d / name
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE work (id INTEGER PRIMARY KEY, status TEXT, label TEXT, error TEXT)")
    conn.executemany(
        "INSERT INTO work (status, label, error) VALUES (?, ?, ?)",
        [("done", "ok", None), ("failed", label, error), (status, label, None)],
    )
    conn.execute(
        f'CREATE TABLE "{table.replace(chr(34), chr(34) * 2)}" ("{column.replace(chr(34), chr(34) * 2)}")'
    )
    conn.commit()
    conn.close()
    (d / ".batchtop.toml").write_text(
        f"""
name = {_toml(profile)}
[[track]]
name = {_toml(track)}
table = "work"
key = "id"
status = "status"
label = "label"
error = "error"
[track.states]
done = ["done"]
failed = ["failed"]
""",
        encoding="utf-8",
    )
    return path


@SETTINGS
@given(name=file_names, label=hostile, error=hostile, status=hostile, profile=hostile, track=hostile)
def test_hostile_text_in_values_names_and_profiles(
    name: str, label: str, error: str, status: str, profile: str, track: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        path = _build(d, name, label, error, status, "t", "c", profile, track)
        before = sorted(os.listdir(d))
        code, out, err = run("status", str(path), "--json")
        assert_clean(out + err, "status --json")
        src = json.loads(out)["sources"][0]
        assert src["error"] is None, src["error"]
        # Visible text == the sanitised input (JSON may keep a newline: it is escaped as \n there).
        assert src["profile"] in (clean_line(profile), clean(profile, multiline=True))
        t = src["tracks"][0]
        assert t["track"] in (clean_line(track), clean(track, multiline=True))
        assert t["counts"]["done"] == 1 and t["total"] + t["unmapped"] == 3
        code, out, err = run("failures", str(path), "--json")
        assert_clean(out + err, "failures --json")
        item = json.loads(out)["sources"][0]["tracks"][0]["items"][0]
        # SQLite's text functions (substr for the preview) stop at a NUL: what follows it is not shown.
        shown = label.split("\x00")[0]
        # ... and what looks like a credential (`scheme://user:pass@`) is redacted, as everywhere.
        assert item["label"] in {f(t) for t in (clean_line(shown), clean(shown, multiline=True))
                                 for f in (str, redact)}
        assert clean_line(error.split("\x00")[0]).strip()[:10] in clean_line(item["error"])
        for args in (("status", str(path)), ("failures", str(path))):
            code, out, err = run(*args)
            assert code == 0, err
            assert_clean(out + err, args[0])
            # Markup is shown literally: an interpreted '[b]' or '[/]' would vanish from the output.
            if args[0] == "failures" and "[/]" in shown:  # text after a NUL is never shown
                assert "[/]" in out
        assert sorted(os.listdir(d)) == before  # nothing created next to the database


@SETTINGS
@given(table=identifiers, column=identifiers)
def test_hostile_table_and_column_names(table: str, column: str) -> None:
    """An unknown schema: its table names reach the 'found tables: ...' message."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "unknown.db"
        conn = sqlite3.connect(path)
        conn.execute(
            f'CREATE TABLE "{table.replace(chr(34), chr(34) * 2)}" '
            f'("{column.replace(chr(34), chr(34) * 2)}", other TEXT)'
        )
        conn.commit()
        conn.close()
        for args in (
            ("status", str(path), "--json"),
            ("status", str(path)),
            ("failures", str(path), "--json"),
            ("profile", str(path)),
        ):
            code, out, err = run(*args)
            assert code in (0, 1), err
            assert_clean(out + err, " ".join(args[:1]))
        code, out, _ = run("status", str(path), "--json")
        src = json.loads(out)["sources"][0]
        assert src["error_kind"] == "unknown-schema"
        assert clean_line(table)[:20] in src["error"]  # the (sanitised) name is named, not dropped
