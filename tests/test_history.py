"""Rate, ETA and activity from the history of settled counts, with an injected clock."""

from __future__ import annotations

import pytest

from batchtop.core.history import History

T0 = 1_800_000_000.0


def _run(history: History, points: list[tuple[float, int]]) -> None:
    for t, settled in points:
        history.record(T0 + t, settled)


def test_no_progress_yet_has_no_rate_or_eta() -> None:
    h = History()
    _run(h, [(0, 0), (30, 0), (60, 0)])
    assert h.rate_per_min(T0 + 60) is None
    assert h.eta(T0 + 60, remaining=100) is None


def test_steady_progress_gives_rate_and_eta_range_around_truth() -> None:
    h = History()
    # 10 items settle every 10 s: 60/min.
    _run(h, [(t, t) for t in range(0, 601, 10)])
    now = T0 + 600
    assert h.rate_per_min(now) == pytest.approx(60.0, rel=0.05)
    lo, hi = h.eta(now, remaining=600)
    assert lo <= 600 <= hi  # 600 items at 60/min: ten minutes
    assert hi < 900


def test_only_failures_still_count_as_progress() -> None:
    # settled includes failed: a run where everything fails is moving, not stalled.
    h = History()
    _run(h, [(0, 0), (60, 30), (120, 60)])
    assert h.rate_per_min(T0 + 120) == pytest.approx(30.0, rel=0.01)


def test_counts_going_down_after_a_reset_never_give_a_negative_rate() -> None:
    h = History()
    _run(h, [(0, 100), (60, 160), (70, 10)])  # a reset put 150 items back to pending
    rate = h.rate_per_min(T0 + 70)
    assert rate is not None and rate >= 0
    assert h.resets == 1
    _run(h, [(130, 40)])  # work resumes: counted from the new baseline
    assert h.rate_per_min(T0 + 130) == pytest.approx((60 + 30) * 60 / 130, rel=0.01)


def test_eta_is_zero_when_nothing_remains() -> None:
    h = History()
    _run(h, [(0, 0), (60, 10)])
    assert h.eta(T0 + 60, remaining=0) == (0.0, 0.0)


def test_seed_from_timestamps_gives_a_rate_at_the_first_poll() -> None:
    h = History()
    h.seed([T0 - 300 + i * 3 for i in range(100)], now=T0)
    h.record(T0, 100)
    assert h.rate_per_min(T0) == pytest.approx(20.0, rel=0.05)
    assert sum(h.sparkline(T0, buckets=10, width=60)) == 100


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"total": 0, "remaining": 0}, "waiting"),
        ({"total": 10, "remaining": 0}, "finished"),
        ({"total": 10, "remaining": 5, "last_write": T0 - 5}, "active"),
        ({"total": 10, "remaining": 5, "last_write": T0 - 3600}, "interrupted"),
        ({"total": 10, "remaining": 5, "last_write": T0 - 300, "fresh_running": 2}, "stalled"),
        ({"total": 10, "remaining": 5, "last_write": T0 - 300, "stale": 3}, "interrupted"),
    ],
)
def test_activity_states(kwargs: dict, expected: str) -> None:
    args = {"fresh_running": 0, "stale": 0, "last_write": None} | kwargs
    assert History().activity(T0, **args).state == expected


def test_recent_progress_is_active_and_long_silence_with_work_left_is_not() -> None:
    h = History()
    _run(h, [(t, t // 10) for t in range(0, 301, 10)])
    assert h.activity(T0 + 305, total=100, remaining=70, fresh_running=1, stale=0,
                      last_write=T0 + 300).state == "active"
    later = T0 + 300 + 3 * 3600
    assert h.activity(later, total=100, remaining=70, fresh_running=0, stale=0,
                      last_write=T0 + 300).state == "interrupted"


def test_a_published_state_is_immutable_and_bounded_in_count_and_age() -> None:
    from dataclasses import FrozenInstanceError

    h = History(maxlen=5, horizon=100.0)
    _run(h, [(0, 0), (10, 1), (20, 2)])
    handed_out = h.state
    events = handed_out.events
    _run(h, [(t, t // 10) for t in range(30, 300, 10)])
    assert handed_out.events == events and len(events) == 2  # never changed by later writes
    assert h.state is not handed_out
    assert len(h.state.events) <= 5  # bounded in count ...
    assert all(t >= T0 + 290 - 100.0 for t, _ in h.state.events)  # ... and in age
    with pytest.raises(FrozenInstanceError):
        handed_out.resets = 3  # type: ignore[misc]
    h.seed([T0 + 290.5 - i for i in range(10)], now=T0 + 291)
    assert len(h.state.events) == 5
