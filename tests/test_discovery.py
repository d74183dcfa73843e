"""Discovery: regular files only, one entry per inode, odd names, caps, and cheap repeated scans."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchtop.core import discovery
from batchtop.core.discovery import Discovery, Target, parse_targets, sidecar_base

ODD_NAMES = [
    "a?b.db",
    "50%.db",
    "#1.db",
    "sp ace.db",
    "ünï.db",
    "-x.db",
    "new\nline.db",
    "esc\x1b[31m.db",
    "[x].db",
]


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def listing(d: Path) -> list[str]:
    return sorted(os.listdir(d))


def names(result: discovery.ScanResult) -> list[str]:
    return [f.path.name for f in result.files]


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    # AF_UNIX paths are limited to ~108 bytes; pytest's tmp_path can be longer, so bind by relative name.
    old = os.getcwd()
    os.chdir(tmp_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind("sock.db")
        yield tmp_path / "sock.db"
    finally:
        sock.close()
        os.chdir(old)


def test_parse_targets_kinds(cwd: Path) -> None:
    touch(cwd / "a?b.db")
    touch(cwd / "[x].db")
    (cwd / "runs").mkdir()
    t = {
        x.text: x for x in parse_targets(["a?b.db", "[x].db", "runs", "later.db", "runs/**/*.db", "*.db", ""])
    }
    assert [t[k].kind for k in ("a?b.db", "[x].db", "runs", "later.db")] == ["path", "path", "dir", "path"]
    deep = t["runs/**/*.db"]
    assert (deep.kind, deep.root, deep.recursive, deep.pattern) == (
        "glob",
        cwd / "runs",
        True,
        ("**", "*.db"),
    )
    flat = t["*.db"]
    assert (flat.kind, flat.root, flat.recursive) == ("glob", cwd, False)
    assert "" not in t
    assert not parse_targets([str(cwd / "r*" / "x.db")])[0].recursive
    assert not (cwd / "later.db").exists()


def test_odd_files_are_skipped_without_hanging(cwd: Path, unix_socket: Path) -> None:
    touch(cwd / "good.db")
    os.mkfifo(cwd / "fifo.db")
    (cwd / "x.db").mkdir()
    for suffix in ("-wal", "-shm", "-journal", "-wal2"):
        touch(cwd / f"good.db{suffix}")
    touch(cwd / "notes.txt")
    before = listing(cwd)

    by_glob = Discovery.from_args(["*.db*"]).scan()
    assert names(by_glob) == ["good.db"]
    reasons = {s.path.name: s.reason for s in by_glob.skipped}
    assert reasons["fifo.db"] == "FIFO"
    assert reasons["x.db"] == "directory"
    assert reasons["sock.db"] == "socket"
    assert {reasons[f"good.db{s}"] for s in ("-wal", "-shm", "-journal", "-wal2")} == {"sidecar"}

    by_dir = Discovery.from_args([str(cwd)]).scan()
    assert names(by_dir) == ["good.db"]
    assert {s.path.name: s.reason for s in by_dir.skipped}["notes.txt"] == "not a database name"

    explicit = Discovery.from_args(["fifo.db", "good.db-wal", "sock.db"]).scan()
    assert explicit.files == ()
    assert [s.reason for s in explicit.skipped] == ["FIFO", "sidecar (watch good.db)", "socket"]
    assert listing(cwd) == before


def test_symlink_and_hard_links_listed_once(cwd: Path) -> None:
    real = touch(cwd / "real.db")
    os.symlink("real.db", cwd / "link.db")
    hard = touch(cwd / "a.db")
    os.link(hard, cwd / "b.db")

    result = Discovery.from_args(["*.db"]).scan()
    assert names(result) == ["a.db", "link.db"]
    link = result.files[1]
    assert link.path == cwd / "link.db" and link.real == real
    assert result.files[0].hard_links == 2
    assert f"two hard links to one database: {cwd / 'a.db'}, {cwd / 'b.db'}" in result.warnings
    assert f"symlink {cwd / 'link.db'} -> {real} listed once" in result.warnings


def test_same_file_matched_by_two_arguments(cwd: Path) -> None:
    touch(cwd / "job.db")
    result = Discovery.from_args(["job.db", "./job.db", "*.db", str(cwd)]).scan()
    assert [f.path for f in result.files] == [cwd / "job.db"]
    assert result.files[0].arg == "job.db"
    assert result.warnings == ()


def test_missing_path_is_reported_and_never_created(cwd: Path) -> None:
    disc = Discovery.from_args(["later.db", "sub/dir/later.db", "gone/"])
    first = disc.scan()
    assert first.files == ()
    assert first.missing == (cwd / "later.db", cwd / "sub/dir/later.db", cwd / "gone")
    assert listing(cwd) == []
    assert (cwd, False) in disc.watch_dirs() and (cwd / "sub/dir", False) in disc.watch_dirs()

    touch(cwd / "later.db")
    second = disc.scan()
    assert names(second) == ["later.db"] and [f.path.name for f in second.added] == ["later.db"]
    assert second.missing == (cwd / "sub/dir/later.db", cwd / "gone")


def test_explicit_paths_first_then_sorted(cwd: Path) -> None:
    for n in ("c.db", "a.db", "b.db", "z.other"):
        touch(cwd / n)
    result = Discovery.from_args(["z.other", "c.db", "*.db"]).scan()
    assert names(result) == ["z.other", "c.db", "a.db", "b.db"]


def test_recursive_glob(cwd: Path) -> None:
    touch(cwd / "runs/top.db")
    touch(cwd / "runs/2024/01/deep.db")
    touch(cwd / "runs/2024/01/deep.db-wal")
    touch(cwd / "runs/.hidden/secret.db")
    touch(cwd / "runs/2024/other.txt")
    os.symlink(cwd / "runs", cwd / "runs/2024/loop")  # a link loop must not hang `**`
    disc = Discovery.from_args(["runs/**/*.db"])
    result = disc.scan()
    assert [f.path.relative_to(cwd).as_posix() for f in result.files] == [
        "runs/2024/01/deep.db",
        "runs/top.db",
    ]
    assert disc.watch_dirs() == [(cwd / "runs", True)]
    assert parse_targets(["runs/*/*/deep.db"])[0].pattern == ("*", "*", "deep.db")
    shallow = Discovery.from_args(["runs/*/*/deep.db"])
    assert names(shallow.scan()) == ["deep.db"]
    # Without `**`, each directory a segment passes through is watched one level deep.
    assert set(shallow.watch_dirs()) == {
        (cwd / "runs", False),
        (cwd / "runs/2024", False),
        (cwd / "runs/2024/01", False),
        (cwd / "runs/2024/loop", False),
    }


def test_odd_names(cwd: Path) -> None:
    for n in ODD_NAMES:
        touch(cwd / n)
    before = listing(cwd)
    each = Discovery.from_args(ODD_NAMES).scan()
    assert names(each) == ODD_NAMES
    assert each.missing == () and each.skipped == ()
    by_dir = Discovery.from_args(["."]).scan()
    assert sorted(names(by_dir)) == sorted(ODD_NAMES)
    assert listing(cwd) == before


def test_cap_on_five_thousand_files(cwd: Path) -> None:
    runs = cwd / "runs"
    runs.mkdir()
    for i in range(5000):
        (runs / f"job{i:04d}.db").write_bytes(b"")
    disc = Discovery.from_args(["runs/*.db"])
    started = time.perf_counter()
    result = disc.scan()
    elapsed = time.perf_counter() - started
    assert len(result.files) == 500 and result.truncated == 4500
    assert result.files[0].path.name == "job0000.db" and result.files[-1].path.name == "job0499.db"
    assert result.notice == "5000 files match; watching the first 500: narrow your pattern"
    assert elapsed < 2.0  # generous: typically ~10 ms
    again = disc.scan()
    assert again.added == () and again.removed == () and again.truncated == 4500


def test_rescan_reports_added_removed_replaced(cwd: Path) -> None:
    touch(cwd / "a.db")
    touch(cwd / "b.db")
    disc = Discovery.from_args(["*.db"])
    first = disc.scan()
    assert [f.path.name for f in first.added] == ["a.db", "b.db"]

    touch(cwd / "c.db")
    (cwd / "b.db").unlink()
    touch(cwd / "tmp.db.new")
    os.replace(cwd / "tmp.db.new", cwd / "a.db")
    second = disc.scan()
    assert [f.path.name for f in second.added] == ["c.db"]
    assert [f.path.name for f in second.removed] == ["b.db"]
    assert [f.path.name for f in second.replaced] == ["a.db"]


def test_unchanged_directories_are_not_listed_again(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(cwd / "runs/a.db")
    old = time.time() - 60
    os.utime(cwd / "runs", (old, old))  # older than the racy window, so the listing may be cached
    calls: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: str) -> object:
        calls.append(path)
        return real_scandir(path)

    monkeypatch.setattr(discovery.os, "scandir", counting_scandir)
    disc = Discovery.from_args(["runs"])
    disc.scan()
    disc.scan()
    assert len(calls) == 1
    touch(cwd / "runs/b.db")  # changes the directory's mtime
    third = disc.scan()
    assert len(calls) == 2 and [f.path.name for f in third.added] == ["b.db"]
    disc.scan(fresh=True)
    assert len(calls) == 3


def test_watch_dirs_cover_symlink_targets(cwd: Path) -> None:
    touch(cwd / "data/real.db")
    (cwd / "view").mkdir()
    os.symlink(cwd / "data/real.db", cwd / "view/link.db")
    disc = Discovery([Target("dir", "view", cwd / "view"), *parse_targets(["deep/**/*.db"])])
    disc.scan()
    assert disc.watch_dirs() == [(cwd / "view", False), (cwd / "deep", True), (cwd / "data", False)]


def test_sidecar_base() -> None:
    assert sidecar_base("x.db-wal") == "x.db"
    assert sidecar_base("x.db-journal") == "x.db"
    assert sidecar_base("x.db-mj1A2B3C9D4") == "x.db"
    assert sidecar_base("x.db") is None and sidecar_base("-wal") is None


def test_directory_walk_is_capped(cwd: Path) -> None:
    for i in range(5):
        touch(cwd / f"runs/d{i}/x.db")
    result = Discovery(parse_targets(["runs/**/*.db"]), max_dirs=3).scan()
    assert len(result.files) == 2
    assert "stopped after listing 3 directories: narrow your pattern" in result.warnings
