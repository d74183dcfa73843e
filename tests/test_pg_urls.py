"""PostgreSQL URLs as batchtop shows them: never with the password (no server needed)."""

from __future__ import annotations

import pytest

from batchtop.core.backends.postgres.conn import map_error, scrub
from batchtop.core.backends.postgres.source import short_name
from batchtop.core.backends.urls import display_url, is_url
from batchtop.core.monitor import Monitor


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://watcher:s3cret@db.example:5432/jobs", "postgresql://watcher@db.example:5432/jobs"),
        ("postgres://w:p%40ss%2Fword@h/jobs?sslmode=require", "postgres://w@h/jobs?sslmode=require"),
        (
            "postgresql://w@h/jobs?password=s3cret&application_name=x",
            "postgresql://w@h/jobs?application_name=x",
        ),
        ("postgresql:///jobs", "postgresql:///jobs"),
        ("postgresql://:onlypass@h/db", "postgresql://h/db"),
    ],
)
def test_display_url_drops_every_password(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_error_text_is_scrubbed_of_the_password_in_any_form() -> None:
    url = "postgresql://w:p%40ss@h/db"
    assert "p@ss" not in scrub('missing "=" after "host=h password=p@ss" in connection info', url)
    assert "p%40ss" not in scrub("could not parse postgresql://w:p%40ss@h/db", url)
    assert "hunter2" not in scrub("password=hunter2 user=w", "postgresql://w@h/db")
    error = map_error(ValueError("bad value in postgresql://w:p%40ss@h/db"), url)
    assert "p%40ss" not in error.message and "p@ss" not in error.message


def test_urls_become_sources_named_without_the_password() -> None:
    assert is_url("postgresql://h/db") and is_url("POSTGRES://h/db") and not is_url("postgresql.db")
    assert short_name("postgresql://w:pw@db.example:6543/jobs") == "jobs@db.example:6543"
    monitor = Monitor(["postgresql://w:pw@127.0.0.1:1/jobs"])
    added = monitor.rescan()  # nothing is opened until the first poll
    assert [s.path for s in added] == ["postgresql://w@127.0.0.1:1/jobs"] and monitor.rescan() == []
    assert "pw" not in added[0].name
