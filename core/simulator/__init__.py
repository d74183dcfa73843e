"""Simulated batch jobs writing SQLite progress databases exactly the way the five real systems do.

Used by ``batchtop demo`` and ``batchtop simulate``, by tests (a real writer next to our reader) and by
benchmarks (big databases built in seconds). Schemas (see ``shared/design/field-notes.md``):

- ``topics``: prompt_optimizer ``topic_completions`` (WAL, several workers, pending/completed/failed/skipped)
- ``llm``: ParallelLLMProcessor ``llm_results`` (WAL, no status column, ``results_chunk_N.db`` files)
- ``docstore``: DocumentationStore (rollback journal, connection per call, failures stay pending)
- ``smarthistory``: SmartHistory ``user_sessions`` and data tables (WAL, autocommit)
- ``jobs``: YouTube Video Builder ``jobs`` (rollback journal, connection per call, stale running rows)

Run a writer process with ``python -m batchtop.core.simulator DIR --schema S --items N --rate R``.
"""

from __future__ import annotations

from batchtop.core.simulator import docstore, jobs, smarthistory, topics
from batchtop.core.simulator.build import SCHEMAS, create, default_path, fill
from batchtop.core.simulator.demo import Demo, DemoSource, demo
from batchtop.core.simulator.errors import FAMILIES, Family
from batchtop.core.simulator.runner import Simulation
from batchtop.core.simulator.support import Clock

#: Status values each schema's writer ever stores (llm has no status column).
STATUSES: dict[str, tuple[str, ...]] = {
    "topics": topics.STATUSES,
    "llm": (),
    "docstore": docstore.STATUSES,
    "smarthistory": smarthistory.STATUSES,
    "jobs": jobs.STATUSES,
}

__all__ = [
    "FAMILIES",
    "SCHEMAS",
    "STATUSES",
    "Clock",
    "Demo",
    "DemoSource",
    "Family",
    "Simulation",
    "create",
    "default_path",
    "demo",
    "fill",
]
