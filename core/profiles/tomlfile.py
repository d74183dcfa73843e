"""Reading a TOML file safely (a regular file only, clear errors), and where per-directory files are.

A leaf of `core.profiles`: profile parsing (`userfile`) and the `[alerts]` table (`core.alert_config`)
both read files through it, without importing each other.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

from batchtop.core.errors import ProfileError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

#: Per-directory profile files looked for next to a database, first match wins.
DIR_PROFILE_NAMES: tuple[str, ...] = (".batchtop.toml", "batchtop.toml")


def read_toml(path: Path) -> dict:
    """The decoded TOML document at `path` (a regular file only: a FIFO would block the read forever).

    Raises:
        ProfileError: the file is missing, unreadable, not a regular file, or not valid TOML.
    """
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            # A FIFO would block the read forever (hazards.md rule 9).
            raise ProfileError(f"{path}: not a regular file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile file not found") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile file: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: invalid TOML: {exc}") from None
