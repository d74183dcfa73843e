"""Words and numeric codes batch writers use for their states, and the column names that hint at roles.

Used by the detector (`batchtop.core.profiles.detect`): `classify` reads a column's sampled distinct
values as a status (or not); the word lists can grow here without burying the sampling logic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from batchtop.core.profiles.model import STATES, RawValue
from batchtop.core.sanitize import clean_line

#: More distinct values than this and a column is not a status.
MAX_DISTINCT = 24
#: Raw status values longer than this are free text, not states.
MAX_STATE_CHARS = 40

_WORDS: dict[str, tuple[str, ...]] = {
    "pending": (
        "pending", "queued", "queue", "enqueued", "new", "waiting", "wait", "todo", "to_do", "ready",
        "scheduled", "preparing", "created", "not_started", "inited", "initialized", "init", "open",
        "submitted", "received", "deferred", "retry", "retrying", "backlog", "paused", "idle", "unprocessed",
    ),
    "running": (
        "running", "run", "in_progress", "inprogress", "progress", "started", "start", "processing",
        "active", "working", "claimed", "locked", "busy", "executing", "leased", "reserved", "unack",
        "unacked", "assigned", "uploading", "downloading", "generating", "fetching", "sending",
    ),
    "done": (
        "done", "completed", "complete", "success", "succeeded", "successful", "finished", "ok",
        "processed", "acked", "passed", "pass", "delivered", "sent", "uploaded", "published", "resolved",
    ),
    "failed": (
        "failed", "fail", "failure", "error", "errored", "errors", "err", "crashed", "dead", "aborted",
        "exception", "timeout", "timed_out", "rejected", "invalid", "broken", "ack_failed", "fatal", "lost",
        "dead_letter", "dlq", "poisoned",
    ),
    "skipped": ("skipped", "skip", "ignored", "ignore", "pruned", "excluded", "filtered", "duplicate"),
    "cancelled": (
        "cancelled", "canceled", "cancel", "killed", "revoked", "terminated", "stopped", "interrupted",
        "expired", "withdrawn",
    ),
}
#: Normalised word -> canonical state.
VOCABULARY: dict[str, str] = {w: state for state, words in _WORDS.items() for w in words}

#: HTTP status codes mapped whether or not a sample shows them (below 400 done, else failed).
HTTP_CODES: tuple[int, ...] = (
    200, 201, 202, 203, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 402, 403, 404, 405, 406, 408, 409,
    410, 411, 412, 413, 414, 415, 416, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502,
    503, 504, 505, 507, 508, 510, 511,
)

_NEGATIONS = frozenset({"not", "no", "non"})
_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def words(name: str) -> list[str]:
    """`createdAt`, `created-at`, `CREATED_AT` -> ['created', 'at']."""
    return [w for w in _SPLIT.split(_CAMEL.sub("_", name).lower()) if w]


def state_of_word(value: str) -> str | None:
    """Canonical state of a raw text value, case-insensitively, or None when the word is unknown."""
    parts = words(value)
    if not parts:
        return None
    joined = "_".join(parts)
    if joined in VOCABULARY:
        return VOCABULARY[joined]
    if _NEGATIONS.intersection(parts):
        # "not_processed" must not become done through its second word.
        return None
    # "FAILED_PERMANENTLY", "done_with_warnings": the first known word decides.
    return next((VOCABULARY[p] for p in parts if p in VOCABULARY), None)


def is_code(value: object) -> bool:
    """An integer, or text holding only an integer (some writers store codes as '0'..'9')."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,6}", value) is not None


def map_codes(codes: set[int], flag_name: bool) -> tuple[dict[int, str], str, float]:
    """A guessed mapping for integer status codes, a sentence saying which convention, and a confidence.

    Args:
        codes: Distinct codes seen in the sample.
        flag_name: The column is named like a boolean flag (`done`, `processed`, `is_complete`).
    """
    if flag_name and codes <= {0, 1}:
        return {0: "pending", 1: "done"}, "a done flag: 0 not yet, 1 done", 0.5
    if codes <= {0, 1, 2, 3}:
        seen = "" if len(codes) >= 3 else " (only " + ", ".join(map(str, sorted(codes))) + " seen so far)"
        return (
            {0: "pending", 1: "running", 2: "done", 3: "failed"},
            "the common queue convention 0 ready, 1 locked, 2 done, 3 failed" + seen,
            0.5 if len(codes) >= 3 else 0.35,
        )
    if codes <= {0, 1, 2, 5, 9}:
        return (
            {0: "pending", 1: "pending", 2: "running", 5: "done", 9: "failed"},
            "persist-queue ack codes: 0 new, 1 ready, 2 unacknowledged, 5 acknowledged, 9 ack failed",
            0.4,
        )
    if codes and all(100 <= c <= 599 for c in codes):
        mapping = {c: ("done" if c < 400 else "failed") for c in sorted(codes | set(HTTP_CODES))}
        return mapping, "HTTP status codes: below 400 done, 400 and above failed", 0.35
    mapping = {c: "failed" for c in codes if c < 0}
    if 0 in codes:
        mapping[0] = "pending"
    return mapping, "no known convention: 0 pending, negative codes failed", 0.2


#: Column-name words that say "this is the state".
STATUS_WORDS = frozenset({"status", "state", "phase", "stage", "outcome", "disposition", "lifecycle"})
#: Words that say the column is about a state but is not the state itself (`status_message`).
NOT_STATUS_WORDS = frozenset(
    {"message", "msg", "reason", "text", "detail", "details", "json", "data", "changed", "updated", "at",
     "time", "date", "by", "ts", "description", "history", "log"}
)
#: Boolean-flag names whose 1 means done.
FLAG_NAMES = frozenset(
    {"done", "is_done", "processed", "is_processed", "completed", "is_completed", "complete", "is_complete",
     "finished", "is_finished"}
)
#: Error-text words, strongest first; `message`/`msg` alone only count when the column is mostly empty.
ERROR_WORDS = ("error", "errors", "err", "exception", "exc", "traceback", "stderr", "failure", "fail", "reason")
WEAK_ERROR_WORDS = ("message", "msg")
#: Label words, best first.
LABEL_WORDS = (
    "name", "title", "label", "path", "file", "filename", "filepath", "url", "uri", "topic", "task", "subject",
    "query", "prompt", "item", "job", "slug", "handle", "target", "input", "source", "description",
)
TIME_LAST_WORDS = frozenset({"at", "time", "date", "ts", "timestamp", "datetime", "on", "when"})
STARTED_WORDS = frozenset({"start", "started", "begin", "began", "claimed", "picked", "lock", "locked", "leased"})
FINISHED_WORDS = frozenset(
    {"end", "ended", "finish", "finished", "complete", "completed", "done", "processed", "failed", "stop",
     "stopped", "closed", "acked"}
)
CREATED_WORDS = frozenset(
    {"created", "create", "inserted", "insert", "enqueued", "queued", "submitted", "added", "in", "received"}
)
#: Metric words -> (aggregate, unit).
METRIC_WORDS: dict[str, tuple[str, str]] = {
    "cost": ("sum", "$"), "price": ("sum", "$"), "usd": ("sum", "$"), "spend": ("sum", "$"),
    "amount": ("sum", ""), "tokens": ("sum", ""), "count": ("sum", ""), "bytes": ("sum", ""),
    "size": ("sum", ""), "rows": ("sum", ""), "items": ("sum", ""), "records": ("sum", ""),
    "cards": ("sum", ""), "pages": ("sum", ""), "words": ("sum", ""), "chars": ("sum", ""),
    "retries": ("sum", ""), "attempts": ("sum", ""),
    "duration": ("avg", "s"), "seconds": ("avg", "s"), "secs": ("avg", "s"), "elapsed": ("avg", "s"),
    "runtime": ("avg", "s"), "latency": ("avg", "s"), "ms": ("avg", "ms"),
}


@dataclass
class Status:
    """A column that reads as a status, with its mapping and what to tell the user about it."""

    column: str
    states: dict[RawValue, str]
    confidence: float
    note: str
    seen: set[str] = field(default_factory=set)


def _show(value: RawValue) -> str:
    return clean_line(str(value), 24)


def classify(table: str, col: str, sample: list[tuple[RawValue, str]], hint: bool, flag: bool) -> Status | None:
    """Read sampled distinct (value, type) pairs of `table.col` as a status, or None when they are not one.

    The mapping lists every value the vocabulary knows for the column's kind (all state words in the
    writer's letter case; every code of a known convention), so a saved profile still reads values the
    sample did not show (optuna's PRUNED, Celery's REVOKED). NULL is pending only when the sample shows
    it; any other value is left unmapped (counted apart, never silently pending).

    Args:
        hint: The column's name says status/state/phase/...
        flag: The column's name is a done flag (`processed`, `is_done`).
    """
    if len(sample) > MAX_DISTINCT or any(t in ("blob", "real") for _, t in sample):
        return None
    vals: list[RawValue] = [v for v, _ in sample if v is not None]
    if not vals or any(isinstance(v, str) and len(v) > MAX_STATE_CHARS for v in vals):
        return None
    if all(is_code(v) for v in vals):
        found = _codes(table, col, vals, hint, flag) if hint or flag else None
    else:
        found = _words(table, col, vals, hint)
    if found is not None and any(t == "null" for _, t in sample) and None not in found.states:
        found.states[None] = "pending"
        found.note += "; NULL (no state written yet) read as pending"
    return found


def _codes(table: str, col: str, vals: list[RawValue], hint: bool, flag: bool) -> Status:
    by_code = {int(v): v for v in vals if v is not None}
    mapping, why, confidence = map_codes(set(by_code), flag)
    as_text = all(isinstance(v, str) for v in vals)
    states: dict[RawValue, str] = {}
    for code, state in mapping.items():
        states[by_code.get(code, str(code) if as_text else code)] = state
    pairs = ", ".join(f"{_show(by_code[c]) if c in by_code else c} → {mapping[c]}" for c in sorted(mapping)
                      if c in by_code or len(mapping) <= 8)
    seen = ", ".join(_show(by_code[c]) for c in sorted(by_code))
    kind = "numeric text" if as_text else "integer"
    note = (f"{clean_line(table)}.{clean_line(col)}: {kind} status codes {seen} read as {pairs} ({why}); "
            "a guess: check it and declare the mapping in a profile file ([track.states])")
    unknown = [_show(by_code[c]) for c in sorted(by_code) if c not in mapping]
    if unknown:
        note += f"; {', '.join(unknown)} not understood: counted apart as unmapped"
    seen_states = {mapping[c] for c in by_code if c in mapping}
    return Status(col, states, confidence + (0.05 if hint else 0.0), note, seen_states)


def _style(vals: list[str]) -> Callable[[str], str] | None:
    """The writer's letter case (PENDING, pending, Pending), to spell states it has not written yet."""
    letters = [v for v in vals if any(ch.isalpha() for ch in v)]
    styles: tuple[tuple[Callable[[str], bool], Callable[[str], str]], ...] = (
        (str.isupper, str.upper), (str.islower, str.lower), (str.istitle, str.title))
    for test, fn in styles:
        if letters and all(test(v) for v in letters):
            return fn
    return None


def _words(table: str, col: str, vals: list[RawValue], hint: bool) -> Status | None:
    mapped = {v: state_of_word(v) if isinstance(v, str) else None for v in vals}
    hits = {v: s for v, s in mapped.items() if s}
    frac = len(hits) / len(vals)
    kinds = set(hits.values())
    # A named status may use a private vocabulary, but most of it must still read as states
    # (a `state` column of US states has 'OK' in it); an unnamed column needs a clear majority.
    if frac < 0.5 or (not hint and (len(kinds) < 2 or frac < 0.6)):
        return None
    where = f"{clean_line(table)}.{clean_line(col)}"
    shown = sorted(hits, key=lambda v: (STATES.index(hits[v]), str(v)))
    note = (f"{where}: text status with values {', '.join(_show(v) for v in shown)} → "
            f"{', '.join(hits[v] for v in shown)}")
    unknown = [_show(v) for v, s in mapped.items() if not s]
    if unknown:
        note += f"; {', '.join(unknown)} not understood: counted apart as unmapped"
    states: dict[RawValue, str] = {v: hits[v] for v in shown}
    style = _style([v for v in vals if isinstance(v, str)]) or str.lower
    for word, state in VOCABULARY.items():
        states.setdefault(style(word), state)
    examples = [style(w) for w in ("failed", "cancelled", "skipped", "pruned", "revoked") if style(w) not in hits]
    note += (f"; every state word batchtop knows is mapped too ({', '.join(examples[:4])}, ...), "
             "so values not seen yet count right")
    confidence = (0.5 if hint else 0.35) + 0.4 * frac + (0.05 if len(kinds) > 1 else 0.0)
    return Status(col, states, min(confidence, 0.95), note, kinds)
