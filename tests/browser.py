"""A real headless Chromium driving `batchtop serve`, for tests and the browser screenshot script.

Uses Debian's `chromium` through Playwright's Python client with `executable_path` (Playwright never
downloads a browser here). textual-serve draws the terminal with xterm.js on a canvas, so the text a
person sees is read from xterm's own screen buffer: an init script keeps a reference to the page's
terminal object when textual-serve's client assigns it (`this.terminal = new Terminal(...)`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

#: Debian's Chromium flags for a root, offline, headless run.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

_KEEP_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {configurable: true, set(value) {
  Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
  window.__batchtopTerminal = value;
}});
"""
_SCREEN_TEXT = """() => {
  const t = window.__batchtopTerminal;
  if (!t) return "";
  const lines = [];
  for (let i = 0; i < t.rows; i++) {
    const line = t.buffer.active.getLine(i);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
}"""


def chromium_path() -> str | None:
    """The system Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing_reason() -> str | None:
    """Why a browser test cannot run here (None: it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (python package) is not installed"
    if chromium_path() is None:
        return "Debian's chromium is not installed (.ci/run installs it: scripts/ci-deps.sh)"
    return None


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    args: Sequence[str], *, port: int | None = None, env: dict[str, str] | None = None, timeout: float = 20.0
) -> Iterator[str]:
    """Run `batchtop serve ARGS` on a free loopback port; yields its URL and stops it afterwards."""
    port = port or free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchtop.tui.cli", "serve", "--port", str(port), *args],
        stdout=log,
        stderr=log,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")
                    raise RuntimeError(f"batchtop serve did not start: {output}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # The server ran in a session of its own: end the app processes of tabs it left behind too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()


@contextmanager
def chromium(width: int = 1400, height: int = 820) -> Iterator[object]:
    """A headless Chromium browser context with a throwaway profile directory (Playwright)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="batchtop-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": width, "height": height},
        )
        context.add_init_script(_KEEP_TERMINAL)
        try:
            yield context
        finally:
            context.close()


def screen_text(page: object) -> str:
    """The terminal's visible lines as text (empty until the app's first bytes arrive)."""
    return str(page.evaluate(_SCREEN_TEXT))  # type: ignore[attr-defined]


def wait_text(page: object, ok: Callable[[str], bool], timeout: float = 20.0) -> str:
    """Poll the screen text until `ok(text)`; raises AssertionError with the last screen otherwise."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = screen_text(page)
        if ok(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"the page never showed what was expected; last screen:\n{text}")


def open_app(context: object, url: str) -> object:
    """A new tab on `url`, focused on the terminal, once the app has drawn its first screen."""
    page = context.new_page()  # type: ignore[attr-defined]
    page.goto(url, wait_until="domcontentloaded")
    wait_text(page, lambda t: "batchtop" in t)
    # Keys reach the app through xterm's hidden textarea; focus it rather than click (a click on the
    # screen would be a mouse click on whatever row is under it).
    page.focus(".xterm-helper-textarea")
    return page


def save_screenshot(page: object, path: Path) -> Path:
    """A PNG of the whole page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    return path
