"""Sparkline levels as plain text: shared by the Rich widget and the headless commands (no Rich here)."""

from __future__ import annotations

from collections.abc import Sequence

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


def plain(values: Sequence[float], width: int) -> str:
    """The same sparkline as text, for headless output (zero: the lowest block)."""
    marks = levels(values, width)
    return " " * (width - len(marks)) + "".join("▁" if m is None else BLOCKS[m] for m in marks)
