"""A unicode block sparkline as a Rich renderable (one cell per value, newest on the right)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

BLOCKS = "▁▂▃▄▅▆▇█"


def levels(values: Sequence[float], width: int) -> list[int | None]:
    """The last `width` values scaled to block indices 0..7; None for zero (drawn as a faint baseline)."""
    tail = list(values)[-width:] if width > 0 else []
    peak = max(tail, default=0)
    out: list[int | None] = []
    for v in tail:
        if v <= 0 or peak <= 0:
            out.append(None)
        else:
            # Any non-zero value gets at least the second block: the lowest one is the zero baseline,
            # so a trickle stays visible (also without colour).
            out.append(max(1, min(7, round(7 * v / peak))))
    return out


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
