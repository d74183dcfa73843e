"""Under a real terminal (pty), no byte of a hostile database's payloads reaches the terminal.

`App.run_test()` writes nothing to a terminal, so it cannot see an escape sequence leak (hazards.md
rule 12). Here the real CLI runs under `pty.fork()` with TERM=xterm-256color on the hostile directory,
opens the hostile source, shows the help, and quits; every byte it wrote is checked.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import sys
import termios
import time
from pathlib import Path

import pytest
from factories import FORBIDDEN_BYTES, hostile_dir

pty = pytest.importorskip("pty")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")


def read_for(fd: int, seconds: float, out: bytearray) -> bool:
    """Read whatever the app writes for `seconds`; False once the app has closed the terminal."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], min(left, 0.1))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed its side
                return False
            if not chunk:
                return False
            out.extend(chunk)
    return True


def run_under_pty(args: list[str], keys: list[tuple[float, bytes]], cwd: Path) -> tuple[bytes, int]:
    """Run `python -m batchtop.tui.cli ARGS` in a 160x45 pty, send `keys` after the given pauses."""
    pid, fd = pty.fork()
    if pid == 0:  # child: size the terminal, then become the app
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 160, 0, 0))
            os.chdir(cwd)
            env = dict(os.environ, TERM="xterm-256color", COLUMNS="160", LINES="45")
            env.pop("TEXTUAL", None)
            os.execve(sys.executable, [sys.executable, "-m", "batchtop.tui.cli", *args], env)
        finally:
            os._exit(127)
    out = bytearray()
    alive = True
    for pause, key in keys:
        alive = read_for(fd, pause, out)
        if not alive:
            break
        os.write(fd, key)
    deadline = time.monotonic() + 10
    while alive and time.monotonic() < deadline:
        alive = read_for(fd, 0.5, out)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return bytes(out), os.waitstatus_to_exitcode(status)


def test_no_hostile_byte_reaches_the_terminal(tmp_path: Path) -> None:
    hostile_dir(tmp_path)
    keys = [
        (4.0, b"\r"),   # open the first row: the database with the hostile name and values
        (2.0, b"?"),    # the help over it
        (0.7, b"\x1b"),
        (0.7, b"\x1b"),  # back to the overview
        (0.7, b"j"),
        (0.5, b"q"),
    ]
    out, code = run_under_pty(["."], keys, tmp_path)
    assert code == 0, out[-2000:]
    assert b"DBTEXT" in out and b"C1TEXT" in out and b"evil-bidi" in out  # the payloads were on screen...
    for forbidden in FORBIDDEN_BYTES:  # ...but never as control sequences
        assert forbidden not in out, f"{forbidden!r} reached the terminal"
