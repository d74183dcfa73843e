"""What the headless commands share, apart from `cli` (which registers them, so they cannot import it):
argparse types, the monitor built from the common options, and `--track` selection. No Textual here."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchtop.tui.output import narrate


def count(text: str) -> int:
    """argparse type: a whole number, 0 or more."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative: give 0 or more")
    return n


def seconds(text: str) -> float:
    """argparse type: a duration in seconds, 0 or more."""
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not n >= 0 or n == float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a duration: give 0 or more seconds")
    return n


def positive(text: str) -> float:
    """argparse type: a number above 0 (a poll interval, a rate)."""
    n = seconds(text)
    if n == 0:
        raise argparse.ArgumentTypeError("0 is not allowed: give a number above 0")
    return n


def load_profiles(files: Sequence[str]) -> list:
    """The profiles of every `--profile FILE`, in order."""
    from batchtop.core.profiles.userfile import load_profiles as load_file

    profiles = []
    for f in files:
        profiles.extend(load_file(Path(f)))
    return profiles


def monitor_of(args: argparse.Namespace, paths: Sequence[str]):
    """A monitor of `paths` with the `--profile` files, scanned once (its notices narrated)."""
    from batchtop.core.monitor import Monitor

    monitor = Monitor(paths, profiles=load_profiles(args.profile))
    monitor.rescan()
    for notice in monitor.notices:
        narrate(f"batchtop: {notice}")
    return monitor


def track_named(tracks: Sequence[Any], name: str | None) -> list[Any]:
    """The tracks `--track NAME` selects: all without it; else the one of that name (or of that name as
    printed, since a name holding control characters cannot be typed)."""
    if name is None:
        return list(tracks)
    from batchtop.core.sanitize import clean_line

    return [t for t in tracks if name in (t.name, clean_line(t.name))]
