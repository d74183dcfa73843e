"""A real, throwaway PostgreSQL server for the tests: `initdb` in a temporary directory, `pg_ctl` on a free
port (TCP on 127.0.0.1 and a Unix socket in that directory), stopped and deleted at the end of the session.

The server runs as an unprivileged user (PostgreSQL refuses to run as root): the current user, or
`postgres` through `runuser` when the tests run as root. Two roles are made besides the superuser:
`watcher` (LOGIN, may only SELECT) and `writer` (may SELECT and UPDATE), both with passwords, so tests see
password authentication, the read-only refusal and conditional writes as a user would.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

WATCHER_PASSWORD = "w4tch-s3cret"
WRITER_PASSWORD = "wr1te-s3cret"


@dataclass(frozen=True)
class PgServer:
    """A running server: where it listens and how to reach it as each role."""

    host: str
    port: int
    socket_dir: str
    superuser: str

    def url(self, role: str = "", password: str = "", db: str = "batchtop") -> str:
        """A `postgresql://` URL for `role` (default: the superuser) on TCP."""
        who = role or self.superuser
        auth = f"{who}:{password}@" if password else f"{who}@"
        return f"postgresql://{auth}{self.host}:{self.port}/{db}"

    @property
    def watcher_url(self) -> str:
        return self.url("watcher", WATCHER_PASSWORD)

    @property
    def writer_url(self) -> str:
        return self.url("writer", WRITER_PASSWORD)

    @property
    def admin_url(self) -> str:
        """Superuser over the Unix socket (trust authentication)."""
        return f"postgresql://{self.superuser}@/batchtop?host={self.socket_dir}&port={self.port}"


def find_bin(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, else in Debian's /usr/lib/postgresql/*/bin (newest)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    return candidates[-1] if candidates else None


def missing_reason() -> str | None:
    """Why a PostgreSQL test cannot run here (None: it can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        return "PostgreSQL's initdb/pg_ctl are not installed (.ci/run installs them: scripts/ci-deps.sh)"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or _uid("postgres") is None):
        return "running as root and there is no `postgres` user to run the server as"
    return None


def _uid(user: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def pg_server() -> Iterator[PgServer]:
    """Start a throwaway server with the `batchtop` database and the two roles; stop it afterwards."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    assert initdb and pg_ctl
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else os.environ.get("USER") or "postgres"
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    # As root the server runs as `postgres`, which must reach the directory: /tmp, not a root-only TMPDIR.
    base = tempfile.mkdtemp(prefix="batchtop-pg-", dir="/tmp" if as_root else None)
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.makedirs(sock)
    if as_root:
        uid = _uid("postgres")
        assert uid is not None
        for path in (base, sock):
            os.chown(path, uid, -1)
    port = _free_port()
    log = os.path.join(base, "server.log")

    def run(*cmd: str) -> None:
        subprocess.run(
            [*prefix, *cmd], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=base
        )

    try:
        run(
            initdb,
            "-D",
            data,
            "-U",
            user,
            "-A",
            "trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 "
            "-c shared_buffers=32MB"
        )
        run(pg_ctl, "-D", data, "-l", log, "-w", "-t", "30", "-o", opts, "start")
        server = PgServer("127.0.0.1", port, sock, user)
        _setup(server)
        yield server
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            subprocess.run(
                [*prefix, pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=base,
            )
        shutil.rmtree(base, ignore_errors=True)


def _setup(server: PgServer) -> None:
    import psycopg

    with psycopg.connect(server.admin_url.replace("/batchtop?", "/postgres?"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE batchtop")
        conn.execute(f"CREATE ROLE watcher LOGIN PASSWORD '{WATCHER_PASSWORD}'")
        conn.execute(f"CREATE ROLE writer LOGIN PASSWORD '{WRITER_PASSWORD}'")
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        # Tables made later by the superuser are readable by both roles and writable by `writer` only.
        conn.execute("GRANT USAGE ON SCHEMA public TO watcher, writer")
        conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO watcher, writer")
        conn.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT UPDATE ON TABLES TO writer")


def load_sqlite(server: PgServer, sqlite_path: str | Path, *, table: str, schema_sql: str) -> int:
    """Copy `table` of an SQLite file (a seed database built by the simulator) into PostgreSQL.

    `schema_sql` creates the table with PostgreSQL types (it is dropped first); returns the rows copied.
    """
    import sqlite3

    import psycopg

    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        cur = src.execute(f'SELECT * FROM "{table}"')
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        src.close()
    with psycopg.connect(server.admin_url) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        conn.execute(schema_sql)
        cols = ", ".join(f'"{c}"' for c in columns)
        with conn.cursor().copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
    return len(rows)
