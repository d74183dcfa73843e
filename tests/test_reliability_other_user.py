"""The CLI run as another, unprivileged user (uid 65534 through `setpriv`) against WAL databases in a
directory that user can read but not write (hazards.md rule 5: sidecars created by whoever runs batchtop
broke the job with SQLITE_READONLY; the "batchtop run as another user" row).

As that user, `batchtop status --json` and `batchtop failures --json` read each layout right (counts and
failed keys equal to what the file holds), create no file (directory listing incl. sidecars, owner,
mode, size, mtime and hash unchanged), and say clearly what they cannot read (a chmod 000 database, a
`-wal` or `-shm` only the owner may read), with exit 1 and no traceback.

Needs root (to become the other user) and `setpriv`; skipped with the reason otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from actions_support import make_topics

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
#: layout -> (database name, what `status` must say: None for a right read, else the error)
LAYOUTS = {
    "quiescent": ("clean.db", None),          # WAL database, no sidecars (the job closed cleanly)
    "crashed": ("crashed.db", None),          # -wal and -shm left by a job that died
    "copied": ("copied.db", None),            # a run directory copied with its -wal but no -shm
    "unreadable": ("unreadable.db", "permission denied"),
    "private-wal": ("privwal.db", "cannot open the file (permission denied or directory not readable)"),
    "private-shm": ("privshm.db", "cannot open the file (permission denied or directory not readable)"),
}


def _skip_reason() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root to run batchtop as another user"
    if SETPRIV is None:
        return "setpriv is not installed"
    probe = subprocess.run([SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                            "-c", "import batchtop.tui.cli"], capture_output=True, env=_env(), timeout=60)
    if probe.returncode != 0:
        return f"uid {NOBODY} cannot run this Python and batchtop: {probe.stderr.decode()[-300:]}"
    return None


def _env() -> dict[str, str]:
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", COLUMNS="200", HOME="/nonexistent",
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("XDG_STATE_HOME", None)
    return env


CRASHING_JOB = r"""
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("PRAGMA journal_mode=wal")
conn.execute("CREATE TABLE topic_completions (id INTEGER PRIMARY KEY, topic_path TEXT, status TEXT, "
             "started_at DATETIME, completed_at DATETIME, error_message TEXT)")
conn.executemany("INSERT INTO topic_completions (topic_path, status, error_message) VALUES (?, ?, ?)",
                 [(f"t{i}", ("completed", "failed", "pending")[i % 3], "boom" if i % 3 == 1 else None)
                  for i in range(int(sys.argv[2]))])
conn.commit()
os._exit(0)  # dies with its connection open: the -wal (every row) and the -shm stay
"""


def _crashed(path: Path, rows: int) -> Path:
    subprocess.run([sys.executable, "-c", CRASHING_JOB, str(path), str(rows)], check=True, timeout=60)
    assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    return path


def build(d: Path) -> None:
    make_topics(d / "clean.db", failed=7, done=11, pending=3, mode="wal")
    _crashed(d / "crashed.db", 30)
    staging = d / "staging"
    staging.mkdir()
    _crashed(staging / "copied.db", 45)
    for name in ("copied.db", "copied.db-wal"):  # copied by root, who owns them: the -shm is not copied
        shutil.copy(staging / name, d / name)
    shutil.rmtree(staging)
    (d / "unreadable.db").write_bytes((d / "clean.db").read_bytes())
    (d / "unreadable.db").chmod(0)
    _crashed(d / "privwal.db", 12)
    Path(f"{d / 'privwal.db'}-wal").chmod(0o600)
    _crashed(d / "privshm.db", 12)
    Path(f"{d / 'privshm.db'}-shm").chmod(0o600)


def truth(d: Path, name: str) -> tuple[int, set[int]]:
    """(total, failed keys) read as root from a private copy (never from the watched files)."""
    with tempfile.TemporaryDirectory() as private:
        for f in os.listdir(d):
            if f == name or f.startswith(name + "-"):
                shutil.copy(d / f, Path(private) / f)
        conn = sqlite3.connect(Path(private) / name)
        total = conn.execute("SELECT count(*) FROM topic_completions").fetchone()[0]
        failed = {r[0] for r in conn.execute("SELECT id FROM topic_completions WHERE status = 'failed'")}
        conn.close()
    return total, failed


def state(d: Path) -> dict[str, tuple]:
    """(owner, mode, size, mtime_ns, sha256) of every entry: as root, so unreadable files are hashed too."""
    out = {}
    for name in sorted(os.listdir(d)):
        st = os.lstat(d / name)
        digest = hashlib.sha256((d / name).read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[name] = (st.st_uid, stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns, digest)
    return out


def as_nobody(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                           "-m", "batchtop.tui.cli", *args], capture_output=True, env=_env(), timeout=60,
                          cwd="/")


@pytest.fixture(scope="module")
def shared_dir():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    # Not under pytest's tmp_path: its parents are private to root. World-readable, not writable.
    top = Path(tempfile.mkdtemp(prefix="batchtop-other-user-"))
    d = top / "runs"
    d.mkdir()
    build(d)
    for p in (top, d):
        p.chmod(0o755)
    yield d
    shutil.rmtree(top)


@pytest.mark.slow
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_status_and_failures_as_another_user(shared_dir: Path, layout: str) -> None:
    name, error = LAYOUTS[layout]
    db = shared_dir / name
    before = state(shared_dir)
    status = as_nobody("status", str(db), "--json")
    failures = as_nobody("failures", str(db), "--json", "--limit", "1000")
    assert state(shared_dir) == before, f"{layout}: a file was created or changed"
    for out in (status, failures):
        err = out.stderr.decode()
        assert "Traceback" not in err, err[-2000:]
    src = json.loads(status.stdout)["sources"][0]
    fail = json.loads(failures.stdout)["sources"][0]
    if error is not None:
        assert (status.returncode, failures.returncode) == (1, 1)
        assert src["error"] == error and fail["error"] == error, (src["error"], fail["error"])
        return
    assert (status.returncode, failures.returncode) == (0, 0), (status.stderr, failures.stderr)
    total, failed = truth(shared_dir, name)
    track = src["tracks"][0]
    assert src["error"] is None and track["total"] == total, src
    assert track["counts"]["failed"] == len(failed), track["counts"]
    assert {item["key"] for item in fail["tracks"][0]["items"]} == failed


@pytest.mark.slow
def test_the_whole_directory_as_another_user(shared_dir: Path) -> None:
    before = state(shared_dir)
    out = as_nobody("status", str(shared_dir), "--json")
    assert state(shared_dir) == before
    assert out.returncode == 1 and b"Traceback" not in out.stderr  # three of the six cannot be read
    by_name = {os.path.basename(s["path"]): s for s in json.loads(out.stdout)["sources"]}
    assert set(by_name) == {name for name, _ in LAYOUTS.values()}
    for name, error in LAYOUTS.values():
        assert by_name[name]["error"] == error, (name, by_name[name]["error"])
        if error is None:
            assert by_name[name]["tracks"][0]["total"] == truth(shared_dir, name)[0]
