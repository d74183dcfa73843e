"""Profiles: how to read each kind of database (built-in, detected, or from a user's TOML file)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchtop.core import errors
from batchtop.core.profiles.builtin import BUILTINS, match_builtin
from batchtop.core.profiles.model import STATES, Action, Metric, Profile, Sessions, Track

if TYPE_CHECKING:  # schema -> sql -> profiles.model would import this package mid-way
    from batchtop.core.schema import Schema

__all__ = ["BUILTINS", "STATES", "Action", "Metric", "Profile", "Sessions", "Track", "choose_profile",
           "directory_profiles"]

_dir_cache: dict[str, tuple[float, tuple[Profile, ...]]] = {}


def directory_profiles(db_path: str) -> tuple[Profile, ...]:
    """Profiles from a `.batchtop.toml` next to the database (re-read when the file changes)."""
    from batchtop.core.profiles.userfile import dir_profile, load_profiles

    found = dir_profile(Path(db_path))
    if found is None:
        return ()
    key = str(found)
    mtime = os.stat(found).st_mtime
    cached = _dir_cache.get(key)
    if cached and cached[0] == mtime:
        return cached[1]
    profiles = tuple(load_profiles(found))
    _dir_cache[key] = (mtime, profiles)
    return profiles


def choose_profile(
    conn: Any, schema: Schema, user: Sequence[Profile] = (), forced: Profile | None = None
) -> Profile:
    """The profile for a database: forced, else a user profile that applies, else built-in, else detected.

    Raises:
        UnknownSchema: nothing in the database looks like a progress table.
    """
    from batchtop.core.backends.sqlite.sample import SAMPLER
    from batchtop.core.profiles.detect import describe_unknown, detect
    from batchtop.core.profiles.userfile import applies

    if forced is not None:
        if not applies(forced, schema):
            raise errors.UnknownSchema(f"profile {forced.name!r} does not match this database's tables")
        return forced
    for profile in user:
        if applies(profile, schema):
            return profile
    builtin = match_builtin(schema)
    if builtin is not None:
        return builtin
    if not schema.tables:
        raise errors.UnknownSchema("empty database, no progress tables")
    detected = detect(conn, schema, SAMPLER)
    if detected is not None:
        return detected
    raise errors.UnknownSchema(f"no progress table recognised; {describe_unknown(schema)}")
