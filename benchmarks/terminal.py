"""Run a program (the TUI, or a `watch` loop) in a real terminal: a tmux pane on a private tmux server.

What the program prints can be read two ways: `capture()` (the screen as tmux renders it, for "is this
screen showing yet") and `stream()` (every byte the program writes, timestamped as it arrives, through
`tmux pipe-pane` into a FIFO; for commit-to-screen latency and "bytes written while idle").

Screen predicates here match the current TUI's visible text; they are kept together (`SCREENS`,
`overview_ready`) so that a change of wording is one edit.
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import procs

COLS, ROWS = 200, 50
_ANSI = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bP[^\x1b]*\x1b\\|\x1b[@-Z\\-_]|"
    rb"\x1b[()][0-9A-Za-z]"
)


def batchtop_cmd() -> list[str]:
    """The `batchtop` command of this interpreter's installation."""
    script = Path(sys.executable).with_name("batchtop")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from batchtop.tui.cli import main; sys.exit(main())"]


def strip_ansi(data: bytes) -> str:
    return _ANSI.sub(b"", data).decode("utf-8", "replace")


class Stream(threading.Thread):
    """Reads a pane's output from a FIFO, counting bytes and keeping (arrival time, bytes) chunks."""

    def __init__(self, fifo: Path, keep: bool = True) -> None:
        super().__init__(daemon=True)
        self.fifo = fifo
        self.keep = keep
        self.chunks: list[tuple[float, bytes]] = []
        self.bytes = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            with open(self.fifo, "rb", buffering=0) as f:  # noqa: PTH123
                while True:
                    data = f.read(65536)
                    if not data:
                        return
                    now = time.monotonic()
                    with self.lock:
                        self.bytes += len(data)
                        if self.keep:
                            self.chunks.append((now, data))
        except OSError:
            return


_OPEN: set[Pane] = set()


@atexit.register
def _close_all() -> None:
    """Never leave a pane running: an error or SIGTERM in the middle of a run still closes them."""
    for pane in list(_OPEN):
        pane.close()


class Pane:
    """One program in a tmux pane of its own server; `close()` kills that server (and so the program)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        cols: int = COLS,
        rows: int = ROWS,
    ) -> None:
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is required for the TUI benchmarks")
        self.tmp = Path(tempfile.mkdtemp(prefix=f"btbench-{os.getpid()}-"))
        # A server of our own, its socket in our directory: nothing of the user's tmux is touched.
        self.socket = str(self.tmp / "tmux.sock")
        _OPEN.add(self)
        self.started = time.monotonic()
        command = " ".join(shlex.quote(a) for a in argv)
        # `exec`: the pane's process is the program itself, not a shell waiting for it.
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            str(cols),
            "-y",
            str(rows),
            *(("-c", cwd) if cwd else ()),
            *(a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")),
            f"exec {command}",
        )
        self.pid = int(self._tmux("list-panes", "-t", "b", "-F", "#{pane_pid}").split()[0])
        self.stream_reader: Stream | None = None

    def _tmux(self, *args: str) -> str:
        # COLUMNS/LINES in our environment (pytest sets them) would override the pane's real size in the app.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        argv = ["tmux", "-S", self.socket, "-f", "/dev/null", *args]
        return subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout

    def start_stream(self, keep: bool = True) -> Stream:
        """Start teeing the pane's output (from now on) into a timestamped stream (`keep`: keep the bytes)."""
        fifo = self.tmp / "out.fifo"
        os.mkfifo(fifo)
        self.stream_reader = Stream(fifo, keep)
        self.stream_reader.start()
        self._tmux("pipe-pane", "-o", "-t", "b", f"cat > {shlex.quote(str(fifo))}")
        return self.stream_reader

    def capture(self) -> str:
        try:
            return self._tmux("capture-pane", "-p", "-t", "b")
        except subprocess.CalledProcessError:
            return ""

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "b", *keys)

    def alive(self) -> bool:
        return os.path.exists(f"/proc/{self.pid}")

    def wait_for(
        self, predicate: Callable[[str], bool], timeout: float, interval: float = 0.05
    ) -> float | None:
        """Seconds (since the call) until `predicate(screen)` holds, or None after `timeout`."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if predicate(self.capture()):
                return time.monotonic() - t0
            if not self.alive():
                return None
            time.sleep(interval)
        return None

    def cpu(self) -> procs.CpuWindow:
        return procs.CpuWindow(self.pid)

    def memory(self) -> dict[str, float]:
        """RSS of the biggest process in the pane (the app itself)."""
        best = {"rss_mb": 0.0, "peak_rss_mb": 0.0}
        for p in procs.descendants(self.pid):
            m = procs.memory_mb(p)
            if m["rss_mb"] > best["rss_mb"]:
                best = m
        return best

    def close(self) -> None:
        _OPEN.discard(self)
        try:
            self._tmux("kill-server")
        except subprocess.CalledProcessError:
            pass
        for _ in range(
            50
        ):  # the app gets SIGHUP; give it a moment so its files are closed before the next run
            if not self.alive():
                break
            time.sleep(0.05)
        if self.alive():
            os.kill(self.pid, 9)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Pane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- what the TUI shows ---------------------------------------------------------------------------------

_PERCENT = re.compile(r"\d+%")


def overview_ready(name: str) -> Callable[[str], bool]:
    """The overview lists `name` with a progress figure (its first read is done)."""
    return lambda screen: any(name in line and _PERCENT.search(line) for line in screen.splitlines())


def shows_number(value: int) -> Callable[[str], bool]:
    """`value` is on screen, formatted as the TUI formats counts: `12,345`, or from 100,000 on the compact
    `800.0k` / `8.00M` of the overview's narrow columns (a partial count of a chunked first pass grows by
    whole chunks of 2,048 rows, so it reaches the compact form of the total only near the pass's end)."""
    from batchtop.core.fmt import count

    texts = {f"{value:,}", count(value)}
    return lambda screen: any(t in screen for t in texts)


def groups_listed(screen: str) -> bool:
    """The failures screen's error-group table has at least one row (a line with a share in %)."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if "Error group" in line:
            return any(_PERCENT.search(nxt) and re.search(r"\d", nxt) for nxt in lines[i + 1 : i + 4])
    return False


#: How to reach each screen from the overview (keys, one step at a time) and how to know it is showing.
SCREENS: dict[str, tuple[tuple[tuple[str, Callable[[str], bool]], ...]]] = {
    "overview": (),
    "source": (("Enter", lambda s: "If the job restarted now" in s or "Raw value" in s),),
    "failures": (("f", lambda s: "Failures ·" in s),),
    "tables": (
        ("Enter", lambda s: "If the job restarted now" in s or "Raw value" in s),
        ("t", lambda s: "read-only table view" in s),
    ),
}


def open_tui(
    paths: Sequence[str],
    screen: str = "overview",
    *,
    ready_name: str | None = None,
    timeout: float = 120.0,
    args: Sequence[str] = (),
) -> tuple[Pane, dict[str, float | None]]:
    """Start the TUI on `paths` and go to `screen`; returns the pane and how long each step took.

    Raises RuntimeError (after closing the pane) when a screen does not appear within `timeout`.
    """
    pane = Pane([*batchtop_cmd(), *args, *paths])
    timings: dict[str, float | None] = {}
    try:
        name = ready_name or os.path.basename(paths[0])
        timings["first_screen_s"] = pane.wait_for(overview_ready(name), timeout)
        if timings["first_screen_s"] is None:
            raise RuntimeError(f"overview never showed {name!r}:\n{pane.capture()}")
        for key, shown in SCREENS[screen]:
            pane.send(key)
            took = pane.wait_for(shown, timeout)
            if took is None:
                raise RuntimeError(f"screen {screen!r} not reached after key {key!r}:\n{pane.capture()}")
            timings[f"{screen}_after_{key}_s"] = took
        return pane, timings
    except BaseException:
        pane.close()
        raise


def watch_loop(command: str, interval: float = 1.0) -> Pane:
    """`watch -n INTERVAL COMMAND` in a pane: what people run instead of a monitor."""
    return Pane(["watch", "-n", f"{interval:g}", command])
