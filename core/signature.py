"""Error signatures: error text with its variable parts (numbers, ids, hex, paths, times) normalised.

Failed items are grouped by signature. The same function is registered in SQLite as `bt_signature`
so that a group can be paged and reset with a predicate that SQLite evaluates.
"""

from __future__ import annotations

import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(\.\d+)?\b"), "<time>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"(?:[A-Za-z]:)?(?:[~.]?/[^\s'\",:;()]+)+|(?:[\w.-]+/){2,}[\w.-]+"), "<path>"),
    (re.compile(r"https?://\S+"), "<url>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b[A-Za-z]+_[A-Za-z0-9]*\d[A-Za-z0-9]*\b"), "<id>"),
    (re.compile(r"-?\d+(\.\d+)?"), "<n>"),
)
_WS = re.compile(r"\s+")
MAX_SIGNATURE = 160


def signature(text: str | bytes | None) -> str:
    """The normalised first line of an error message (empty text gives '(no message)').

    Bytes are decoded leniently: SQL passes the error as a BLOB (`sql.signature_sql`) because sqlite3
    decodes a TEXT argument of a Python function strictly, and invalid UTF-8 would fail the statement.
    """
    if text is None:
        return "(no message)"
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    first = str(text).strip().splitlines()[0] if str(text).strip() else ""
    if not first:
        return "(no message)"
    first = first[:1000]
    for pattern, repl in _RULES:
        first = pattern.sub(repl, first)
    first = _WS.sub(" ", first).strip()
    return first[:MAX_SIGNATURE]
