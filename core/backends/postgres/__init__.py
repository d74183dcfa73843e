"""The PostgreSQL backend (psycopg 3): read-only sessions, a trigger-free change token, the snapshot reads
and conditional, journaled writes. See `batchtop.core.backends.base` for the protocol it implements."""

from __future__ import annotations
