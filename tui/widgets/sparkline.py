"""A unicode block sparkline as a Rich renderable (one cell per value, newest on the right)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from batchtop.tui.spark_text import BLOCKS, levels


@dataclass(frozen=True)
class Sparkline:
    """The last `width` of `values` (items per bucket), left-padded when there are fewer."""

    values: tuple[int, ...]
    width: int = 12
    style: str = "cyan"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(1, min(self.width, options.max_width))
        marks = levels(self.values, width)
        if len(marks) < width:
            yield Segment(" " * (width - len(marks)))
        bar, base = Style.parse(self.style), Style.parse("bright_black")
        for level in marks:
            yield Segment("▁", base) if level is None else Segment(BLOCKS[level], bar)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)
