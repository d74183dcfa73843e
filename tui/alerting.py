"""Alerts inside the app: each poll's status goes to `core.alerts`; allowed events ring, notify and show.

The app calls `observe(view)` for every finished poll (cheap: a few comparisons). When a track's
failure count moved and new-signature alerts are on, its error groups are brought up to date in a
thread worker (`groups.GroupCache`: only the rows above its high-water mark are read), which posts
`AppAlerts.Checked` to the app; the signatures are compared there, so a new cause of failure alerts
exactly once. Events are kept in the log the events screen (`E`) lists; notifications go through the
app's driver, as `App.bell` does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from batchtop.core.alert_config import DEFAULT_KINDS, AlertConfig
from batchtop.core.alerts import Alerts, Event, EventLog, parse_kinds
from batchtop.core.errors import BatchtopError
from batchtop.core.status import SourceStatus
from batchtop.tui.notify import DESKTOP_MODES, Notifier

#: After checking a source's error groups for new causes, wait this many times what the check cost.
SIGNATURE_DUTY = 20.0


@dataclass(frozen=True)
class AlertSettings:
    """What to detect and how to tell (`--alerts`, `--notify`, `--event-log`, the environment, or the
    `[alerts]` table of a profile file or `.batchtop.toml`)."""

    kinds: frozenset[str] = DEFAULT_KINDS
    bell: bool = True
    #: "osc9", "osc777" or "off".
    desktop: str = "off"
    event_log: str | None = None

    @classmethod
    def parse(
        cls,
        alerts: str | None = None,
        notify: str | None = None,
        event_log: str | None = None,
        config: AlertConfig | None = None,
    ) -> AlertSettings:
        """From flag values, else `$BATCHTOP_ALERTS` / `$BATCHTOP_NOTIFY`, else the `[alerts]` table of a
        profile or `.batchtop.toml` (`config`); raises ValueError when invalid.

        `notify` is `bell`, `osc9`, `osc777`, `bell+osc9`, `bell+osc777` or `off`.
        """
        chosen = alerts if alerts is not None else os.environ.get("BATCHTOP_ALERTS")
        if chosen is not None:
            kinds = parse_kinds(chosen)  # a flag (or the environment) replaces what the config says
        else:
            kinds = config.kinds() if config is not None else DEFAULT_KINDS
        how = notify if notify is not None else os.environ.get("BATCHTOP_NOTIFY")
        if how is None:
            how = config.notify if config is not None and config.notify is not None else "bell"
        words = set(how.split("+"))
        desktop = next((w for w in words if w in DESKTOP_MODES and w != "off"), "off")
        bad = words - {"bell", "off", *DESKTOP_MODES}
        if bad or len(words - {"bell"}) > 1:
            where = f" (in {config.origin})" if notify is None and config is not None and config.notify else ""
            raise ValueError(f"--notify {how!r}{where}: give bell, osc9, osc777, bell+osc9, bell+osc777 or off")
        return cls(kinds, "bell" in words, desktop, event_log)


class AppAlerts:
    """The alerts of one app: detector, throttle, log and notifier."""

    class Checked(Message, bubble=False):
        """From the signature worker to the app: one source's check is over, with the signatures per
        (path, track) (None: they could not be read) and what the check cost in seconds."""

        def __init__(self, status: SourceStatus, sigs: dict[tuple[str, str], list[str]] | None,
                     cost: float) -> None:
            super().__init__()
            self.status = status
            self.sigs = sigs
            self.cost = cost

    def __init__(self, app: Any, settings: AlertSettings) -> None:
        self.app = app
        self.settings = settings
        self.alerts = Alerts(settings.kinds, log=EventLog(settings.event_log))
        self.notifier = Notifier(self._write, bell=settings.bell, desktop=settings.desktop)
        self._failed: dict[tuple[str, str], int] = {}
        self._opened = False
        #: Per source: when its groups may be checked again (monotonic), and whether a worker is at it.
        self._due: dict[str, float] = {}
        self._busy: set[str] = set()
        #: Per source: the newest status not yet checked because it came within a gap.
        self._waiting: dict[str, Any] = {}

    @property
    def events(self) -> list[Event]:
        """The newest events, oldest first."""
        return list(self.alerts.log.events)

    def _write(self, text: str) -> None:
        driver = getattr(self.app, "_driver", None)  # as `App.bell` writes; nothing in headless tests
        if driver is not None and not self.app.is_headless:
            driver.write(text)

    def observe(self, view: Any) -> None:
        """Detect events in one source's new status (on the UI thread)."""
        status = view.status
        self._emit(self.alerts.update([status], self.app.clock()))
        if not self._opened and getattr(self.app, "polled_all", False):
            # After the update: the last source of the first sweep is still part of the baseline.
            self._opened = True
            self.alerts.detector.opened()
        if "new-signature" not in self.settings.kinds or status.error is not None:
            return
        self._check_signatures(status)

    def _check_signatures(self, status: Any) -> None:
        """Compare the signatures of tracks whose failure count moved, unless within a check's gap: then
        the newest status waits, and is checked when the gap ends (the job may have stopped by then)."""
        wait = self._due.get(status.path, 0.0) - time.monotonic()
        if status.path in self._busy or wait > 0:
            first = status.path not in self._waiting
            self._waiting[status.path] = status
            if first and status.path not in self._busy:
                self.app.set_timer(wait, lambda: self._retry(status.path))
            return
        moved = []
        for t in status.tracks:
            if t.counted < 1.0:
                continue  # a first pass's partial counts grow every poll: scanning them would race the pass
            key = (status.path, t.name)
            failed = t.counts.get("failed", 0)
            if self._failed.get(key) != failed:
                self._failed[key] = failed
                moved.append(t.name)
        source = self.app.source_of(status.path)
        if moved and source is not None and source.profile is not None:
            tracks = [tr for tr in source.profile.tracks if tr.name in moved and tr.failures_recorded]
            if tracks:
                self._busy.add(status.path)
                self.app.run_worker(
                    lambda: self._signatures(source, status, tracks),
                    thread=True,
                    group=f"alerts:{status.path}",
                    exclusive=False,
                    exit_on_error=False,
                )

    def _signatures(self, source: Any, status: Any, tracks: list[Any]) -> None:
        """Thread: bring the tracks' groups up to date, then post them to the app (`checked` compares)."""
        from batchtop.core.groups import cache_for

        sigs: dict[tuple[str, str], list[str]] = {}
        began, done = time.perf_counter(), False
        try:
            for track in tracks:
                report = cache_for(source, track).refresh(source)
                sigs[(status.path, track.name)] = [g.signature for g in report.groups]
            done = True
        except BatchtopError:
            pass  # locked or replaced: the next change tries again
        finally:  # whatever happened, the source is freed for the next check (post_message is thread-safe)
            self.app.post_message(self.Checked(status, sigs if done else None, time.perf_counter() - began))

    def _retry(self, path: str) -> None:
        status = self._waiting.pop(path, None)
        if status is not None:
            self._check_signatures(status)

    def checked(self, event: Checked) -> None:
        """A signature check is over (the app passes its `Checked` on, on the UI thread): compare."""
        status, sigs, cost = event.status, event.sigs, event.cost
        self._busy.discard(status.path)
        # Beside a job failing all the time, every poll moves the failure count: checking the groups
        # each time ran one aggregate over the failed rows every second (a quarter of the app's CPU
        # beside a busy 1M-row job). A gap after each check keeps this work to 1/SIGNATURE_DUTY of the
        # time (real time: it is about cost); a new cause still alerts, one gap later at most.
        self._due[status.path] = time.monotonic() + SIGNATURE_DUTY * cost
        if status.path in self._waiting:  # a newer status came during the check: look at it after the gap
            self.app.set_timer(SIGNATURE_DUTY * cost, lambda: self._retry(status.path))
        if sigs is not None:
            self._emit(self.alerts.update([status], self.app.clock(), sigs))

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            self.notifier.notify(event)
            # Event text is sanitised in core; markup=False keeps brackets literal (hazards.md rule 1).
            self.app.notify(event.message, title=event.kind, markup=False, timeout=6)
