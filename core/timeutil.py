"""Timestamps as the writers store them (UTC or naive local; space or 'T'; epoch s, ms, µs or ns), and an
injectable clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

#: A clock returns epoch seconds; tests and snapshots inject a fixed one.
Clock = Callable[[], float]


def system_clock() -> float:
    """Wall-clock epoch seconds."""
    return time.time()


#: Epoch units a writer may store numbers in, and how many of each make a second.
UNITS: dict[str, float] = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
#: What a profile's `time_unit` may say ("auto": by magnitude, see `unit_of`).
TIME_UNITS: tuple[str, ...] = ("auto", *UNITS)
#: Smallest magnitude read as each unit by `unit_of`: epoch seconds stay below 1e11 until the year 5138,
#: and today's milliseconds (1.7e12), microseconds (1.7e15) and nanoseconds (1.7e18) are far apart.
MAGNITUDES: tuple[tuple[float, str], ...] = ((1e17, "ns"), (1e14, "us"), (1e11, "ms"))
#: Smallest number read as an epoch time at all (1973, in seconds): below it a "time" column holds a
#: duration or a counter.
MIN_EPOCH = 1e8
#: Seconds a time may lie ahead of the clock before it is shown as "in the future" (mtime granularity).
FUTURE_SLACK = 2.0


def unit_of(value: float) -> str:
    """The epoch unit of a stored number, by magnitude: 's', 'ms', 'us' or 'ns'."""
    v = abs(value)
    return next((unit for floor, unit in MAGNITUDES if v >= floor), "s")


def epoch_seconds(value: float, unit: str = "auto") -> float:
    """Epoch seconds from a number stored in `unit` ('auto': by magnitude)."""
    return value / UNITS[unit_of(value) if unit == "auto" else unit]


def parse_ts(value: object, tz: str = "utc", unit: str = "auto") -> float | None:
    """Epoch seconds from a stored timestamp, or None when it is not one.

    Accepts 'YYYY-MM-DD HH:MM:SS[.ffffff]', the same with 'T', a trailing 'Z' or offset, and epoch numbers
    (or numeric text) in `unit`: 's', 'ms', 'us', 'ns', or 'auto' to tell them apart by magnitude
    (litequeue stores `time.time_ns()`, JavaScript writers milliseconds).
    """
    if value is None or isinstance(value, bytes):
        return None
    if isinstance(value, int | float):
        return epoch_seconds(float(value), unit)
    text = str(value).strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_ts(float(text), tz, unit)
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


