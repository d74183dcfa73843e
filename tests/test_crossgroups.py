"""Error groups across chunk files: one group per cause over every file, `failures --group`, `--where`, and
a reset of a cross-file group (or a filter) journaled and undoable per file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from actions_support import rows
from factories import FAMILY_SIGNATURES, FIXED_NOW, failures_db

from batchtop.core.crossgroups import cross_groups, merge
from batchtop.core.groups import ErrorGroup
from batchtop.core.monitor import Monitor
from batchtop.tui import actions_cli, cli, undo_cli


@pytest.fixture(autouse=True)
def journal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state" / "journal.jsonl"
    monkeypatch.setenv("BATCHTOP_JOURNAL", str(path))
    return path


@pytest.fixture
def chunks(tmp_path: Path) -> list[Path]:
    """Three chunk files; `rate` in all three, `timeout` in two, `missing` in one."""
    d = tmp_path / "run"
    d.mkdir()
    return [
        failures_db(d / "results_chunk_1.db", {"rate": 4, "timeout": 2}),
        failures_db(d / "results_chunk_2.db", {"rate": 3, "missing": 5}),
        failures_db(d / "results_chunk_3.db", {"rate": 1, "timeout": 1}),
    ]


def failed(path: Path) -> int:
    return rows(path, "SELECT COUNT(*) FROM topic_completions WHERE status = 'failed'")[0][0]


def test_same_cause_in_many_files_is_one_group(chunks: list[Path]) -> None:
    monitor = Monitor([str(chunks[0].parent)])
    monitor.rescan()
    monitor.poll_all()
    pairs = [(s, t) for s in monitor.snapshot_sources() for t in s.profile.tracks]
    report = cross_groups(pairs)
    monitor.close()
    by_sig = {g.signature: g for g in report.groups}
    assert report.failed == 16 and report.distinct == 3 and not report.errors
    rate = by_sig[FAMILY_SIGNATURES["rate"]]
    assert rate.count == 8 and rate.share == pytest.approx(0.5)
    assert [(Path(o.path).name, o.count) for o in rate.occurrences] == [
        ("results_chunk_1.db", 4),
        ("results_chunk_2.db", 3),
        ("results_chunk_3.db", 1),
    ]
    assert rate.sample_path == str(chunks[0]) and "RateLimitError: 429" in rate.sample_error
    assert by_sig[FAMILY_SIGNATURES["timeout"]].count == 3
    assert len(by_sig[FAMILY_SIGNATURES["missing"]].sources) == 1
    assert [g.signature for g in report.groups][0] == FAMILY_SIGNATURES["rate"]  # largest first
    assert rate.first_seen <= rate.last_seen


def test_merge_keeps_the_earliest_first_and_latest_last_seen() -> None:
    def g(n: int, first: float, last: float) -> ErrorGroup:
        return ErrorGroup("E", n, 0.0, first, last, n, "lab", "E 1")

    report = merge([("a.db", "t", [g(2, 50.0, 90.0)]), ("b.db", "t", [g(5, 10.0, 60.0)])])
    (group,) = report.groups
    assert (group.count, group.first_seen, group.last_seen, group.sample_path) == (7, 10.0, 90.0, "b.db")


def test_failures_group_json_has_the_documented_shape(chunks: list[Path], capsys) -> None:
    code = cli.main(["failures", str(chunks[0].parent), "--group", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    first = doc["groups"][0]
    assert set(first) >= {"signature", "count", "sources", "first_seen", "last_seen", "sample"}
    assert first["signature"] == FAMILY_SIGNATURES["rate"] and first["count"] == 8
    assert [Path(s["path"]).name for s in first["sources"]] == [p.name for p in chunks]
    assert sum(g["count"] for g in doc["groups"]) == 16


def test_failures_group_text_lists_causes_with_their_files(chunks: list[Path], capsys) -> None:
    code = cli.main(["failures", *map(str, chunks), "--group"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0] == "16 failures, 3 error signatures"
    assert "over time" in out[1] and "->" in out[1]  # the sparklines' time axis
    assert FAMILY_SIGNATURES["rate"] in out[2] and "3 file(s)" in out[2] and "50.0%" in out[2]
    assert any(c in out[2] for c in "▂▃▄▅▆▇█")  # its failures over time


def test_a_group_over_files_keeps_its_failures_over_time(tmp_path: Path, capsys) -> None:
    """One cause failing early in one file and late in another: the merged series has both ends."""
    d = tmp_path / "run"
    d.mkdir()
    failures_db(d / "results_chunk_1.db", {"rate": 6}, now=FIXED_NOW - 6 * 3600)
    failures_db(d / "results_chunk_2.db", {"rate": 3, "timeout": 2}, now=FIXED_NOW)
    assert cli.main(["failures", str(d), "--group", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rate = next(g for g in doc["groups"] if g["signature"] == FAMILY_SIGNATURES["rate"])
    timeout = next(g for g in doc["groups"] if g["signature"] == FAMILY_SIGNATURES["timeout"])
    axis = doc["rate_axis"]
    assert axis["end"] - axis["start"] >= 6 * 3600 and len(rate["rate"]) == axis["cells"] == 24
    assert sum(rate["rate"]) == 9 and sum(timeout["rate"]) == 2
    assert rate["rate"][0] > 0 and rate["rate"][-1] > 0 and sum(rate["rate"][8:16]) == 0
    assert timeout["rate"][0] == 0 and timeout["rate"][-1] == 2


def test_failures_where_lists_only_matching_failures(chunks: list[Path], capsys) -> None:
    code = cli.main(["failures", str(chunks[0].parent), "--where", "timeout OR missing", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    got = {Path(s["path"]).name: sum(len(t["items"]) for t in s["tracks"]) for s in doc["sources"]}
    assert got == {"results_chunk_1.db": 2, "results_chunk_2.db": 5, "results_chunk_3.db": 1}
    items = [i for s in doc["sources"] for t in s["tracks"] for i in t["items"]]
    assert all(i["signature"] in (FAMILY_SIGNATURES["timeout"], FAMILY_SIGNATURES["missing"]) for i in items)
    # The done rows keep a stale error text mentioning a "Connection reset": never failures.
    code = cli.main(["failures", str(chunks[0].parent), "--where", "reset", "--json"])
    assert code == 0 and all(
        not t["items"] for s in json.loads(capsys.readouterr().out)["sources"] for t in s["tracks"]
    )


def test_bad_where_on_failures_is_a_usage_error(chunks: list[Path], capsys) -> None:
    code = cli.main(["failures", str(chunks[0]), "--where", "state:nope"])
    err = capsys.readouterr().err
    assert code == 2 and "no state 'nope'" in err


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="batchtop")
    sub = parser.add_subparsers(dest="command")
    actions_cli.register(sub)
    undo_cli.register(sub)
    args = parser.parse_args(list(argv))
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_reset_of_a_cross_file_group_is_journaled_and_undone_per_file(chunks: list[Path], capsys) -> None:
    sig = FAMILY_SIGNATURES["rate"]
    code, out, _ = run(capsys, "reset", str(chunks[0].parent), "--group", sig, "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["rows"] == 8
    code, out, _ = run(capsys, "reset", str(chunks[0].parent), "--group", sig, "--yes")
    assert code == 0
    assert [failed(p) for p in chunks] == [2, 5, 1]  # only the rate-limit failures, in every file
    entries = json.loads(run(capsys, "journal", "--json")[1])["entries"]
    assert sorted((Path(e["db"]).name, e["affected"]) for e in entries) == [
        ("results_chunk_1.db", 4),
        ("results_chunk_2.db", 3),
        ("results_chunk_3.db", 1),
    ]
    # Each file's write is its own action: undo one file, the others stay reset.
    mid = next(e for e in entries if Path(e["db"]).name == "results_chunk_2.db")
    code, out, _ = run(capsys, "undo", mid["id"], "--yes")
    assert code == 0
    assert [failed(p) for p in chunks] == [2, 8, 1]


def test_reset_by_filter_across_files(chunks: list[Path], capsys) -> None:
    code, out, _ = run(
        capsys, "reset", str(chunks[0].parent), "--where", "timeout source:results_chunk_1", "--yes", "--json"
    )
    assert code == 0
    assert [failed(p) for p in chunks] == [4, 8, 2]
    code, out, err = run(capsys, "reset", str(chunks[0].parent), "--where", "error:(", "--yes")
    assert code == 2 and "bad filter" in err
    assert [failed(p) for p in chunks] == [4, 8, 2]
