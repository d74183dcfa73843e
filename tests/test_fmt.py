"""One wording for each quantity: times, durations, ages, counts, percentages, rates and ETAs (`core.fmt`)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from batchtop.core import fmt

NOW = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC, on a minute of the clock
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "—"), (-5, "0s"), (0, "0s"), (59.4, "59s"),
    (59.9, "1m 00s"),  # rounds into the next minute, never "60s"
    (90, "1m 30s"), (3599.6, "1h 00m"), (7200, "2h 00m"), (48 * 3600, "2d 0h"), (200_000, "2d 7h"),
])
def test_durations(seconds: float | None, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_coarse_durations_move_once_a_minute() -> None:
    assert [fmt.coarse_duration(s) for s in (None, 45, 90, 119, 7500)] == ["—", "45s", "1m", "1m", "2h 05m"]


def test_ages_never_say_0s_ago_for_a_time_ahead_of_the_clock() -> None:
    assert fmt.ago(NOW, NOW - 95) == "1m 35s ago"
    assert fmt.ago(NOW, None) == "never"
    assert fmt.ago(NOW, NOW + 1) == "0s ago"  # within mtime granularity
    ahead = "in 2h 00m (ahead of the clock)"
    assert fmt.ago(NOW, NOW + 7200) == ahead
    assert fmt.fresh_ago(NOW, NOW + 7200) == ahead
    assert fmt.coarse_ago(NOW, NOW + 7200) == ahead
    # The undo dialog's "when" said "(0s ago)" for a future entry before it used `fmt.ago`.
    assert fmt.when(NOW, NOW + 7200).endswith(f"({ahead})")


def test_status_line_ages_are_exact_for_a_minute_then_coarse() -> None:
    assert [fmt.fresh_ago(NOW, NOW - s) for s in (0, 59.9, 60, 61, 7500)] == [
        "0s ago", "1m 00s ago", "1m ago", "1m ago", "2h 05m ago"]
    assert fmt.fresh_ago(NOW, None) == "never"


def test_table_ages_turn_together_on_the_minute() -> None:
    # Half a minute past the minute: whole minutes count up to the minute, so 91 s ago is still "1m".
    assert [fmt.coarse_ago(NOW + 30, NOW + 30 - s) for s in (10, 59.9, 61, 91, 150)] == [
        "<1m", "<1m", "1m", "1m", "2m"]
    assert [fmt.coarse_ago(NOW, NOW - s) for s in (7500, 3 * 86400)] == ["2h 05m", "3d 0h"]
    assert fmt.coarse_ago(NOW, None) == "—"


def test_clock_times_share_one_pattern_at_two_precisions() -> None:
    local = time.localtime(NOW)
    assert fmt.clock(NOW) == time.strftime("%m-%d %H:%M:%S", local)
    assert fmt.clock(NOW, seconds=False) == fmt.clock(NOW)[:-3]
    assert fmt.clock(NOW, year=True) == time.strftime("%Y-%m-%d %H:%M:%S", local)
    assert fmt.clock(None) == "—"


@pytest.mark.parametrize(("n", "text"), [
    (None, "—"), (0, "0"), (-12_345, "-12,345"), (99_999, "99,999"), (100_000, "100.0k"), (123_456, "123.5k"),
    (999_949, "999.9k"), (999_950, "1.00M"), (6_210_000, "6.21M"), (9_995_000, "10.0M"),
    (99_950_000, "100M"), (999_499_999, "999M"), (1_500_000_000, "1.50G"),
])
def test_compact_counts_fit_six_characters(n: int | None, text: str) -> None:
    assert fmt.count(n) == text
    assert len(text) <= 7  # a sign is the only extra character


def test_percentages_never_round_a_little_to_nothing_or_almost_all_to_all() -> None:
    assert [fmt.percent(x) for x in (None, 0, 0.4567, 1)] == ["—", "0.0%", "45.7%", "100.0%"]
    assert fmt.percent(0.4567, 0) == "46%"
    # `batchtop status` said "100.0%" with one item in 5,000 left, and "0.0%" for one failure in 5,000.
    assert [fmt.percent(x) for x in (1 / 5000, 4999 / 5000)] == ["<0.1%", "99.9%"]
    assert [fmt.percent(x, 0) for x in (0.004, 0.996)] == ["<1%", "99%"]


@pytest.mark.parametrize(("per_min", "text"), [
    (None, "—"), (0, "0.00"), (0.004, "<0.01"), (0.4, "0.40"), (8.4, "8.40"), (12.34, "12.3"),
    (1234.5, "1,234"),
])
def test_rates_below_one_a_minute_never_read_as_stopped(per_min: float | None, text: str) -> None:
    assert fmt.rate(per_min) == text
    assert fmt.per_min(per_min) == ("—" if per_min is None else f"{text}/min")


@pytest.mark.parametrize(("bounds", "remaining", "text"), [
    (None, 5, "—"), (None, 0, "done"), ((100, 200), 0, "done"), ((0, 0), None, "done"),
    ((10, 45), 3, "45s"), ((10, 59.9), 3, "1m 00s"), ((600, 620), 9, "10 min"),
    ((2880, 4140), 9, "48–69 min"),  # the totals bar said "48m–1h 09m" beside the table's "48–69 min"
    ((4000, 9000), 9, "1.1–2.5 h"), ((200_000, 300_000), 9, "2.3–3.5 d"),
])
def test_etas_fit_the_eta_column(bounds: tuple[float, float] | None, remaining: int | None, text: str) -> None:
    assert fmt.eta(bounds, remaining) == text
    assert len(text) <= 11


def test_intervals_and_sizes() -> None:
    assert [fmt.interval(s) for s in (0.25, 0.5, 2, 60)] == ["250ms", "0.5s", "2s", "1m 00s"]
    assert [fmt.size(n) for n in (0, 1023, 1536, 5 * 1024**3)] == ["0 bytes", "1023 bytes", "1.5 KB", "5.0 GB"]


#: What a formatter of its own looks like outside `core/fmt.py`.
_FORMATTERS = {
    "an old formatter's name": re.compile(
        r"def (fmt_\w+|human_(duration|age|bytes)|compact|coarse_duration|eta_text|interval_text|when_text"
        r"|_dur|_coarse)\("),
    "an f-string age": re.compile(r"\}\s*ago\b"),
    "an f-string rate": re.compile(r":[,.0-9]*f\}\s*(/min|/s\b|items/min)"),
    "an f-string percentage": re.compile(r":[0-9]*\.[0-9]%\}|f\}%"),
    "a compact count": re.compile(r"/ 1000:\.1f\}k|/ 1e6"),
    "a local display time": re.compile(r"strftime\(\s*f?[\"'](%m-%d|%Y-%m-%d %H)"),
}


def test_no_module_but_fmt_formats_these_quantities() -> None:
    found = []
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "core/fmt.py" or rel.startswith("core/simulator/"):  # the simulator writes DB timestamps
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{rel}:{lineno}: {what}" for what, pattern in _FORMATTERS.items() if pattern.search(line)]
    assert not found, "format through batchtop.core.fmt:\n" + "\n".join(found)
