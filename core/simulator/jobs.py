"""YouTube Video Builder (seed 004): rollback journal, a new connection per call (default 5 s timeout).

Each call is one statement, commit, close. ``preparing`` -> ``queued`` -> ``running`` at progress
25/50/75/90/100 (``started_at`` is overwritten on every progress update) -> ``completed`` with
``output_file`` or ``failed`` with ``error``; a cancel is recorded as ``failed`` / ``Process exited with
code -15``. ``error`` may be set on completed jobs too. Foreign keys are off, so ``job_files`` keeps rows
of jobs deleted by cleanup. Timestamps are naive local ISO with ``T``.
"""

from __future__ import annotations

import json
import random
import sqlite3
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from batchtop.core.simulator.base import Writer
from batchtop.core.simulator.errors import FAMILIES
from batchtop.core.simulator.support import Clock, Outcome, Thunk, local_iso

DDL = """CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER DEFAULT 0,
    current_step TEXT,
    config TEXT,
    output_file TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS idx_jobs_created ON jobs(created_at DESC);
CREATE TABLE IF NOT EXISTS job_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    file_type TEXT NOT NULL,
    filename TEXT NOT NULL,
    file_path TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    FOREIGN KEY (job_id) REFERENCES jobs(job_id) ON DELETE CASCADE,
    UNIQUE(job_id, file_type, filename)
);
CREATE INDEX IF NOT EXISTS idx_job_files_job ON job_files(job_id);
CREATE TABLE IF NOT EXISTS youtube_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL,
    video_id TEXT NOT NULL,
    video_url TEXT NOT NULL,
    title TEXT,
    description TEXT,
    privacy TEXT,
    tags TEXT,
    category TEXT,
    uploaded_at TEXT NOT NULL,
    FOREIGN KEY (job_id) REFERENCES jobs(job_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_youtube_job ON youtube_uploads(job_id);
CREATE TABLE IF NOT EXISTS youtube_credentials (
    id INTEGER PRIMARY KEY,
    channel TEXT,
    credentials_json TEXT,
    updated_at TEXT
);
"""
STATUSES = ("preparing", "queued", "running", "completed", "failed", "cancelled")
STAGES = (
    (25, "Concatenating video clips"),
    (50, "Mixing audio"),
    (75, "Rendering text overlays"),
    (90, "Encoding final video"),
    (100, "Finalizing output"),
)
_FILES = (("videos", "clip_{:03d}.mp4"), ("music", "track_{:02d}.mp3"), ("sounds", "whoosh_{:02d}.wav"),
          ("quotes", "quotes_{:02d}.txt"))
_ID_CHARS = string.ascii_letters + string.digits + "-_"


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def fake_credentials(rng: random.Random, now: float) -> str:
    """A token-shaped but clearly fake OAuth credentials JSON (never a real secret)."""
    return json.dumps({
        "access_token": f"ya29.FAKE-{_hex(rng, 40)}",
        "refresh_token": f"1//FAKE-{_hex(rng, 32)}",
        "token_uri": "https://oauth2.googleapis.com/token",
        "client_id": "000000000000-fakeclientid.apps.googleusercontent.com",
        "client_secret": f"GOCSPX-FAKE-{_hex(rng, 16)}",
        "scopes": ["https://www.googleapis.com/auth/youtube.upload"],
        "expiry": local_iso(now + 3599),
    })


class JobsWriter(Writer):
    """One build at a time, every update through a fresh connection."""

    schema: ClassVar[str] = "jobs"
    filename: ClassVar[str] = "yt-builder.db"
    journal_mode: ClassVar[str] = "delete"
    commits_per_item: ClassVar[float] = 7.0
    families: ClassVar[Mapping[str, float]] = {"process_exit": 6, "sigterm": 2, "ffmpeg": 2, "file_missing": 2}
    extras: ClassVar[Mapping[str, float]] = {"cancel": 0.02}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listed = False

    @classmethod
    def create(cls, path: Path, items: int, *, rng: random.Random, clock: Clock) -> None:
        """Create the schema and credentials, then `items` jobs in ``preparing`` with their uploaded files."""
        now = clock()
        # Older jobs were removed by cleanup_old_jobs(); with foreign keys off their files stayed behind.
        first = rng.randint(3, 12) + 1
        jobs, files = [], []
        for k, job_id in enumerate(range(first - 2, first + items)):
            run_id = f"run-{job_id}-{_hex(rng, 6)}"
            run_dir = f"/srv/yt-builder/runs/{run_id}"
            created = now - (items - k) * rng.uniform(30, 90)
            if job_id >= first:
                config = {"title": f"Daily motivation #{job_id}", "resolution": "1920x1080", "fps": 30,
                          "clip_duration": 4.5, "music_volume": 0.35, "upload_to_youtube": rng.random() < 0.6}
                jobs.append((job_id, run_id, run_dir, json.dumps(config), local_iso(created)))
            for file_type, pattern in _FILES:
                for n in range(1, (rng.randint(2, 4) if file_type == "videos" else 2)):
                    name = pattern.format(n)
                    files.append((job_id, file_type, name, f"{run_dir}/uploads/{file_type}/{name}",
                                  local_iso(created + rng.uniform(1, 20))))
        conn = sqlite3.connect(path)
        try:
            conn.executescript(DDL)
            conn.execute(
                "INSERT INTO youtube_credentials (id, channel, credentials_json, updated_at) VALUES (1, ?, ?, ?)",
                ("UCFAKEchannel0000000000", fake_credentials(rng, now), local_iso(now - 86400)),
            )
            conn.executemany(
                "INSERT INTO jobs (job_id, run_id, run_dir, status, progress, config, created_at)"
                " VALUES (?, ?, ?, 'preparing', 0, ?, ?)",
                jobs,
            )
            conn.executemany(
                "INSERT INTO job_files (job_id, file_type, filename, file_path, uploaded_at) VALUES (?, ?, ?, ?, ?)",
                files,
            )
            conn.commit()
        finally:
            conn.close()

    def next_items(self, limit: int) -> list[Any]:
        # On restart the server restores preparing/queued jobs; running ones stay running forever.
        if self._listed:
            return []
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT job_id, run_dir FROM jobs WHERE status IN ('preparing', 'queued') ORDER BY job_id"
            ).fetchall()
        finally:
            conn.close()
        self._listed = True
        return rows

    def _set(self, job_id: int, status: str, progress: int, step: str, started: bool) -> Thunk:
        if started:  # every progress update rewrites started_at (a bug in the real builder)
            return lambda: self.call(
                "UPDATE jobs SET status = ?, progress = ?, current_step = ?, started_at = ? WHERE job_id = ?",
                (status, progress, step, local_iso(self.clock()), job_id),
            )
        return lambda: self.call(
            "UPDATE jobs SET status = ?, progress = ?, current_step = ? WHERE job_id = ?",
            (status, progress, step, job_id),
        )

    def plan(self, item: Any, slot: int, outcome: Outcome) -> list[Thunk]:
        job_id, run_dir = item
        rng = self.rng
        steps = [self._set(job_id, "queued", 0, "Waiting in queue", False)]
        if outcome.kind == "cancel":  # cancelled before it ran: the only path that records 'cancelled'
            return [*steps, lambda: self.call(
                "UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE job_id = ?",
                (local_iso(self.clock()), job_id),
            )]
        failing = outcome.kind == "fail" and outcome.family is not None
        reached = STAGES[: rng.randint(1, len(STAGES))] if failing else STAGES
        steps += [self._set(job_id, "running", p, text, True) for p, text in reached]
        if failing:
            family = outcome.family
            assert family is not None
            return [*steps, lambda: self.call(
                "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE job_id = ?",
                (family.message(rng, self.clock()), local_iso(self.clock()), job_id),
            )]
        # A failed upload leaves an error on a job that completed: only failed rows mean failure.
        warning = FAMILIES["upload_quota"].message(rng, self.clock()) if rng.random() < 0.1 else None
        steps.append(lambda: self.call(
            "UPDATE jobs SET status = 'completed', progress = 100, current_step = 'Done', output_file = ?,"
            " error = ?, finished_at = ? WHERE job_id = ?",
            (f"{run_dir}/output/final.mp4", warning, local_iso(self.clock()), job_id),
        ))
        if warning is None and rng.random() < 0.5:
            steps.append(lambda: self._upload(job_id))
            if rng.random() < 0.4:
                steps.append(lambda: self.call(
                    "UPDATE youtube_credentials SET credentials_json = ?, updated_at = ? WHERE id = 1",
                    (fake_credentials(rng, self.clock()), local_iso(self.clock())),
                ))
        return steps

    def _upload(self, job_id: int) -> None:
        video_id = "".join(self.rng.choice(_ID_CHARS) for _ in range(11))
        self.call(
            "INSERT INTO youtube_uploads (job_id, video_id, video_url, title, description, privacy, tags,"
            " category, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, '22', ?)",
            (job_id, video_id, f"https://youtube.com/watch?v={video_id}", f"Daily motivation #{job_id}",
             "Five quotes to start your day.", self.rng.choice(("private", "unlisted", "public")),
             json.dumps(["motivation", "quotes", "shorts"]), local_iso(self.clock())),
        )
