"""`batchtop serve` in a real headless Chromium: the page shows the overview, keys work, tabs are apart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import chromium, missing_reason, open_app, serving, wait_text
from factories import topics_db

from batchtop.tui.cli import build_parser
from batchtop.tui.serve import app_argv, guard_exposure, is_loopback

# Headless Chromium against `batchtop serve`: out of the fast loop.
pytestmark = [pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""), pytest.mark.slow]


@pytest.fixture(scope="module")
def browser():
    with chromium() as context:
        yield context


def test_overview_in_browser_and_enter_opens_the_source(tmp_path: Path, browser) -> None:
    db = topics_db(tmp_path / "run.db")
    with serving([str(db), "--no-watch"]) as url:
        page = open_app(browser, url)
        text = wait_text(page, lambda t: "36 / 60 items settled" in t)
        assert "run.db" in text and "topics" in text and "failed 4" in text
        other = open_app(browser, url)
        wait_text(other, lambda t: "36 / 60 items settled" in t)

        page.keyboard.press("Enter")
        source = wait_text(page, lambda t: "batchtop — run.db" in t.splitlines()[0])
        assert "If the job restarted now" in source and "pending (started)" in source
        # Each tab is its own app: the second one is still on the overview.
        assert "overview" in wait_text(other, lambda t: "36 / 60" in t).splitlines()[0]
        page.close()
        other.close()


def test_serve_off_loopback_is_read_only_unless_writable() -> None:
    parser = build_parser()
    local = parser.parse_args(["serve", "a.db"])
    assert guard_exposure(local) == [] and "--read-only" not in app_argv(local)
    exposed = parser.parse_args(["serve", "a.db", "--host", "0.0.0.0"])
    warnings = guard_exposure(exposed)
    assert "anyone who can reach port 8000" in warnings[0] and "--read-only" in app_argv(exposed)
    writable = parser.parse_args(["serve", "a.db", "--host", "192.0.2.1", "--writable"])
    assert guard_exposure(writable) and "--read-only" not in app_argv(writable)
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and is_loopback("::1")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_stopping_the_server_ends_the_apps_of_open_tabs(tmp_path: Path, browser) -> None:
    from browser import free_port

    from batchtop.tui.serve import descendants

    db = topics_db(tmp_path / "run.db")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "batchtop.tui.cli", "serve", "--port", str(port), str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        page = open_app(browser, f"http://127.0.0.1:{port}/")  # a tab left open
        apps = descendants(server.pid)
        assert apps and all(_alive(p) for p in apps)
        server.terminate()
        server.wait(20)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in apps) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in apps)
        page.close()
    finally:
        if server.poll() is None:
            server.kill()
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
