"""Built-in profiles for the five seed systems, written from field-notes.md (not only their READMEs)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from batchtop.core.profiles.model import Action, Metric, Profile, Sessions, Track

if TYPE_CHECKING:  # schema imports sql, which imports the profile model: avoid the cycle at runtime
    from batchtop.core.schema import Schema, Table

TOPICS = Profile(
    name="topic_completions",
    description="prompt_optimizer completion tracking (flashcard generation)",
    tracks=(
        Track(
            name="topics",
            table="topic_completions",
            key="id",
            label="topic_path",
            raw="status",
            states={"pending": "pending", "completed": "done", "failed": "failed", "skipped": "skipped"},
            # There is no `running`: a topic being worked on is pending with started_at set.
            in_flight='"started_at" IS NOT NULL AND "completed_at" IS NULL',
            error="error_message",
            started="started_at",
            finished="completed_at",
            metrics=(
                Metric("cost_usd", "cost", unit="$"),
                Metric("flashcard_count", "cards"),
                Metric("duration_seconds", "mean duration", agg="avg", unit="s"),
            ),
            actions=(
                Action(
                    "reset",
                    "status = 'pending', error and timings cleared: the next run picks the topic up",
                    ("failed",),
                    (("status", "pending"), ("error_message", None), ("started_at", None),
                     ("completed_at", None), ("duration_seconds", None)),
                ),
                Action(
                    "skip",
                    "status = 'skipped': the job will not try the topic again",
                    ("failed", "pending"),
                    (("status", "skipped"),),
                    to_state="skipped",
                ),
                Action(
                    "requeue",
                    "stale in-flight topic back to plain pending (started_at cleared)",
                    ("running",),
                    (("status", "pending"), ("started_at", None)),
                ),
            ),
            note="in flight = pending with started_at set (the writer has no running state)",
        ),
    ),
)

LLM = Profile(
    name="llm_results",
    description="ParallelLLMProcessor results (state derived from `result`)",
    tracks=(
        Track(
            name="prompts",
            table="llm_results",
            key="id",
            label="prompt",
            raw_sql=(
                "CASE WHEN \"result\" IS NULL THEN 'NULL' WHEN \"result\" = '' THEN 'empty' "
                "WHEN \"result\" = 'NA' THEN 'NA' WHEN substr(\"result\", 1, 6) = 'Error:' THEN 'Error:' "
                "ELSE 'response' END"
            ),
            # NULL, '' and 'NA' are what the processor's own recovery treats as incomplete.
            states={"NULL": "pending", "empty": "pending", "NA": "pending", "Error:": "failed",
                    "response": "done"},
            error="result",
            created="created_at",
            actions=(
                Action(
                    "retry",
                    "result = NULL: the processor's own recovery re-runs NULL rows (never Error: rows)",
                    ("failed",),
                    (("result", None),),
                ),
            ),
            note="no per-result timestamp: rate and ETA come from count changes between polls",
        ),
    ),
)

_DOCSTORE_NO_ACTION = (
    "DocumentationStore never records failures: a failed item stays pending and every new run "
    "picks it up, so there is nothing to reset"
)
DOCSTORE = Profile(
    name="documentation_store",
    description="DocumentationStore (tables and relationships, sessions in generation_metadata)",
    tracks=(
        Track(
            name="tables",
            table="table_metadata",
            key="table_name",
            label="table_name",
            raw="status",
            states={"pending": "pending", "completed": "done", "failed": "failed"},
            error=None,
            finished="processed_at",
            tz="local",
            failures_recorded=False,
            no_action_reason=_DOCSTORE_NO_ACTION,
            note="failures are never written: a failed table stays pending",
        ),
        Track(
            name="relationships",
            table="relationship_metadata",
            key="id",
            label="constrained_table",
            raw="status",
            states={"pending": "pending", "completed": "done", "failed": "failed"},
            error=None,
            finished="processed_at",
            tz="local",
            failures_recorded=False,
            no_action_reason=_DOCSTORE_NO_ACTION,
            note="failures are never written; each run appends duplicate pending rows",
        ),
    ),
    sessions=Sessions(
        table="generation_metadata",
        key="id",
        started="started_at",
        finished="completed_at",
        status="status",
        columns=("total_tables", "total_relationships", "source_database_url"),
        tz="local",
        note="status stays 'in_progress' and completed_at is never set: each row is one run",
    ),
)

SMARTHISTORY = Profile(
    name="smarthistory",
    description="SmartHistory processing sessions (user_sessions)",
    tracks=(
        Track(
            name="sessions",
            table="user_sessions",
            key="id",
            label="session_type",
            raw="status",
            states={"started": "running", "completed": "done", "failed": "failed"},
            error="error_message",
            started="start_time",
            finished="end_time",
            metrics=(
                Metric("processed_raw_count", "raw processed"),
                Metric("processed_activity_count", "activities"),
                Metric("tags_generated", "tags"),
            ),
            no_action_reason=(
                "a session row records a past run; nothing re-reads it, so resetting it re-runs nothing"
            ),
        ),
    ),
    sessions=Sessions(
        table="user_sessions",
        key="id",
        started="start_time",
        finished="end_time",
        status="status",
        columns=("session_type", "processed_raw_count", "tags_generated"),
    ),
)

JOBS = Profile(
    name="yt_builder_jobs",
    description="YouTube Video Builder jobs",
    tracks=(
        Track(
            name="jobs",
            table="jobs",
            key="job_id",
            label="run_id",
            raw="status",
            states={"preparing": "pending", "queued": "pending", "running": "running",
                    "completed": "done", "failed": "failed", "cancelled": "cancelled"},
            error="error",
            started="started_at",
            finished="finished_at",
            created="created_at",
            tz="local",
            time_format="iso",
            progress="progress",
            step="current_step",
            actions=(
                Action(
                    "retry",
                    "status = 'queued', progress/error/finish cleared: reloaded when the server starts",
                    ("failed", "cancelled"),
                    (("status", "queued"), ("progress", 0), ("error", None), ("finished_at", None)),
                ),
                Action(
                    "requeue",
                    "stale running job (crashed worker) back to queued",
                    ("running",),
                    (("status", "queued"), ("progress", 0), ("current_step", None)),
                ),
            ),
            note="started_at is rewritten on every progress update; running rows outlive a crash",
        ),
    ),
    secret_tables=("youtube_credentials",),
)

BUILTINS: tuple[Profile, ...] = (TOPICS, LLM, DOCSTORE, SMARTHISTORY, JOBS)


@dataclass(frozen=True)
class _Need:
    table: str
    columns: tuple[str, ...]


_REQUIREMENTS: dict[str, tuple[_Need, ...]] = {
    TOPICS.name: (_Need("topic_completions", ("id", "topic_path", "status", "started_at", "completed_at",
                                              "error_message")),),
    LLM.name: (_Need("llm_results", ("id", "prompt", "result")),),
    DOCSTORE.name: (_Need("table_metadata", ("table_name", "status", "processed_at")),
                    _Need("relationship_metadata", ("id", "constrained_table", "status", "processed_at"))),
    SMARTHISTORY.name: (_Need("user_sessions", ("id", "status", "start_time", "end_time",
                                                "error_message")),),
    JOBS.name: (_Need("jobs", ("job_id", "run_id", "status", "progress", "error", "started_at",
                               "finished_at")),),
}


def match_builtin(schema: Schema) -> Profile | None:
    """The built-in profile whose tables and columns all exist in `schema`, if any."""
    for profile in BUILTINS:
        needs = _REQUIREMENTS[profile.name]
        if all((t := schema.table(n.table)) is not None and t.has(*n.columns) for n in needs):
            return _adapt(profile, schema)
    return None


def _present(table: Table, column: str | None) -> str | None:
    """The optional column if the table has it, else None."""
    return column if column and table.has(column) else None


def _adapt(profile: Profile, schema: Schema) -> Profile:
    """Drop optional parts whose tables or columns are missing (an older schema version, say)."""
    tracks = []
    for track in profile.tracks:
        table = schema.table(track.table)
        assert table is not None
        metrics = tuple(m for m in track.metrics if table.has(m.column))
        actions = tuple(a for a in track.actions if all(table.has(c) for c, _ in a.assign))
        tracks.append(replace(
            track, metrics=metrics, actions=actions,
            label=_present(table, track.label), error=_present(table, track.error),
            started=_present(table, track.started), finished=_present(table, track.finished),
            created=_present(table, track.created), progress=_present(table, track.progress),
            step=_present(table, track.step)))
    sessions = profile.sessions
    if sessions and (st := schema.table(sessions.table)) is not None:
        sessions = replace(sessions, columns=tuple(c for c in sessions.columns if st.has(c)))
    elif sessions:
        sessions = None
    return replace(profile, tracks=tuple(tracks), sessions=sessions)


def by_name(name: str) -> Profile | None:
    """Built-in profile by name."""
    return next((p for p in BUILTINS if p.name == name), None)
