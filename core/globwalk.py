"""Directory listings cached by mtime, and glob patterns walked over them one path segment at a time.

Only `os.stat`, `os.lstat` and `os.scandir` are used (hazards.md rules 8 and 9). A listing is reused while
the directory's `(st_dev, st_ino, st_mtime_ns)` is unchanged: a create, delete or rename inside it
changes its mtime, so an unchanged key means an unchanged list of names. `discovery.Discovery` turns what
a walk finds into the files to watch.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DB_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")
# SQLite's own companion files: WAL, shared memory, rollback journal, wal2 and super-journals.
_SIDECAR_RE = re.compile(r"-(?:wal2?|shm|journal|mj[0-9A-F]{9})\Z")
MAGIC_RE = re.compile(r"[*?[]")
# A directory modified this recently may change again within the same mtime tick, so its listing is
# not cached (the "racy clean" problem): later scans list it again until it has been quiet this long.
_RACY_NS = 2_000_000_000

#: (name, kind) of a directory entry; kind is "file", "dir", "link" or "other".
Entry = tuple[str, str]


def sidecar_base(name: str) -> str | None:
    """Return the database name a sidecar name belongs to (`x.db-wal` → `x.db`), or None."""
    m = _SIDECAR_RE.search(name)
    return name[: m.start()] if m and m.start() > 0 else None


@dataclass
class Walk:
    """What one scan's walk found: candidate files, and the directories it listed and passed through.

    Attributes:
        skip: Called with (path, reason) for a name that is not a candidate; reason None means "look
            at the file type" (only done when the skip will be reported).
        candidates: path -> (kind, the argument that matched it first).
        warnings: An ordered set of messages (shared with the caller's own warnings).
        glob_dirs: Where non-`**` globs matched a segment (watched one level each).
    """

    skip: Callable[[str, str | None], None]
    candidates: dict[str, tuple[str, str]] = field(default_factory=dict)
    warnings: dict[str, None] = field(default_factory=dict)
    glob_dirs: dict[str, None] = field(default_factory=dict)
    dirs_listed: int = 0
    #: Listings read this walk (None: could not be listed), so `**` lists each directory once.
    lists: dict[str, list[Entry] | None] = field(default_factory=dict)


class Walker:
    """Lists directories through a cache kept between walks, and walks directory and glob targets."""

    def __init__(self, max_dirs: int = 5000) -> None:
        """Args: directories listed per walk at most."""
        self.max_dirs = max_dirs
        self._listings: dict[str, tuple[tuple[int, int, int], list[Entry]]] = {}

    def collect_dir(self, walk: Walk, root: str, arg: str, fresh: bool) -> None:
        """Every database name directly inside `root` becomes a candidate; other names are skipped."""
        prefix = root.rstrip(os.sep) + os.sep
        for name, kind in self._list(walk, root, fresh) or ():
            path = prefix + name
            if sidecar_base(name):
                walk.skip(path, "sidecar")
            elif not name.lower().endswith(DB_SUFFIXES):
                walk.skip(path, "not a database name")
            else:
                walk.candidates.setdefault(path, (kind, arg))

    def match(self, walk: Walk, directory: str, segs: tuple[str, ...], arg: str, recursive: bool,
              fresh: bool) -> None:
        """Walk one glob pattern segment by segment, like `glob.glob(recursive=True)`."""
        seg, rest = segs[0], segs[1:]
        if not recursive:
            walk.glob_dirs[directory] = None
        if seg == "**":
            self.match(walk, directory, rest, arg, recursive, fresh)  # `**` may match no directory at all
            for name, kind in self._list(walk, directory, fresh) or ():
                # Symlinked directories are not followed here: a link loop would never end.
                if kind == "dir" and not name.startswith("."):
                    self.match(walk, os.path.join(directory, name), segs, arg, recursive, fresh)
            return
        if MAGIC_RE.search(seg):
            matches, hidden_ok = _segment_matcher(seg), seg.startswith(".")
            entries = [
                (name, kind)
                for name, kind in self._list(walk, directory, fresh) or ()
                if matches(name) and (hidden_ok or not name.startswith("."))
            ]
        else:
            try:
                entries = [(seg, _lstat_kind(os.path.join(directory, seg)))]
            except (OSError, ValueError):
                return
        prefix = directory.rstrip(os.sep) + os.sep  # plain concatenation: ~3x cheaper than os.path.join
        for name, kind in entries:
            path = prefix + name
            if rest:
                if kind == "dir" or (kind == "link" and os.path.isdir(path)):
                    self.match(walk, path, rest, arg, recursive, fresh)
            elif sidecar_base(name):
                walk.skip(path, "sidecar")
            else:
                walk.candidates.setdefault(path, (kind, arg))

    def forget_unvisited(self, walk: Walk) -> None:
        """Drop cached listings of directories this walk did not visit, so the cache stays bounded."""
        for gone in self._listings.keys() - walk.lists.keys():
            del self._listings[gone]

    def _list(self, walk: Walk, directory: str, fresh: bool) -> list[Entry] | None:
        """The entries of a directory, from the cache when it has not changed."""
        if directory in walk.lists:  # `**` asks for the same directory twice
            return walk.lists[directory]
        walk.lists[directory] = entries = self._list_once(walk, directory, fresh)
        return entries

    def _list_once(self, walk: Walk, directory: str, fresh: bool) -> list[Entry] | None:
        if walk.dirs_listed >= self.max_dirs:
            walk.warnings[f"stopped after listing {self.max_dirs} directories: narrow your pattern"] = None
            return None
        walk.dirs_listed += 1
        try:
            st = os.stat(directory)
            key = (st.st_dev, st.st_ino, st.st_mtime_ns)
            cached = self._listings.get(directory)
            if cached is not None and cached[0] == key and not fresh:
                return cached[1]
            with os.scandir(directory) as it:
                entries = [(e.name, _entry_kind(e)) for e in it]
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            walk.warnings[f"cannot list {directory}: {exc.strerror or exc}"] = None
            return None
        if time.time_ns() - st.st_mtime_ns > _RACY_NS:
            self._listings[directory] = (key, entries)
        else:
            self._listings.pop(directory, None)
        return entries


def _entry_kind(entry: os.DirEntry[str]) -> str:
    # d_type answers these without a system call on most filesystems.
    try:
        if entry.is_symlink():
            return "link"
        if entry.is_dir(follow_symlinks=False):
            return "dir"
        return "file" if entry.is_file(follow_symlinks=False) else "other"
    except OSError:
        return "other"


@functools.lru_cache(maxsize=256)
def _segment_matcher(segment: str) -> Callable[[str], re.Match[str] | None]:
    # Case-sensitive like glob on POSIX; `*` never crosses `/` because names are matched one at a time.
    return re.compile(fnmatch.translate(segment)).match


def _lstat_kind(path: str) -> str:
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"
