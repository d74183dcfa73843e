"""Timestamps as the writers store them (UTC or naive local; space or 'T'), and an injectable clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

#: A clock returns epoch seconds; tests and snapshots inject a fixed one.
Clock = Callable[[], float]


def system_clock() -> float:
    """Wall-clock epoch seconds."""
    return time.time()


def parse_ts(value: object, tz: str = "utc") -> float | None:
    """Epoch seconds from a stored timestamp, or None when it is not one.

    Accepts 'YYYY-MM-DD HH:MM:SS[.ffffff]', the same with 'T', a trailing 'Z' or offset, and numbers
    (epoch seconds, or milliseconds when too large to be seconds).
    """
    if value is None or isinstance(value, bytes):
        return None
    if isinstance(value, int | float):
        v = float(value)
        return v / 1000.0 if v > 1e11 else v
    text = str(value).strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_ts(float(text), tz)
        except ValueError:
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc) if tz == "utc" else dt.astimezone()
    return dt.timestamp()


def format_ts(epoch: float, tz: str = "utc", time_format: str = "space") -> str:
    """A timestamp in the writer's own format, so string comparisons in SQL use its index."""
    dt = datetime.fromtimestamp(epoch, tz=timezone.utc)
    if tz != "utc":
        dt = dt.astimezone().replace(tzinfo=None)
    sep = "T" if time_format == "iso" else " "
    return dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S")


def human_duration(seconds: float | None) -> str:
    """90 -> '1m 30s'; 7200 -> '2h 0m'; None -> '—'."""
    if seconds is None:
        return "—"
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
