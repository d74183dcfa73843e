"""The filter language is documented by example in one place (`core.filters.EXAMPLES`): the README's
"Filters" block and the help screen show those examples, and every example is a working filter."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import FIXED_NOW, failures_db

from batchtop.core.backends.keyset import count_matching
from batchtop.core.filtered import Filter, compile_for
from batchtop.core.filters import EXAMPLES, SYNTAX, examples_text
from batchtop.core.source import Source

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_filter_section_holds_exactly_the_examples() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Filters"):text.index("### Groups across files")]
    assert "```text\n" + examples_text() + "\n```" in section


def test_every_example_parses_and_runs_in_sql(tmp_path: Path) -> None:
    source = Source(failures_db(tmp_path / "chunk_01.db", {"rate": 2, "timeout": 2}))
    assert source.poll().error is None
    track = source.profile.tracks[0]
    try:
        for example, _ in EXAMPLES:
            flt = Filter.parse(example)
            assert not flt.empty
            # Columns of the example table: `attempts` is not one of them, so that term is checked apart.
            text = example.replace(" attempts>=3", "")
            sql, params = compile_for(source, track, Filter.parse(text), now=FIXED_NOW, path=source.path)
            assert count_matching(source, track, sql, params, pause=0) >= 0
    finally:
        source.close()


@pytest.mark.anyio
async def test_the_help_screen_shows_every_example_and_the_syntax(in_tmp, make_app, ready) -> None:
    from batchtop.tui.dialogs.help import HelpScreen

    failures_db(in_tmp / "a.db", {"rate": 1})
    app = make_app(".")
    async with app.run_test(size=(120, 80)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = app.screen.query_one("#filter-help").render()
        plain = getattr(shown, "plain", str(shown))
        for example, what in EXAMPLES:
            assert example in plain and what in plain
        for line in SYNTAX:
            assert line in plain
