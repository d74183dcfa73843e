"""`batchtop export`: CSV and JSON Lines of any filter, sanitised, secrets never read, formulas neutralised,
streamed in bounded memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from factories import (
    FAMILY_SIGNATURES,
    FORBIDDEN_BYTES,
    SECRET_MARKER,
    big_failures_db,
    failures_db,
    hostile_db,
    secret_jobs_db,
)

from batchtop.core.export import Writer, csv_cell, rows
from batchtop.core.filtered import Filter, compile_for
from batchtop.core.source import Source
from batchtop.tui import cli


def export(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["export", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_default_export_is_the_failures_as_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = failures_db(tmp_path / "a.db", {"rate": 2, "timeout": 3})
    code, out, err = export(capsys, str(path))
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 5 and {r["state"] for r in table} == {"failed"}
    assert [r["key"] for r in table] == ["1", "2", "3", "4", "5"]
    assert {r["signature"] for r in table} == {FAMILY_SIGNATURES["rate"], FAMILY_SIGNATURES["timeout"]}
    assert "cost_usd" in table[0]  # the track's metrics are columns too
    assert "5 rows from 1 track(s) to stdout" in err


def test_where_selects_one_cause_across_files_as_jsonl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = failures_db(tmp_path / "chunk_1.db", {"rate": 2, "timeout": 2})
    b = failures_db(tmp_path / "chunk_2.db", {"rate": 3, "missing": 1})
    sig = FAMILY_SIGNATURES["rate"]
    out_file = tmp_path / "out" / "rate.jsonl"
    out_file.parent.mkdir()
    code, out, err = export(
        capsys, str(tmp_path), "--where", f'sig:"{sig}"', "--format", "jsonl", "-o", str(out_file)
    )
    assert code == 0 and out == ""
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(records) == 5 and {r["signature"] for r in records} == {sig}
    assert sorted({Path(r["source"]).name for r in records}) == [a.name, b.name]
    assert str(out_file) in err


def test_bad_filter_is_a_usage_error_pointing_at_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = failures_db(tmp_path / "a.db", {"rate": 1})
    code, out, err = export(capsys, str(path), "--where", "state:failed AND (error:x")
    assert code == 2 and out == ""
    assert "bad filter at 18: this ( is never closed" in err
    assert err.splitlines()[-1] == "  " + " " * 17 + "^"
    code, out, err = export(capsys, str(path), "--where", "colour:red")
    assert code == 2 and "unknown field 'colour'" in err


def test_refuses_to_write_over_a_watched_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = failures_db(tmp_path / "a.db", {"rate": 1})
    before = path.read_bytes()
    code, _, err = export(capsys, str(path), "-o", str(path))
    assert code == 2 and "refusing" in err
    assert path.read_bytes() == before


def test_secrets_are_never_exported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = secret_jobs_db(tmp_path / "jobs.db")
    for fmt in ("csv", "jsonl"):
        code, out, _ = export(capsys, str(path), "--where", "", "--format", fmt)
        assert code == 0
        assert SECRET_MARKER not in out and "credentials" not in out
        assert out.count("job-") >= 4  # every job, in every state, with an empty filter


def test_text_is_sanitised_and_formulas_neutralised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile_db(tmp_path / "h.db", big=200_000)
    for fmt in ("csv", "jsonl"):
        code, out, _ = export(capsys, str(path), "--format", fmt)
        assert code == 0
        data = out.encode()
        for bad in FORBIDDEN_BYTES:
            assert bad not in data, bad
        assert "\x1b" not in out and "\u009b" not in out
    # The 200,000-character error is cut, and says how long it was.
    records = [json.loads(x) for x in out.splitlines()]
    big = next(r for r in records if r["error_length"] == 200_000)
    assert len(big["error"]) < 10_000 and big["error"].endswith("…")


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_that_look_like_formulas_get_a_quote(value: str) -> None:
    assert csv_cell(value) == "'" + value
    assert csv_cell(-3) == -3 and csv_cell("plain") == "plain" and csv_cell(None) == ""


def test_formula_in_a_database_error_is_neutralised_in_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    path = failures_db(tmp_path / "a.db", {"rate": 1})
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE topic_completions SET error_message = '=cmd|'' /C calc''!A0', "
            "topic_path = '@label' WHERE status = 'failed'"
        )
    code, out, _ = export(capsys, str(path))
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["error"] == "'=cmd|' /C calc'!A0" and row["label"] == "'@label"


@pytest.mark.slow
def test_export_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Rows are written page by page: peak Python memory does not grow with the rows exported.

    (Speed is measured by benchmarks/bench_export.py, not here.)"""
    path = big_failures_db(tmp_path / "big.db", 8_000)
    source = Source(path)
    source.poll()
    track = source.profile.tracks[0]

    class Counting(io.TextIOBase):
        size = 0

        def write(self, s: str) -> int:
            self.size += len(s)
            return len(s)

    peaks, sizes = [], []
    for n in (2_000, 8_000):
        sql, params = compile_for(
            source, track, Filter.parse(f"state:failed key<={n}"), now=0.0, path=source.path
        )
        sink = Counting()
        tracemalloc.start()
        writer = Writer(sink, "csv")
        for record in rows(source, track, sql, params, path=source.path):
            writer.write(record)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert writer.count == n
        sizes.append(sink.size)
    source.close()
    assert sizes[1] > 1_900_000  # ~2 MB of CSV went out ...
    assert peaks[1] < peaks[0] * 1.5 + 200_000, peaks  # ... four times the rows, not four times the memory
    assert peaks[1] < sizes[1] / 2, (peaks, sizes)


def test_a_group_with_quotes_in_its_signature_exports_exactly_its_rows(tmp_path: Path) -> None:
    import sqlite3

    from batchtop.core.export import export_file, filter_text_of
    from batchtop.core.signature import signature

    path = failures_db(tmp_path / "a.db", {"rate": 2, "timeout": 2})
    odd = "KeyError: \"answer\" \\ not 'found'"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE topic_completions SET error_message = ? WHERE id IN (1, 3)", (odd,))
    source = Source(path)
    source.poll()
    track = source.profile.tracks[0]
    flt = filter_text_of("group", signature=signature(odd))
    out = tmp_path / "group.jsonl"
    assert export_file(source, track, flt, str(out), path=source.path) == 2
    assert [json.loads(x)["key"] for x in out.read_text().splitlines()] == [1, 3]
    with pytest.raises(FileExistsError):
        export_file(source, track, flt, str(out), path=source.path)
    source.close()
