"""Which alerts the live monitor raises, from an `[alerts]` table in a profile file or `.batchtop.toml`.

    [alerts]
    new_signature = true      # a new error cause (signature) appears
    rate_spike = false        # a failure-rate spike
    new_failures = true       # any new failure (off by default)
    stall = true              # a track stalls or is interrupted
    finished = true           # a run finishes
    notify = "bell+osc9"      # how: bell, osc9, osc777, bell+osc9, bell+osc777, off

A kind left out keeps its default (all on but `new_failures`). The table may sit beside a profile's top-level keys or beside
`[[profile]]` tables; a file holding only `[alerts]` is a config file and describes no table. The
`--alerts` flag (or `$BATCHTOP_ALERTS`) replaces the kinds chosen here, and `--notify` (or
`$BATCHTOP_NOTIFY`) the way of telling.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchtop.core.errors import ProfileError
from batchtop.core.profiles.tomlfile import DIR_PROFILE_NAMES, read_toml

#: Every kind of alert, in the order a person would want them.
KINDS = ("new-signature", "spike", "failed", "stalled", "finished")
#: The kinds on unless chosen otherwise. "failed" (every new failure) is off: beside a run that fails now
#: and then it would ring every 30 s all night; a new cause, a spike, a stall and the end are worth it.
DEFAULT_KINDS = frozenset(KINDS) - {"failed"}

#: Config key -> alert kind; the kind names themselves are accepted too.
SWITCHES: Mapping[str, str] = {
    "new_signature": "new-signature",
    "rate_spike": "spike",
    "new_failures": "failed",
    "stall": "stalled",
    "finished": "finished",
}
_ALIASES: Mapping[str, str] = {
    **SWITCHES,
    **{k.replace("-", "_"): k for k in KINDS},
}
KEYS = frozenset({*_ALIASES, "notify"})


@dataclass(frozen=True)
class AlertConfig:
    """The `[alerts]` table of one file: kinds switched on or off, and how to notify (None: not set)."""

    switches: tuple[tuple[str, bool], ...] = ()
    notify: str | None = None
    #: The file it came from ("" when built in code).
    origin: str = ""

    def kinds(self, base: Iterable[str] = DEFAULT_KINDS) -> frozenset[str]:
        """`base` with the switches applied (a kind switched on is added, one switched off removed)."""
        out = set(base)
        for kind, on in self.switches:
            if on:
                out.add(kind)
            else:
                out.discard(kind)
        return frozenset(out)


def parse_alerts(data: Any, where: str) -> AlertConfig:
    """Validate one decoded `[alerts]` table; raises ProfileError naming the file and the bad key."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: [alerts] must be a table of keys, got {type(data).__name__}")
    switches: dict[str, bool] = {}
    notify = None
    for key, value in data.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key, sorted(KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProfileError(f"{where}: [alerts]: unknown key {key!r}{hint}; allowed keys: "
                               f"{', '.join(sorted((*SWITCHES, 'notify')))}")
        if key == "notify":
            if not isinstance(value, str):
                raise ProfileError(f"{where}: [alerts]: 'notify' must be a string (bell, osc9, osc777, "
                                   "bell+osc9, bell+osc777, off)")
            notify = value
            continue
        if not isinstance(value, bool):
            raise ProfileError(f"{where}: [alerts]: {key!r} must be true or false")
        switches[_ALIASES[key]] = value
    return AlertConfig(tuple(sorted(switches.items())), notify, where)


def split_document(document: dict[str, Any], where: str) -> tuple[dict[str, Any], AlertConfig | None]:
    """The document without its `[alerts]` table, and that table validated (None when there is none)."""
    if "alerts" not in document:
        return document, None
    rest = {k: v for k, v in document.items() if k != "alerts"}
    return rest, parse_alerts(document["alerts"], where)


def read_alert_config(path: Path) -> AlertConfig | None:
    """The `[alerts]` table of the TOML file at `path`, or None when it has none."""
    _, config = split_document(read_toml(path), str(path))
    return config


def candidate_files(profile_files: Sequence[str], targets: Sequence[str], cwd: str | None = None) -> list[Path]:
    """Where an `[alerts]` table is looked for, first match wins: each `--profile` file, then the
    per-directory profile (`.batchtop.toml`, `batchtop.toml`) of the working directory, then of each
    target (a directory, or the directory of a file)."""
    out: list[Path] = [Path(f) for f in profile_files]
    dirs: list[Path] = [Path(cwd or os.getcwd())]
    for target in targets:
        if "://" in target:
            continue  # a PostgreSQL URL has no directory
        p = Path(target)
        if p.is_dir():
            dirs.append(p)
        elif p.parent.is_dir() and not any(c in target for c in "*?["):
            dirs.append(p.parent)
    seen: set[Path] = set()
    for d in dirs:
        try:
            d = d.resolve()
        except OSError:
            continue
        if d in seen:
            continue
        seen.add(d)
        out.extend(d / name for name in DIR_PROFILE_NAMES if (d / name).is_file())
    return out


def find_alert_config(profile_files: Sequence[str], targets: Sequence[str],
                      cwd: str | None = None) -> AlertConfig | None:
    """The first `[alerts]` table of `candidate_files` (None: no file has one); raises ProfileError."""
    for path in candidate_files(profile_files, targets, cwd):
        config = read_alert_config(path)
        if config is not None:
            return config
    return None
