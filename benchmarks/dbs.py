"""Cached benchmark databases: the seed schemas at 10k-10M rows, built once, copied for each run that writes.

Variants (all with `id INTEGER PRIMARY KEY`, rows settled in id order as a job works through them, the
pending rows at the end, a few in flight, failures scattered among the settled rows):

- ``topics``: prompt_optimizer's `topic_completions` (seed 000) with its `idx_status` and `idx_completed_at`.
- ``topics_noindex``: the same table without `idx_status` (the status column is unindexed).
- ``derived``: `work_items` with no state column at all: the state is computed from `error` and
  `finished_at` by a TOML profile (`state_sql`) saved next to the file as `.batchtop.toml`.
- ``llm``: ParallelLLMProcessor's `llm_results` (seed 001): no index, state derived from `result` text.

Rows are generated in SQL (a recursive CTE, one transaction per chunk, journal and sync off) and the
indexes are built at the end. Each file has a manifest (`manifest.json`) with the true counts read back
after the build. The cache lives in `$BATCHTOP_BENCH_CACHE`, else `~/.cache/batchtop/bench`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from batchtop.core.simulator.errors import FAMILIES

#: Bump when the generated content changes: old cache entries are then rebuilt.
BUILD_VERSION = 1
CHUNK = 250_000
_MASK = 4294967296
#: Distinct error texts (a prime, so `hash % N` spreads well); signatures fold them into a few groups.
_ERRORS = 1009
#: Pending rows right after the settled ones that have `started_at` set (in flight).
IN_FLIGHT = 8

VARIANTS = ("topics", "topics_noindex", "derived", "llm")
TABLES = {
    "topics": "topic_completions",
    "topics_noindex": "topic_completions",
    "derived": "work_items",
    "llm": "llm_results",
}

TOPICS_DDL = """CREATE TABLE topic_completions (
    id INTEGER PRIMARY KEY,
    topic_path TEXT UNIQUE,
    content_hash TEXT,
    status TEXT,
    started_at DATETIME,
    completed_at DATETIME,
    duration_seconds REAL,
    flashcard_count INTEGER,
    cost_usd REAL,
    error_message TEXT
)"""
LLM_DDL = """CREATE TABLE llm_results (
    id INTEGER PRIMARY KEY,
    prompt TEXT NOT NULL,
    result TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)"""
DERIVED_DDL = """CREATE TABLE work_items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    error TEXT,
    cost REAL
)"""
DERIVED_STATE_SQL = (
    "CASE WHEN error IS NOT NULL THEN 'failed' WHEN finished_at IS NOT NULL THEN 'done' ELSE 'pending' END"
)
DERIVED_PROFILE = f'''# batchtop benchmark: a table whose state is computed from its columns (no state column).
name = "bench_derived"
description = "benchmark work items, state derived from error / finished_at"

[[track]]
name = "items"
table = "work_items"
key = "id"
label = "name"
state_sql = "{DERIVED_STATE_SQL}"
in_flight = "started_at IS NOT NULL AND finished_at IS NULL"
error = "error"
started = "started_at"
finished = "finished_at"
metrics = [{{ column = "cost", label = "cost", unit = "$", agg = "sum" }}]

[[track.action]]
name = "retry"
description = "clear the error: the job picks the item up again"
from = ["failed"]
clear = ["error", "finished_at", "started_at"]
'''

#: SQL giving the canonical state of a row, per variant (ground truth for manifests and the writer).
STATE_SQL = {
    "topics": "CASE status WHEN 'completed' THEN 'done' ELSE status END",
    "topics_noindex": "CASE status WHEN 'completed' THEN 'done' ELSE status END",
    "derived": DERIVED_STATE_SQL,
    "llm": "CASE WHEN result IS NULL OR result IN ('', 'NA') THEN 'pending' "
    "WHEN result LIKE 'Error:%' THEN 'failed' ELSE 'done' END",
}


@dataclass(frozen=True)
class Spec:
    """One database to build: variant, rows, journal mode and shares of done/failed rows."""

    variant: str
    rows: int
    journal: str = "wal"
    done_share: float = 0.75
    failed_share: float = 0.05

    @property
    def key(self) -> str:
        return (
            f"{self.variant}-{self.rows}-{self.journal}-d{self.done_share:g}-f{self.failed_share:g}"
            f"-v{BUILD_VERSION}"
        )

    @property
    def table(self) -> str:
        return TABLES[self.variant]

    @property
    def settled(self) -> int:
        return min(self.rows, round(self.rows * (self.done_share + self.failed_share)))


@dataclass(frozen=True)
class Built:
    """A built database: its path and what is in it."""

    spec: Spec
    path: Path
    counts: dict[str, int]
    first_pending: int
    build_seconds: float
    size_bytes: int


def cache_root(override: str | None = None) -> Path:
    """Where built databases are kept (`--cache`, `$BATCHTOP_BENCH_CACHE`, else ~/.cache/batchtop/bench)."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get("BATCHTOP_BENCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "batchtop" / "bench"


def parse_size(text: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '200000' -> 200000."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def size_label(rows: int) -> str:
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows >= 1_000 and rows % 1_000 == 0:
        return f"{rows // 1_000}k"
    return str(rows)


def ensure(spec: Spec, cache: Path, log=print) -> Built:
    """The cached database for `spec`, built first if missing (or built by an older BUILD_VERSION)."""
    folder = cache / spec.key
    db = folder / f"{spec.table}.db"
    manifest = folder / "manifest.json"
    if manifest.exists() and db.exists():
        data = json.loads(manifest.read_text())
        return Built(
            spec, db, data["counts"], data["first_pending"], data["build_seconds"], data["size_bytes"]
        )
    folder.mkdir(parents=True, exist_ok=True)
    log(f"building {spec.key} ...")
    started = time.perf_counter()
    temp = folder / f".building-{os.getpid()}.db"
    temp.unlink(missing_ok=True)
    try:
        _build(spec, temp)
        counts = _truth(temp, spec.variant)
        os.replace(temp, db)
    finally:
        temp.unlink(missing_ok=True)
    if spec.variant == "derived":
        (folder / ".batchtop.toml").write_text(DERIVED_PROFILE)
    seconds = round(time.perf_counter() - started, 1)
    built = Built(spec, db, counts, spec.settled + 1, seconds, db.stat().st_size)
    manifest.write_text(
        json.dumps(
            {
                "spec": asdict(spec),
                "counts": counts,
                "first_pending": built.first_pending,
                "build_seconds": seconds,
                "size_bytes": built.size_bytes,
            },
            indent=1,
        )
    )
    log(f"built {spec.key}: {seconds} s, {built.size_bytes / 1e6:.0f} MB")
    return built


def work_copy(built: Built, dest: Path) -> Path:
    """A private copy of a built database (for runs that write to it), with its profile if any."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / built.path.name
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(built.path, target)
    profile = built.path.parent / ".batchtop.toml"
    if profile.exists():
        shutil.copyfile(profile, dest / ".batchtop.toml")
    return target


def idle_dir(cache: Path, count: int, rows: int) -> Path:
    """A directory of `count` small unchanged topics databases (copies of one template), cached."""
    template = ensure(Spec("topics", rows), cache, log=lambda _m: None)
    folder = cache / f"idle-{count}x{rows}-v{BUILD_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    have = {p.name for p in folder.glob("run_*.db")}
    for i in range(count):
        name = f"run_{i:04d}.db"
        if name not in have:
            shutil.copyfile(template.path, folder / name)
    return folder


# -- building -------------------------------------------------------------------------------------------


def _error_texts(seed: int) -> list[str]:
    """`_ERRORS` realistic messages from the simulator's families (ids, delays, paths vary per text)."""
    rng = random.Random(seed)
    names = (
        "rate_limit",
        "timeout",
        "json",
        "validation",
        "db_locked",
        "server",
        "connection",
        "context_length",
    )
    weights = (3, 2, 3, 3, 1, 1, 2, 1)
    return [
        FAMILIES[rng.choices(names, weights)[0]].message(rng, 1_767_000_000.0 + i) for i in range(_ERRORS)
    ]


def _build(spec: Spec, path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MB: index builds stay in memory
        conn.execute("CREATE TEMP TABLE errs (k INTEGER PRIMARY KEY, msg TEXT)")
        texts = _error_texts(spec.rows)
        if spec.variant == "llm":
            texts = [f"Error: Failed after 3 attempts: {t.split(': ', 1)[-1]}" for t in texts]
        conn.executemany("INSERT INTO errs VALUES (?, ?)", enumerate(texts))
        conn.execute({"llm": LLM_DDL, "derived": DERIVED_DDL}.get(spec.variant, TOPICS_DDL))
        settled = spec.settled
        failed_per_10k = round(10_000 * spec.failed_share / max(spec.done_share + spec.failed_share, 1e-9))
        now = time.time()
        params = {
            "settled": settled,
            "fail": failed_per_10k,
            "t0": now - 3600.0,
            "step": 3600.0 / max(settled, 1),
            "flight": settled + IN_FLIGHT,
            "rows": spec.rows,
        }
        sql = _insert_sql(spec)
        for lo in range(1, spec.rows + 1, CHUNK):
            conn.execute("BEGIN")
            conn.execute(sql, {**params, "lo": lo, "hi": min(spec.rows, lo + CHUNK - 1)})
            conn.execute("COMMIT")
        conn.execute("BEGIN")
        if spec.variant == "topics":
            conn.execute("CREATE INDEX idx_status ON topic_completions(status)")
        if spec.variant in ("topics", "topics_noindex"):
            conn.execute("CREATE INDEX idx_completed_at ON topic_completions(completed_at)")
        conn.execute("COMMIT")
        conn.execute("DROP TABLE errs")
        conn.execute("PRAGMA journal_mode=WAL" if spec.journal == "wal" else "PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _insert_sql(spec: Spec) -> str:
    """One chunk of rows `:lo..:hi`; `a`/`b` are per-row hashes that pick states, texts and metrics."""
    head = f"""WITH RECURSIVE c(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM c WHERE i < :hi),
        h(i, a) AS (SELECT i, (i * 2654435761) % {_MASK} FROM c),
        g(i, a, b, s) AS (SELECT i, a, (a * 40503 + 12345) % {_MASK},
            CASE WHEN i > :settled THEN 'p' WHEN a % 10000 < :fail THEN 'f' ELSE 'd' END FROM h)"""
    done_at = "datetime(:t0 + :step * i, 'unixepoch')"
    started = (
        "CASE WHEN s != 'p' OR i <= :flight THEN datetime(:t0 + :step * i - 20 - a % 40, 'unixepoch') END"
    )
    err = f"(SELECT msg FROM errs WHERE k = a % {_ERRORS})"
    if spec.variant == "llm":
        return (
            head
            + f"""
        INSERT INTO llm_results (id, prompt, result, created_at)
        SELECT i, printf('Summarise the following customer review (#%d): item %08x was %s.', i, b,
                         CASE a % 3 WHEN 0 THEN 'late' WHEN 1 THEN 'fine' ELSE 'damaged' END),
            CASE s WHEN 'd' THEN printf('Summary: review %d reports a %s experience with item %08x.', i,
                                        CASE b % 3 WHEN 0 THEN 'good' WHEN 1 THEN 'mixed' ELSE 'poor' END, a)
                   WHEN 'f' THEN {err} END,
            datetime(:t0, 'unixepoch')
        FROM g"""
        )
    if spec.variant == "derived":
        return (
            head
            + f"""
        INSERT INTO work_items (id, name, started_at, finished_at, error, cost)
        SELECT i, printf('batch/%03d/item_%08d.json', i % 997, i), {started},
            CASE WHEN s != 'p' THEN {done_at} END, CASE WHEN s = 'f' THEN {err} END,
            CASE WHEN s = 'd' THEN round(0.018 + (a % 250) / 10000.0, 4) END
        FROM g"""
        )
    return (
        head
        + f"""
        INSERT INTO topic_completions
        SELECT i, printf('Data/Subject_%02d/topic_%08d/topic.json', (i - 1) * 20 / :rows, i), printf('%08x%08x', a, b),
            CASE s WHEN 'd' THEN 'completed' WHEN 'f' THEN 'failed' ELSE 'pending' END,
            {started}, CASE WHEN s != 'p' THEN {done_at} END,
            CASE WHEN s != 'p' THEN 20 + (a % 4000) / 100.0 END, CASE WHEN s = 'd' THEN 9 + b % 13 END,
            CASE WHEN s = 'd' THEN round(0.018 + (a % 250) / 10000.0, 4) END, CASE WHEN s = 'f' THEN {err} END
        FROM g"""
    )


def _truth(path: Path, variant: str) -> dict[str, int]:
    """Counts by canonical state, read back with a direct query (the manifest's ground truth)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT {STATE_SQL[variant]} AS st, COUNT(*) FROM {TABLES[variant]} GROUP BY st")
        return {state: n for state, n in rows}
    finally:
        conn.close()
