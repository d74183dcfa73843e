"""Which rows a live WAL database's commits touched, read from its `-wal` without a query.

A commit in WAL mode appends the new image of every page it changed to `<db>-wal`; the committed end
(`mxFrame`) and the WAL's salts are in the wal-index header at the start of `<db>-shm`. `WalTail` reads
that header and the frames appended since its last look, and diffs every table-b-tree leaf page against
the previous image of the same page it saw: the rowids whose cell changed, appeared or disappeared are
the rows the job touched. The caller recounts only the rowid chunks holding them (`core.counting`).

Rules (hazards.md rule 8): the `-shm` and `-wal` are opened once, read with `os.pread` only (no lock, no
write, no `mmap`), and their descriptors are closed only by `close()`, which the caller runs *after*
closing its SQLite connection: closing any descriptor of a file drops every POSIX lock this process holds
on it, SQLite's own included. A file replaced under us (new inode) is read through a new descriptor; the
old one is kept until `close()` for the same reason.

Over-approximation is always safe (a chunk recounted for nothing); missing a change is not, so:
- a page seen for the first time reports every rowid on it; pages are remembered up to `MAX_PAGES`
  (least recently seen forgotten first, and then reported whole again);
- a cell whose record spills to overflow pages is reported whenever its leaf page is rewritten (a change
  inside the overflow chain may leave the leaf cell's bytes identical);
- a header that is torn or not initialised, a page size that does not fit, a WAL reset that overwrote frames
  not read yet, or any read error: `poll()` returns None ("unknown"), the caller recounts everything.
Index-only pages are ignored: an UPDATE of an indexed column rewrites the table leaf as well. Rowids of
other tables' leaves are reported too (the caller cannot tell them apart cheaply): over-approximation.
"""

from __future__ import annotations

import os
import struct
from collections import OrderedDict

#: Table-b-tree leaf pages remembered (each a dict of rowid -> cell hash: ~4 KB of rows per page).
MAX_PAGES = 20_000
#: Frames read per poll at most (a larger backlog is "unknown": recounting is cheaper than diffing it).
MAX_FRAMES = 50_000
_WAL_HEADER = 32
_FRAME_HEADER = 24
_SHM_HEADER = 136


def _varint(b: bytes, i: int) -> tuple[int, int]:
    v = 0
    for k in range(8):
        c = b[i + k]
        v = (v << 7) | (c & 0x7F)
        if c < 0x80:
            return v, i + k + 1
    return (v << 8) | b[i + 8], i + 9


#: What a poll found: rowids touched, and rowid ranges (inclusive; None for an open end) whose rows may
#: have moved or gone (an interior page of a b-tree changed: a leaf split, merged or freed).
Changes = tuple[set[int], list[tuple[int | None, int | None]]]
#: An interior page's image: its (child page, key) cells and its right-most child.
Interior = tuple[tuple[tuple[int, int], ...], int]


def interior_cells(page: bytes, pgno: int) -> Interior | None:
    """The cells of a table-b-tree interior page, else None."""
    off = 100 if pgno == 1 else 0
    if len(page) <= off + 12 or page[off] != 0x05:
        return None
    n = (page[off + 3] << 8) | page[off + 4]
    (right,) = struct.unpack_from(">I", page, off + 8)
    cells = []
    for p in struct.unpack_from(f">{n}H", page, off + 12):
        (child,) = struct.unpack_from(">I", page, p)
        key, _ = _varint(page, p + 4)
        cells.append((child, key))
    return tuple(cells), right


def interior_diff(old: Interior, new: Interior) -> tuple[int | None, int | None] | None:
    """The rowid range whose rows may have moved between two images of an interior page (None: none).

    Child `i` holds the rows with keys in (key[i-1], key[i]]; the right-most child those above the last
    key; the bounds beyond the page's own keys are its parent's, unknown here: an open end.
    """
    if old == new:
        return None
    changed = set(old[0]) ^ set(new[0])
    keys = sorted({k for _, k in old[0]} | {k for _, k in new[0]})
    lo: int | None
    hi: int | None
    if changed:
        first, last = min(k for _, k in changed), max(k for _, k in changed)
        below = [k for k in keys if k < first]
        lo = below[-1] if below else None
        hi = last
    else:
        lo, hi = (keys[-1] if keys else None), None
    if old[1] != new[1] or (changed and last >= (keys[-1] if keys else last)):
        hi = None  # the right-most child changed, or the last key moved: open above
    return lo, hi


def leaf_cells(page: bytes, pgno: int, usable: int) -> tuple[dict[int, int], set[int]] | None:
    """`({rowid: hash of its cell}, {rowids whose record overflows})` of a table leaf page, else None."""
    off = 100 if pgno == 1 else 0
    if len(page) <= off + 8 or page[off] != 0x0D:
        return None
    n = (page[off + 3] << 8) | page[off + 4]
    cells: dict[int, int] = {}
    spills: set[int] = set()
    x = usable - 35
    m = ((usable - 12) * 32 // 255) - 23
    for p in struct.unpack_from(f">{n}H", page, off + 8):
        size, j = _varint(page, p)
        rowid, j = _varint(page, j)
        if size <= x:
            local = size
        else:
            k = m + ((size - m) % (usable - 4))
            local = (k if k <= x else m) + 4
            spills.add(rowid)
        cells[rowid] = hash(page[p:j + local])
    return cells, spills


class WalTail:
    """Rowids changed by the commits appended to a WAL since the last `poll()`. Not thread-safe."""

    def __init__(self, db: str) -> None:
        self.db = db
        self._fds: dict[str, tuple[int, int]] = {}  # suffix -> (fd, inode) being read
        self._retired: list[int] = []  # descriptors of replaced files, closed by close()
        self._salt: bytes | None = None
        self._last = 0
        self._size = 0  # the -wal's size at the last look (a smaller one: truncated meanwhile)
        self._pages: OrderedDict[int, tuple[dict[int, int], set[int]]] = OrderedDict()
        self._interiors: OrderedDict[int, Interior] = OrderedDict()
        #: For benchmarks and tests: frames read, and polls that had to answer "unknown".
        self.frames_read = 0
        self.lost = 0

    def close(self) -> None:
        """Close every descriptor: only after the caller's SQLite connection to this database closed."""
        for fd, _ in self._fds.values():
            os.close(fd)
        for fd in self._retired:
            os.close(fd)
        self._fds.clear()
        self._retired.clear()

    def start(self) -> bool:
        """Take the WAL's current end as the point changes are counted from (before a full recount)."""
        self._forget()
        header = self._header()
        if header is None:
            self._salt = None
            return False
        _, self._last, self._salt = header
        wal = self._fd("-wal")
        self._size = os.fstat(wal).st_size if wal is not None else 0
        return True

    def _fd(self, suffix: str) -> int | None:
        path = self.db + suffix
        try:
            ino = os.stat(path).st_ino
        except OSError:
            return None
        held = self._fds.get(suffix)
        if held is not None and held[1] == ino:
            return held[0]
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        if held is not None:
            self._retired.append(held[0])  # never closed while the connection may hold locks on it
        self._fds[suffix] = (fd, ino)
        return fd

    def _header(self) -> tuple[int, int, bytes] | None:
        """(page size, mxFrame, salts) from the wal-index header, or None when it cannot be trusted."""
        fd = self._fd("-shm")
        if fd is None:
            return None
        b = os.pread(fd, _SHM_HEADER, 0)
        # Two copies of the header: unequal means a writer is updating it right now (try again later).
        if len(b) < _SHM_HEADER or b[0:48] != b[48:96] or not b[12]:
            return None
        size, mx = struct.unpack_from("<HI", b, 14)
        return (65536 if size == 1 else size), mx, b[32:40]

    def _forget(self) -> None:
        self._pages.clear()
        self._interiors.clear()

    def poll(self) -> Changes | None:
        """What commits since the last poll (or `start`) touched; None: unknown, recount all."""
        try:
            return self._poll()
        except (OSError, struct.error, IndexError):
            self.lost += 1
            return None

    def _poll(self) -> Changes | None:
        header = self._header()
        if header is None or self._salt is None:
            self.lost += 1
            return None
        size, mx, salt = header
        wal = self._fd("-wal")
        if wal is None:
            self.lost += 1
            return None
        rowids: set[int] = set()
        ranges: list[tuple[int | None, int | None]] = []
        size_before, self._size = self._size, os.fstat(wal).st_size
        if salt != self._salt:
            # The WAL was reset (after a checkpoint) since our last look. Exactly one reset whose new
            # frames have not reached our old position, in a file not truncated meanwhile (a TRUNCATE
            # checkpoint, `journal_size_limit`), leaves the unread tail of the old generation intact:
            # read it, then the new generation from its start. Anything else: unknown.
            resets = (int.from_bytes(salt[:4], "big") - int.from_bytes(self._salt[:4], "big")) & 0xFFFFFFFF
            truncated = self._size < size_before
            if (mx > self._last or resets != 1 or truncated
                    or not self._read(wal, size, self._last + 1, None, self._salt, rowids, ranges)):
                self._salt, self._last = salt, mx
                self._forget()
                self.lost += 1
                return None
            self._salt, self._last = salt, 0
        if mx < self._last:
            self._last, self._salt = mx, salt
            self._forget()
            self.lost += 1
            return None
        if mx > self._last:
            ok = mx - self._last <= MAX_FRAMES and self._read(wal, size, self._last + 1, mx, salt, rowids, ranges)
            self._last = mx
            if not ok:
                self._forget()
                self.lost += 1
                return None
        if (None, None) in ranges:
            self.lost += 1
            return None
        return rowids, ranges

    def _read(self, fd: int, size: int, first: int, last: int | None, salt: bytes, out: set[int],
              out_ranges: list[tuple[int | None, int | None]]) -> bool:
        """Diff frames `first`..`last` (None: up to the last valid one); False if a frame is unreadable."""
        frame = _FRAME_HEADER + size
        pending: set[int] = set()
        moved: list[tuple[int | None, int | None]] = []
        i = first
        while last is None or i <= last:
            data = os.pread(fd, frame, _WAL_HEADER + (i - 1) * frame)
            if len(data) < frame or data[8:16] != salt:
                if last is not None:
                    return False  # a committed frame we cannot read: the WAL changed under us
                break
            pgno, commit = struct.unpack_from(">II", data, 0)
            self.frames_read += 1
            page = data[_FRAME_HEADER:]
            inner = interior_cells(page, pgno)
            before = self._interiors.pop(pgno, None)
            if inner is not None:
                # A page first seen as interior: which of its children changed is unknown.
                moved.append(interior_diff(before, inner) or (0, 0) if before is not None else (None, None))
                self._interiors[pgno] = inner
                if len(self._interiors) > MAX_PAGES:
                    self._interiors.popitem(last=False)
            elif before is not None:
                moved.append((None, None))  # an interior page freed: the tree shrank
            new = leaf_cells(page, pgno, size)
            old = self._pages.pop(pgno, None)
            if new is not None:
                cells, spills = new
                if old is None:
                    pending.update(cells)
                    if cells:  # rows deleted at the page's edges: the neighbouring rowids' chunks
                        pending.update((min(cells) - 1, max(cells) + 1))
                else:
                    pending.update(r for r, h in cells.items() if old[0].get(r) != h)
                    pending.update(spills)
                self._pages[pgno] = new
                if len(self._pages) > MAX_PAGES:
                    self._pages.popitem(last=False)
            if old is not None:
                pending.update(old[0].keys() - (new[0].keys() if new else set()))
            # Frames up to mxFrame are committed; past it only up to a commit frame (the old tail).
            if commit or last is not None:
                out |= pending
                out_ranges.extend(r for r in moved if r != (0, 0))
                pending, moved = set(), []
            i += 1
        return True
