"""The one place that turns times, durations, ages, counts, percentages, rates, ETAs and sizes into text.

Plain strings only (no Rich, no Textual): the CLI, JSON-side notes in `core` and every screen use the same
words for the same quantity. `tui/widgets/cells.py` only adds styles and alignment to these strings.
"""

from __future__ import annotations

import time

from batchtop.core.timeutil import FUTURE_SLACK

#: Shown for an unknown value.
DASH = "—"
#: Below this age `coarse_ago` says "<1m"; from it on, whole minutes.
COARSE_AFTER = 60.0


def duration(seconds: float | None) -> str:
    """90 -> '1m 30s'; 59.9 -> '1m 00s'; 7200 -> '2h 00m'; 200000 -> '2d 7h'; None -> '—'; negative -> '0s'."""
    if seconds is None:
        return DASH
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h}h"


def coarse_duration(seconds: float | None) -> str:
    """Like `duration`, but whole minutes from one minute on (90 -> '1m'; 7500 -> '2h 05m'): a text that
    ages on screen changes once a minute, not every second (an idle screen repaints nothing)."""
    if seconds is not None and 60 <= seconds < 3600:
        return f"{int(seconds // 60)}m"
    return duration(seconds)


def interval(seconds: float) -> str:
    """A poll interval: '250ms', '0.5s', '2s', '1m 00s' (short intervals keep their precision)."""
    if seconds < 0.5:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:g}s" if seconds < 60 else duration(seconds)


def is_future(now: float, then: float) -> bool:
    """Whether `then` lies ahead of the clock by more than the mtime granularity."""
    return then - now > FUTURE_SLACK


def ahead(now: float, then: float) -> str:
    """'in 2h 00m (ahead of the clock)': clock skew, a time zone misread, or an epoch unit misread."""
    return f"in {duration(then - now)} (ahead of the clock)"


def ago(now: float, then: float | None, suffix: str = " ago") -> str:
    """'4s ago', '3m 10s ago', 'never'; a time ahead of the clock says so (never '0s ago')."""
    if then is None:
        return "never"
    if is_future(now, then):
        return ahead(now, then)
    return f"{duration(now - then)}{suffix}"


def coarse_ago(now: float, then: float | None) -> str:
    """How long ago, for a table aged by the clock: '<1m', '7m', '2h 05m', '3d 4h', '—'.

    Minutes are counted up to the start of the current minute of `now`, so every age in a table turns
    at the same moment, once a minute. A time ahead of the clock says so.
    """
    if then is None:
        return DASH
    if is_future(now, then):
        return ahead(now, then)
    if now - then < COARSE_AFTER:
        return "<1m"
    minutes = max(1, int((now - now % 60 - then) // 60))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes // 1440}d {minutes % 1440 // 60}h"


def fresh_ago(now: float, then: float | None) -> str:
    """'12s ago' under a minute, then whole minutes on the clock's minute ('7m ago', `coarse_ago`): a line
    that ages on screen repaints once a minute once the change is old."""
    if then is None or is_future(now, then) or now - then < COARSE_AFTER:
        return ago(now, then)
    return f"{coarse_ago(now, then)} ago"


def clock(epoch: float | None, seconds: bool = True, year: bool = False) -> str:
    """A local time: '01-01 11:58:00', '01-01 11:58' (`seconds=False`), '2026-01-01 11:58:00' (`year`)."""
    if epoch is None:
        return DASH
    pattern = ("%Y-%m-%d " if year else "%m-%d ") + ("%H:%M:%S" if seconds else "%H:%M")
    return time.strftime(pattern, time.localtime(epoch))


def when(now: float, then: float) -> str:
    """'2026-01-01 11:58:00 (2m 00s ago)' in local time."""
    return f"{clock(then, year=True)} ({ago(now, then)})"


def count(n: int | None) -> str:
    """12,345 below 100,000; then 123.4k, 6.21M, 10.0M, 123M, 1.50G (at most 6 characters: columns stay
    narrow on 10M-row tables); None -> '—'. Where one commit must show, write the exact f'{n:,}'."""
    if n is None:
        return DASH
    if abs(n) < 100_000:
        return f"{n:,}"
    if abs(n) < 999_950:
        return f"{n / 1000:.1f}k"
    # Thresholds just below 10 and 100 so that rounding never prints "10.00M" or "100.0M".
    scale, unit = (1e9, "G") if abs(n) >= 999_500_000 else (1e6, "M")
    v = n / scale
    return f"{v:.2f}{unit}" if abs(v) < 9.995 else f"{v:.1f}{unit}" if abs(v) < 99.95 else f"{v:.0f}{unit}"


def percent(fraction: float | None, digits: int = 1) -> str:
    """0.4567 -> '45.7%' ('46%' with `digits=0`); None -> '—'.

    Never rounds a little to nothing or almost all to all: 0.0004 -> '<0.1%', 0.9996 -> '99.9%'
    (one failure in a million still shows; a run with one item left is not '100%').
    """
    if fraction is None:
        return DASH
    step = 10.0 ** -(digits + 2)
    if 0 < fraction < step:
        return f"<{step:.{digits}%}"
    if 1 - step < fraction < 1:
        return f"{1 - step:.{digits}%}"
    return f"{fraction:.{digits}%}"


def rate(per_min: float | None) -> str:
    """Items per minute without the unit: '1,234', '12.3', '0.40', '<0.01' (a slow job
    never reads as stopped), '0.00' (stopped), '—'."""
    if per_min is None:
        return DASH
    if per_min >= 1000:
        return f"{per_min:,.0f}"
    if per_min >= 10:
        return f"{per_min:.1f}"
    return "<0.01" if 0 < per_min < 0.005 else f"{per_min:.2f}"


def per_min(rate_per_min: float | None) -> str:
    """'12.3/min', '0.40/min', '—'."""
    return DASH if rate_per_min is None else f"{rate(rate_per_min)}/min"


def eta(bounds: tuple[float, float] | None, remaining: int | None = None) -> str:
    """An ETA range to the precision it deserves: '45s', '12–18 min', '1.1–1.7 h', '2.0–3.5 d', 'done', '—'.

    Narrow enough for an 11-character column. `remaining=0` (or an upper bound of 0) is 'done'.
    """
    if remaining == 0:
        return "done"
    if bounds is None:
        return DASH
    lo, hi = bounds
    if hi <= 0:
        return "done"
    if hi < 90:
        return duration(hi)
    if hi < 5400:
        a, b = max(1, round(lo / 60)), max(1, round(hi / 60))
        return f"{a} min" if a == b else f"{a}–{b} min"
    if hi < 172800:
        return f"{lo / 3600:.1f}–{hi / 3600:.1f} h"
    return f"{lo / 86400:.1f}–{hi / 86400:.1f} d"


def size(n: int) -> str:
    """1536 -> '1.5 KB'; 12 -> '12 bytes'."""
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} bytes"
