"""All watched sources: discovery of files, polling, and a cap on open connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from batchtop.core.backends import open_source
from batchtop.core.backends.urls import display_url, is_url
from batchtop.core.discovery import Discovery, ScanResult
from batchtop.core.profiles.model import Profile
from batchtop.core.source import PollResult, Source
from batchtop.core.status import SourceStatus
from batchtop.core.timeutil import Clock, system_clock
from batchtop.core.tracker import source_status

#: Connections kept open at once; the rest are parked (gated on file stats) between changes.
MAX_OPEN = 64


class Monitor:
    """The sources named by command-line arguments, kept up to date by `rescan()` and `poll()`."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        profiles: Sequence[Profile] = (),
        forced: Profile | None = None,
        clock: Clock = system_clock,
        max_files: int = 500,
        max_open: int = MAX_OPEN,
    ) -> None:
        # `postgresql://` URLs name databases on a server; everything else is a file, glob or directory.
        self.urls = [a for a in args if is_url(a)]
        self.discovery = Discovery.from_args([a for a in args if not is_url(a)], max_files=max_files)
        self.clock = clock
        self._profiles = tuple(profiles)
        self._forced = forced
        self.max_open = max_open
        self.sources: dict[str, Source] = {}
        self.last_scan: ScanResult | None = None
        # rescan() may run in one worker thread while polls run in others.
        self._lock = threading.Lock()
        self._dir_targets = {Path(t.root) for t in self.discovery.targets if t.kind == "dir" and t.root}

    def rescan(self, quick: bool = False) -> list[Source]:
        """Look for new files (and explicit paths still missing); returns the sources added.

        `quick`: do nothing when no directory the last scan looked in has changed (one `stat` each).
        """
        if quick and self.last_scan is not None and self.discovery.unchanged():
            return []
        scan = self.discovery.scan()
        self.last_scan = scan
        added = []
        # A missing directory is a notice, not a source; a missing file is a source shown as "not found
        # yet" (and opened, never created, once it appears).
        missing = [str(m) for m in scan.missing if Path(m) not in self._dir_targets]
        with self._lock:
            for url in self.urls:
                if display_url(url) not in self.sources:
                    pg = self._pg_source(url)
                    self.sources[pg.path] = pg
                    added.append(pg)
            for path in [str(f.path) for f in scan.files] + missing:
                if path not in self.sources:
                    source = Source(path, profiles=self._profiles, forced=self._forced, clock=self.clock)
                    self.sources[path] = source
                    added.append(source)
        return added

    def _pg_source(self, url: str) -> Source:
        # PgSource has Source's surface (poll, run, close, snapshot, tracker, ...): see backends/base.py.
        return open_source(url, profiles=self._profiles, forced=self._forced, clock=self.clock)

    @property
    def notices(self) -> list[str]:
        """Discovery warnings and the 'narrow your pattern' notice."""
        scan = self.last_scan
        if scan is None:
            return []
        gone = [f"directory {m} does not exist (yet)" for m in scan.missing if Path(m) in self._dir_targets]
        return list(scan.warnings) + gone + ([scan.notice] if scan.notice else [])

    def poll(self, source: Source, force: bool = False) -> PollResult:
        """Poll one source, then park idle connections beyond the cap."""
        result = source.poll(force)
        if result.changed:
            self._cap_open(keep=source)
        return result

    def poll_all(self, force: bool = False, *, exact: bool = True) -> list[tuple[Source, PollResult]]:
        """Poll every source once (the headless CLI). With `exact`, a source whose poll left chunks to
        count (the first pass over a large table) is polled on until its counts are exact, at the share
        of a core the app gives that work (`PollResult.more`): a script never gets partial counts."""
        out = []
        for source in self.snapshot_sources():
            result = self.poll(source, force)
            while exact and result.more > 0 and result.error is None:
                time.sleep(result.cost * (1.0 / result.more - 1.0))
                result = self.poll(source)
            out.append((source, result))
        return out

    def snapshot_sources(self) -> list[Source]:
        """The sources as a list (safe to iterate while another thread rescans)."""
        with self._lock:
            return list(self.sources.values())

    def statuses(self) -> list[SourceStatus]:
        """Current status of every source."""
        now = self.clock()
        return [source_status(s, now) for s in self.snapshot_sources()]

    def close(self) -> None:
        """Close every connection."""
        for source in self.snapshot_sources():
            source.close()

    def _cap_open(self, keep: Source) -> None:
        open_sources = [s for s in self.snapshot_sources() if s.is_open and s is not keep]
        excess = len(open_sources) + 1 - self.max_open
        if excess > 0:
            # Park the sources whose data changed least recently: active ones keep their connection.
            open_sources.sort(key=lambda s: s.last_change or 0.0)
            for source in open_sources[:excess]:
                source.park()
