"""Directory watching on top of watchfiles, without any UI: wakes the poller when a database changes.

Directories are watched, never single files (hazards.md rule 10): a WAL commit touches only the `-wal`
file, and a watch on one file goes silent once the job replaces that file.

Missing directories: a requested directory that does not exist yet is stood in for by its nearest
existing ancestor, watched non-recursively, and only changes on the way down to the missing directory
are reported (so watching `/home/me` for `/home/me/runs/a` does not report every file in `/home/me`).
When a directory on that way appears, the watcher re-plans, restarts itself and reports the new
directory, so the caller can rescan. It also re-plans once its watches are in place (a directory created
during set-up) and every `recheck_ms` without any event (a watched directory deleted, a missed event).
The caller's slow timer rescan stays the fallback: network filesystems give no events at all.

The watch wakes only as often as it must: watchfiles sleeps `step` between looks at its queue of events
and a change is handed over one step after it was first seen, so the step is both the idle cost (each
wake takes the GIL) and the latency. While anything changed in the last `fast_for` seconds the step is
`fast_step_ms` (a commit reaches the poller in 10-20 ms); after that `step_ms` (4 wakes a second). The
step is chosen per call of watchfiles' Rust watcher, which keeps its queue between calls, so switching
loses no event.

Storms: a job committing thousands of times a second writes its `-wal` as often, and every write to a file
of a watched directory costs the kernel an inotify event, paid inside the job's own `write()` calls, and
our watcher a wake (beside a job committing 20k times a second the watch alone took 17 % of a core and the
job lost up to half its rate). So when changes keep coming for `storm_s`, the watch is taken off for
`pause_s` (its inotify descriptor closed), then put back. A source that changes this often is hot for the
poller, which looks at its files every few milliseconds by `stat` anyway (`core.identity.HOT_STEP`); a
pause costs only the latency of a first commit to another database of the same directory (the poller's
next sweep, one interval, instead of one step) and of a new file (the watched directories are reported
when the watch is put back, for the caller to rescan).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from watchfiles._rust_notify import RustNotify  # documented: docs/api/rust_backend.md of watchfiles
from watchfiles.main import _default_force_polling, _default_poll_delay_ms

from batchtop.core.discovery import sidecar_base

log = logging.getLogger(__name__)


def database_for(path: str | os.PathLike[str]) -> Path:
    """Map a sidecar (`x.db-wal`, `x.db-shm`, `x.db-journal`, `x.db-wal2`) to its database; else as is."""
    p = Path(path)
    base = sidecar_base(p.name)
    return p.with_name(base) if base else p


def changed_databases(changes: Iterable[tuple[object, str] | str | os.PathLike[str]]) -> set[Path]:
    """Turn watchfiles changes (`(Change, path)` pairs) or plain paths into the databases they concern."""
    return {database_for(c[1] if isinstance(c, tuple) else c) for c in changes}


@dataclass(frozen=True)
class _Watch:
    """One directory handed to watchfiles; `stands_for` lists missing directories it replaces."""

    path: Path
    recursive: bool
    stands_for: tuple[Path, ...] = ()

    def accepts(self, changed: Path) -> bool:
        if self.stands_for:  # only changes on the way down to a missing directory matter
            return any(changed == w or changed in w.parents or w in changed.parents for w in self.stands_for)
        if self.recursive:
            return changed == self.path or self.path in changed.parents
        return changed == self.path or changed.parent == self.path


def _moves_plan(changed: Path, plan: tuple[_Watch, ...]) -> bool:
    return any(changed == w.path or (w.stands_for and w.accepts(changed)) for w in plan)


def _nearest_existing(d: Path) -> Path:
    for parent in d.parents:
        if parent.is_dir():
            return parent
    return Path(d.anchor or os.sep)


def plan_watches(dirs: Sequence[tuple[Path, bool]]) -> tuple[_Watch, ...]:
    """Decide what to hand watchfiles for the requested `(directory, recursive)` pairs, right now."""
    exact: dict[Path, bool] = {}
    standins: dict[Path, list[Path]] = {}
    for d, recursive in dirs:
        d = Path(os.path.abspath(d))
        if d.is_dir():
            exact[d] = exact.get(d, False) or recursive
        else:
            standins.setdefault(_nearest_existing(d), []).append(d)
    roots = [d for d, rec in exact.items() if rec]

    def covered(d: Path) -> bool:
        return any(r in d.parents for r in roots)

    plan = [_Watch(d, rec) for d, rec in exact.items() if not covered(d)]
    for anc, wanted in standins.items():
        # A watch that already covers the ancestor sees the missing directory being created.
        if anc in exact or covered(anc):
            continue
        plan.append(_Watch(anc, False, tuple(wanted)))
    return tuple(plan)


class DirectoryWatcher:
    """Watches directories and calls `on_change` with the database paths whose files changed.

    Changed names are mapped through `database_for`, so a commit that only touches `x.db-wal` reports
    `x.db`; other names (new files, new directories) are reported as they are, for the caller to rescan.
    `on_change` and `on_error` run on the watcher's thread(s), one call at a time.
    """

    def __init__(
        self,
        dirs: Sequence[tuple[Path, bool]],
        on_change: Callable[[set[Path]], object],
        *,
        debounce_ms: int = 50,
        step_ms: int = 250,
        fast_step_ms: int = 10,
        fast_for: float = 60.0,
        stop_event: threading.Event | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        recheck_ms: int = 2000,
        storm_s: float = 0.3,
        pause_s: float = 2.0,
    ) -> None:
        """Set up the watcher; nothing is watched before `run()`.

        Args:
            dirs: `(directory, recursive)` pairs, e.g. from `Discovery.watch_dirs()`.
            on_change: Called with the changed paths, sidecars mapped to their database.
            debounce_ms: watchfiles' grouping window.
            step_ms: watchfiles' sleep between checks while nothing changed lately (each wake costs: 50
                measured ~0.3 % of a core; also the stop latency).
            fast_step_ms: the sleep while something changed in the last `fast_for` seconds.
            stop_event: Ends `run()` when set; `stop()` sets it.
            on_error: Called once if watchfiles fails (e.g. the inotify watch limit); `run()` then returns
                and the caller should fall back to timer polling.
            recheck_ms: How often to re-plan missing or deleted directories without an event.
            storm_s: changes handed over at every look for this long take the watch off (see the module
                docstring) ...
            pause_s: ... for this long.
        """
        self.dirs = tuple((Path(d), bool(r)) for d, r in dirs)
        self.on_change = on_change
        self.on_error = on_error
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.fast_step_ms = fast_step_ms
        self.fast_for = fast_for
        #: Monotonic time of the last change handed over (read and written by every loop's thread).
        self._last_change = -math.inf
        self.recheck_ms = recheck_ms
        self.storm_s, self.pause_s = storm_s, pause_s
        #: Times the watch was taken off for a storm (for tests and the benchmarks).
        self.pauses = 0
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self._emit_lock = threading.Lock()
        self._plan: tuple[_Watch, ...] = ()

    @property
    def watching(self) -> list[tuple[Path, bool]]:
        """The directories currently handed to watchfiles, with their recursive flag."""
        return [(w.path, w.recursive) for w in self._plan]

    def stop(self) -> None:
        """Ask `run()` to return (within about one `step_ms`)."""
        self.stop_event.set()

    def run(self) -> None:
        """Watch until stopped; on a watchfiles error call `on_error(exc)` and return (poll instead)."""
        vanished = 0
        plan: tuple[_Watch, ...] = ()
        while not self.stop_event.is_set():
            previous, plan = plan, plan_watches(self.dirs)
            self._plan = plan
            # Report directories that were missing and exist now: files may be in them already, and
            # their creation event may have happened while no watch was in place.
            appeared = {d for w in previous for d in w.stands_for if d.is_dir()}
            if appeared:
                self._emit(appeared)
            if not plan:
                self.stop_event.wait()
                return
            restart = threading.Event()
            errors: list[BaseException] = []
            # watchfiles has one recursive flag per watch, so each flag gets its own loop and thread.
            flat, deep = tuple(w for w in plan if not w.recursive), tuple(w for w in plan if w.recursive)
            groups = [g for g in (flat, deep) if g]
            helpers = [
                threading.Thread(
                    target=self._loop, args=(g, plan, restart, errors), name="batchtop-watch", daemon=True
                )
                for g in groups[1:]
            ]
            for h in helpers:
                h.start()
            self._loop(groups[0], plan, restart, errors)
            for h in helpers:
                h.join()
            if not errors:
                vanished = 0
                continue
            exc = errors[0]
            # A directory deleted between planning and watching: plan again, a few times at most.
            if isinstance(exc, FileNotFoundError) and vanished < 5:
                vanished += 1
                self.stop_event.wait(0.05)
                continue
            self._report_error(exc)
            return

    def _loop(
        self,
        group: tuple[_Watch, ...],
        plan: tuple[_Watch, ...],
        restart: threading.Event,
        errors: list[BaseException],
    ) -> None:
        # watchfiles asks `is_set()` only once its watches are in place: re-plan then, so a directory
        # created while the watch was being set up is not missed until the next recheck.
        halt = _AnyEvent(self.stop_event, restart, first_check=lambda: self._check(plan, restart))
        try:
            while self._watch(group, plan, restart, halt):
                # A storm: off for a while (no inotify events to cost the job), then watched again.
                self.pauses += 1
                if _AnyEvent(self.stop_event, restart).wait(self.pause_s):
                    return
                # Files may have appeared meanwhile: the directories themselves are reported (the caller
                # rescans them, as for any name it does not know).
                self._emit({w.path for w in group})
        except Exception as exc:  # reported to the caller, who falls back to polling
            errors.append(exc)
            restart.set()

    def _watch(self, group: tuple[_Watch, ...], plan: tuple[_Watch, ...], restart: threading.Event,
               halt: _AnyEvent) -> bool:
        """Watch `group` until stopped or re-planned (False), or until a storm (True)."""
        # What `watchfiles.watch` does, but with the step chosen per call (see the module docstring).
        # Permission denied is ignored: one unreadable subdirectory must not end the watch.
        paths = [str(w.path) for w in group]
        with RustNotify(paths, False, _default_force_polling(None), _default_poll_delay_ms(300),
                        group[0].recursive, True) as notify:
            # The first look comes quickly: it runs the re-plan of `halt` (see above).
            step = self.fast_step_ms
            storm_since: float | None = None
            while True:
                raw = notify.watch(self.debounce_ms, step, self.recheck_ms, halt)
                if isinstance(raw, str):  # "timeout" (nothing changed), "stop" or "signal"
                    if raw != "timeout":
                        return False
                    raw = set()
                # Every name is kept (watchfiles' default filter would drop names such as `x~`).
                changed = {Path(p) for _, p in raw}
                accepted = {p for p in changed if any(w.accepts(p) for w in plan)}
                now = time.monotonic()
                if accepted:
                    self._last_change = now
                    self._emit(changed_databases(accepted))
                    storm_since = now if storm_since is None else storm_since
                    if now - storm_since >= self.storm_s:
                        return True
                else:
                    storm_since = None
                # Only a change to a watched directory itself, or on the way to a missing one, can
                # change the plan; no change at all is the periodic timeout.
                if (not changed or any(_moves_plan(p, plan) for p in changed)) and self._check(plan, restart):
                    return False
                step = self._step()  # after `_last_change` is set: the next look is fast

    def _step(self) -> int:
        recent = time.monotonic() - self._last_change < self.fast_for
        return self.fast_step_ms if recent else self.step_ms

    def _check(self, plan: tuple[_Watch, ...], restart: threading.Event) -> bool:
        """Ask `run()` to plan again (ending every loop) when directories appeared or vanished."""
        if plan_watches(self.dirs) == plan:
            return False
        restart.set()
        return True

    def _emit(self, paths: set[Path]) -> None:
        with self._emit_lock:
            try:
                self.on_change(paths)
            except Exception:  # a bug in the callback must not end the watch
                log.exception("on_change callback failed")

    def _report_error(self, exc: BaseException) -> None:
        if self.on_error is None:
            log.warning("directory watch stopped: %s", exc)
            return
        try:
            self.on_error(exc)
        except Exception:
            log.exception("on_error callback failed")


class _AnyEvent:
    """Set when any of several events is set (watchfiles only needs `is_set()`)."""

    def __init__(self, *events: threading.Event, first_check: Callable[[], object] | None = None) -> None:
        self._events = events
        self._first_check = first_check

    def is_set(self) -> bool:
        if self._first_check is not None:
            check, self._first_check = self._first_check, None
            check()
        return any(e.is_set() for e in self._events)

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking within 50 ms of any event being set; True if one was."""
        deadline = time.monotonic() + seconds
        while not self.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._events[0].wait(min(left, 0.05))
        return True
