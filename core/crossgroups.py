"""Error groups across sources: the same signature over many chunk files is one group.

Each (source, track) is grouped by its own incremental `groups.GroupCache` (short keyset chunks, the
source lock free between them); this module merges the per-track groups by signature. A merged group
keeps its total count, its share of all failures read, first and last seen, where it occurs (each file
and track with its own count, largest first) and a sample (the newest member of its largest part).
Acting on a merged group (`batchtop reset PATH... --group SIGNATURE`) plans and journals each file on
its own, each write conditional on the rows still failing with that signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from batchtop.core import group_rate
from batchtop.core.errors import BatchtopError
from batchtop.core.groups import MAX_GROUPS, PARTIAL_EVERY, ErrorGroup, GroupReport, cache_for
from batchtop.core.profiles.model import RawValue, Track


@dataclass(frozen=True)
class Occurrence:
    """Where a signature occurs: one track of one file, and how often."""

    path: str
    track: str
    count: int
    sample_key: RawValue


@dataclass(frozen=True)
class CrossGroup:
    """Failed items sharing one signature, over every source read."""

    signature: str
    count: int
    #: count / all failures grouped, over every source (0..1).
    share: float
    first_seen: float | None
    last_seen: float | None
    #: Largest first.
    occurrences: tuple[Occurrence, ...]
    #: The sample of the largest occurrence (sanitised previews).
    sample_path: str
    sample_track: str
    sample_key: RawValue
    sample_label: str
    sample_error: str
    #: Failures over time over every part: (bucket start in epoch seconds, count), oldest first, each
    #: `bucket_seconds` wide (the widest of the parts' buckets; empty without timestamps).
    buckets: tuple[tuple[float, int], ...] = ()
    bucket_seconds: float = 60.0

    @property
    def sources(self) -> tuple[str, ...]:
        """Files the group occurs in, largest part first (each once)."""
        return tuple(dict.fromkeys(o.path for o in self.occurrences))


@dataclass(frozen=True)
class CrossReport:
    """Merged groups, largest first, and what could not be read."""

    groups: tuple[CrossGroup, ...]
    #: Failures grouped over all sources.
    failed: int
    #: Distinct signatures over all sources (may exceed len(groups)).
    distinct: int
    #: (path, message) of sources or tracks that could not be grouped.
    errors: tuple[tuple[str, str], ...] = ()
    #: Some track had more than `groups.MAX_GROUPS` signatures: its smallest groups are not merged.
    truncated: bool = False


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _merged_buckets(groups: Iterable[ErrorGroup]) -> tuple[tuple[tuple[float, int], ...], float]:
    """The parts' histograms laid on the widest part's buckets (bucket starts are epoch seconds)."""
    parts = [g for g in groups if g.buckets]
    if not parts:
        return (), 60.0
    width = max(g.bucket_seconds for g in parts)
    out: dict[float, int] = {}
    for g in parts:
        for start, n in g.buckets:
            b = start - start % width
            out[b] = out.get(b, 0) + n
    return tuple(sorted(out.items())), width


def merge(parts: Iterable[tuple[str, str, Iterable[ErrorGroup]]], *, limit: int | None = None) -> CrossReport:
    """Merge per-track groups (`(path, track name, groups)`) by signature, largest first."""
    acc: dict[str, list[Any]] = {}
    for path, track, groups in parts:
        for g in groups:
            a = acc.get(g.signature)
            occ = Occurrence(path, track, g.count, g.sample_key)
            if a is None:
                acc[g.signature] = [g.count, g.first_seen, g.last_seen, [occ], {occ: g}]
            else:
                a[0] += g.count
                a[1], a[2] = _min(a[1], g.first_seen), _max(a[2], g.last_seen)
                a[3].append(occ)
                a[4][occ] = g
    total = sum(a[0] for a in acc.values())
    out = []
    for sig, (n, first, last, occs, by_occ) in sorted(acc.items(), key=lambda kv: (-kv[1][0], kv[0])):
        occs.sort(key=lambda o: (-o.count, o.path, o.track))
        top = by_occ[occs[0]]
        buckets, width = _merged_buckets(by_occ.values())
        out.append(
            CrossGroup(
                sig,
                n,
                n / total if total else 0.0,
                first,
                last,
                tuple(occs),
                occs[0].path,
                occs[0].track,
                top.sample_key,
                top.sample_label,
                top.sample_error,
                buckets,
                width,
            )
        )
    if limit is not None:
        out = out[:limit]
    return CrossReport(tuple(out), total, len(acc))


def cross_groups(
    pairs: Iterable[tuple[Any, Track]],
    *,
    limit: int | None = None,
    max_groups: int = MAX_GROUPS,
    partial: Callable[[CrossReport], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> CrossReport:
    """Group the failures of every (source, track) and merge them across sources.

    Args:
        pairs: `Source` objects (already polled, so their profile is known) with one of their tracks.
        limit: Merged groups returned at most.
        max_groups: Groups kept per track before merging.
        partial: Called with the merge of the tracks grouped so far (and the provisional groups of the
            one being read) at most every `groups.PARTIAL_EVERY` seconds while the pass goes on: the top
            causes show before a large set of files is read through.
        progress: Called with the failed rows read so far (the sum over tracks), between chunks.

    Sources that cannot be read are reported in `errors`; the others are still merged.
    """
    parts: list[tuple[str, str, tuple[ErrorGroup, ...]]] = []
    errors: list[tuple[str, str]] = []
    truncated = False
    due = [time.monotonic() + PARTIAL_EVERY]
    read_before = [0]

    def provisional(path: str, name: str, groups: tuple[ErrorGroup, ...]) -> None:
        if partial is None or time.monotonic() < due[0]:
            return
        due[0] = time.monotonic() + PARTIAL_EVERY
        partial(merge([*parts, (path, name, groups)], limit=limit))

    for source, track in pairs:
        if not track.failures_recorded:
            continue
        path, name = source.path, track.name

        def on_partial(r: GroupReport, p: str = path, n: str = name) -> None:
            provisional(p, n, r.groups)

        try:
            report = cache_for(source, track).refresh(
                source,
                max_groups=max_groups,
                partial=None if partial is None else on_partial,
                progress=None if progress is None else lambda n: progress(read_before[0] + n),
            )
        except BatchtopError as exc:
            errors.append((source.path, exc.message))
            continue
        truncated = truncated or report.distinct > len(report.groups)
        read_before[0] += report.failed
        parts.append((path, name, report.groups))
        provisional(path, name, ())
    merged = merge(parts, limit=limit)
    return CrossReport(merged.groups, merged.failed, merged.distinct, tuple(errors), truncated)


#: Cells of each group's `rate` series in the JSON document (all groups on one time axis).
RATE_CELLS = 24


def to_json(report: CrossReport, cells: int = RATE_CELLS) -> dict[str, Any]:
    """The `batchtop failures --group --json` document.

    Each group's `rate` counts its failures per cell of `rate_axis` (`cells` equal spans from the first
    failure of any group to the newest; null without timestamps), oldest first: a sparkline's data.
    """
    axis = group_rate.span(((g.buckets, g.bucket_seconds) for g in report.groups), cells)
    return {
        "groups": [
            {
                "signature": g.signature,
                "count": g.count,
                "share": round(g.share, 4),
                "sources": [{"path": o.path, "track": o.track, "count": o.count} for o in g.occurrences],
                "first_seen": g.first_seen,
                "last_seen": g.last_seen,
                "rate": list(group_rate.series(g.buckets, axis, cells)),
                "sample": {
                    "path": g.sample_path,
                    "track": g.sample_track,
                    "key": g.sample_key,
                    "label": g.sample_label,
                    "error": g.sample_error,
                },
            }
            for g in report.groups
        ],
        "failed": report.failed,
        "distinct": report.distinct,
        "truncated": report.truncated,
        "rate_axis": None if axis is None else {"start": axis[0], "end": axis[1], "cells": cells},
        "errors": [{"path": p, "error": m} for p, m in report.errors],
    }
