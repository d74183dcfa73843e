"""A segmented progress bar as a Rich renderable: usable in a DataTable cell, a Static or a Rich table.

Each canonical state gets its own glyph *and* colour, so done, failed, skipped, cancelled and running
stay distinguishable on a monochrome terminal too. A state with at least one item always gets at least
one cell: one failure among ten thousand items must still be visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from batchtop.core import fmt

#: Draw order, left to right: settled states first, then work still in flight, then what is left.
ORDER: tuple[str, ...] = ("done", "failed", "skipped", "cancelled", "running", "pending")

#: (glyph, style) of each state. Distinct glyphs keep the bar readable without colour.
GLYPHS: Mapping[str, tuple[str, str]] = {
    "done": ("█", "green"),
    "failed": ("▓", "bold red"),
    "skipped": ("▒", "yellow"),
    "cancelled": ("▚", "magenta"),
    "running": ("▌", "cyan"),
    "pending": ("─", "bright_black"),
}


def allocate(counts: Mapping[str, int], width: int) -> list[tuple[str, int]]:
    """Split `width` cells between the states in `ORDER`, proportionally, largest remainder first.

    Every non-zero state gets at least one cell (when there are enough cells), taken from the largest.
    """
    total = sum(max(0, counts.get(s, 0)) for s in ORDER)
    if total <= 0 or width <= 0:
        return [("pending", max(0, width))]
    exact = {s: max(0, counts.get(s, 0)) * width / total for s in ORDER}
    cells = {s: int(v) for s, v in exact.items()}
    spare = width - sum(cells.values())
    for s in sorted(ORDER, key=lambda s: exact[s] - cells[s], reverse=True)[:spare]:
        cells[s] += 1
    for s in ORDER:
        if counts.get(s, 0) > 0 and cells[s] == 0:
            donor = max(ORDER, key=lambda d: cells[d])
            if cells[donor] > 1:
                cells[donor] -= 1
                cells[s] = 1
    return [(s, cells[s]) for s in ORDER if cells[s]]


@dataclass(frozen=True)
class ProgressBar:
    """A bar of `width` cells followed by the settled percentage (`show_pct`).

    Frozen and comparable, so a table can skip the update when nothing changed.
    """

    counts: tuple[tuple[str, int], ...]
    width: int = 14
    show_pct: bool = True

    @classmethod
    def of(cls, counts: Mapping[str, int], width: int = 14, show_pct: bool = True) -> ProgressBar:
        """Build from a `{state: count}` mapping (unknown states are ignored)."""
        return cls(tuple((s, int(counts.get(s, 0))) for s in ORDER), width, show_pct)

    @property
    def percent(self) -> float:
        """Settled share of the total, 0..100."""
        counts = dict(self.counts)
        total = sum(counts.values())
        settled = sum(counts.get(s, 0) for s in ("done", "failed", "skipped", "cancelled"))
        return 100.0 * settled / total if total else 0.0

    def pct_text(self) -> str:
        """' 61%', '100%', ' <1%', ' 99%' (`fmt.percent`: a few settled items never round to 0 or 100)."""
        return f"{fmt.percent(self.percent / 100, 0):>4}"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        pct_width = 5 if self.show_pct else 0
        width = max(1, min(self.width, options.max_width - pct_width))
        for state, n in allocate(dict(self.counts), width):
            glyph, style = GLYPHS[state]
            yield Segment(glyph * n, Style.parse(style))
        if self.show_pct:
            yield Segment(" " + self.pct_text())

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = self.width + (5 if self.show_pct else 0)
        return Measurement(width, width)
