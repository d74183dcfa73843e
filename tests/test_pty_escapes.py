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
# Real terminals (pty), multi-second each: out of the fast loop.
pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty"), pytest.mark.slow]


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


#: Every screen, from the hostile source: failures, its groups, an item, the tables view (the hostile
#: unknown-schema table names and column headers), both journals, the help, back to the overview.
EVERY_SCREEN = [
    (4.0, b"\r"),  # source screen of the hostile database
    (2.0, b"f"),  # failures (pauses are generous: a loaded machine must not skip a screen)
    (2.5, b"g"),  # the groups table (filled by a grouping worker)
    (1.5, b"\r"),  # one group's items (listed on the failures screen)
    (2.5, b"\r"),  # an item (its detail pane shows the payloads)
    (1.5, b"]"),  # its next chunk
    (0.8, b"\x1b"),
    (0.8, b"\x1b"),  # the group filter off
    (0.8, b"\x1b"),  # back on the source
    (0.8, b"t"),  # tables view of the hostile database
    (1.5, b"\t"),
    (0.6, b"n"),
    (0.8, b"\x1b"),
    (0.8, b"J"),  # this database's journal
    (1.2, b"\x1b"),
    (0.8, b"\x1b"),  # overview
    (0.8, b"j"),
    (0.5, b"\r"),  # the next source (the hostile table names)
    (1.5, b"t"),
    (1.5, b"\t"),
    (0.8, b"\x1b"),
    (0.8, b"\x1b"),
    (0.8, b"J"),  # the journal of every database
    (1.2, b"\x1b"),
    (0.8, b"?"),
    (0.8, b"\x1b"),
    (0.6, b"q"),
]


def test_no_hostile_byte_reaches_the_terminal_on_any_screen(tmp_path: Path) -> None:
    hostile_dir(tmp_path)
    out, code = run_under_pty(["."], EVERY_SCREEN, tmp_path)
    assert code == 0, out[-2000:]
    assert b"DBTEXT" in out and b"C1TEXT" in out  # the payloads were on screen...
    # ...on the item and tables screens (the journals are visited too, but key timing under load makes
    # their footer an unreliable marker)...
    for marker in (b" \xc2\xb7 item ", b"Next rows", b"x [/] y"):
        assert marker in out, f"{marker!r}: a screen was not reached"
    for forbidden in FORBIDDEN_BYTES:  # ...but never as control sequences
        assert forbidden not in out, f"{forbidden!r} reached the terminal"
    assert b"\x1b]52;c;AAAA" not in out  # the OSC 52 in a file name, via the tables view title


@pytest.mark.parametrize("args", [
    ["status", "."], ["failures", ".", "--limit", "50"], ["status", ".", "--json"],
    ["failures", ".", "--json"], ["profile", "."], ["journal"],
], ids=lambda a: " ".join(a))
def test_no_hostile_byte_reaches_the_terminal_from_the_cli(tmp_path: Path, args: list[str]) -> None:
    """Each headless command writing straight to a terminal (stdout and stderr both on the pty)."""
    hostile_dir(tmp_path)
    out, code = run_under_pty(args, [], tmp_path)
    assert code in (0, 1), out[-2000:]
    assert b"Traceback" not in out
    for forbidden in FORBIDDEN_BYTES:
        assert forbidden not in out, f"{forbidden!r} reached the terminal from batchtop {' '.join(args)}"
