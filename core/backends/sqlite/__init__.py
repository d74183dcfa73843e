"""The SQLite backend: the one place that knows SQLite.

`backend.SqliteBackend` (the protocol of `backends.base`) over: `sql` (SQL built from profiles), `reads`
(the snapshot's reads and `fetch`), `schema`, `counting` (chunked counts by rowid) and `waltail` (which
rows a WAL commit touched), `items`, `cohort`, `failures` and `groups` (failure pages, error groups),
`filter_sql` (the filter language in SQLite's SQL), `export`, `sample` (detection), `plan`,
`write_session` / `write_sql` / `write` (actions: one builder for the statements the preview shows and
apply runs), `undo`, and `errors` (the one mapper of `sqlite3` errors). The read-only connection and the
change gate are still in `core.source` until the reader split.
"""
