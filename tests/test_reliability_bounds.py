"""Resource bounds on a hostile 5,000-entry directory (issue 11, "Resource bounds"; hazards.md rule 9).

One directory holds a few real SQLite databases among FIFOs, unix sockets, symlink loops (a->b->a and
self-loops), dangling symlinks, unreadable files (chmod 000), non-SQLite files, directories named
`x.db`, orphan sidecars and names that are not database names, 5,000 entries in all. Discovery and the
first poll (in process, and the real `batchtop status` CLI under a subprocess timeout, as a directory
and as a glob) finish within a generous bound, every entry is accounted for (a source, a skip with a
reason, or the "narrow your pattern" cap), the real databases read right, and open descriptors stay
under a cap while it runs and after (sampled from /proc). No entry of the directory changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from batchtop.core.discovery import Discovery
from batchtop.core.monitor import Monitor

# Building the 5,000 entries takes ~3 s (module fixture); each test then takes under half a second.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/*/fd")]

ENTRIES = 5000
REAL = 8
#: kind -> how many (the rest of the 5,000 are names that are not database names).
KINDS = {"fifo": 1200, "socket": 300, "loop": 400, "selfloop": 100, "dangling": 200, "unreadable": 200,
         "garbage": 900, "empty": 50, "dir": 100, "sidecar": 100}
#: Generous: the whole in-process scan and poll takes well under a second on a laptop.
BOUND_S = 20.0
#: Descriptors above the baseline at any moment: the monitor caps open connections (64, up to three
#: descriptors each for a WAL database) but here only the real databases keep one.
FD_CAP = 3 * REAL + 40


def build_zoo(d: Path) -> dict[str, list[str]]:
    """The 5,000 entries; returns kind -> names. Sockets are bound by relative name (AF_UNIX paths are
    limited to ~108 bytes) and closed at once: the socket file stays."""
    names: dict[str, list[str]] = {k: [] for k in ("real", *KINDS, "other")}
    for i in range(REAL):
        name = f"a-real-{i}.db"  # sorts first: inside the 500-file cap
        conn = sqlite3.connect(d / name)
        conn.execute("CREATE TABLE topic_completions (id INTEGER PRIMARY KEY, topic_path TEXT, status TEXT, "
                     "started_at DATETIME, completed_at DATETIME, error_message TEXT)")
        conn.executemany("INSERT INTO topic_completions (topic_path, status, error_message) VALUES (?, ?, ?)",
                         [(f"t{j}", ("completed", "failed", "pending")[j % 3], "boom" if j % 3 == 1 else None)
                          for j in range(30 + i)])
        conn.commit()
        conn.execute(f"PRAGMA journal_mode={'wal' if i % 2 else 'delete'}")
        conn.close()
        names["real"].append(name)
    old = os.getcwd()
    os.chdir(d)
    try:
        for i in range(KINDS["fifo"]):
            os.mkfifo(f"fifo-{i:04}.db")
            names["fifo"].append(f"fifo-{i:04}.db")
        for i in range(KINDS["socket"]):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(f"sock-{i:04}.db")
            sock.close()
            names["socket"].append(f"sock-{i:04}.db")
        for i in range(KINDS["loop"] // 2):
            os.symlink(f"loop-b-{i:04}.db", f"loop-a-{i:04}.db")
            os.symlink(f"loop-a-{i:04}.db", f"loop-b-{i:04}.db")
            names["loop"] += [f"loop-a-{i:04}.db", f"loop-b-{i:04}.db"]
        for i in range(KINDS["selfloop"]):
            os.symlink(f"self-{i:04}.db", f"self-{i:04}.db")
            names["selfloop"].append(f"self-{i:04}.db")
        for i in range(KINDS["dangling"]):
            os.symlink(f"nowhere/{i}.db", f"dangling-{i:04}.db")
            names["dangling"].append(f"dangling-{i:04}.db")
    finally:
        os.chdir(old)
    for i in range(KINDS["unreadable"]):
        p = d / f"unreadable-{i:04}.db"
        p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 84)  # a header, then nothing
        p.chmod(0)
        names["unreadable"].append(p.name)
    for i in range(KINDS["garbage"]):
        p = d / f"garbage-{i:04}.{('db', 'sqlite', 'sqlite3', 'db3')[i % 4]}"
        p.write_bytes(os.urandom(64) if i % 2 else b"not a database\n" * 8)
        names["garbage"].append(p.name)
    for i in range(KINDS["empty"]):
        (d / f"empty-{i:04}.db").touch()
        names["empty"].append(f"empty-{i:04}.db")
    for i in range(KINDS["dir"]):
        (d / f"dir-{i:04}.db").mkdir()
        names["dir"].append(f"dir-{i:04}.db")
    for i in range(KINDS["sidecar"]):
        p = d / f"orphan-{i:04}.db-{('wal', 'shm', 'journal')[i % 3]}"
        p.write_bytes(b"x")
        names["sidecar"].append(p.name)
    i = 0
    while len(os.listdir(d)) < ENTRIES:
        (d / f"notes-{i:04}.txt").write_text("log line\n")
        names["other"].append(f"notes-{i:04}.txt")
        i += 1
    assert len(os.listdir(d)) == ENTRIES
    return names


def entry_state(d: Path) -> dict[str, tuple]:
    """(type, size, mtime_ns, sha256 of regular files we may read) of every entry, never following links
    and never opening anything but a regular file (a FIFO would block)."""
    out = {}
    for name in sorted(os.listdir(d)):
        st = os.lstat(d / name)
        digest = ""
        if stat.S_ISREG(st.st_mode) and os.access(d / name, os.R_OK):
            digest = hashlib.sha256((d / name).read_bytes()).hexdigest()
        out[name] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, digest)
    return out


class FdSampler:
    """The peak number of open descriptors of a process (default: this one), sampled every few ms."""

    def __init__(self, pid: int | str = "self") -> None:
        self.where = f"/proc/{pid}/fd"
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self) -> int:
        try:
            return len(os.listdir(self.where))
        except OSError:  # the process is gone
            return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.count())
            time.sleep(0.002)

    def __enter__(self) -> FdSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    d = tmp_path_factory.mktemp("zoo") / "runs"
    d.mkdir()
    return d, build_zoo(d)


def expected_skip(kind: str) -> str | None:
    return {"fifo": "FIFO", "socket": "socket", "loop": "symlink loop", "selfloop": "symlink loop",
            "dangling": "dangling symlink", "dir": "directory", "sidecar": "sidecar",
            "other": "not a database name"}.get(kind)


def test_every_entry_is_accounted_for_with_a_reason(zoo) -> None:
    """Without the file cap (and with every skip reported): each entry is a source or a named skip."""
    d, names = zoo
    before = entry_state(d)
    started = time.monotonic()
    scan = Discovery.from_args([str(d)], max_files=ENTRIES, max_skipped=ENTRIES).scan()
    assert time.monotonic() - started < BOUND_S
    reasons = {s.path.name: s.reason for s in scan.skipped}
    files = {f.path.name for f in scan.files}
    assert scan.skipped_total == len(scan.skipped) and not files & set(reasons)
    assert len(files) + len(reasons) == ENTRIES, "an entry was neither watched nor skipped with a reason"
    for kind, members in names.items():
        want = expected_skip(kind)
        for name in members:
            if want is None:
                assert name in files, (kind, name, reasons.get(name))
            else:
                assert reasons.get(name) == want, (kind, name, reasons.get(name))
    assert entry_state(d) == before


def test_discovery_and_first_poll_are_bounded_in_process(zoo) -> None:
    d, names = zoo
    before = entry_state(d)
    base = FdSampler().count()
    sampler = FdSampler()
    started = time.monotonic()
    with sampler:
        monitor = Monitor([str(d)], max_files=ENTRIES)
        monitor.rescan()
        monitor.poll_all(force=True)
        statuses = {os.path.basename(s.path): s for s in monitor.statuses()}
        during = sampler.count()
        monitor.poll_all(force=True)  # a second poll opens nothing new
    elapsed = time.monotonic() - started
    assert elapsed < BOUND_S, f"discovery and two polls took {elapsed:.1f}s"
    assert sampler.peak - base <= FD_CAP, f"{sampler.peak - base} descriptors open at the peak"
    assert during - base <= 3 * REAL + 5
    monitor.close()
    assert FdSampler().count() <= base + 1, "close() left descriptors open"
    for name in names["real"]:
        s = statuses[name]
        assert s.error is None and s.tracks[0].total == 30 + int(name[7:-3]), (name, s.error)
    readable = os.geteuid() == 0  # root reads a chmod 000 file: it is then a header with no pages
    for name in names["garbage"]:
        assert statuses[name].error == "not an SQLite database (or encrypted)", statuses[name].error
    for name in names["empty"]:
        assert "empty database" in (statuses[name].error or ""), statuses[name].error
    for name in names["unreadable"]:
        assert statuses[name].error, name
        assert readable or statuses[name].error == "permission denied", statuses[name].error
    assert len(statuses) == REAL + KINDS["garbage"] + KINDS["empty"] + KINDS["unreadable"]
    assert entry_state(d) == before


def cap_total(names: dict[str, list[str]], how: str) -> int:
    """What the "N files match" notice counts: names are taken in sorted order; below the cap a link
    that resolves to nothing is skipped (not counted), and past it every file or link name is counted
    unexamined (no stat for the thousands a cap leaves out)."""
    kinds = ("real", "garbage", "empty", "unreadable", "loop", "selfloop", "dangling") + (("other",) if how == "glob" else ())
    kind_of = {n: k for k in kinds for n in names[k]}
    counted = over = 0
    for name in sorted(kind_of):
        if counted >= 500:
            over += 1
        elif kind_of[name] not in ("loop", "selfloop", "dangling"):
            counted += 1
    return counted + over


def _status_cli(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[bytes], int, float]:
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", COLUMNS="200")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "batchtop.tui.cli", "status", *args, "--json"], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with FdSampler(proc.pid) as sampler:
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError(f"batchtop status {args} hung") from None
    return (subprocess.CompletedProcess(proc.args, proc.returncode, out, err), sampler.peak,
            time.monotonic() - started)


@pytest.mark.parametrize("how", ["dir", "glob"])
def test_cli_status_on_the_zoo_is_bounded(zoo, how: str) -> None:
    d, names = zoo
    before = entry_state(d)
    arg = "runs" if how == "dir" else "runs/*"
    out, peak, elapsed = _status_cli([arg], d.parent)
    err = out.stderr.decode()
    assert elapsed < BOUND_S + 10, f"batchtop status took {elapsed:.1f}s"
    assert "Traceback" not in err, err[-2000:]
    assert out.returncode == 1, (out.returncode, err[-2000:])  # some sources are unreadable
    # A fresh interpreter holds ~5 descriptors; the CLI polls every source once, a connection at a time.
    assert 0 < peak <= FD_CAP, f"batchtop status had {peak} descriptors open at once"
    watched = {os.path.basename(s["path"]): s for s in json.loads(out.stdout)["sources"]}
    assert len(watched) == 500
    assert f"{cap_total(names, how)} files match; watching the first 500: narrow your pattern" in err, err[-2000:]
    for name in names["real"]:
        src = watched[name]
        assert src["error"] is None and src["tracks"][0]["total"] == 30 + int(name[7:-3]), src
    skipped = {n for k in ("fifo", "socket", "dir", "sidecar", "loop", "selfloop", "dangling") for n in names[k]}
    if how == "dir":
        skipped |= set(names["other"])  # a directory lists database names only; `runs/*` matches any name
    assert not skipped & set(watched), "a FIFO, socket, link loop or directory was opened as a source"
    for name, src in watched.items():
        assert name in names["real"] or src["error"], (name, src)
    assert entry_state(d) == before
