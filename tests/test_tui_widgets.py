"""The small renderables: what a glance at a bar, a sparkline or a number must tell."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from batchtop.tui.widgets.cells import middle
from batchtop.tui.widgets.keyed_table import same
from batchtop.tui.widgets.progress_bar import GLYPHS, ProgressBar, allocate
from batchtop.tui.widgets.sparkline import Sparkline


def plain(renderable) -> str:
    console = Console(width=60, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    with console.capture() as cap:
        console.print(renderable, end="")
    return cap.get()


def test_one_failure_among_ten_thousand_is_still_visible():
    cells = dict(allocate({"done": 9999, "failed": 1}, 10))
    assert cells == {"done": 9, "failed": 1}
    bar = plain(ProgressBar.of({"done": 9999, "failed": 1, "pending": 0}, width=10))
    assert GLYPHS["failed"][0] in bar and bar.endswith("100%")


def test_states_have_distinct_glyphs_so_the_bar_reads_without_colour():
    glyphs = [g for g, _ in GLYPHS.values()]
    assert len(set(glyphs)) == len(glyphs)
    bar = plain(ProgressBar.of({"done": 4, "failed": 2, "skipped": 2, "pending": 2}, width=10))
    assert bar.startswith("████▓▓▒▒──") and bar.endswith(" 80%")


def test_percent_never_rounds_to_0_or_100_while_work_remains():
    assert ProgressBar.of({"done": 1, "pending": 999}).pct_text() == " <1%"
    assert ProgressBar.of({"done": 999, "pending": 1}).pct_text() == " 99%"


def test_sparkline_scales_to_its_peak_and_shows_a_trickle():
    line = plain(Sparkline((0, 1, 50, 100), width=4))
    assert line == "▁▂▅█" and plain(Sparkline((), width=3)) == "   "


def test_middle_ellipsis_keeps_the_distinguishing_end():
    assert middle("llm_results_20260101_101500.db", 19) == "llm_resul…101500.db"


def test_same_sees_style_changes_that_text_equality_misses():
    assert Text("x", style="red") == Text("x", style="green")
    assert not same(Text("x", style="red"), Text("x", style="green"))
    assert same(ProgressBar.of({"done": 1}), ProgressBar.of({"done": 1}))
