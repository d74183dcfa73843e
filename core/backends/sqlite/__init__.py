"""The SQLite backend, moving here piece by piece: so far the write path, its transaction
(`write_session`) and its statements (`write_sql`, shown by the preview and run by `actions.apply`).

The rest still lives in `batchtop.core` (see `batchtop.core.backends.base` for which parts).
"""
