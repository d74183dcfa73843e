"""Alerts: events from successive statuses of real files, de-duplication and rate limits on an injected
clock, the event log, and the terminal sequences (bell, OSC 9, OSC 777, tmux passthrough)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from factories import FIXED_NOW, add_failures, failures_db, fixed_clock

from batchtop.core.alert_config import KINDS
from batchtop.core.alerts import Alerts, Detector, Event, EventLog, Throttle, parse_kinds
from batchtop.core.monitor import Monitor
from batchtop.core.status import SourceStatus
from batchtop.tui.notify import Notifier, osc9, osc777, tmux_wrap


class Run:
    """A real topics file and a monitor on it, polled at a clock the test moves."""

    def __init__(self, path: Path, **counts: int) -> None:
        self.path = failures_db(path, counts or {"rate": 2}, done=3)
        self.now = FIXED_NOW
        self.monitor = Monitor([str(self.path)], clock=lambda: self.now)
        self.monitor.rescan()

    def statuses(self, advance: float = 10.0) -> list[SourceStatus]:
        self.now += advance
        self.monitor.poll_all()
        return self.monitor.statuses()

    def add(self, **families: int) -> None:
        with sqlite3.connect(self.path) as conn:
            add_failures(conn, families, now=self.now)

    def add_pending(self, n: int) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.executemany(
                "INSERT INTO topic_completions (topic_path, status) VALUES (?, 'pending')",
                [(f"p{i}",) for i in range(n)],
            )


@pytest.fixture
def run(tmp_path: Path) -> Run:
    r = Run(tmp_path / "a.db")
    yield r
    r.monitor.close()


def test_first_sight_is_a_baseline_then_new_failures_alert(run: Run) -> None:
    default = Detector()
    default.update(run.statuses(), run.now)
    run.add(timeout=1)
    assert default.update(run.statuses(), run.now) == []  # "failed" is off unless asked for
    det = Detector(kinds=KINDS)
    assert det.update(run.statuses(), run.now) == []  # opening batchtop on a finished run says nothing
    assert det.update(run.statuses(), run.now) == []  # nothing changed
    run.add(timeout=3)
    events = det.update(run.statuses(), run.now)
    assert [e.kind for e in events] == ["failed"]
    assert "3 new failure(s), 6 in all" in events[0].message and events[0].message.startswith("a.db topics:")


def test_a_spike_of_failures_is_its_own_alert(tmp_path: Path) -> None:
    run = Run(tmp_path / "a.db", rate=1)
    det = Detector(kinds=KINDS)
    det.update(run.statuses(), run.now)
    run.add(rate=12)
    kinds = [e.kind for e in det.update(run.statuses(), run.now)]
    assert kinds == ["failed", "spike"]
    run.monitor.close()


def test_finished_and_stalled_transitions(run: Run) -> None:
    det = Detector()
    run.add_pending(5)
    det.update(run.statuses(), run.now)
    with sqlite3.connect(run.path) as conn:
        conn.execute("UPDATE topic_completions SET status = 'completed' WHERE status = 'pending'")
    events = det.update(run.statuses(), run.now)
    assert [e.kind for e in events] == ["finished"] and "finished (2 failed)" in events[0].message
    assert det.update(run.statuses(), run.now) == []  # still finished: said once


def test_new_signature_alerts_exactly_once(run: Run) -> None:
    det = Detector(kinds=["new-signature"])
    key = (str(run.path), "topics")
    assert det.update(run.statuses(), run.now) == []  # counts first, signatures not known yet
    assert det.update(run.statuses(), run.now, {key: ["A"]}) == []  # the first signatures: a baseline
    (event,) = det.update(run.statuses(), run.now, {key: ["A", "B <n>"]})
    assert event.kind == "new-signature" and event.message.endswith("new error: B <n>")
    assert det.update(run.statuses(), run.now, {key: ["A", "B <n>"]}) == []


def test_a_new_cause_over_many_files_is_one_alert_and_a_known_cause_none(tmp_path: Path) -> None:
    runs = [Run(tmp_path / f"chunk_{i}.db") for i in range(3)]
    det = Detector()
    keys = [(str(r.path), "topics") for r in runs]

    def statuses(n: int) -> list[SourceStatus]:
        return [s for r in runs[:n] for s in r.statuses()]

    assert det.update(statuses(1), 0.0, {keys[0]: ["A"]}) == []  # baseline, every file there at start
    assert det.update(statuses(2), 0.0, {keys[0]: ["A"], keys[1]: ["B"]}) == []
    det.opened()
    assert det.update(statuses(2), 1.0, {keys[0]: ["A", "B"], keys[1]: ["B"]}) == []  # B: known elsewhere
    events = det.update(statuses(2), 2.0, {keys[0]: ["A", "B", "C"], keys[1]: ["B", "C"]})
    assert [(e.kind, e.message.split(": ", 1)[1]) for e in events] == [("new-signature", "new error: C")]
    # A chunk file the job creates later is no baseline: its unknown cause is new, its known ones are not.
    events = det.update(statuses(3), 3.0, {keys[0]: ["A", "B", "C"], keys[1]: ["B", "C"], keys[2]: ["C", "D"]})
    assert [e.message for e in events] == ["chunk_2.db topics: new error: D"]
    for r in runs:
        r.monitor.close()


def test_kinds_switched_off_are_never_reported(run: Run) -> None:
    det = Detector(kinds=parse_kinds("finished,stalled"))
    det.update(run.statuses(), run.now)
    run.add(timeout=5)
    assert det.update(run.statuses(), run.now) == []
    assert parse_kinds("none") == frozenset() and parse_kinds("all") >= {"failed", "finished"}
    with pytest.raises(ValueError, match="unknown alert kind"):
        parse_kinds("finished,loud")


def ev(kind: str = "failed", key: str = "k") -> Event:
    return Event(kind, 0.0, "/x/a.db", "topics", "m", key)


def test_throttle_dedupes_and_rate_limits_on_the_clock_it_is_given() -> None:
    t = Throttle(dedupe=600.0, gap=30.0, burst=3)
    assert t.allow(ev(key="a"), 0.0)
    assert not t.allow(ev(key="a"), 500.0)  # same event within the de-dup window
    assert not t.allow(ev(key="b"), 10.0)  # same kind within the gap
    assert t.allow(ev(key="b"), 31.0)
    assert t.allow(ev("finished", "c"), 32.0)
    assert not t.allow(ev("stalled", "d"), 33.0)  # burst: 3 alerts within a minute
    assert t.allow(ev("stalled", "d"), 61.0)
    assert t.allow(ev(key="a"), 700.0)  # de-dup window over


def test_alerts_log_every_event_and_notify_only_allowed_ones(run: Run, tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")
    alerts = Alerts(KINDS, log=log, throttle=Throttle(gap=3600.0))
    alerts.update(run.statuses(), run.now)
    run.add(timeout=1)
    assert [e.kind for e in alerts.update(run.statuses(), run.now)] == ["failed"]
    run.add(timeout=1)
    assert alerts.update(run.statuses(), run.now) == []  # rate-limited ...
    assert [e.notified for e in log.events] == [True, False]  # ... but logged
    lines = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [x["notified"] for x in lines] == [True, False]


def test_db_text_in_events_is_sanitised(tmp_path: Path) -> None:
    det = Detector(kinds=["new-signature"])
    st = Run(tmp_path / "a.db")
    key = (str(st.path), "topics")
    det.update(st.statuses(), st.now, {key: []})
    (event,) = det.update(
        st.statuses(), st.now, {key: ["\x1b]52;c;AAAA\x07 bad \u202e api_key=abcdef123456"]}
    )
    assert "\x1b" not in event.message and "\x07" not in event.message and "\u202e" not in event.message
    assert "abcdef123456" not in event.message
    st.monitor.close()


# -- terminal output -----------------------------------------------------------------------------------


def test_osc_sequences_carry_only_sanitised_text() -> None:
    seq = osc9("done \x1b]52;c;x\x07 \u009b evil")
    assert seq.startswith("\x1b]9;") and seq.endswith("\x07")
    assert seq.count("\x1b") == 1 and seq.count("\x07") == 1 and "\u009b" not in seq
    seq = osc777("title;with;semis", "body")
    assert seq.startswith("\x1b]777;notify;") and seq.count(";") == 3  # `;` in the text cannot add fields


def test_tmux_passthrough_doubles_every_escape() -> None:
    wrapped = tmux_wrap("\x1b]9;hi\x07")
    assert wrapped == "\x1bPtmux;\x1b\x1b]9;hi\x07\x1b\\"


def test_notifier_writes_bell_and_notification_and_respects_off(monkeypatch: pytest.MonkeyPatch) -> None:
    out: list[str] = []
    monkeypatch.delenv("TMUX", raising=False)
    Notifier(out.append, bell=True, desktop="osc9").notify(ev())
    assert out == ["\a", "\x1b]9;batchtop: failed: m\x07"]
    out.clear()
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    Notifier(out.append, bell=False, desktop="osc777").notify(ev())
    assert out == ["\x1bPtmux;\x1b\x1b]777;notify;batchtop: failed;m\x07\x1b\\"]
    out.clear()
    Notifier(out.append, bell=False, desktop="off").notify(ev())
    assert out == []
    assert fixed_clock()() == FIXED_NOW


# -- in the app ----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.anyio
async def test_app_alerts_once_when_a_new_cause_appears_and_lists_it(tmp_path: Path, ready, until) -> None:
    from batchtop.tui.alerting import AlertSettings
    from batchtop.tui.factory import create_app
    from batchtop.tui.screens.events import EventsScreen

    path = failures_db(tmp_path / "a.db", {"rate": 3}, done=3)
    clock = fixed_clock()
    app = create_app(
        Monitor([str(path)], clock=clock),
        clock=clock,
        watch=False,
        poll_interval=0.1,
        journal_path=tmp_path / "j.jsonl",
        alerts=AlertSettings.parse("new-signature,failed", "bell+osc9"),
    )
    written: list[str] = []
    async with app.run_test() as pilot:
        app.alerts.notifier.write = written.append
        await ready(pilot)
        await pilot.pause(0.5)  # a few more polls: nothing changed, nothing said
        assert app.alerts.events == [] and written == []
        with sqlite3.connect(path) as conn:
            add_failures(conn, {"timeout": 2, "rate": 1})
        await until(pilot, lambda: any(e.kind == "new-signature" for e in app.alerts.events))
        await pilot.pause(0.5)
        kinds = [e.kind for e in app.alerts.events]
        assert kinds.count("new-signature") == 1 and kinds.count("failed") == 1
        (new,) = [e for e in app.alerts.events if e.kind == "new-signature"]
        assert "APITimeoutError: Request timed out after <n>s" in new.message
        assert written.count("\a") == 2 and sum(w.startswith("\x1b]9;") for w in written) == 2
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, EventsScreen)
        assert app.screen.query_one("#ev-table").row_count == 2


@pytest.mark.slow
@pytest.mark.anyio
async def test_beside_a_job_failing_all_the_time_the_groups_are_checked_at_a_bounded_duty(
    tmp_path: Path, ready, until, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every poll sees the failure count move; the new-cause check (an aggregate over the failed rows)
    runs with a gap of SIGNATURE_DUTY times its cost, not at every poll, and a new cause still alerts."""
    from batchtop.core import groups
    from batchtop.tui import alerting
    from batchtop.tui.factory import create_app

    path = failures_db(tmp_path / "a.db", {"rate": 3}, done=3)
    checks: list[float] = []
    refresh = groups.GroupCache.refresh

    def slow_refresh(self, db, **kw):  # a check that costs 30 ms, as over many failures
        time.sleep(0.03)
        checks.append(time.monotonic())
        return refresh(self, db, **kw)

    monkeypatch.setattr(groups.GroupCache, "refresh", slow_refresh)
    clock = fixed_clock()
    app = create_app(Monitor([str(path)], clock=clock), clock=clock, watch=False, poll_interval=0.05,
                     journal_path=tmp_path / "j.jsonl", alerts=alerting.AlertSettings.parse("new-signature", "off"))
    async with app.run_test() as pilot:
        await ready(pilot)
        began, n0 = time.monotonic(), len(checks)
        with sqlite3.connect(path) as conn:
            for _ in range(30):  # a failure every 50 ms for 1.5 s: every poll sees the count move
                add_failures(conn, {"rate": 1})
                conn.commit()
                await pilot.pause(0.05)
            add_failures(conn, {"timeout": 1})
        await until(pilot, lambda: any(e.kind == "new-signature" for e in app.alerts.events))
        spent = time.monotonic() - began
        ran = len(checks) - n0
        gap = alerting.SIGNATURE_DUTY * 0.03
        # At most one check per gap (plus the first); without the gap, one per poll (~30).
        assert 1 <= ran <= spent / gap + 2, (ran, spent)
