"""Process measurements from /proc (Linux): CPU time of a process tree, RSS, and who holds SQLite locks.

The lock sampler reads `/proc/locks` (every POSIX lock on the machine, with the holder's pid) and keeps,
per pid, how long it held a *read transaction* lock on one database: in WAL mode a shared lock on a
read-mark byte of the `-shm` (offsets 123-127; the dead-man-switch byte 128 and the database file's
shared range are held for as long as a WAL connection is open, so they say nothing); in rollback mode
the database file's SHARED range (PENDING_BYTE + 2 ...), taken for each read transaction. A hold is seen
as the run of consecutive samples that show it, so it is measured to within one sampling interval.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

HZ = os.sysconf("SC_CLK_TCK")
PENDING_BYTE = 0x40000000
SHARED_FIRST, SHARED_LAST = PENDING_BYTE + 2, PENDING_BYTE + 511
WAL_READ_FIRST, WAL_READ_LAST = 123, 127


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:  # noqa: PTH123
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (one scan of /proc)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(int(name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pids: Iterable[int], children: bool = True) -> float:
    """utime + stime (+ cutime + cstime of reaped children: a `watch` loop's commands) of `pids`."""
    total = 0
    for p in pids:
        fields = _stat_fields(p)
        if fields:
            total += int(fields[11]) + int(fields[12])
            if children:
                total += int(fields[13]) + int(fields[14])
    return total / HZ


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of one process, in MB."""
    out = {"rss_mb": 0.0, "peak_rss_mb": 0.0}
    try:
        with open(f"/proc/{pid}/status") as f:  # noqa: PTH123
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
                elif line.startswith("VmHWM:"):
                    out["peak_rss_mb"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:  # noqa: PTH123
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class CpuWindow:
    """CPU used by a process tree between `start()` and `stop()`, as % of one core."""

    def __init__(self, root_pid: int) -> None:
        self.root = root_pid
        self.t0 = self.c0 = 0.0

    def _now(self) -> float:
        return cpu_seconds(descendants(self.root))

    def start(self) -> None:
        self.c0, self.t0 = self._now(), time.monotonic()

    def stop(self) -> dict[str, float]:
        c1, t1 = self._now(), time.monotonic()
        wall = max(t1 - self.t0, 1e-9)
        return {
            "cpu_pct": round(100.0 * (c1 - self.c0) / wall, 2),
            "cpu_s": round(c1 - self.c0, 3),
            "wall_s": round(wall, 2),
        }


@dataclass
class LockStats:
    """Read-transaction lock holds seen on one database, by processes other than the excluded ones."""

    interval_ms: float
    samples: int = 0
    seconds: float = 0.0
    holds_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        h = sorted(self.holds_ms)
        return {
            "sample_interval_ms": self.interval_ms,
            "samples": self.samples,
            "actual_interval_ms": round(1000 * self.seconds / self.samples, 2) if self.samples else None,
            "read_txns_seen": len(h),
            # A hold seen in k consecutive samples lasted between (k-1) and (k+1) intervals.
            "longest_ms": round(h[-1], 1) if h else 0.0,
            "p95_ms": round(h[max(0, int(len(h) * 0.95) - 1)], 1) if h else 0.0,
            "median_ms": round(statistics.median(h), 1) if h else 0.0,
            "over_20ms": sum(1 for x in h if x > 20.0),
        }


class LockSampler(threading.Thread):
    """Samples /proc/locks in the background for read-transaction locks on `db` (see the module doc)."""

    def __init__(self, db: str, wal: bool, exclude: Iterable[int] = (), interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.wal = wal
        self.db = db
        self.exclude = set(exclude)
        self.interval = interval
        self.stats = LockStats(interval * 1000)
        self._halt = threading.Event()
        self._inode: int | None = None

    def _lock_range(self) -> tuple[str | None, int, int]:
        """The file's id as /proc/locks spells it ("MAJ:MIN:INODE", hex device numbers) and the lock bytes."""
        path = self.db + "-shm" if self.wal else self.db
        try:
            st = os.stat(path)
            ino: str | None = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        except OSError:
            ino = None
        return (ino, WAL_READ_FIRST, WAL_READ_LAST) if self.wal else (ino, SHARED_FIRST, SHARED_LAST)

    def _holders(self, ino: str, lo: int, hi: int) -> set[int]:
        found = set()
        with open("/proc/locks") as f:  # noqa: PTH123 - not a database file: SQLite's locks are untouched
            for line in f:
                parts = line.split()
                if len(parts) > 1 and parts[1] == "->":  # a waiter, not a holder
                    continue
                if len(parts) < 8 or parts[1] != "POSIX":
                    continue
                try:
                    if parts[5] != ino:
                        continue
                    start = int(parts[6])
                    end = int(parts[7]) if parts[7] != "EOF" else 1 << 62
                except ValueError:
                    continue
                if start <= hi and end >= lo:
                    found.add(int(parts[4]))
        return found - self.exclude

    def run(self) -> None:
        open_since: dict[int, float] = {}
        last_seen: dict[int, float] = {}
        began = time.monotonic()
        while not self._halt.is_set():
            # Looked up at every sample, device included: a -shm deleted and made again gets a new inode,
            # and the old one may meanwhile be another file's (a parallel test's database).
            ino, lo, hi = self._lock_range()
            now = time.monotonic()
            holders = self._holders(ino, lo, hi) if ino is not None else set()
            self.stats.samples += 1
            for pid in holders:
                open_since.setdefault(pid, now)
                last_seen[pid] = now
            for pid in [p for p in open_since if p not in holders]:
                self.stats.holds_ms.append(
                    (last_seen[pid] - open_since.pop(pid)) * 1000 + self.interval * 1000
                )
            time.sleep(self.interval)
        self.stats.seconds = time.monotonic() - began
        for pid, since in open_since.items():
            self.stats.holds_ms.append((last_seen[pid] - since) * 1000 + self.interval * 1000)

    def stop(self) -> dict[str, object]:
        self._halt.set()
        self.join(5)
        return self.stats.summary()
