"""User profiles in TOML: how to read a database batchtop does not know, written or edited by hand.

`batchtop profile PATH` prints the profile in use (detected or built-in) in this format, ready to edit.
Use a file with `--profile FILE`, or save it as `.batchtop.toml` (or `batchtop.toml`) next to the database:
it is then applied whenever every table and column it names exists. A file holds one profile (top-level
keys, below) or several (`[[profile]]` tables, each with the same keys)::

    name = "myqueue"                  # profile name (default "user")
    description = "nightly crawl"
    secret_tables = ["credentials"]   # tables never read at all

    [[track]]                         # one per table of work items
    name = "tasks"                    # display name (default: the table)
    table = "tasks"                   # required
    key = "id"                        # row identity (default "rowid")
    label = "name"                    # column shown for each item
    status = "state"                  # column holding the raw state ...
    # state_sql = "CASE WHEN result IS NULL THEN 'todo' ELSE 'ok' END"   # ... or an SQL expression
    default_state = "pending"         # optional: state of values not listed below (and of NULL);
                                      # without it they are counted apart as "unmapped", with a warning
    null_state = "failed"             # optional: state of NULL when it differs from default_state
    in_flight = "started_at IS NOT NULL"   # optional SQL: a pending row this is true for is running
    error = "last_error"              # column holding the error text
    error_states = ["failed"]         # states whose error text is meaningful (default ["failed"])
    started = "started_at"            # timestamps (text): start, finish, creation
    finished = "finished_at"
    created = "created_at"
    tz = "utc"                        # or "local": how the writer stores naive times
    time_format = "space"             # or "iso" ('2026-01-01T10:00:00')
    time_unit = "ns"                  # epoch numbers: "s", "ms", "us", "ns" (default "auto": by magnitude)
    progress = "pct"                  # percent done of running items
    step = "current_step"             # current step text of running items
    secret = ["api_token", "payload"] # columns never read, shown, exported or logged
    not_secret = ["auth_method"]      # columns named like credentials that hold none (shown after all)
    metrics = ["retries", { column = "cost", label = "cost", unit = "$", agg = "sum" }]   # agg sum|avg
    failures_recorded = true          # false: the writer leaves failed items pending
    stale_after = 1800                # seconds before a running item counts as stale
    note = "one line shown with the track"
    no_action_reason = "why there are no actions"

    [track.states]                    # canonical state = raw values (text or numeric codes)
    pending = [0, "PENDING"]          # omit the whole table when the raw values are the state names
    running = [1]
    done = [2]
    failed = [5, 9]

    [[track.action]]                  # a write the person may ask for (conditional on `from`)
    name = "retry"
    description = "back to the queue: the job picks it up again"
    from = ["failed"]                 # canonical states a row must still be in
    to = "pending"                    # state afterwards (default "pending")
    set = { state = 0 }               # literal values, never SQL
    clear = ["last_error", "finished_at"]   # columns set to NULL (after the `set` ones)

    [sessions]                        # optional table of runs shown beside the tracks
    table = "runs"
    key = "id"
    started = "started_at"
    finished = "ended_at"
    status = "status"
    columns = ["host", "args"]
    tz = "utc"
    note = "..."

    [alerts]                          # optional: which alerts the live monitor raises (core/alert_config.py)
    stall = true
    rate_spike = false

Canonical states: pending, running, done, failed, skipped, cancelled. `[track]` and `[track.action]` may
also be written as single tables. Columns named like secrets (token, password, api_key, auth, cookie, ...;
a plain `key` is an id, not a secret) are never read unless listed in `not_secret`, and are refused as
label, status, error, step, progress, metric or action target.
"""

from __future__ import annotations

import stat
from pathlib import Path

from batchtop.core.errors import ProfileError
from batchtop.core.profiles.dump import dump_profile
from batchtop.core.profiles.model import Profile
from batchtop.core.profiles.parse import parse_document
from batchtop.core.profiles.tomlfile import DIR_PROFILE_NAMES, read_toml, tomllib
from batchtop.core.schema import Schema, Table

__all__ = ["DIR_PROFILE_NAMES", "applies", "dir_profile", "dump_profile", "load_profiles", "missing",
           "parse_profiles", "read_toml"]

_ROWID_NAMES = frozenset({"rowid", "_rowid_", "oid"})


def parse_profiles(text: str, origin: str) -> list[Profile]:
    """Profiles from TOML text.

    Args:
        text: The file's content.
        origin: Where it came from ("user:<path>"), stored on each profile and named in errors.

    Raises:
        ProfileError: the text is not valid TOML or does not describe valid profiles.
    """
    where = origin[len("user:"):] if origin.startswith("user:") else origin
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message carries "(at line N, column M)".
        raise ProfileError(f"{where}: invalid TOML: {exc}") from None
    return parse_document(document, where, origin)


def load_profiles(path: Path) -> list[Profile]:
    """Profiles from the TOML file at `path` (origin "user:<path>"); none for a file holding only an
    `[alerts]` table (see `core.alert_config`).

    Raises:
        ProfileError: the file is missing, unreadable, not a regular file, or invalid.
    """
    return parse_document(read_toml(path), str(path), f"user:{path}")


def dir_profile(db_path: Path) -> Path | None:
    """The per-directory profile file next to `db_path` (see DIR_PROFILE_NAMES), if there is one."""
    for name in DIR_PROFILE_NAMES:
        candidate = db_path.parent / name
        try:
            if stat.S_ISREG(candidate.stat().st_mode):
                return candidate
        except OSError:
            continue
    return None


def _missing_columns(table: Table, what: str, columns: list[str | None]) -> list[str]:
    out = []
    for name in columns:
        if name is None:
            continue
        if name.lower() in _ROWID_NAMES and not table.has(name):
            if table.without_rowid:
                out.append(f"{what} is a WITHOUT ROWID table: {name!r} does not exist")
            continue
        if not table.has(name):
            out.append(f"{what} has no column {name!r}")
    return out


def missing(profile: Profile, schema: Schema) -> list[str]:
    """Why `profile` does not fit `schema`: each missing table or column, in one short phrase."""
    out: list[str] = []
    for track in profile.tracks:
        table = schema.table(track.table)
        if table is None:
            out.append(f"no table {track.table!r}")
            continue
        columns = [track.key, track.label, track.raw, track.error, track.started, track.finished, track.created,
                   track.progress, track.step, *(m.column for m in track.metrics),
                   *(c for a in track.actions for c, _ in a.assign)]
        out.extend(_missing_columns(table, f"table {track.table!r}", columns))
    sessions = profile.sessions
    if sessions is not None:
        table = schema.table(sessions.table)
        if table is None:
            out.append(f"no sessions table {sessions.table!r}")
        else:
            columns = [sessions.key, sessions.started, sessions.finished, sessions.status, *sessions.columns]
            out.extend(_missing_columns(table, f"table {sessions.table!r}", columns))
    return list(dict.fromkeys(out))


def applies(profile: Profile, schema: Schema) -> bool:
    """True when every table and named column of `profile` exists (a profile for another DB never applies)."""
    return not missing(profile, schema)
