"""Make database text safe to show: no control or format characters, no secrets, bounded length.

Every DB-derived string passes through here before any UI or CLI prints it (hazards.md rules 1, 2, 11).
Markup safety is the UI's job (it renders with `Text`/`Content`, never markup); this module removes the
characters a terminal would act on.
"""

from __future__ import annotations

import re
import unicodedata

#: Categories whose characters are replaced: controls, format (bidi overrides, zero-width), surrogates,
#: private use, line and paragraph separators.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
PLACEHOLDER = "\ufffd"
_SAFE_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F))


def _needs_work(text: str) -> bool:
    return not all(ch in _SAFE_ASCII for ch in text)


def clean(text: str, *, multiline: bool = False) -> str:
    """Replace every control/format character with a visible placeholder.

    Args:
        text: Any string, typically read from a database or an exception.
        multiline: Keep `\\n` and `\\t` (for detail views); otherwise they become spaces.
    """
    if not isinstance(text, str):
        text = str(text)
    if not _needs_work(text):
        return text
    out: list[str] = []
    for ch in text:
        if ch in _SAFE_ASCII:
            out.append(ch)
        elif ch in "\n\t":
            out.append(ch if multiline else " ")
        elif ch == "\r":
            out.append("" if multiline else " ")
        elif unicodedata.category(ch) in _BAD_CATEGORIES:
            out.append(PLACEHOLDER)
        else:
            out.append(ch)
    return "".join(out)


def clean_line(text: str, limit: int | None = None) -> str:
    """One display line: sanitised, whitespace collapsed, optionally shortened with an ellipsis."""
    line = " ".join(clean(text).split())
    if limit is not None and len(line) > limit:
        line = line[: max(0, limit - 1)] + "…"
    return line


_SECRET_WORDS = frozenset(
    {
        "token", "secret", "secrets", "password", "passwords", "passwd", "pwd", "passphrase",
        "credential", "credentials", "key", "keys", "apikey", "privkey", "auth", "cookie", "session_key",
    }
)
_COUNT_WORDS = frozenset({"count", "counts", "num", "number", "total", "usage", "used", "max", "limit", "n"})
_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def is_secret_name(name: str) -> bool:
    """True when a column or table name says it holds credentials, tokens, passwords or keys."""
    words = [w for w in _SPLIT.split(_CAMEL.sub("_", name).lower()) if w]
    if "token" in words and _COUNT_WORDS.intersection(words):
        return False  # token_count, max_token_usage: a number, not a credential
    if any(w in _SECRET_WORDS for w in words):
        return True
    joined = "".join(words)
    return any(s in joined for s in ("apikey", "accesstoken", "refreshtoken", "clientsecret", "privatekey"))


_REDACT = re.compile(
    r"(?i)\b(bearer\s+|(?:api[_-]?key|access[_-]?token|refresh[_-]?token|token|secret|password|passwd)"
    r"[\"']?\s*[:=]\s*[\"']?)([A-Za-z0-9._~+/=-]{6,})"
)
_KEYLIKE = re.compile(r"\b(sk-[A-Za-z0-9_-]{12,}|gh[pousr]_[A-Za-z0-9]{20,}|ya29\.[A-Za-z0-9._-]{10,}|AKIA[0-9A-Z]{16})")


_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)")


def redact(text: str) -> str:
    """Hide credentials that leak into free text (error messages quoting a request, URLs, say)."""
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + "***" + m.group(3), text)
    text = _REDACT.sub(lambda m: m.group(1) + "***", text)
    return _KEYLIKE.sub("***", text)


def display(text: str, limit: int | None = None) -> str:
    """Sanitise and redact one line of DB text for a list cell."""
    return clean_line(redact(text), limit)


def blob_preview(data: bytes, total: int | None = None, head: int = 16) -> str:
    """`<blob N bytes: 0a1b...>`: BLOBs are never decoded for display."""
    n = total if total is not None else len(data)
    hexpart = data[:head].hex()
    more = "…" if n > head else ""
    return f"<blob {n} bytes: {hexpart}{more}>"


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KB'."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"
