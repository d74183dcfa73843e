"""Realistic error message families for simulated failures.

Real batch jobs fail in a few recurring ways, each producing many slightly different messages (a new
request id, line number, retry delay or path every time). A monitor groups failures by a normalised
signature; these families make that grouping meaningful: many distinct messages, a handful of groups.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

#: Renders the exception text from a random source and the current epoch time.
Render = Callable[[random.Random, float], str]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


@dataclass(frozen=True)
class Family:
    """One recurring kind of failure.

    Attributes:
        name: Short identifier used in weight mappings (``"rate_limit"``).
        exc: Exception class name shown before the text, or ``""`` for bare messages.
        render: Builds the exception text (``str(exc)``); numbers, ids and paths vary per call.
    """

    name: str
    exc: str
    render: Render

    def text(self, rng: random.Random, now: float) -> str:
        """The exception text alone, as ``str(exc)`` would give it."""
        return self.render(rng, now)

    def message(self, rng: random.Random, now: float) -> str:
        """``"<ExceptionClass>: <text>"``, as a job logging ``f"{type(e).__name__}: {e}"`` stores it."""
        text = self.render(rng, now)
        return f"{self.exc}: {text}" if self.exc else text


def _utc(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_FAMILY_LIST: tuple[Family, ...] = (
    Family(
        "rate_limit",
        "RateLimitError",
        lambda r, _t: f"429 Too Many Requests (retry after {r.randint(2, 60)}s) request_id=req_{_hex(r, 24)}",
    ),
    Family("timeout", "APITimeoutError", lambda r, _t: f"Request timed out after {r.choice((30, 60, 120))}.0s"),
    Family(
        "connection",
        "APIConnectionError",
        lambda r, _t: f"Connection error: [Errno 104] Connection reset by peer (attempt {r.randint(1, 3)} of 3)",
    ),
    Family(
        "server",
        "InternalServerError",
        lambda r, _t: f"Error code: {r.choice((500, 502, 503))} - upstream overloaded, request_id=req_{_hex(r, 24)}",
    ),
    Family(
        "context_length",
        "BadRequestError",
        lambda r, _t: (
            "This model's maximum context length is 128000 tokens. "
            f"However, your messages resulted in {r.randint(128_001, 190_000)} tokens."
        ),
    ),
    Family(
        "json",
        "JSONDecodeError",
        lambda r, _t: (
            f"Expecting ',' delimiter: line {r.randint(2, 60)} column {r.randint(1, 80)} (char {r.randint(20, 4000)})"
        ),
    ),
    Family(
        "validation",
        "ValidationError",
        lambda r, _t: f"flashcard {r.randint(1, 20)} missing field '{r.choice(('answer', 'question'))}'",
    ),
    Family("db_locked", "OperationalError", lambda _r, _t: "database is locked"),
    Family(
        "file_missing",
        "FileNotFoundError",
        lambda r, _t: (
            f"[Errno 2] No such file or directory: '/data/run-{r.randint(1, 99)}/clip_{r.randint(1, 40):03d}.mp4'"
        ),
    ),
    Family("process_exit", "", lambda _r, _t: "Process exited with code 1"),
    # A cancel kills ffmpeg with SIGTERM; the builder records it as a failure with the signal's exit code.
    Family("sigterm", "", lambda _r, _t: "Process exited with code -15"),
    Family(
        "ffmpeg",
        "FFmpegError",
        lambda r, _t: f"ffmpeg exited with code 1: [mov,mp4,m4a @ 0x{_hex(r, 12)}] moov atom not found",
    ),
    Family(
        "upload_quota",
        "HttpError",
        lambda r, t: f"<HttpError 403 quotaExceeded at {_utc(t - r.randint(0, 600))}> upload_id=upl_{_hex(r, 16)}",
    ),
    Family(
        "activity_validation",
        "ValidationError",
        lambda r, _t: f"raw activity {r.randint(1, 50_000)} has invalid date '2025-{r.randint(1, 12):02d}-{r.randint(32, 39)}'",
    ),
    Family(
        "export_missing",
        "FileNotFoundError",
        lambda r, _t: (
            f"[Errno 2] No such file or directory: '/home/me/exports/notion_2025-{r.randint(1, 12):02d}-"
            f"{r.randint(1, 28):02d}.csv'"
        ),
    ),
    Family(
        "unique_tag",
        "DatabaseOperationError",
        lambda r, _t: f"Failed to execute query: UNIQUE constraint failed: tags.name (tag id {r.randint(1, 400)})",
    ),
)

#: Every family by name.
FAMILIES: Mapping[str, Family] = {f.name: f for f in _FAMILY_LIST}


def pick_family(rng: random.Random, weights: Mapping[str, float]) -> Family:
    """Choose a family by weight (unknown names raise KeyError, so typos surface early)."""
    names = sorted(weights)
    chosen = rng.choices(names, weights=[weights[n] for n in names])[0]
    return FAMILIES[chosen]
