"""The SQLite backend, moving here piece by piece: the write statements (`write_sql`) so far.

The rest still lives in `batchtop.core` (see `batchtop.core.backends.base` for which parts).
"""
