"""Many chunk files in the overview: one combined row per set (summed counts, added rates, one ETA),
opened and closed by key and by mouse, grouped by pattern, directory or a glob, repainted only on change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from factories import topics_db

from batchtop.core.chunks import GroupBy, parse_group_by
from batchtop.tui import cli
from batchtop.tui.screens.overview_groups import GROUP_MARK, is_group_key
from batchtop.tui.screens.overview_rows import split_key
from batchtop.tui.widgets.keyed_table import KeyedTable

pytestmark = pytest.mark.anyio
SIZE = (160, 45)
CHUNKS = 5


def chunk_dir(root: Path) -> list[Path]:
    paths = [topics_db(root / f"results_chunk_{i}.db", items=40 + i, completed=20 + i, failed=2, seed=i)
             for i in range(CHUNKS)]
    topics_db(root / "other.db", items=10, completed=5, failed=1)
    return paths


def table(app) -> KeyedTable:
    return app.screen.query_one(KeyedTable)


def text_of(app, key: str) -> str:
    return "|".join(getattr(c, "plain", str(c)) for c in table(app)._cells[key])


def footer_keys(app) -> set[str]:
    return {b.binding.key for b in app.screen.active_bindings.values()
            if b.binding.show and app.screen.check_action(b.binding.action, ()) is True}


def set_key(app) -> str:
    (key,) = [k for k in table(app).row_keys if is_group_key(k)]
    return key


async def test_a_set_of_chunk_files_is_one_combined_row_that_opens_and_closes(in_tmp, make_app, ready):
    chunk_dir(in_tmp)
    app = make_app(".")
    app.group_by = GroupBy("pattern")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        keys = table(app).row_keys
        assert len(keys) == 2 and keys[1].startswith(GROUP_MARK)  # other.db, then the set (by name)
        row = text_of(app, keys[1])
        statuses = [v.status for p, v in app.views.items() if "results_chunk_" in p]
        settled = sum(t.settled for s in statuses for t in s.tracks)
        total = sum(t.total for s in statuses for t in s.tracks)
        failed = sum(t.counts["failed"] for s in statuses for t in s.tracks)
        assert "▸ results_chunk_*.db|5 files|" in row and f"{settled}/{total}" in row and f"|{failed}|" in row
        assert "grouped by pattern" in str(table(app).border_subtitle)
        assert "space" in footer_keys(app) and "g" in footer_keys(app)
        # space opens the set: its files listed under it, indented, in name order
        await pilot.press("down", "space")
        keys = table(app).row_keys
        assert len(keys) == 2 + CHUNKS and is_group_key(keys[1])
        files = [Path(split_key(k)[0]).name for k in keys[2:]]
        assert files == [f"results_chunk_{i}.db" for i in range(CHUNKS)]
        assert text_of(app, keys[2]).startswith("  results_chunk_0.db")
        assert "▾ results_chunk_*.db" in text_of(app, keys[1])
        # on a file of the open set, space closes its set (the cursor back on the set)
        await pilot.press("down", "down", "space")
        assert len(table(app).row_keys) == 2 and table(app).cursor_key == keys[1]
        # enter on the set's row opens it too
        await pilot.press("enter")
        assert len(table(app).row_keys) == 2 + CHUNKS


async def test_a_click_on_a_set_opens_it(in_tmp, make_app, ready):
    chunk_dir(in_tmp)
    app = make_app(".")
    app.group_by = GroupBy("pattern")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        t = table(app)
        assert t.cursor_row == 0  # on other.db; the set is the second row
        await pilot.click(KeyedTable, offset=(10, 3))  # border, header, other.db, the set
        await pilot.pause(0.2)
        assert t.cursor_key == set_key(app)
        assert len(t.row_keys) == 2 + CHUNKS


async def test_g_cycles_pattern_dir_and_none_and_space_hides_when_not_grouped(in_tmp, make_app, ready):
    chunk_dir(in_tmp)
    (in_tmp / "sub").mkdir()
    topics_db(in_tmp / "sub" / "x.db")
    topics_db(in_tmp / "sub" / "y.db")
    app = make_app(".", "sub")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert not any(is_group_key(k) for k in table(app).row_keys)
        assert "space" not in footer_keys(app) and "g" in footer_keys(app)
        await pilot.press("g")  # pattern: the chunk files; x.db and y.db share no pattern
        sets = [text_of(app, k) for k in table(app).row_keys if is_group_key(k)]
        assert len(sets) == 1 and "results_chunk_*.db|5 files" in sets[0]
        await pilot.press("g")  # dir: the top directory's six files, and sub/'s two
        sets = sorted("|".join(text_of(app, k).split("|")[:2]) for k in table(app).row_keys if is_group_key(k))
        assert len(sets) == 2 and any("6 files" in s for s in sets) and any("sub/|2 files" in s for s in sets)
        await pilot.press("g")
        assert not any(is_group_key(k) for k in table(app).row_keys)
        assert "space" not in footer_keys(app)


async def test_a_glob_from_the_command_line_and_a_filter(in_tmp, make_app, ready):
    chunk_dir(in_tmp)
    app = make_app(".")
    app.group_by = parse_group_by(["pattern:results_chunk_[0-2].db"])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        key = set_key(app)
        assert "[0-2].db|3 files|" in text_of(app, key)  # brackets shown literally (a long name is cut)
        assert len(table(app).row_keys) == 1 + 2 + 1
        await pilot.press("slash", *"chunk_1", "enter")  # one file left of the set: a row of its own
        assert [Path(split_key(k)[0]).name for k in table(app).row_keys] == ["results_chunk_1.db"]


async def test_only_the_set_of_a_changed_file_is_repainted(in_tmp, make_app, ready, until):
    paths = chunk_dir(in_tmp)
    app = make_app(".", poll_interval=0.2)
    app.group_by = GroupBy("pattern")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        screen = app.screen
        t = table(app)
        key = set_key(app)
        before = text_of(app, key)
        others = {k: t._cells[k] for k in t.row_keys if k != key}
        screen.tick()  # a tick with nothing new repaints no cell
        assert t.last_updates == 0
        with sqlite3.connect(paths[2]) as conn:
            conn.execute("UPDATE topic_completions SET status = 'completed' WHERE status = 'pending'")
        await until(pilot, lambda: text_of(app, key) != before)
        assert all(a is b for k, cells in others.items() for a, b in zip(t._cells[k], cells))  # untouched
        assert 0 < t.last_updates <= 6


def test_group_by_values_and_the_flag() -> None:
    assert parse_group_by([]) == GroupBy()
    assert parse_group_by(["dir"]) == GroupBy("dir")
    assert parse_group_by(["pattern:a_*.db", "pattern:b_*.db"]) == GroupBy("none", ("a_*.db", "b_*.db"))
    assert GroupBy("pattern", ("a_*.db",)).label() == "a_*.db + pattern"
    for bad in ("chunks", "pattern:", "pattern:runs/*.db"):
        with pytest.raises(ValueError):
            parse_group_by([bad])
    assert cli.main(["open", ".", "--group-by", "sideways"]) == 2


async def test_hostile_file_names_make_a_set_shown_literally(in_tmp, make_app, ready):
    for i in range(3):
        topics_db(in_tmp / f"[@click=app.quit]\x1b]52;c;QQ==\x07x [b]y[i] {i}.db", items=20, completed=5)
    app = make_app(".")
    app.group_by = GroupBy("pattern")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        key = set_key(app)
        row = text_of(app, key)
        assert row.startswith("▸ [@click=a") and "]y[i] *.db" in row and "\x1b" not in row and "\x07" not in row
        await pilot.press("space")
        assert app.is_running and len(table(app).row_keys) == 4
        detail = str(app.screen.query_one("#detail").render())
        assert "\x1b" not in detail and "3 files" in detail
