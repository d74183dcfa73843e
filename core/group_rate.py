"""Failures over time per error group: bounded histograms filled while grouping, and sparkline series.

The grouping pass (`core.groups`) reads each failed row's time anyway; the backend's SQL turns it into an epoch
minute (SQLite: `backends.sqlite.groups.minute_sql`), and each group counts its rows per bucket. A group keeps at most `MAX_BUCKETS` buckets:
past that its buckets double in width (a month-long run costs the same memory as an hour-long one), so
no row is ever kept for this and nothing is read twice. `series` then lays every group of a track on one
time axis (the span of all their failures, newest on the right) for a sparkline of `n` cells.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

#: Buckets one group keeps at most (then they are merged two by two).
MAX_BUCKETS = 512
#: Width of the finest bucket, in seconds.
MINUTE = 60

#: A histogram: bucket start (epoch minutes, SQL's reading of the stored time) -> failures.
Hist = dict


def coarsen(hist: Hist, width: int) -> tuple[Hist, int]:
    """Double the bucket width until at most MAX_BUCKETS buckets are left."""
    while len(hist) > MAX_BUCKETS:
        width *= 2
        merged: Hist = {}
        for start, n in hist.items():
            b = start - start % width
            merged[b] = merged.get(b, 0) + n
        hist = merged
    return hist, width


def merge(a: Hist, a_width: int, b: Hist, b_width: int) -> tuple[Hist, int]:
    """One histogram of both, at the coarser width of the two."""
    width = max(a_width, b_width)
    out: Hist = {}
    for hist in (a, b):
        for start, n in hist.items():
            k = start - start % width
            out[k] = out.get(k, 0) + n
    return coarsen(out, width)


def buckets(hist: Hist | None, width: int, *, local_text: bool = False) -> tuple[tuple[float, int], ...]:
    """(start in epoch seconds, count) in time order.

    Args:
        local_text: The stored times are naive local text (`tz = "local"`), which SQL read as UTC: the
            local offset is taken off.
    """
    if not hist:
        return ()
    shift = 0.0
    if local_text:
        newest = max(hist) * MINUTE
        shift = -float(time.localtime(newest).tm_gmtoff)
    return tuple((start * MINUTE + shift, n) for start, n in sorted(hist.items()))


def span(groups: Iterable[tuple[Sequence[tuple[float, int]], float]], cells: int) -> tuple[float, float] | None:
    """The time axis of a set of groups, given (buckets, bucket seconds) each: from the first failure to the
    end of the last bucket, at least `cells` minutes long (extended into the past: newest on the right)."""
    start = end = None
    for bks, width in groups:
        if not bks:
            continue
        first, last = bks[0][0], bks[-1][0] + width
        start = first if start is None else min(start, first)
        end = last if end is None else max(end, last)
    if start is None or end is None:
        return None
    return min(start, end - cells * MINUTE), end


def series(bks: Sequence[tuple[float, int]], axis: tuple[float, float] | None, cells: int) -> tuple[int, ...]:
    """Failures per cell of `axis` (split in `cells` equal parts), oldest first."""
    if axis is None or cells <= 0 or not bks:
        return ()
    start, end = axis
    step = (end - start) / cells
    out = [0] * cells
    for t, n in bks:
        i = int((t - start) // step) if step > 0 else cells - 1
        out[min(cells - 1, max(0, i))] += n
    return tuple(out)


def group_series(groups: Iterable[object], cells: int) -> Mapping[str, tuple[int, ...]]:
    """Series of every group (by signature) on their common axis; groups need `signature`, `buckets` and
    `bucket_seconds` (`core.groups.ErrorGroup`)."""
    items = list(groups)
    axis = span(((g.buckets, g.bucket_seconds) for g in items), cells)  # type: ignore[attr-defined]
    return {g.signature: series(g.buckets, axis, cells) for g in items}  # type: ignore[attr-defined]
