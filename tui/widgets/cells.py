"""Table cells and one-line summaries: styles and alignment around the words of `batchtop.core.fmt`
(counts, rates, ages, ETAs), and paths and names.

Everything returns `rich.text.Text` built from plain strings: DB-derived text only enters through
`batchtop.tui.text.safe`, so nothing here is ever parsed as markup.
"""

from __future__ import annotations

import os

from rich.text import Text

from batchtop.core import fmt
from batchtop.tui.text import safe

DIM = "bright_black"


def number(n: int | None, style: str = "", zero_style: str = DIM) -> Text:
    """A right-aligned compact count (`fmt.count`); zero is dimmed so the non-zero ones stand out."""
    return Text(fmt.count(n), style=style if n else zero_style, justify="right")


def rate(per_min: float | None) -> Text:
    """Items per minute without the unit (the column header says it): '12.3', '0.40', '1,234'."""
    return Text(fmt.rate(per_min), style="" if per_min else DIM, justify="right")


def eta(bounds: tuple[float, float] | None, remaining: int) -> Text:
    """An ETA range cell (`fmt.eta`): 'done' in blue, unknown dimmed."""
    text = fmt.eta(bounds, remaining)
    return Text(text, style="blue" if text == "done" else DIM if bounds is None else "")


def age(now: float, then: float | None, suffix: str = "") -> Text:
    """How long ago: '4s', '3m 10s' (dim when over an hour, so fresh changes stand out); a time ahead of
    the clock says so, in yellow, never '0s'."""
    if then is None:
        return Text(fmt.DASH, style=DIM, justify="right")
    if fmt.is_future(now, then):
        return Text(fmt.ahead(now, then), style="yellow", justify="right")
    return Text(fmt.ago(now, then, suffix), style=DIM if now - then > 3600 else "", justify="right")


def coarse_age(now: float, then: float | None) -> Text:
    """How long ago, for a cell of a table that is aged by the clock: '<1m', '7m', '2h 05m' (`fmt.coarse_ago`).

    A table repaints every visible row when one cell changes (about a fifth of a core at 1 Hz), so ages
    in tables change at most once a minute and all together. Exact seconds are on the status line and the
    detail panels.
    """
    if then is None:
        return Text(fmt.DASH, style=DIM, justify="right")
    if fmt.is_future(now, then):
        return Text(fmt.ahead(now, then), style="yellow", justify="right")
    return Text(fmt.coarse_ago(now, then), style=DIM if now - then > 3600 else "", justify="right")


def is_young(now: float, then: float | None) -> bool:
    """Whether `coarse_age` of `then` turns from '<1m' to '1m' about now (within two one-second ticks);
    otherwise its text changes only at the next minute of the clock."""
    return then is not None and fmt.COARSE_AFTER <= now - then < fmt.COARSE_AFTER + 2


def middle(text: str, limit: int) -> str:
    """Shorten with an ellipsis in the middle: file names differ at their end (`..._101500.db`)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def name_cell(name: str, limit: int = 22, style: str = "bold") -> Text:
    """A source's file name, sanitised, middle-ellipsised."""
    plain = safe(name).plain
    return Text(middle(plain, limit), style=style, no_wrap=True)


def display_path(path: str) -> str:
    """The path relative to the working directory when below it, else with `~` for the home directory.

    Shorter, and stable across machines for screenshots. The result is *not* sanitised: pass it to safe().
    """
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    if cwd and (path == cwd or path.startswith(cwd.rstrip(os.sep) + os.sep)):
        return os.path.relpath(path, cwd)
    home = os.path.expanduser("~")
    if home not in ("", "/") and path.startswith(home.rstrip(os.sep) + os.sep):
        return "~" + path[len(home):]
    return path


def path_text(path: str, style: str = "bright_black") -> Text:
    """A sanitised display path."""
    return safe(display_path(path), style=style)


def joined(*parts: Text | str, sep: str = "  ·  ", sep_style: str = "bright_black") -> Text:
    """Join pieces of Text with a dim separator (strings are trusted literals of ours, never DB text)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    first = True
    for part in parts:
        if not part:
            continue
        if not first:
            out.append(sep, style=sep_style)
        out.append_text(part if isinstance(part, Text) else Text(part))
        first = False
    return out
