"""Make database text safe to show: no control or format characters, no secrets, bounded length.

Every DB-derived string passes through here before any UI or CLI prints it (hazards.md rules 1, 2, 11).
Markup safety is the UI's job (it renders with `Text`/`Content`, never markup); this module removes the
characters a terminal would act on.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

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


#: Words that on their own say a name holds a credential.
_SECRET_WORDS = frozenset(
    {
        "token", "secret", "secrets", "password", "passwords", "passwd", "pwd", "passphrase", "credential",
        "credentials", "apikey", "apikeys", "privkey", "auth", "authorization", "bearer", "cookie", "cookies",
        "jwt",
    }
)
#: "key" alone is an id (a task's `key`, a `cache_key`): it is a credential only beside one of these.
_KEY_QUALIFIERS = frozenset(
    {
        "api", "private", "priv", "secret", "access", "encryption", "encrypt", "decryption", "signing", "ssh",
        "gpg", "pgp", "master", "client", "consumer", "aws", "license", "hmac", "session", "auth", "service",
        "account", "storage", "shared", "crypto", "jwt", "webhook",
    }
)
#: Run-together spellings (`xApiKey`, `userpassword`, `AUTHTOKEN`) found inside the joined words.
_SECRET_JOINED = (
    "apikey", "accesstoken", "refreshtoken", "sessiontoken", "authtoken", "bearertoken", "clientsecret",
    "privatekey", "secretkey", "accesskey", "password", "passwd", "passphrase", "authorization",
)
_COUNT_WORDS = frozenset({"count", "counts", "num", "number", "total", "usage", "used", "max", "limit", "n"})
_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True when a column, table or JSON key name says it holds credentials, tokens, passwords or keys.

    A plain `key` (a task id) is not a secret by its name alone; `api_key`, `private_key` and `ssh_key`
    are. A profile can override this per column (`secret` / `not_secret`, see `Track.is_secret`).
    """
    words = [w for w in _SPLIT.split(_CAMEL.sub("_", name).lower()) if w]
    if "token" in words and _COUNT_WORDS.intersection(words):
        return False  # token_count, max_token_usage: a number, not a credential
    if any(w in _SECRET_WORDS for w in words):
        return True
    if ("key" in words or "keys" in words) and _KEY_QUALIFIERS.intersection(words):
        return True
    joined = "".join(words)
    return any(s in joined for s in _SECRET_JOINED)


#: A name, a `:` or `=`, and a value: JSON (`"api_key": "..."`), Python reprs, kwargs, query strings and
#: headers (`Authorization: Bearer ...`). The value is hidden when the name is a credential's. A quoted
#: value may be cut by the end of a preview (no closing quote): it is still hidden.
_PAIR = re.compile(
    r"""(?P<name>"[^"\\\n]{1,64}"|'[^'\\\n]{1,64}'|(?<![A-Za-z0-9_.-])[A-Za-z_][A-Za-z0-9_.-]{0,63})"""
    r"""(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>(?i:bearer|basic|digest|token)\s+[^\s"',;&}\])]+"""
    r"""|"(?:[^"\\]|\\.)*(?:"|$)|'(?:[^'\\]|\\.)*(?:'|$)|[^\s"',;&{}\[\]()]+)"""
)
#: A quoted name whose value is an object or array (`"credentials": {...}`): hidden whole.
_CONTAINER = re.compile(r"""(?P<name>"[^"\\\n]{1,64}"|'[^'\\\n]{1,64}')\s*:\s*(?=[\[{])""")
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]{6,})")
_KEYLIKE = re.compile(
    r"\b(sk-[A-Za-z0-9_-]{12,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|glpat-[A-Za-z0-9_-]{16,}|xox[abprs]-[A-Za-z0-9-]{10,}|ya29\.[A-Za-z0-9._-]{10,}|AIza[0-9A-Za-z_-]{30,}"
    r"|AKIA[0-9A-Z]{16}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
)
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)")


#: Text holding none of these cannot name a credential (see `is_secret_name`): the pair rules are skipped.
_MAY_NAME_SECRET = ("key", "token", "secret", "pass", "pwd", "credential", "priv", "auth", "bearer", "cookie", "jwt")


def _unquote(name: str) -> str:
    return name[1:-1] if name[:1] in "\"'" else name


def _closing(text: str, start: int) -> int:
    """Index after the bracket closing the one at `start` (strings skipped), or the end of `text`."""
    depth, quote, i = 0, "", start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _redact_containers(text: str) -> str:
    out, pos = [], 0
    for m in _CONTAINER.finditer(text):
        if m.start() < pos or not is_secret_name(_unquote(m.group("name"))):
            continue
        out += [text[pos:m.end()], '"***"']
        pos = _closing(text, m.end())
    return "".join(out) + text[pos:] if out else text


def _hide_pair(m: re.Match[str]) -> str:
    if not is_secret_name(_unquote(m.group("name"))):
        return m.group(0)
    value = m.group("value")
    q = value[0] if value[:1] in "\"'" else ""
    hidden = q + "***" + (q if q and len(value) > 1 and value.endswith(q) else "")
    return m.group("name") + m.group("sep") + hidden


def redact(text: str) -> str:
    """Hide credentials that leak into free text, JSON and reprs (an error quoting a request, a URL with a
    password, kwargs such as `{"api_key": ...}`): values under credential names, bearer tokens, private
    keys and well-known key formats become `***`."""
    if not text:
        return text
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + "***" + m.group(3), text)
    low = text.lower()
    if any(word in low for word in _MAY_NAME_SECRET):
        text = _PEM.sub("***", text)
        text = _BEARER.sub(lambda m: m.group(1) + "***", text)
        if "{" in text or "[" in text:
            text = _redact_containers(text)
        text = _PAIR.sub(_hide_pair, text)
    return _KEYLIKE.sub("***", text)


def redact_page(page: str, before: str) -> str:
    """`redact` of one page of a long value, given the text just `before` it (the end of the previous
    page): a credential named at the end of one page keeps its value hidden at the start of the next."""
    if not before:
        return redact(page)
    head, whole = redact(before), redact(before + page)
    common = 0
    for a, b in zip(head, whole):
        if a != b:
            break
        common += 1
    # Where a hidden value crossed the boundary the two differ inside `before`: the page starts there.
    return whole[common:]


def display(text: str, limit: int | None = None) -> str:
    """Sanitise and redact one line of DB text for a list cell."""
    return clean_line(redact(text), limit)
