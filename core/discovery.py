"""Turn command-line arguments (paths, globs, directories) into the database files to watch.

Only `os.stat`, `os.lstat` and `os.scandir` are used: nothing here opens, creates or modifies a file
(hazards.md rules 8 and 9), so a FIFO, a socket or a 5,000-file glob cannot hang or slow start-up.
Directories are listed and globs walked by `globwalk`; this module decides what to watch.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from batchtop.core.globwalk import DB_SUFFIXES, MAGIC_RE, Walk, Walker, sidecar_base

#: A directory modified this recently may change again within its mtime tick: `unchanged()` says no.
RACY_NS = 2_000_000_000

__all__ = ["DB_SUFFIXES", "Discovery", "Found", "ScanResult", "Skipped", "Target", "parse_targets", "sidecar_base"]


@dataclass(frozen=True)
class Target:
    """What the user asked for: one argument.

    Attributes:
        kind: 'path' (one file, may not exist yet), 'glob' or 'dir'.
        text: The argument as given.
        root: For dirs and globs, the absolute directory to list and watch (for globs the longest
            prefix without magic characters).
        recursive: Whether `root` must be watched recursively (globs with `**`; other globs watch
            the directories their segments pass through, see `Discovery.watch_dirs`).
        pattern: For globs, the magic part split into path segments.
    """

    kind: Literal["path", "glob", "dir"]
    text: str
    root: Path | None = None
    recursive: bool = False
    pattern: tuple[str, ...] = ()


def _glob_target(arg: str) -> Target:
    # Split the argument itself, not cwd + argument: the working directory may contain `[` or `?`.
    base = os.sep if os.path.isabs(arg) else os.getcwd()
    parts = arg.split(os.sep)
    first = next(i for i, part in enumerate(parts) if MAGIC_RE.search(part))
    root = os.path.normpath(os.path.join(base, *parts[:first]))
    pattern: list[str] = []
    for part in parts[first:]:
        if part in ("", ".") or (part == "**" and pattern[-1:] == ["**"]):
            continue  # `a//b`, `a/./b`, `**/**` mean the same as the shorter form
        pattern.append(part)
    if pattern[-1] == "**":
        pattern.append("*")  # a trailing `**` means everything below the root
    return Target("glob", arg, Path(root), "**" in pattern, tuple(pattern))


def parse_targets(args: Sequence[str]) -> list[Target]:
    """Classify each argument as a path, a glob or a directory; empty arguments are ignored.

    A name that exists literally is never a glob (`a?b.db`, `[x].db`); a missing name without magic
    characters is a path that will be picked up when it appears (it is never created). A missing name
    ending in a separator is a directory.
    """
    targets: list[Target] = []
    for arg in args:
        if not arg:
            continue
        if os.path.isdir(arg):
            targets.append(Target("dir", arg, Path(os.path.abspath(arg))))
        elif os.path.lexists(arg) or not MAGIC_RE.search(arg):
            if arg.endswith(os.sep) and not os.path.lexists(arg):
                targets.append(Target("dir", arg, Path(os.path.abspath(arg))))
            else:
                targets.append(Target("path", arg))
        else:
            targets.append(_glob_target(arg))
    return targets


@dataclass(frozen=True)
class Found:
    """One database file to watch (one per inode).

    Attributes:
        path: Absolute path as matched, symlinks not resolved (for display).
        real: The same path with every symlink resolved.
        identity: `(st_dev, st_ino)`.
        hard_links: `st_nlink` (more than 1 means other names point at the same data).
        arg: The argument that matched it first.
    """

    path: Path
    real: Path
    identity: tuple[int, int]
    hard_links: int
    arg: str


@dataclass(frozen=True)
class Skipped:
    """A matched name that is not watched, with a short reason ('FIFO', 'sidecar', ...)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """The outcome of one `Discovery.scan()`; `added`/`removed`/`replaced` compare with the previous scan.

    `removed` holds files no longer listed (deleted, or pushed past the cap); a path whose inode changed
    (the job used `os.replace`) is in `replaced` only, not in added/removed.
    `skipped` holds at most `max_skipped` entries; `skipped_total` counts them all.
    """

    files: tuple[Found, ...]
    missing: tuple[Path, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    skipped_total: int = 0
    warnings: tuple[str, ...] = ()
    truncated: int = 0
    notice: str | None = None
    added: tuple[Found, ...] = ()
    removed: tuple[Found, ...] = ()
    replaced: tuple[Found, ...] = ()


_MODE_REASONS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "device"),
    (stat.S_ISBLK, "device"),
)


def _dir_key(d: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(d)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


def _mode_reason(mode: int) -> str:
    return next((reason for test, reason in _MODE_REASONS if test(mode)), "not a regular file")


@dataclass
class _Scan:
    """Accumulators for one scan."""

    files: list[Found] = field(default_factory=list)
    by_identity: dict[tuple[int, int], Found] = field(default_factory=dict)
    missing: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    skipped_total: int = 0
    warnings: dict[str, None] = field(default_factory=dict)  # an ordered set
    over_cap: int = 0
    real_dirs: dict[str, str] = field(default_factory=dict)


class Discovery:
    """Finds the database files that a list of targets denotes; `scan()` is cheap to repeat."""

    def __init__(
        self, targets: Sequence[Target], *, max_files: int = 500, max_dirs: int = 5000, max_skipped: int = 100
    ) -> None:
        """Args: the parsed targets; caps on files kept, directories listed per scan, skips reported."""
        self.targets = tuple(targets)
        self.max_files = max_files
        self.max_skipped = max_skipped
        self._walker = Walker(max_dirs)  # keeps directory listings between scans
        self._previous: dict[str, Found] = {}
        self._glob_dirs: tuple[str, ...] = ()
        #: `(st_dev, st_ino, st_mtime_ns)` (None: missing) of every directory the last scan looked in.
        self._dir_keys: dict[str, tuple[int, int, int] | None] | None = None

    @property
    def max_dirs(self) -> int:
        """Directories listed per scan at most."""
        return self._walker.max_dirs

    @classmethod
    def from_args(cls, args: Sequence[str], **options: int) -> Discovery:
        """Parse command-line arguments and build a Discovery."""
        return cls(parse_targets(args), **options)

    def scan(self, *, fresh: bool = False) -> ScanResult:
        """List every target again and report what to watch; `fresh` ignores cached listings."""
        ctx = _Scan()
        walk = Walk(lambda path, reason: self._skip(ctx, path, reason), warnings=ctx.warnings)
        for t in self.targets:
            if t.kind == "path":
                path = os.path.abspath(t.text)
                base = sidecar_base(os.path.basename(path))
                if base:
                    self._skip(ctx, path, f"sidecar (watch {base})")
                else:
                    self._accept(ctx, path, t.text, os.path.islink(path), explicit=True)
            elif t.root is not None and t.kind == "dir":
                if os.path.isdir(t.root):
                    self._walker.collect_dir(walk, str(t.root), t.text, fresh)
                else:
                    ctx.missing.append(t.root)
            elif t.root is not None:
                self._walker.match(walk, str(t.root), t.pattern, t.text, t.recursive, fresh)
        # Sorting names first and stat-ing only up to the cap keeps a 5,000-file glob cheap.
        for path in sorted(walk.candidates):
            kind, arg = walk.candidates[path]
            if kind not in ("file", "link"):
                self._skip(ctx, path, None)
            elif len(ctx.files) >= self.max_files:
                ctx.over_cap += 1
            else:
                self._accept(ctx, path, arg, kind == "link", explicit=False)
        self._walker.forget_unvisited(walk)
        return self._finish(ctx, walk)

    def _accept(self, ctx: _Scan, path: str, arg: str, is_link: bool, explicit: bool) -> None:
        try:
            st = os.stat(path)  # follows symlinks: what matters is what a link points at
        except (FileNotFoundError, NotADirectoryError):
            if explicit and Path(path) not in ctx.missing:
                ctx.missing.append(Path(path))
            elif not explicit and is_link:
                # Reported like any other skip (it is picked up once its target appears): silently
                # dropping it left a matched name with no reason at all.
                self._skip(ctx, path, "dangling symlink")
            return
        except (OSError, ValueError) as exc:
            loop = getattr(exc, "errno", None) == errno.ELOOP
            self._skip(ctx, path, "symlink loop" if loop else getattr(exc, "strerror", None) or "cannot stat")
            return
        if not stat.S_ISREG(st.st_mode):
            self._skip(ctx, path, _mode_reason(st.st_mode))
            return
        ident = (st.st_dev, st.st_ino)
        prev = self._previous.get(path)
        if prev is not None and not is_link and prev.identity == ident and prev.hard_links == st.st_nlink:
            found = prev  # unchanged since the last scan: skip realpath and Path construction
        elif is_link:
            found = Found(Path(path), Path(os.path.realpath(path)), ident, st.st_nlink, arg)
        else:
            parent, name = os.path.split(path)
            if parent not in ctx.real_dirs:
                ctx.real_dirs[parent] = os.path.realpath(parent)
            real = os.path.join(ctx.real_dirs[parent], name)
            found = Found(Path(path), Path(real), ident, st.st_nlink, arg)
        first = ctx.by_identity.get(ident)
        if first is not None:
            self._dedupe_warning(ctx, first, found)
        elif len(ctx.files) >= self.max_files:
            ctx.over_cap += 1
        else:
            ctx.by_identity[ident] = found
            ctx.files.append(found)

    def _finish(self, ctx: _Scan, walk: Walk) -> ScanResult:
        prev = self._previous
        current = {str(f.path): f for f in ctx.files}
        notice = None
        if ctx.over_cap:
            total = len(ctx.files) + ctx.over_cap
            notice = f"{total} files match; watching the first {self.max_files}: narrow your pattern"
        self._previous = current
        self._glob_dirs = tuple(walk.glob_dirs)
        looked = set(walk.lists) | set(walk.glob_dirs)
        for t in self.targets:
            if t.kind == "path":
                looked.add(os.path.dirname(os.path.abspath(t.text)))
            elif t.root is not None:
                looked.add(str(t.root))
        self._dir_keys = {d: _dir_key(d) for d in looked}
        return ScanResult(
            files=tuple(ctx.files),
            missing=tuple(ctx.missing),
            skipped=tuple(ctx.skipped),
            skipped_total=ctx.skipped_total,
            warnings=tuple(ctx.warnings),
            truncated=ctx.over_cap,
            notice=notice,
            added=tuple(f for p, f in current.items() if p not in prev),
            removed=tuple(f for p, f in prev.items() if p not in current),
            replaced=tuple(f for p, f in current.items() if p in prev and prev[p].identity != f.identity),
        )

    def unchanged(self) -> bool:
        """Whether a scan now would find the same files: every directory the last scan looked in still has
        its `(st_dev, st_ino, st_mtime_ns)` (a create, delete or rename inside changes its mtime), and none
        was modified within `RACY_NS`. One `stat` per directory, nothing listed. False before any scan.

        Not seen: a symlinked file's target replaced in another directory, a hard link added elsewhere; the
        caller's periodic full scan catches those.
        """
        keys = self._dir_keys
        if keys is None:
            return False
        racy = time.time_ns() - RACY_NS
        for d, key in keys.items():
            now = _dir_key(d)
            if now != key or (now is not None and now[2] > racy):
                return False
        return True

    def _skip(self, ctx: _Scan, path: str, reason: str | None) -> None:
        ctx.skipped_total += 1
        if len(ctx.skipped) >= self.max_skipped:
            return
        if reason is None:  # only lstat when the reason will actually be reported
            try:
                reason = _mode_reason(os.lstat(path).st_mode)
            except (OSError, ValueError):
                reason = "vanished"
        ctx.skipped.append(Skipped(Path(path), reason))

    @staticmethod
    def _dedupe_warning(ctx: _Scan, first: Found, again: Found) -> None:
        if again.path == first.path:
            return  # the same name matched by two arguments: silently listed once
        if again.real == first.real:
            link = again.path if again.path != again.real else first.path
            ctx.warnings[f"symlink {link} -> {again.real} listed once"] = None
        else:
            ctx.warnings[f"two hard links to one database: {first.path}, {again.path}"] = None

    # -- watching ---------------------------------------------------------------------------------

    def watch_dirs(self) -> list[tuple[Path, bool]]:
        """The directories to watch, each with a recursive flag, smallest set that covers every target.

        Includes parents of explicit paths (even missing ones), directory targets, glob roots (recursive
        for `**`), and from the last scan: the directories a glob such as `runs/*/x.db` passed through
        (watched one level each, so a new `runs/b/` is seen without watching all of `runs/` deeply) and
        the real parent of each symlinked file (a commit touches the target's `-wal`, not the link's
        directory). The list can change after a scan: compare it and restart the watcher when it does.
        """
        wanted: dict[Path, bool] = {}

        def add(d: Path, recursive: bool) -> None:
            wanted[d] = wanted.get(d, False) or recursive

        for t in self.targets:
            if t.kind == "path":
                add(Path(os.path.abspath(t.text)).parent, False)
            elif t.root is not None:
                add(t.root, t.recursive)
        for d in self._glob_dirs:
            add(Path(d), False)
        for f in self._previous.values():
            if f.real.parent != f.path.parent and Path(os.path.realpath(f.path.parent)) != f.real.parent:
                add(f.real.parent, False)
        recursive_roots = [d for d, rec in wanted.items() if rec]
        return [(d, rec) for d, rec in wanted.items() if not any(r in d.parents for r in recursive_roots)]
