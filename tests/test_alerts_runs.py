"""Alerts against simulated runs on an injected clock: a stall is told exactly once (then de-duplicated and
rate-limited), and a new cause of failure appearing mid-run is told exactly once."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from batchtop.core.alerts import Alerts, Throttle
from batchtop.core.groups import cache_for
from batchtop.core.monitor import Monitor
from batchtop.core.simulator import Simulation


class Clock:
    """The one clock of the run, the monitor and the alerts; starts at the wall time (file times are real)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def poll(monitor: Monitor, clock: Clock, alerts: Alerts, advance: float, with_signatures: bool = False):
    """Move the clock, poll, and return the events told now (signatures grouped as the app does)."""
    clock.now += advance
    monitor.poll_all()
    statuses = monitor.statuses()
    sigs = None
    if with_signatures:
        sigs = {}
        for source in monitor.sources.values():
            for track in source.profile.tracks:
                report = cache_for(source, track).refresh(source, pause=0)
                sigs[(source.path, track.name)] = [g.signature for g in report.groups]
    return alerts.update(statuses, clock.now, sigs)


def test_a_stall_is_told_once_then_deduplicated_and_rate_limited(tmp_path: Path) -> None:
    clock = Clock()
    sims = [Simulation("topics", tmp_path / d, 400, seed=i, clock=clock, fail_rate=0.0, workers=1)
            for i, d in enumerate(("a", "b"))]
    monitor = Monitor([str(tmp_path / "a"), str(tmp_path / "b")], clock=clock)
    monitor.rescan()
    alerts = Alerts(kinds=["stalled"], throttle=Throttle(dedupe=900.0, gap=30.0, burst=5))
    told = []

    def run_for(steps: int, stalled: set[int] = frozenset()) -> None:
        for _ in range(steps):
            for i, sim in enumerate(sims):
                if i not in stalled:
                    sim.step()
            told.extend(poll(monitor, clock, alerts, 2.0))

    try:
        run_for(15)  # both active
        assert told == [] and {t.activity.state for s in monitor.statuses() for t in s.tracks} == {"active"}
        a, b = (str(sim.path) for sim in sims)
        # both stall at once: a is told; b, a second stall within 30 s, is held back (and logged)
        run_for(60, stalled={0, 1})
        assert {s.tracks[0].activity.state for s in monitor.statuses()} == {"stalled"}
        assert [(e.kind, e.path) for e in told] == [("stalled", a)]  # exactly one
        assert "stalled: no progress while work remains" in told[0].message
        assert [(e.path, e.notified) for e in alerts.log.events] == [(a, True), (b, False)]
        # both resume, then a stalls again within 15 minutes: the same event, logged but not told again
        run_for(5)
        run_for(60, stalled={0})
        assert {s.path: s.tracks[0].activity.state for s in monitor.statuses()} == {a: "stalled", b: "active"}
        assert len(told) == 1
        assert [(e.path, e.notified) for e in alerts.log.events][2:] == [(a, False)]
        # b stalls later, past the gap: told (it was never told before); a, still stalled, says nothing
        run_for(60, stalled={0, 1})
        assert [e.path for e in told] == [a, b]
        assert len(alerts.log.events) == 4
    finally:
        monitor.close()
        for sim in sims:
            sim.close()


def test_a_new_cause_of_failure_mid_run_is_told_exactly_once(tmp_path: Path) -> None:
    clock = Clock()
    sim = Simulation("topics", tmp_path, 600, seed=3, clock=clock, fail_rate=0.4, families={"timeout": 1.0},
                     workers=1)
    for _ in range(20):  # failing before batchtop is opened: what it finds is the baseline
        sim.step()
        clock.now += 2.0
    monitor = Monitor([str(tmp_path)], clock=clock)
    monitor.rescan()
    alerts = Alerts(kinds=["new-signature"], throttle=Throttle(gap=0.0))
    told = []
    try:
        for _ in range(40):
            sim.step()
            told.extend(poll(monitor, clock, alerts, 2.0, with_signatures=True))
        assert told == []  # the timeouts are the baseline, however many more of them fail
        sim.close()
        # The job restarts with a new problem: the database is locked for some of its items.
        sim = Simulation("topics", tmp_path, seed=4, clock=clock, fail_rate=0.5,
                         families={"timeout": 0.5, "db_locked": 0.5}, workers=1)
        assert sim.resumed
        for _ in range(60):
            sim.step()
            told.extend(poll(monitor, clock, alerts, 2.0, with_signatures=True))
        with sqlite3.connect(sim.path) as conn:
            (locked,) = conn.execute("SELECT COUNT(*) FROM topic_completions WHERE status = 'failed' "
                                     "AND error_message LIKE '%database is locked%'").fetchone()
        assert locked >= 3  # several items of the new cause, failing over several polls
        assert [e.kind for e in told] == ["new-signature"], told
        assert "database is locked" in told[0].message
        assert sum(e.kind == "new-signature" for e in alerts.log.events) == 1
    finally:
        monitor.close()
        sim.close()
