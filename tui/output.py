"""How the headless commands write: sanitised narration on stderr, sanitised JSON on stdout, quiet on a
closed pipe.

Every string a command prints can come from a database, a file name or a profile, so every one goes
through `core.sanitize` here, in text and JSON alike (hazards.md rule 2): JSON is also read by `jq -r`,
which would turn an escaped `\\u001b` back into a raw ESC on the terminal. No Rich, no Textual.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from batchtop.core.sanitize import clean, clean_line

#: Exit status after stdout was closed early (`batchtop status | head`): 128 + SIGPIPE, as other tools.
EXIT_PIPE = 141


def narrate(message: str) -> None:
    """One sanitised line on stderr."""
    print(clean_line(message), file=sys.stderr)


def safe_json(value: Any) -> Any:
    """`value` with every string (keys too) sanitised: control, format and bidi characters replaced
    (newlines and tabs kept: JSON escapes them). Keys that become equal are kept apart: counts are
    added up, other values get a ' (2)' suffix on their key."""
    if isinstance(value, str):
        return clean(value, multiline=True)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            key, item = safe_json(k) if isinstance(k, str) else k, safe_json(v)
            if key in out:
                if isinstance(item, int) and isinstance(out[key], int) and not isinstance(item, bool):
                    out[key] += item
                    continue
                n = 2
                while f"{key} ({n})" in out:
                    n += 1
                key = f"{key} ({n})"
            out[key] = item
        return out
    if isinstance(value, list | tuple):
        return [safe_json(v) for v in value]
    return value


def emit_json(doc: Any) -> None:
    """`doc` as indented, sanitised, ASCII-only JSON on stdout."""
    print(json.dumps(safe_json(doc), indent=2, ensure_ascii=True, default=lambda v: clean(str(v))))


def silence_stdout() -> None:
    """After a closed pipe: point stdout (and stderr, often the same pipe) at /dev/null, so the flush at
    exit cannot raise a second BrokenPipeError ("Exception ignored ...") or print a traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError, AttributeError):  # not a real file (captured in tests)
            pass
    os.close(devnull)
