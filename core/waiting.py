"""Waiting on a run (`batchtop watch --until`) and one-line digests (`batchtop status --summary`).

Both are pure functions of `status.SourceStatus` values: the CLI polls (each poll gated on
`PRAGMA data_version`, so an idle database costs no query) and asks `reached()` after each round.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from batchtop.core import fmt
from batchtop.core.history import RunState
from batchtop.core.sanitize import clean_line
from batchtop.core.status import SourceStatus, TrackStatus

CONDITIONS = ("finished", "stalled", "failed")


@dataclass(frozen=True)
class Baseline:
    """What the first poll saw: failures counted per (path, track)."""

    failed: dict[tuple[str, str], int]

    @classmethod
    def of(cls, statuses: Iterable[SourceStatus]) -> Baseline:
        return cls({(s.path, t.name): t.counts.get("failed", 0) for s in statuses for t in s.tracks})


def reached(statuses: Sequence[SourceStatus], until: Iterable[str], baseline: Baseline) -> str | None:
    """The first condition of `until` that holds now, else None.

    finished: every source was read and every track of every source is finished (nothing pending or
        running); sources still waiting for items are not finished.
    stalled: some track is stalled or interrupted (work remains and nothing moves).
    failed: some track has more failures than at the first poll (a new file counts from 0).
    """
    readable = [s for s in statuses if s.error is None and s.tracks]
    for cond in until:
        if cond == "finished":
            if (
                statuses
                and len(readable) == len(statuses)
                and all(t.activity.state == RunState.FINISHED for s in readable for t in s.tracks)
            ):
                return cond
        elif cond == "stalled":
            if any(t.activity.state in (RunState.STALLED, RunState.INTERRUPTED) for s in readable for t in s.tracks):
                return cond
        elif cond == "failed":
            if any(
                t.counts.get("failed", 0) > baseline.failed.get((s.path, t.name), 0)
                for s in readable
                for t in s.tracks
            ):
                return cond
    return None


def _eta(t: TrackStatus) -> str:
    return f"ETA {fmt.eta(t.eta, t.remaining)}"


def _counts(settled: int, total: int, failed: int, running: int, rate: float | None) -> str:
    pct = fmt.percent(settled / total if total else None)
    return f"{settled:,}/{total:,} {pct} failed {failed:,} running {running:,} {fmt.per_min(rate)}"


def summary_lines(statuses: Sequence[SourceStatus]) -> list[str]:
    """One line per source (`name: state done/total pct failed N running N rate ETA`), then totals.

    Every line is sanitised and has no width limit (for cron mails, CI logs and shell prompts).
    """
    lines = []
    totals = [0, 0, 0, 0, 0.0]
    rated = False
    for s in statuses:
        name = clean_line(os.path.basename(s.path))
        if s.error is not None:
            lines.append(f"{name}: error {clean_line(s.error)}")
            continue
        if not s.tracks:
            lines.append(f"{name}: {s.state or 'unread'}")
            continue
        settled = sum(t.settled for t in s.tracks)
        total = sum(t.total for t in s.tracks)
        failed = sum(t.counts.get("failed", 0) for t in s.tracks)
        running = sum(t.counts.get("running", 0) for t in s.tracks)
        rates = [t.rate_per_min for t in s.tracks if t.rate_per_min is not None]
        rate = sum(rates) if rates else None
        etas = [(t, t.eta) for t in s.tracks if t.eta is not None]
        slowest = max(etas, key=lambda te: te[1][1])[0] if etas else None
        lines.append(
            f"{name}: {s.state} {_counts(settled, total, failed, running, rate)} "
            f"{_eta(slowest) if slowest else 'ETA —'}"
        )
        for i, v in enumerate((settled, total, failed, running)):
            totals[i] += v
        if rate is not None:
            totals[4] += rate
            rated = True
    if len(statuses) > 1:
        all_settled, all_total, all_failed, all_running, all_rate = totals
        counts = _counts(int(all_settled), int(all_total), int(all_failed), int(all_running),
                         all_rate if rated else None)
        lines.append(f"total ({len(statuses)} sources): {counts}")
    return lines
