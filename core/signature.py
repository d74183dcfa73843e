"""Error signatures: error text with its variable parts (numbers, ids, hex, paths, times) normalised.

Failed items are grouped by signature. The same function is registered in SQLite as `bt_signature`
so that a group can be paged and reset with a predicate that SQLite evaluates.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

#: How a Python traceback starts; its signature is built from its last line (the exception).
TRACEBACK = "Traceback (most recent call last):"


class _Rule(NamedTuple):
    """One normalisation, and what a text must contain for the pattern to be able to match at all.

    The guards are cheap substring tests that let `signature()` skip most patterns for most texts (the
    path pattern alone cost more than all the others together). They must be exact: a guard may only
    reject texts the pattern cannot match (tests/test_signature.py compares with every rule applied).
    No replacement contains a digit or a needle, so a guard that failed stays failed.
    """

    pattern: re.Pattern[str]
    repl: str
    #: A substring every match contains ("" for none).
    needle: str
    #: Whether every match contains a decimal digit (`\\d`: any Unicode decimal digit).
    digit: bool


_RULES: tuple[_Rule, ...] = (
    _Rule(re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"), "<time>", ":", True),
    _Rule(re.compile(r"\b\d{2}:\d{2}:\d{2}(\.\d+)?\b"), "<time>", ":", True),
    _Rule(re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>",
          "-", False),
    _Rule(re.compile(r"(?:[A-Za-z]:)?(?:[~.]?/[^\s'\",:;()]+)+|(?:[\w.-]+/){2,}[\w.-]+"), "<path>", "/", False),
    _Rule(re.compile(r"https?://\S+"), "<url>", "://", False),
    _Rule(re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>", "0x", True),
    _Rule(re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>", "", True),
    _Rule(re.compile(r"\b[A-Za-z]+_[A-Za-z0-9]*\d[A-Za-z0-9]*\b"), "<id>", "_", True),
    _Rule(re.compile(r"-?\d+(\.\d+)?"), "<n>", "", True),
)
_DIGIT = re.compile(r"\d")
_WS = re.compile(r"\s+")
MAX_SIGNATURE = 160
#: Memo entries kept before the memo is dropped (bounded memory).
MEMO_MAX = 200_000


def signature(text: str | bytes | None) -> str:
    """The normalised first line of an error message (empty text gives '(no message)').

    A Python traceback is represented by its last line, the exception (`ValueError: bad row 7`), so
    tracebacks group by exception rather than all into one "Traceback (most recent call last):" group.

    Bytes are decoded leniently: SQL passes the error as a BLOB (`sql.signature_arg`) because sqlite3
    decodes a TEXT argument of a Python function strictly, and invalid UTF-8 would fail the statement.
    """
    if text is None:
        return "(no message)"
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text).strip()
    if not text:
        return "(no message)"
    return _normalise(headline(text).splitlines()[0][:1000])


def headline(text: str) -> str:
    """What a one-line list shows of an error: a Python traceback's exception line, other text as it is.

    The exception line is the first unindented line after the last frame (`  File ...` and the source
    and caret lines under it): the last exception of a chained traceback, the first line of a multi-line
    message. A traceback without frames gives its last line. Only text that starts with the traceback
    header counts (after white space); text that mentions one later is returned whole. `signature()`
    is built from the same line, so an item's headline and its error group agree.
    """
    stripped = text.strip()
    if not stripped.startswith(TRACEBACK):
        return text
    frame = stripped.rfind("\n  File ")  # the last frame; searched from the end, the cheap way
    if frame >= 0:
        for line in stripped[frame + 1:].splitlines()[1:]:
            if line.strip() and not line[0].isspace():
                return line.rstrip()
    # After strip() the last line is never blank (every line separator is also whitespace).
    return stripped.splitlines()[-1].strip()


def _normalise(line: str) -> str:
    """Apply every rule whose guard passes, in order; collapse white space; cut to MAX_SIGNATURE."""
    digit = _DIGIT.search(line) is not None
    for pattern, repl, needle, needs_digit in _RULES:
        if (needs_digit and not digit) or (needle and needle not in line):
            continue
        line = pattern.sub(repl, line)
    return _WS.sub(" ", line).strip()[:MAX_SIGNATURE]


_FOLD = bytes.maketrans(b"23456789", b"11111111")
_memo: dict[Any, str] = {}


def cached_signature(value: bytes | str | None) -> str:
    """`signature()` of an error as SQL hands it over (`sql.signature_arg`), memoised.

    Bytes are memoised on their digits 1-9 folded to `1`: every rule above treats those digits alike
    (`0` is kept: `0x` starts a hex number), so errors that differ only in their numbers share one entry
    and grouping a million failed rows runs the patterns once per kind of error (tests/test_groups.py
    guards this).
    """
    key = value.translate(_FOLD) if isinstance(value, bytes) else value
    sig = _memo.get(key)
    if sig is None:
        if len(_memo) >= MEMO_MAX:
            _memo.clear()
        sig = _memo[key] = signature(value)
    return sig


#: Characters of long text columns fetched for lists (hazards.md rule 11).
LIST_CHARS = 400


def signature_value(error: object) -> str | bytes | None:
    """`signature_arg` in Python, for an error value read whole (a journaled before-image).

    A BLOB never equals a text literal in SQLite, so bytes are only cut (to LIST_CHARS bytes, as
    `substr` cuts a BLOB).
    """
    if error is None:
        return None
    if isinstance(error, bytes | bytearray | memoryview):
        return bytes(error)[:LIST_CHARS]
    text = str(error)
    if text.startswith(TRACEBACK) and len(text) > LIST_CHARS:
        return text[:LIST_CHARS] + "\n" + text[-LIST_CHARS:]
    return text[:LIST_CHARS]


def error_signature(error: Any) -> str:
    """Signature of a whole error value as `sql.signature_sql` computes it in SQL (see `signature_arg`)."""
    return signature(signature_value(error))
