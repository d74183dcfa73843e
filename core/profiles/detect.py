"""Guess a profile for an unknown database from its schema and a small sample of rows.

A table is a track when one of its columns looks like a status: a state-like name and/or a few distinct
values that read as states (`PENDING`, `done`, `0..3`). Everything else (label, error, timestamps, key,
metrics, secrets) is inferred around it. Sampling never scans a table: every statement reads at most the
first and last `SAMPLE_ROWS` rows in rowid order, has a LIMIT, and is fully fetched at once.

The sampling is a backend's `Sampler` (SQLite's, rowid order: `batchtop.core.backends.sqlite.sample`;
PostgreSQL's, primary-key order: `batchtop.core.backends.postgres.sample`); what reads as what is decided
here for both.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from batchtop.core.backends.sqlite.sql import q
from batchtop.core.profiles import vocab
from batchtop.core.profiles.model import Metric, Profile, RawValue, Track
from batchtop.core.profiles.sample import SAMPLE_ROWS, ColumnStats
from batchtop.core.sanitize import clean_line, is_secret_name
from batchtop.core.schema import Column, Schema, Table
from batchtop.core.timeutil import MIN_EPOCH, unit_of

#: Why a detected track has no action (shown instead of the keys).
NO_ACTION_REASON = "detected profile: declare actions in a profile file (batchtop profile PATH > .batchtop.toml)"
#: Status candidates sampled per table (name-hinted ones first).
MAX_CANDIDATES = 8
MAX_METRICS = 4
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def affinity(ctype: str) -> str:
    """SQLite type affinity of a declared type ("none" when undeclared)."""
    t = ctype.upper()
    if "INT" in t:
        return "integer"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not t:
        return "none"
    if "BLOB" in t:
        return "blob"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def time_role(col: Column) -> str | None:
    """'started', 'finished', 'created' or 'time' for a timestamp-like column, else None."""
    ws = vocab.words(col.name)
    if not ws:
        return None
    if not ("DATE" in col.type or "TIME" in col.type or ws[-1] in vocab.TIME_LAST_WORDS):
        return None
    s = set(ws)
    for role, hints in (("started", vocab.STARTED_WORDS), ("finished", vocab.FINISHED_WORDS),
                        ("created", vocab.CREATED_WORDS)):
        if s & hints:
            return role
    return "time"


def _status_candidates(table: Table, usable: list[Column], key: str) -> list[tuple[Column, bool, bool]]:
    """(column, name-hinted, flag-named), hinted first, at most MAX_CANDIDATES."""
    hinted, others = [], []
    for c in usable:
        if c.name == key or affinity(c.type) not in ("integer", "text", "none", "numeric") or time_role(c):
            continue
        ws = set(vocab.words(c.name))
        hint = bool(ws & vocab.STATUS_WORDS) and not ws & vocab.NOT_STATUS_WORDS
        flag = "_".join(vocab.words(c.name)) in vocab.FLAG_NAMES
        if hint or flag:
            hinted.append((c, hint, flag))
        elif affinity(c.type) in ("text", "none") and not ws & {"id", "uuid", "name", "path", "url"}:
            # Unnamed text columns only count when their values read as states (checked later).
            others.append((c, False, False))
    return (hinted + others)[:MAX_CANDIDATES]


def table_key(table: Table) -> str:
    """The rowid alias (INTEGER PRIMARY KEY), the primary key of a WITHOUT ROWID table, or 'rowid'."""
    pks = sorted((c for c in table.columns if c.pk), key=lambda c: c.pk)
    if table.without_rowid and pks:
        return pks[0].name
    if len(pks) == 1 and pks[0].type == "INTEGER":
        return pks[0].name
    return "rowid"


def _pick_error(text: list[Column], stats: dict[str, ColumnStats]) -> tuple[str | None, str | None]:
    """The error column and, when it is only a guess from the data, a sentence saying so."""
    ranked = []
    for c in text:
        ws = vocab.words(c.name)
        ranks = [vocab.ERROR_WORDS.index(w) for w in ws if w in vocab.ERROR_WORDS]
        if ranks:
            ranked.append((min(ranks), c.name))
    if ranked:
        return min(ranked)[1], None
    for c in text:
        st = stats.get(c.name)
        if st is None or not st.mostly_null:
            continue
        if set(vocab.words(c.name)) & set(vocab.WEAK_ERROR_WORDS):
            return c.name, f"{clean_line(c.name)} (a mostly empty message column) taken as the error text"
        if (st.max_len or 0) >= 40:
            return c.name, f"{clean_line(c.name)} (long text, empty on most rows) taken as the error text: a guess"
    return None, None


def _pick_label(text: list[Column], key: str, stats: dict[str, ColumnStats]) -> str | None:
    """Best label-like text column; a mostly empty one (`output_file` before the end) ranks last."""
    ranked = []
    fallback = len(vocab.LABEL_WORDS)
    for i, c in enumerate(text):
        ws = vocab.words(c.name)
        ranks = [vocab.LABEL_WORDS.index(w) for w in ws if w in vocab.LABEL_WORDS]
        if not ranks and c.name != key and ws[-1:] in (["id"], ["uuid"], ["guid"]):
            ranks = [fallback]  # a text id (run_id, uuid) still beats showing the rowid
        if ranks:
            st = stats.get(c.name)
            ranked.append((st is not None and st.mostly_null, min(ranks), i, c.name))
    return min(ranked)[3] if ranked else None


def _metrics(usable: list[Column], taken: set[str]) -> tuple[Metric, ...]:
    out: list[Metric] = []
    for c in usable:
        ws = vocab.words(c.name)
        if c.name in taken or affinity(c.type) not in ("integer", "real", "numeric") or "id" in ws:
            continue
        hit = next((vocab.METRIC_WORDS[w] for w in ws if w in vocab.METRIC_WORDS), None)
        if hit and len(out) < MAX_METRICS:
            out.append(Metric(c.name, " ".join(ws), agg=hit[0], unit=hit[1]))
    return tuple(out)


def _empty_status(table: Table, candidates: list[tuple[Column, bool, bool]],
                  stats: dict[str, ColumnStats]) -> vocab.Status | None:
    """A status for a table with no rows yet, taken from a column named like one (a job that just started
    and has not queued anything is waiting, not unknown). States are read by their usual spellings until
    rows arrive; `Source` probes such a profile again at the next change."""
    if any(st.rows for st in stats.values()) or not stats:
        return None
    col = next((c for c, hint, flag in candidates if hint or flag), None)
    if col is None:
        return None
    where = f"{clean_line(table.name)}.{clean_line(col.name)}"
    flag = "_".join(vocab.words(col.name)) in vocab.FLAG_NAMES
    if affinity(col.type) in ("integer", "numeric") or flag:
        mapping, why, _ = vocab.map_codes(set(), flag)
        states: dict = dict(mapping)
        how = f"integer codes read as {why}"
    else:
        # Every state word, in the three usual letter cases: the first rows may use any of them.
        states = {style(w): state for w, state in vocab.VOCABULARY.items()
                  for style in (str.lower, str.upper, str.title)}
        how = "text states read by every state word batchtop knows"
    note = f"{where}: no rows yet, taken as the status by its name ({how}); read again when items arrive"
    return vocab.Status(col.name, states, 0.3, note, set())


class Sampler:
    """How the detector reads one backend's tables (`backends.sqlite.sample.SqliteSampler`,
    `backends.postgres.sample.PgSampler`). The detection itself (what reads as a status, an error, a
    time) is the same on every backend."""

    #: Why a table with no usable key is not tracked (None: every table has one, SQLite's rowid).
    no_key_note: str | None = None

    def table(self, table: Table) -> Table:
        """`table` with its column types as SQLite declares them (the detector reads SQLite affinities)."""
        return table

    def key(self, conn: Any, table: Table) -> str | None:
        """The column a track of `table` is keyed by, or None when it has no usable key."""
        return table_key(table)

    def distinct_values(self, conn: Any, table: Table, column: str, limit: int) -> list[tuple[RawValue, str]]:
        """Up to `limit` distinct (value, SQLite type name) pairs of `column` in a bounded sample."""
        raise NotImplementedError

    def column_stats(self, conn: Any, table: Table, columns: list[str]) -> dict[str, ColumnStats]:
        """What a bounded sample says about `columns`."""
        raise NotImplementedError

    def skippable(self, exc: Exception) -> bool:
        """An error reading one table that only means "not this table" (the others are still read)."""
        return False


def _track(conn: Any, table: Table, key: str | None,
           sampler: Sampler) -> tuple[Track, float, list[str]] | None:
    """The track for `table` with its confidence and notes, or None when nothing there is a status."""
    secrets = tuple(c.name for c in table.columns if is_secret_name(c.name))
    usable = [c for c in table.columns if c.name not in secrets]
    key = table_key(table) if key is None else key
    candidates = _status_candidates(table, usable, key)
    if not candidates:
        return None
    stats = sampler.column_stats(conn, table, [c.name for c in usable])
    best: vocab.Status | None = None
    for col, hint, flag in candidates:
        st = stats.get(col.name)
        if not (hint or flag) and st is not None and (st.max_len or 0) > vocab.MAX_STATE_CHARS:
            continue  # free text: sampling its distinct values would read every long value
        sample = sampler.distinct_values(conn, table, col.name, vocab.MAX_DISTINCT + 1)
        found = vocab.classify(table.name, col.name, sample, hint, flag)
        if found and (best is None or found.confidence > best.confidence):
            best = found
    if best is None:
        best = _empty_status(table, candidates, stats)
    if best is None:
        return None
    rest = [c for c in usable if c.name != best.column]
    name = clean_line(table.name)
    notes = [best.note]
    roles: dict[str, str] = {}
    epochs: list[str] = []
    units: set[str] = set()
    not_times: list[str] = []
    for c in rest:
        role = time_role(c)
        if role is None:
            continue
        st = stats.get(c.name)
        declared_number = affinity(c.type) in ("integer", "real") and not ("DATE" in c.type or "TIME" in c.type)
        if declared_number or (st is not None and st.numeric):
            biggest = st.max_number if st is not None else None
            if biggest is not None and biggest < MIN_EPOCH:
                not_times.append(clean_line(c.name))  # a duration or a counter, not a point in time
                continue
            epochs.append(clean_line(c.name))
            if biggest is not None:
                units.add(unit_of(biggest))
        if role != "time":
            roles.setdefault(role, c.name)
    # One unit for the track when the samples agree (litequeue: time.time_ns() everywhere), written to
    # the profile so a saved file keeps reading it; else each number is read by its own magnitude.
    time_unit = units.pop() if len(units) == 1 else "auto"
    if epochs:
        unit = _UNIT_NAMES[time_unit] if time_unit != "auto" else "a unit told by each value's magnitude"
        notes.append(f"{name}: {', '.join(epochs)} hold epoch numbers, read as {unit} "
                     "(set time_unit in a profile file if that is wrong)")
    if not_times:
        notes.append(f"{name}: {', '.join(not_times)} hold small numbers (durations?), not read as times")
    text = [c for c in rest if affinity(c.type) in ("text", "none") and time_role(c) is None and c.name != key]
    error, error_note = _pick_error(text, stats)
    label = _pick_label([c for c in text if c.name != error], key, stats)
    progress = next((c.name for c in rest if affinity(c.type) in ("integer", "real", "numeric")
                     and set(vocab.words(c.name)) & {"progress", "percent", "pct"}), None)
    step = next((c.name for c in text if "step" in vocab.words(c.name) and c.name not in (label, error)), None)
    iso = any(stats[c].iso for c in roles.values() if c in stats)
    track = Track(
        name=table.name, table=table.name, key=key, label=label, raw=best.column, states=best.states,
        error=error, started=roles.get("started"), finished=roles.get("finished"),
        created=roles.get("created"), tz="utc", time_format="iso" if iso else "space", time_unit=time_unit,
        progress=progress, step=step, secrets=secrets, no_action_reason=NO_ACTION_REASON,
        metrics=_metrics(rest, {key, *(v for v in (label, error, progress) if v), *roles.values()}),
    )
    started, finished = track.started, track.finished
    if "running" not in best.seen and started and finished:
        # Like topic_completions: a writer with no running value marks work in flight by its start time.
        track = replace(track, in_flight=f"{q(started)} IS NOT NULL AND {q(finished)} IS NULL")
        notes.append(f"{name}: no running value seen, so a pending row with {clean_line(started)} set "
                     f"and {clean_line(finished)} empty counts as running")
    notes.append(_summary(track, key))
    if error_note:
        notes.append(f"{name}: {error_note}")
    if secrets:
        notes.append(f"{name}: secret columns {', '.join(clean_line(s) for s in secrets)} are never read or shown")
    return track, best.confidence, notes


def _summary(track: Track, key: str) -> str:
    parts = [f"key {clean_line(key)}"]
    for what, value in (("label", track.label), ("error", track.error), ("started", track.started),
                        ("finished", track.finished), ("created", track.created), ("progress", track.progress)):
        if value:
            parts.append(f"{what} {clean_line(value)}")
    if track.metrics:
        parts.append("metrics " + ", ".join(clean_line(m.column) for m in track.metrics))
    text = f"{clean_line(track.table)}: " + ", ".join(parts)
    if track.started or track.finished or track.created:
        fmt = "ISO 'T'" if track.time_format == "iso" else "space-separated"
        text += f"; times read as UTC, {fmt} (set tz = \"local\" in a profile file if the writer uses local time)"
    return text


def detect(conn: Any, schema: Schema, sampler: Sampler) -> Profile | None:
    """A detected profile for an unknown database, or None when no table looks like a progress table.

    Args:
        conn: A read-only connection; every statement run here has a LIMIT and is fetched in full.
        schema: The database's schema as `read_schema` (or a backend's) returned it.
        sampler: How this backend's tables are sampled.
    """
    found: list[tuple[Track, float, list[str]]] = []
    secret_tables: list[str] = []
    skipped: list[str] = []
    keyless: list[str] = []
    for name in sorted(schema.tables):
        table = sampler.table(schema.tables[name])
        if name.lower().startswith("sqlite_"):
            continue
        if is_secret_name(name):
            secret_tables.append(name)
            continue
        key = sampler.key(conn, table)
        if key is None:
            keyless.append(name)
            continue
        try:
            result = _track(conn, table, key, sampler)
        except Exception as exc:
            if not sampler.skippable(exc):
                raise
            result = None  # e.g. a virtual table whose module this SQLite lacks
        if result is None:
            skipped.append(name)
        else:
            found.append(result)
    if not found:
        return None
    found.sort(key=lambda f: (-f[1], f[0].name))
    confidence = round(max(f[1] for f in found), 2)
    tables = ", ".join(clean_line(f[0].table) for f in found)
    notes = [f"Detected from the schema and the first and last {SAMPLE_ROWS:,} rows of each table; "
             f"confidence {confidence:.2f}."]
    for _, _, track_notes in found:
        notes.extend(track_notes)
    if skipped:
        notes.append("no status column, not tracked: " + ", ".join(clean_line(s) for s in skipped[:12]))
    if keyless and sampler.no_key_note:
        notes.append(f"{sampler.no_key_note}: " + ", ".join(clean_line(s) for s in keyless[:12]))
    if secret_tables:
        notes.append("secret tables never read: " + ", ".join(clean_line(s) for s in secret_tables))
    return Profile(
        name="detected", description=f"detected progress tables: {tables}",
        tracks=tuple(f[0] for f in found), secret_tables=tuple(secret_tables), origin="detected",
        notes=tuple(notes), confidence=confidence,
    )


def describe_unknown(schema: Schema, limit: int = 8) -> str:
    """'found tables: a (3 cols), b (5 cols) ...' for the "no progress table recognised" message."""
    tables = [t for n, t in sorted(schema.tables.items()) if not n.lower().startswith("sqlite_")]
    if not tables:
        return "found no tables"
    parts = [f"{clean_line(t.name, 40)} ({len(t.columns)} col{'' if len(t.columns) == 1 else 's'})"
             for t in tables[:limit]]
    more = f" and {len(tables) - limit} more" if len(tables) > limit else ""
    return "found tables: " + ", ".join(parts) + more
