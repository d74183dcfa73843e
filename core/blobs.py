"""BLOB values as a person may see them: text and JSON decoded and redacted, pickles never shown.

A BLOB is often text in disguise: Celery's SQLAlchemy backend stores `args`/`kwargs` (JSON) and results
as BLOBs, queues store JSON payloads as bytes. Shown as hex, `{"api_key": ...}` is still readable to anyone
who reads hex, so a BLOB that decodes as UTF-8 text is shown as text, through the same secret rules as
any text (`sanitize.redact`). A pickle (persist-queue, huey, Celery's pickle serializer) is never decoded
or dumped: its strings are as readable in hex as in text, and unpickling runs code; it is summarised.
Any other BLOB is shown as hex with its readable strings that look secret masked.
"""

from __future__ import annotations

import pickletools
import re

from batchtop.core.sanitize import is_secret_name, redact

#: Bytes read to tell what a BLOB holds (its head).
HEAD_BYTES = 2048
#: Control characters (other than tab, newline, CR) allowed per 100 characters of decoded text.
_MAX_CONTROLS = 1
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{4,}")
_MASK = ord("*")


def _decode(head: bytes, complete: bool) -> str | None:
    """`head` as UTF-8 text, or None when it is not text (a multi-byte character cut at the end of a
    head that is not the whole value is allowed)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if complete or exc.reason != "unexpected end of data" or exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8", "strict")
    if "\x00" in text:
        return None
    controls = sum(1 for ch in text if ord(ch) < 0x20 and ch not in "\t\n\r")
    return text if controls * 100 <= _MAX_CONTROLS * max(1, len(text)) else None


def pickle_protocol(head: bytes) -> int | None:
    """The protocol of a pickle (0-5), or None when `head` does not start one.

    Protocols 2-5 start with PROTO (0x80) and their number. Protocols 0 and 1 have no header: a head
    counts as one when pickletools reads it as opcodes with a memo PUT among them, up to STOP or the end
    (plain text fails at once: PUT needs a decimal argument). Reading opcodes never runs the pickle.
    """
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return head[1]
    if head[:1] not in (b"(", b"c", b"}", b"]", b")", b"I", b"V", b"S", b"N"):
        return None
    puts, proto = 0, 0
    try:
        for op, _, _ in pickletools.genops(head):
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                puts += 1
            proto = max(proto, min(op.proto, 1))  # binary opcodes (BINPUT, EMPTY_DICT) mean protocol 1
            if op.name == "STOP":
                break
    except (ValueError, EOFError, UnicodeDecodeError):
        # A head cut inside an opcode is still a pickle; anything else read before it decides.
        if puts == 0:
            return None
    return proto if puts else None


def _pickle_kind(head: bytes) -> str:
    """'a dict', 'a list', 'an object', ...: the pickled value's outer type, from its first opcodes."""
    kinds = {
        "EMPTY_DICT": "a dict",
        "DICT": "a dict",
        "EMPTY_LIST": "a list",
        "LIST": "a list",
        "EMPTY_TUPLE": "a tuple",
        "TUPLE": "a tuple",
        "GLOBAL": "an object",
        "STACK_GLOBAL": "an object",
        "INST": "an object",
        "OBJ": "an object",
        "EMPTY_SET": "a set",
        "FROZENSET": "a frozenset",
    }
    try:
        for op, _, _ in pickletools.genops(head):
            if op.name in kinds:
                return kinds[op.name]
            if op.name not in (
                "PROTO",
                "FRAME",
                "MARK",
                "SHORT_BINUNICODE",
                "BINUNICODE",
                "MEMOIZE",
                "SHORT_BINSTRING",
                "UNICODE",
                "STRING",
            ):
                return "a value"
    except (ValueError, EOFError, UnicodeDecodeError):
        pass
    return "a value"


def pickle_summary(head: bytes, size: int) -> str:
    """`<pickle 312 bytes, protocol 4, a dict: not shown>`: what a pickle is, and none of its bytes."""
    proto = pickle_protocol(head)
    return (
        f"<pickle {size:,} bytes, protocol {proto}, {_pickle_kind(head)}: not shown "
        "(pickles are never decoded; they may hold secrets)>"
    )


def mask_secrets(data: bytes) -> bytes:
    """`data` with its readable strings that look secret replaced by `*` (same length, for hex views).

    A string right after one named like a credential (msgpack and other binary maps: `api_key`, then
    its value) is masked, and so is any string `redact` would hide.
    """
    out = bytearray(data)
    after_name = False
    for m in _PRINTABLE_RUN.finditer(data):
        run = m.group().decode("ascii")
        if after_name:
            out[m.start() : m.end()] = bytes([_MASK]) * len(run)
            after_name = False
            continue
        hidden = redact(run)
        if hidden != run:
            out[m.start() : m.end()] = bytes([_MASK]) * len(run)
        after_name = is_secret_name(run.strip("\"':= "))
    return bytes(out)


def blob_kind(head: bytes, size: int) -> str:
    """'text', 'pickle', 'empty' or 'binary': how a BLOB whose first bytes are `head` is shown."""
    if not size:
        return "empty"
    if pickle_protocol(head) is not None:
        return "pickle"
    return "text" if _decode(head, complete=len(head) >= size) is not None else "binary"


def blob_text(head: bytes, size: int, hex_bytes: int = 16) -> str:
    """A one-value preview of a BLOB from its `head` (the first bytes; `size` is the whole length).

    Text (JSON included) comes back decoded and redacted, a pickle as a summary, anything else as
    `<blob N bytes: hex…>` with secret-looking strings masked.
    """
    kind = blob_kind(head, size)
    if kind == "pickle":
        return pickle_summary(head, size)
    if kind == "text":
        return redact(_decode(head, complete=len(head) >= size) or "")
    hexpart = mask_secrets(head[:hex_bytes]).hex()
    more = "…" if size > hex_bytes else ""
    return f"<blob {size:,} bytes: {hexpart}{more}>"


def text_chunk(data: bytes, complete: bool) -> tuple[str, int]:
    """One page of a text BLOB: its decoded, redacted text and the bytes it covers (a multi-byte
    character cut at the end of the page is left for the next page)."""
    text = _decode(data, complete)
    if text is None:  # not text past the head after all: decode leniently, never raw
        return redact(data.decode("utf-8", "replace")), len(data)
    return redact(text), len(text.encode("utf-8"))
