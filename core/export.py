"""Export the rows a filter selects to CSV or JSON Lines, streamed page by page.

Only the columns a list shows are read (key, label, raw state, error, time, metrics), each as a bounded
`substr` preview; secret columns are never read, text is redacted (`sanitize.redact`) and cleaned of
control and format characters (`sanitize.clean`: newlines and tabs are kept in the error, where a
traceback needs them, and quoted by CSV or escaped by JSON). A CSV cell that starts with `=`, `+`, `-`,
`@`, a tab or a carriage return gets a leading `'`, so a spreadsheet shows it as text instead of running
it as a formula. Rows are written as they are read (`keyset.scan`): memory stays one page, whatever
the size of the table.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

from batchtop.core.backends.keyset import PAGE, scan
from batchtop.core.backends.sqlite import export as sqlite_export
from batchtop.core.paging import Db
from batchtop.core.profiles.model import Track
from batchtop.core.sanitize import clean, is_secret_name, redact
from batchtop.core.signature import cached_signature, headline
from batchtop.core.snapshot import classify
from batchtop.core.timeutil import parse_ts

#: Characters of the error exported (longer texts end with "…" and keep their full length in
#: `error_length`).
EXPORT_CHARS = 8_000
#: Characters of the label exported.
LABEL_CHARS = 1_000
FORMATS = ("csv", "jsonl")
#: Columns of every exported row, before the track's metrics.
BASE_COLUMNS = (
    "source",
    "track",
    "key",
    "label",
    "state",
    "raw",
    "signature",
    "headline",
    "error",
    "error_length",
    "when",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportCounts:
    """What an export wrote."""

    rows: int
    tracks: int


def _secret(track: Track, name: str | None) -> bool:
    return name is not None and name != "rowid" and (name in track.secrets or is_secret_name(name))


def _select(db: Db, track: Track) -> str:
    """The export's SELECT list for `track` (key first, for keyset paging), in the source's SQL."""
    backend = getattr(db, "backend", None)
    if backend is None:
        return sqlite_export.select(track, _secret, LABEL_CHARS, EXPORT_CHARS)
    return backend.export_select(db, track, _secret, LABEL_CHARS, EXPORT_CHARS)


def metric_names(track: Track) -> list[str]:
    """The metric columns a track's rows carry in an export."""
    return [m.column for m in track.metrics if not _secret(track, m.column)]


#: Plain printable ASCII needs no cleaning (the common case; `clean` checks character by character).
_PLAIN = re.compile(r"[\x20-\x7e]*\Z")
#: Every text `sanitize.redact` can change contains one of these, lower-cased (a cheap test before its
#: three patterns; substring tests beat one case-insensitive regex by far).
_SECRET_HINTS = ("://", "bearer", "api", "token", "secret", "passw", "sk-", "gh", "ya29.", "akia")


def _may_hold_secret(text: str) -> bool:
    low = text.lower()
    return any(h in low for h in _SECRET_HINTS)


def _text(value: Any, limit: int, *, multiline: bool = False) -> str:
    """Redacted and cleaned text of a value, at most `limit` characters."""
    if value is None:
        return ""
    text = str(value)[:limit]
    if _may_hold_secret(text):
        text = redact(text)
    return text if _PLAIN.match(text) else clean(text, multiline=multiline)


def rows(
    db: Db,
    track: Track,
    condition: str,
    params: dict[str, Any],
    *,
    path: str,
    page: int = PAGE,
    **scan_kw: Any,
) -> Iterator[dict[str, Any]]:
    """The rows of `track` matching `condition`, as export records, in key order (`keyset.scan`
    options such as `newest_first` pass through)."""
    names = metric_names(track)
    source, track_name = clean(path), clean(track.name)
    for chunk in scan(db, track, condition, params, _select(db, track), page=page, **scan_kw):
        for key, label, raw, flying, err, err_len, err_kind, sig_arg, when, *metrics in chunk:
            state, raw_label = classify(track, raw, flying)
            if err_kind == "blob":
                error = f"<blob {int(err_len or 0)} bytes>"
            else:
                error = _text(err, EXPORT_CHARS, multiline=True)
                if err_len and int(err_len) > EXPORT_CHARS:
                    error += "…"
            ts = parse_ts(when, track.tz)
            record = {
                "source": source,
                "track": track_name,
                "key": key if isinstance(key, int | float) or key is None else _text(key, LABEL_CHARS),
                "label": _text(label, LABEL_CHARS),
                "state": state,
                "raw": raw_label,
                "signature": _text(cached_signature(sig_arg), 400) if err is not None else "",
                "headline": _text(headline(str(err)), 400) if err is not None and err_kind != "blob" else "",
                "error": error,
                "error_length": int(err_len or 0),
                "when": datetime.fromtimestamp(ts, tz=timezone.utc).isoformat() if ts is not None else "",
            }
            for name, value in zip(names, metrics):
                if isinstance(value, float) and not math.isfinite(value):
                    value = None  # JSON has no NaN or Infinity
                record[name] = value if isinstance(value, int | float) or value is None else _text(value, 200)
            yield record


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: text starting like a formula gets a leading `'` (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


class Writer:
    """Writes export records to a text stream in one of FORMATS, header first for CSV."""

    def __init__(self, out: IO[str], fmt: str, extra_columns: Iterable[str] = ()) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
        self.out, self.fmt = out, fmt
        self.columns = list(BASE_COLUMNS) + [c for c in dict.fromkeys(extra_columns) if c not in BASE_COLUMNS]
        self.count = 0
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow([csv_cell(clean(c)) for c in self.columns])

    def write(self, record: dict[str, Any]) -> None:
        """One record (columns it lacks are empty)."""
        if self._csv is not None:
            self._csv.writerow([csv_cell(record.get(c)) for c in self.columns])
        else:
            self.out.write(json.dumps(record, ensure_ascii=True, allow_nan=False, default=str) + "\n")
        self.count += 1


def to_string(records: Iterable[dict[str, Any]], fmt: str, extra_columns: Iterable[str] = ()) -> str:
    """Records rendered whole (tests and small exports)."""
    buf = io.StringIO()
    w = Writer(buf, fmt, extra_columns)
    for r in records:
        w.write(r)
    return buf.getvalue()


def filter_text_of(kind: str, text: str | None = None, signature: str | None = None) -> str:
    """The filter that selects what a failures list shows: a filter (`where`/`match`), a group, or every
    failure. Quotes and backslashes in a signature are escaped, so it is one quoted value."""
    if kind in ("where", "match") and text:
        return text if kind == "where" else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if kind == "group" and signature is not None:
        return 'sig:"' + signature.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return ""


def export_file(
    db: Db, track: Track, filter_text: str, out_path: str, *, path: str, now: float | None = None
) -> int:
    """Export the failed rows of `track` that `filter_text` selects to `out_path` (CSV, or JSON Lines
    when it ends in `.jsonl`/`.ndjson`); returns the rows written. Used by the app's export key.

    Raises:
        FilterError: a bad filter. OSError: the file cannot be written. BatchtopError: a read failed.
    """
    return export_files([(db, track, path)], filter_text, out_path, now=now)


def export_files(
    parts: Sequence[tuple[Db, Track, str]], filter_text: str, out_path: str, *, now: float | None = None
) -> int:
    """`export_file` over many (db, track, path): one file, the sources one after the other (each row
    says its `source`), the columns of every track's metrics. The filter is compiled for every track
    before the file is created, so a bad one writes nothing.

    Raises:
        FilterError: a bad filter. OSError: the file cannot be written. BatchtopError: a read failed.
    """
    import time

    from batchtop.core.filtered import Filter, compile_for, failed_predicate

    flt, when = Filter.parse(filter_text), time.time() if now is None else now
    compiled = []
    for db, track, path in parts:
        sql, params = compile_for(db, track, flt, now=when, path=path)
        compiled.append((db, track, path, f"({sql}) AND {failed_predicate(db, track)}", params))
    extra = dict.fromkeys(m for _, track, _, _, _ in compiled for m in metric_names(track))
    fmt = "jsonl" if out_path.lower().endswith((".jsonl", ".ndjson")) else "csv"
    with open(out_path, "x", encoding="utf-8", newline="") as out:  # never overwrite: "x"
        writer = Writer(out, fmt, list(extra))
        for db, track, path, cond, params in compiled:
            for record in rows(db, track, cond, params, path=path):
                writer.write(record)
    return writer.count
