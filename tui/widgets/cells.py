"""Small formatting helpers for table cells and one-line summaries (numbers, ages, paths, names).

Everything returns `rich.text.Text` built from plain strings: DB-derived text only enters through
`batchtop.tui.text.safe`, so nothing here is ever parsed as markup.
"""

from __future__ import annotations

import os

from rich.text import Text

from batchtop.core.timeutil import FUTURE_SLACK, human_age, human_duration
from batchtop.tui.text import safe

DASH = "—"


def compact(n: int) -> str:
    """12,345 below 100,000; then 123.4k, 6.21M, 10.0M, 123M (at most 6 characters: columns stay
    narrow on 10M-row tables)."""
    if abs(n) < 100_000:
        return f"{n:,}"
    if abs(n) < 999_950:
        return f"{n / 1000:.1f}k"
    # Thresholds just below 10 and 100 so that rounding never prints "10.00M" or "100.0M".
    scale, unit = (1e9, "G") if abs(n) >= 999_500_000 else (1e6, "M")
    v = n / scale
    return f"{v:.2f}{unit}" if abs(v) < 9.995 else f"{v:.1f}{unit}" if abs(v) < 99.95 else f"{v:.0f}{unit}"


def number(n: int | None, style: str = "", zero_style: str = "bright_black") -> Text:
    """A right-aligned count; zero is dimmed so the non-zero ones stand out."""
    if n is None:
        return Text(DASH, style=zero_style, justify="right")
    return Text(compact(n), style=style if n else zero_style, justify="right")


def rate(per_min: float | None) -> Text:
    """Items per minute without the unit (the column header says it): '12.3', '0.40', '1,234'."""
    if per_min is None:
        return Text(DASH, style="bright_black", justify="right")
    if per_min >= 1000:
        text = f"{per_min:,.0f}"
    elif per_min >= 10:
        text = f"{per_min:.1f}"
    else:
        text = f"{per_min:.2f}"
    return Text(text, style="" if per_min else "bright_black", justify="right")


def age(now: float, then: float | None, suffix: str = "") -> Text:
    """How long ago: '4s', '3m 10s' (dim when over an hour, so fresh changes stand out); a time ahead of
    the clock says so, in yellow (clock skew, or a time zone or epoch unit misread), never '0s'."""
    if then is None:
        return Text(DASH, style="bright_black", justify="right")
    seconds = now - then
    if -seconds > FUTURE_SLACK:
        return Text(human_age(now, then), style="yellow", justify="right")
    return Text(human_duration(max(0.0, seconds)) + suffix, style="bright_black" if seconds > 3600 else "",
                justify="right")


#: Below this age a table shows "<1m"; above it, whole minutes counted on the minute of the clock.
COARSE_AFTER = 60.0


def coarse_age(now: float, then: float | None) -> Text:
    """How long ago, for a cell of a table that is aged by the clock: '<1m', '7m', '2h 05m'.

    A table repaints every visible row when one cell changes (about a fifth of a core at 1 Hz), so ages
    in tables change at most once a minute and all together: minutes are counted up to the start of the
    current minute of `now`. Exact seconds are on the status line and the detail panels.
    """
    if then is None:
        return Text(DASH, style="bright_black", justify="right")
    seconds = now - then
    if -seconds > FUTURE_SLACK:
        return Text(human_age(now, then), style="yellow", justify="right")
    if seconds < COARSE_AFTER:
        return Text("<1m", justify="right")
    minutes = max(1, int((now - now % 60 - then) // 60))
    if minutes < 60:
        text = f"{minutes}m"
    elif minutes < 48 * 60:
        text = f"{minutes // 60}h {minutes % 60:02d}m"
    else:
        text = f"{minutes // 1440}d {minutes % 1440 // 60}h"
    return Text(text, style="bright_black" if seconds > 3600 else "", justify="right")


def is_young(now: float, then: float | None) -> bool:
    """Whether `coarse_age` of `then` turns from '<1m' to '1m' about now (within two one-second ticks);
    otherwise its text changes only at the next minute of the clock."""
    return then is not None and COARSE_AFTER <= now - then < COARSE_AFTER + 2


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
