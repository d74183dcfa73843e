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
_MAGNITUDES: tuple[tuple[float, str], ...] = ((1e17, "ns"), (1e14, "us"), (1e11, "ms"))
#: Smallest number read as an epoch time at all (1973, in seconds): below it a "time" column holds a
#: duration or a counter.
MIN_EPOCH = 1e8
#: Seconds a time may lie ahead of the clock before it is shown as "in the future" (mtime granularity).
FUTURE_SLACK = 2.0


def unit_of(value: float) -> str:
    """The epoch unit of a stored number, by magnitude: 's', 'ms', 'us' or 'ns'."""
    v = abs(value)
    return next((unit for floor, unit in _MAGNITUDES if v >= floor), "s")


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


def number_seconds_sql(expr: str, unit: str = "auto") -> str:
    """SQL turning a numeric epoch `expr` stored in `unit` into seconds (magnitude-tested for 'auto')."""
    if unit != "auto":
        return f"({expr} / {UNITS[unit]!r})"
    cases = " ".join(f"WHEN abs({expr}) >= {floor:.0f} THEN {UNITS[u]!r}" for floor, u in _MAGNITUDES)
    return f"({expr} / CASE {cases} ELSE 1.0 END)"


def seconds_sql(expr: str, unit: str = "auto") -> str:
    """SQL for the epoch seconds of a stored timestamp: text through julianday(), numbers by `unit`.

    Naive text is read as UTC here: use it for durations (differences), not for comparing with the clock.
    """
    return (f"(CASE WHEN typeof({expr}) IN ('integer', 'real') THEN {number_seconds_sql(expr, unit)} "
            f"ELSE (julianday({expr}) - 2440587.5) * 86400.0 END)")


def since_sql(expr: str, cutoff: float, tz: str = "utc", time_format: str = "space", unit: str = "auto",
              newest: object = None) -> str:
    """SQL true where the timestamp `expr` is at or after `cutoff` (epoch seconds): one range an index on
    `expr` answers.

    `newest` is a value the column holds (its MAX): when it is a number the column holds epoch numbers
    (in `unit`, else in the unit its magnitude says), and the cutoff is a number in that unit; in SQLite
    every number sorts below every text, so `< ''` keeps text out. Otherwise stamps compare as text in
    the writer's own format.
    """
    if isinstance(newest, int | float) and not isinstance(newest, bool):
        scale = UNITS[unit_of(newest) if unit == "auto" else unit]
        return f"({expr} >= {cutoff * scale!r} AND {expr} < '')"
    return f"{expr} >= '{format_ts(cutoff, tz, time_format)}'"
