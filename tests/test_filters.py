"""The filter language: parsing, error positions, SQL that binds every value, results against real files."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest
from factories import ERROR_FAMILIES, FAMILY_SIGNATURES, FIXED_NOW, failures_db, schema_db, secret_jobs_db

from batchtop.core.backends.keyset import count_matching, scan
from batchtop.core.backends.sqlite.sql import like_pattern
from batchtop.core.errors import FilterError
from batchtop.core.filtered import Filter, compile_for
from batchtop.core.filters import BoolOp, Not, Term, parse
from batchtop.core.source import Source


@pytest.fixture
def topics(tmp_path: Path) -> Source:
    """9 failures (3 rate, 3 timeout, 3 missing) one a minute up to FIXED_NOW, and 5 done rows."""
    path = failures_db(tmp_path / "chunk_01.db", {"rate": 3, "timeout": 3, "missing": 3})
    source = Source(path)
    assert source.poll().error is None
    yield source
    source.close()


def keys(source: Source, text: str, *, path: str | None = None) -> list:
    """Keys matching `text`, in key order, read through the bounded scan."""
    track = source.profile.tracks[0]
    sql, params = compile_for(source, track, Filter.parse(text), now=FIXED_NOW, path=path or source.path)
    out = [r[0] for page in scan(source, track, sql, params, "id", chunk=4, page=2, pause=0) for r in page]
    assert count_matching(source, track, sql, params, chunk=4, pause=0) == len(out)
    return out


def rows(source: Source) -> list[tuple]:
    return source.run(
        lambda c: c.execute(
            "SELECT id, status, error_message, topic_path FROM topic_completions ORDER BY id"
        ).fetchall()
    )


# -- parsing --------------------------------------------------------------------------------------------


def test_terms_side_by_side_are_anded_and_or_binds_loosest() -> None:
    node = parse('state:failed error:"rate limit" OR NOT label:x')
    assert isinstance(node, BoolOp) and node.op == "OR"
    left, right = node.nodes
    assert isinstance(left, BoolOp) and left.op == "AND"
    assert [t.value for t in left.nodes] == ["failed", "rate limit"]
    assert isinstance(right, Not) and right.node == Term("label", ":", "x", 39, 45)


def test_quotes_keep_operators_keywords_and_escapes_as_text() -> None:
    node = parse(r'error:"a OR (b) \"c\"" ' + "'NOT'")
    assert isinstance(node, BoolOp)
    assert node.nodes[0].value == 'a OR (b) "c"'
    assert node.nodes[1] == Term(None, ":", "NOT", 23, 23, True)


@pytest.mark.parametrize(
    ("text", "position", "words"),
    [
        ("state:failed OR", 15, "expected a term"),
        ("(state:failed", 0, "never closed"),
        ("state:failed)", 12, "unexpected )"),
        ('error:"abc', 6, "unclosed quote"),
        ("AND x", 0, "AND needs a term"),
        ("label:", 6, "needs a value"),
        ("x =3", 2, "needs a field"),
        ('a"b', 1, "quote inside a word"),
    ],
)
def test_bad_filters_point_at_the_bad_token(text: str, position: int, words: str) -> None:
    with pytest.raises(FilterError) as info:
        parse(text)
    assert info.value.position == position
    assert words in info.value.message
    assert info.value.message.startswith(f"bad filter at {position + 1}:")
    assert info.value.caret().splitlines()[1] == " " * position + "^"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("state:broken", "no state 'broken'"),
        ("colour:red", "unknown field 'colour'"),
        ("age:2h", "age takes >"),
        ("since:yesterday", "not a time"),
        ("age>soon", "not a duration"),
    ],
)
def test_compile_errors_name_the_problem_and_its_position(topics: Source, text: str, words: str) -> None:
    with pytest.raises(FilterError) as info:
        keys(topics, "id>0 " + text)
    assert words in info.value.message
    assert info.value.position >= 5  # the second term, not the first


def test_secret_columns_cannot_be_filtered_on(tmp_path: Path) -> None:
    source = Source(secret_jobs_db(tmp_path / "jobs.db"))
    source.poll()
    track = source.profile.tracks[0]
    with pytest.raises(FilterError, match="secret column"):
        compile_for(source, track, Filter.parse("token:SECRET"), now=FIXED_NOW, path=source.path)
    source.close()


# -- results on a real file ------------------------------------------------------------------------------


def test_fields_select_the_rows_they_say(topics: Source) -> None:
    table = rows(topics)
    failed = [r[0] for r in table if r[1] == "failed"]
    assert keys(topics, "state:failed") == failed
    assert keys(topics, "state:done") == [r[0] for r in table if r[1] == "completed"]
    assert keys(topics, "state!=failed") == [r[0] for r in table if r[1] != "failed"]
    assert keys(topics, "status:completed") == keys(topics, "state:done")
    rate = [r[0] for r in table if r[1] == "failed" and r[2].startswith("RateLimitError")]
    assert keys(topics, "state:failed rate") == rate  # a bare word: the error or the label contains it
    assert keys(topics, f'sig:"{FAMILY_SIGNATURES["rate"]}"') == rate
    assert keys(topics, f'sig!="{FAMILY_SIGNATURES["rate"]}" state:failed') == sorted(set(failed) - set(rate))
    assert keys(topics, "label:missing") == [r[0] for r in table if "missing" in r[3]]
    assert keys(topics, "key>3 key<=6") == [4, 5, 6]
    assert keys(topics, "(key=1 OR key=2) OR id=14") == [1, 2, 14]
    assert keys(topics, "NOT (state:failed OR state:done)") == []


def test_time_fields_count_back_from_now(topics: Source) -> None:
    # Failure i of 9 completed (9 - i) minutes before FIXED_NOW; done rows 0-4 seconds before it.
    recent = keys(topics, "state:failed since:3m")
    assert recent == [7, 8, 9]
    assert keys(topics, "state:failed age>3m") == [1, 2, 3, 4, 5, 6]
    assert keys(topics, "state:failed until:'2026-01-01 11:57:00'") == [1, 2, 3, 4, 5, 6]


def test_source_and_track_terms_choose_files(topics: Source) -> None:
    assert keys(topics, "source:chunk_01 state:failed") == keys(topics, "state:failed")
    assert keys(topics, "source:'chunk_0*' state:failed") == keys(topics, "state:failed")
    assert keys(topics, "source:chunk_02") == []
    assert keys(topics, "source:b") == []  # not "the path contains b" (".db" would)
    assert keys(topics, "NOT track:topics") == []


def test_metric_and_column_comparisons(tmp_path: Path) -> None:
    source = Source(schema_db("topics", tmp_path / "t.db", items=40, completed=30, failed=4))
    source.poll()
    track = source.profile.tracks[0]
    expected = source.run(
        lambda c: [
            r[0] for r in c.execute("SELECT id FROM topic_completions WHERE cost_usd > 0.03 ORDER BY id")
        ]
    )
    assert expected  # the simulator writes costs around a few cents
    for text in ("cost_usd>0.03", "COST_USD>0.03"):
        sql, params = compile_for(source, track, Filter.parse(text), now=FIXED_NOW, path=source.path)
        got = [r[0] for p in scan(source, track, sql, params, "id", pause=0) for r in p]
        assert got == expected
    source.close()


def test_null_columns_make_a_term_false_and_its_negation_true(topics: Source) -> None:
    # Done rows have no started_at; `NOT since:` must still include them, not drop them as NULL.
    everything = [r[0] for r in rows(topics)]
    assert sorted(keys(topics, "cost_usd>0") + keys(topics, "NOT cost_usd>0")) == everything


# -- safety --------------------------------------------------------------------------------------------

INJECTIONS = [
    "'; DROP TABLE topic_completions; --",
    '" OR 1=1 --',
    "x') OR ('1'='1",
    "%' OR '%'='",
    "\\'; ATTACH DATABASE '/tmp/x' AS y; --",
    "a\x00b",
    "]]> <![CDATA[",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_values_are_bound_never_pasted_into_sql(topics: Source, payload: str) -> None:
    track = topics.profile.tracks[0]
    quoted = '"' + payload.replace("\\", "\\\\").replace('"', '\\"') + '"'
    for field in ("error:", "error=", "label:", "status:", "key=", "sig:", "content_hash:", ""):
        flt = Filter.parse(f"{field}{quoted}")
        sql, params = compile_for(topics, track, flt, now=FIXED_NOW, path=topics.path)
        assert payload not in sql
        assert any(payload in str(v) or like_pattern(payload) == v for v in params.values())
        assert [r for p in scan(topics, track, sql, params, "id", pause=0) for r in p] == []
    assert len(rows(topics)) == 14  # the table is still there, every row with it


@pytest.mark.parametrize("payload", INJECTIONS)
def test_inline_conditions_escape_what_they_embed(topics: Source, payload: str) -> None:
    """Reset predicates are journaled as text: there values are embedded, escaped by sql.lit."""
    track = topics.profile.tracks[0]
    quoted = '"' + payload.replace("\\", "\\\\").replace('"', '\\"') + '"'
    sql, params = compile_for(
        topics,
        track,
        Filter.parse(f"error={quoted} OR label:{quoted}"),
        now=FIXED_NOW,
        path=topics.path,
        inline=True,
    )
    assert params == {}
    assert topics.run(
        lambda c: c.execute(f"SELECT COUNT(*) FROM topic_completions WHERE {sql}").fetchone()
    ) == (0,)


def test_fuzzed_filters_either_parse_and_run_or_raise_filter_error(topics: Source) -> None:
    rng = random.Random(7)
    alphabet = list("ab:=!<>()\"' \\-*?.,%_") + [
        "state",
        "error",
        "OR",
        "AND",
        "NOT",
        "failed",
        "since",
        "2h",
        "key",
        "cost_usd",
        "sig",
        "\x1b",
        "\u202e",
        "é",
    ]
    track = topics.profile.tracks[0]
    ran = failed = 0
    for _ in range(600):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        try:
            sql, params = compile_for(topics, track, Filter.parse(text), now=FIXED_NOW, path=topics.path)
        except FilterError as exc:
            assert 0 <= exc.position <= len(text)
            assert "\x1b" not in exc.message and "\u202e" not in exc.message
            failed += 1
            continue
        count_matching(topics, track, sql, params, pause=0)  # must be valid SQL
        ran += 1
    assert ran > 50 and failed > 50


def test_deep_nesting_and_long_filters_are_refused_not_crashed() -> None:
    with pytest.raises(FilterError, match="nested more than"):
        parse("(" * 200 + "a" + ")" * 200)
    with pytest.raises(FilterError, match="nested more than"):
        parse("NOT " * 200 + "a")
    with pytest.raises(FilterError, match="longer than"):
        parse("a " * 5000)


def test_scan_reads_bounded_chunks(tmp_path: Path) -> None:
    """No statement visits more than `chunk` keys, whatever the filter (a narrow one included)."""
    path = failures_db(tmp_path / "a.db", {"rate": 50, "timeout": 50})
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    from batchtop.core.signature import signature

    conn.create_function("bt_signature", 1, signature)
    steps: list[int] = []
    conn.set_progress_handler(lambda: steps.append(1) and 0, 1)
    source = Source(path)
    source.poll()
    track = source.profile.tracks[0]
    sql, params = compile_for(conn, track, Filter.parse("key=99"), now=FIXED_NOW)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    got = [r for p in scan(conn, track, sql, params, "id", chunk=10, pause=0) for r in p]
    assert [r[0] for r in got] == [99]
    assert all("LIMIT 10" in s or "<= " in s or "<=" in s for s in statements)
    assert len(statements) >= 2 * 10  # ten chunks of 10 keys, two statements each
    conn.close()
    source.close()
    assert len(ERROR_FAMILIES) >= 3


def test_filter_failures_pages_like_the_old_search_and_understands_filters(topics: Source) -> None:
    from batchtop.core.failure_pages import search_failures
    from batchtop.core.filtered import filter_failures

    track = topics.profile.tracks[0]
    # A plain word is the old search: same rows, same order (newest first), same keyset pages.
    assert filter_failures(topics, track, "missing") == search_failures(topics, track, "missing")
    first = filter_failures(topics, track, "rate OR timeout", limit=4)
    assert [r.key for r in first] == [8, 7, 5, 4]
    older = filter_failures(topics, track, "rate OR timeout", before=first[-1].key, limit=4)
    assert [r.key for r in older] == [2, 1]
    newer = filter_failures(topics, track, "rate OR timeout", after=2, limit=2)
    assert [r.key for r in newer] == [5, 4]
    # Done rows keep a stale "Connection reset" error: a failures filter never shows them.
    assert filter_failures(topics, track, "reset") == []
    with pytest.raises(FilterError, match="bad filter at 7"):
        filter_failures(topics, track, "error:")
