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

A page seen for the first time is diffed against its image before the commit: the newest frame of it
already in the WAL (a map of page -> frame is kept, filled at `start()` from the frame headers), else the
page in the database file, provided no checkpoint has copied a frame at or after this one into the file
(`nBackfillAttempted` in the `-shm`, read after the page). Without that, a job's first commit of each
interior page read "unknown" and every chunk of a 10M-row table was recounted.

Over-approximation is always safe (a chunk recounted for nothing); missing a change is not, so:
- a page whose earlier image cannot be had reports every rowid on it; pages are remembered up to
  `MAX_PAGES` (least recently seen forgotten first, then read again as above);
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
    cells: list[tuple[int, int]] = []
    append = cells.append
    # Inlined: a 10M-row table has ~900 interior pages of ~360 cells, all parsed at `WalTail.start`.
    for p in struct.unpack_from(f">{n}H", page, off + 12):
        child = (page[p] << 24) | (page[p + 1] << 16) | (page[p + 2] << 8) | page[p + 3]
        i, c = p + 4, page[p + 4]
        key = c & 0x7F
        while c >= 0x80:
            i += 1
            if i - p == 12:  # a 9-byte varint: the ninth byte has 8 bits
                key, _ = _varint(page, p + 4)
                break
            c = page[i]
            key = (key << 7) | (c & 0x7F)
        append((child, key))
    return tuple(cells), right


def _is_interior(page: bytes, pgno: int) -> bool:
    """Whether an image is a table-b-tree interior page."""
    off = 100 if pgno == 1 else 0
    return len(page) > off + 12 and page[off] == 0x05


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
        #: Interior page -> its cells, or its raw image until it is needed (`_interior`).
        self._interiors: OrderedDict[int, Interior | bytes] = OrderedDict()
        #: Newest frame of each page in the current WAL generation, up to the last frame read; False
        #: when frames were skipped (then the database file's image is no page's earlier image).
        self._where: dict[int, int] = {}
        self._mapped = False
        #: Root pages of the tables whose interior pages are read at `start()`; `_complete` while every
        #: table-interior page is known, so a page first seen as interior was none before.
        self._roots: tuple[int, ...] = ()
        self._complete = False
        #: Interior page -> the interior page that points at it (checked against the parent's image).
        self._parent: dict[int, int] = {}
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

    def start(self, roots: tuple[int, ...] = ()) -> bool:
        """Take the WAL's current end as the point changes are counted from (before a full recount).

        `roots`: the root pages of the database's tables; their interior pages (a few hundred at 10M
        rows) are read now, so a later commit that changes one is diffed, never "unknown".
        """
        self._roots = tuple(roots)
        self._forget()
        header = self._header()
        if header is None:
            self._salt = None
            return False
        size, self._last, self._salt = header
        wal = self._fd("-wal")
        self._size = os.fstat(wal).st_size if wal is not None else 0
        self._map(wal, size)
        self._prefill(wal, size)
        return True

    def _prefill(self, wal: int | None, size: int) -> None:
        """Read every table-interior page of `_roots` as of frame `_last`, level by level.

        The lowest interior level (the leaves' parents: nearly every interior page, ~900 of ~360 cells
        each at 10M rows) is kept as raw images, parsed only when a commit rewrites one (`_interior`):
        parsing them all here cost the first screen of a 10M-row table 0.2 s."""
        self._complete = False
        if wal is None or not self._mapped or not self._roots or self._salt is None:
            return
        for root in self._roots:
            level = [root]
            while level:
                images: list[tuple[int, bytes]] = []
                for pgno in level:
                    image = self._before(wal, size, pgno, self._last + 1, self._salt)
                    if image is None:
                        return  # unknown: stays incomplete
                    if _is_interior(image, pgno):
                        images.append((pgno, image))
                if not images:
                    break
                # A b-tree is balanced: when one child is a leaf, every page of that level is.
                cells, right = interior_cells(images[0][1], images[0][0]) or ((), 0)
                child = cells[0][0] if cells else right
                below_image = self._before(wal, size, child, self._last + 1, self._salt)
                if below_image is None:
                    return
                lowest = not _is_interior(below_image, child)
                below: list[int] = []
                for pgno, image in images:
                    if lowest:
                        self._interiors[pgno] = image
                        continue
                    inner = interior_cells(image, pgno)
                    assert inner is not None
                    self._interiors[pgno] = inner
                    children = [c for c, _ in inner[0]]
                    children.append(inner[1])
                    self._parent.update(dict.fromkeys(children, pgno))
                    below.extend(children)
                if len(self._interiors) > MAX_PAGES:
                    self._interiors.clear()
                    return
                level = below
        self._complete = True
    def _map(self, wal: int | None, size: int) -> None:
        """Rebuild the page -> newest frame map of frames 1..`_last` from their headers (bounded)."""
        self._where.clear()
        self._mapped = False
        if wal is None or self._salt is None or self._last > MAX_FRAMES:
            return
        frame = _FRAME_HEADER + size
        for i in range(1, self._last + 1):
            head = os.pread(wal, 16, _WAL_HEADER + (i - 1) * frame)
            if len(head) < 16 or head[8:16] != self._salt:
                return
            self._where[struct.unpack_from(">I", head, 0)[0]] = i
        self._mapped = True

    def _backfilled(self) -> int | None:
        """The highest frame a checkpoint may have copied into the database file (None: unknown)."""
        fd = self._fd("-shm")
        if fd is None:
            return None
        b = os.pread(fd, 40, 96)
        if len(b) < 36:
            return None
        return max(struct.unpack_from("=I", b, 0)[0], struct.unpack_from("=I", b, 32)[0])

    def _before(self, wal: int, size: int, pgno: int, index: int, salt: bytes) -> bytes | None:
        """The image of page `pgno` before frame `index`: b"" if it had none (a new page), None if unknown."""
        frame = _FRAME_HEADER + size
        at = self._where.get(pgno)
        if at is not None:
            data = os.pread(wal, frame, _WAL_HEADER + (at - 1) * frame)
            ok = len(data) == frame and data[8:16] == salt and struct.unpack_from(">I", data, 0)[0] == pgno
            return data[_FRAME_HEADER:] if ok else None
        if not self._mapped:
            return None
        db = self._fd("")
        if db is None:
            return None
        page = os.pread(db, size, (pgno - 1) * size)
        copied = self._backfilled()
        if copied is None or copied >= index:
            return None  # a checkpoint may have written this frame (or a later one) into the file
        return page if len(page) == size else b""

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
        if size == 0:  # an empty WAL has no page size yet: the database file's header has it
            db = self._fd("")
            head = os.pread(db, 2, 16) if db is not None else b""
            size = struct.unpack(">H", head)[0] if len(head) == 2 else 0
            if size == 0:
                return None
        return (65536 if size == 1 else size), mx, b[32:40]

    def _bounded(self, pgno: int, moved: tuple[int | None, int | None]) -> tuple[int | None, int | None]:
        """An interior page's changed range with its open ends closed by the page's own key range in its
        parent (a page's diff cannot see beyond its first and last key; its parent can)."""
        lo, hi = moved
        if lo is not None and hi is not None:
            return moved
        low, high = self._range(pgno, 0)
        return (low if lo is None else lo), (high if hi is None else hi)

    def _range(self, pgno: int, depth: int) -> tuple[int | None, int | None]:
        """Keys (exclusive low, inclusive high; None: open) a page's subtree holds, from its ancestors."""
        parent = self._parent.get(pgno)
        image = self._interior(parent) if parent is not None else None
        if parent is None or image is None or depth > 32:
            return None, None
        cells, right = image
        for i, (child, key) in enumerate(cells):
            if child == pgno:
                return (cells[i - 1][1] if i else self._range(parent, depth + 1)[0]), key
        if right == pgno:
            return (cells[-1][1] if cells else None), self._range(parent, depth + 1)[1]
        return None, None  # moved to another parent since: unknown

    def _interior(self, pgno: int) -> Interior | None:
        """The cells of a remembered interior page (parsed on first use)."""
        image = self._interiors.get(pgno)
        if isinstance(image, bytes):
            image = self._interiors[pgno] = interior_cells(image, pgno) or ((), 0)
        return image

    def _forget(self) -> None:
        self._pages.clear()
        self._interiors.clear()
        self._parent.clear()
        self._complete = False

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
            # The WAL was empty at our last look (no salts yet) and holds only this generation, no older
            # frames behind it: its first generation, read whole from frame 1 below.
            first = self._salt == bytes(8) and self._last == 0 and (
                self._size <= _WAL_HEADER + mx * (_FRAME_HEADER + size))
            # The file now holds the old generation's newest pages, no earlier images: the map only.
            self._mapped = False
            read_before = self.frames_read
            if not first and (mx > self._last or resets != 1 or truncated
                              or not self._read(wal, size, self._last + 1, None, self._salt, rowids, ranges)):
                self._lose(wal, size, mx, salt)
                return None
            if not first and self.frames_read == read_before and self._size <= _WAL_HEADER + mx * (_FRAME_HEADER + size):
                # No old frame left and a file just long enough for the new generation: it was truncated
                # (a TRUNCATE checkpoint) after frames we never saw may have been written and copied.
                # (A truncation after frames we had all read looks the same: recounted for nothing.)
                self._lose(wal, size, mx, salt)
                return None
            # A reset follows a complete checkpoint: the file holds every page of the old generation.
            self._salt, self._last = salt, 0
            self._where.clear()
            self._mapped = True
        if mx < self._last:
            self._lose(wal, size, mx, salt)
            return None
        if mx > self._last:
            ok = mx - self._last <= MAX_FRAMES and self._read(wal, size, self._last + 1, mx, salt, rowids, ranges)
            if not ok:
                self._lose(wal, size, mx, salt)
                return None
            self._last = mx
        if (None, None) in ranges:
            self.lost += 1
            return None
        return rowids, ranges

    def _lose(self, wal: int, size: int, mx: int, salt: bytes) -> None:
        """Forget what was seen and count from frame `mx` of generation `salt` on (the poll then
        answers "unknown")."""
        self._salt, self._last = salt, mx
        self._forget()
        self._map(wal, size)
        self._prefill(wal, size)
        self.lost += 1

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
            raw = self._interiors.pop(pgno, None)
            before = interior_cells(raw, pgno) if isinstance(raw, bytes) else raw
            old = self._pages.pop(pgno, None)
            # First seen since start (or forgotten): its image before this frame, b"" for a new page.
            image = self._before(fd, size, pgno, i, salt) if before is None and old is None else None
            if image:
                before, old = interior_cells(image, pgno), leaf_cells(image, pgno, size)
            # With every interior page known, one not among them was no interior page before.
            known = before is not None or old is not None or image is not None or self._complete
            inner = interior_cells(page, pgno)
            if inner is not None:
                if before is not None:
                    moved.append(self._bounded(pgno, interior_diff(before, inner) or (0, 0)))
                elif not known:
                    moved.append((None, None))  # which of its children changed is unknown
                self._interiors[pgno] = inner
                self._parent.update((child, pgno) for child, _ in inner[0])
                self._parent[inner[1]] = pgno
                if len(self._interiors) > MAX_PAGES:
                    self._interiors.popitem(last=False)
                    self._complete = False
            elif before is not None:
                moved.append((None, None))  # an interior page freed: the tree shrank
            new = leaf_cells(page, pgno, size)
            if new is not None:
                cells, spills = new
                if old is None:
                    pending.update(cells)
                    if cells and not known:  # rows deleted at the page's edges: the neighbouring chunks
                        pending.update((min(cells) - 1, max(cells) + 1))
                else:
                    pending.update(r for r, h in cells.items() if old[0].get(r) != h)
                    pending.update(spills)
                self._pages[pgno] = new
                if len(self._pages) > MAX_PAGES:
                    self._pages.popitem(last=False)
            if old is not None:
                pending.update(old[0].keys() - (new[0].keys() if new else set()))
            self._where[pgno] = i
            # Frames up to mxFrame are committed; past it only up to a commit frame (the old tail).
            if commit or last is not None:
                out |= pending
                out_ranges.extend(r for r in moved if r != (0, 0))
                pending, moved = set(), []
            i += 1
        return True
