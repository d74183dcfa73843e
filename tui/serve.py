"""`batchtop serve`: the same Textual app served to a browser by textual-serve.

Every browser session gets its own app process (textual-serve starts one per websocket). The sources
and options reach that process through an environment variable rather than its command line: a
`postgresql://` URL may carry a password, and a command line is visible to every user of the machine
(`ps`), while a process's environment is not. The page title and the console banner name no source.

Bound to anything but a loopback address, the app is read-only unless `--writable` is given, and a
warning says that anyone who can reach the port can see the data.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shlex
import signal
import sys

#: Where `serve` hands the app's arguments to each app process it starts.
ARGV_ENV = "BATCHTOP_SERVE_ARGV"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def app_argv(args: argparse.Namespace) -> list[str]:
    """The `batchtop open ...` arguments each browser session's app runs with."""
    argv = ["open", *args.paths, "--interval", str(args.interval)]
    for profile in args.profile:
        argv += ["--profile", profile]
    if args.read_only:
        argv.append("--read-only")
    if args.no_watch:
        argv.append("--no-watch")
    if args.journal:
        argv += ["--journal", args.journal]
    return argv


def child_command() -> str:
    """The shell command textual-serve runs per session (`serve_session` reads its arguments from ARGV_ENV)."""
    return f"{shlex.quote(sys.executable)} -m batchtop.tui.serve_session"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `serve` on the CLI's subcommands."""
    p = sub.add_parser(
        "serve",
        help="serve the monitor to a web browser (textual-serve)",
        description="Serve the live monitor to a web browser; each browser tab is its own app.",
    )
    p.set_defaults(func=cmd_serve)
    p.add_argument("paths", nargs="*", metavar="PATH|GLOB|DIR|URL")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--public-url", help="URL the browser reaches the server at (behind a proxy)")
    p.add_argument("--profile", action="append", default=[], metavar="FILE", help="a TOML profile file")
    p.add_argument("--interval", type=float, default=1.0, help="fallback poll interval in seconds")
    p.add_argument("--no-watch", action="store_true", help="poll on a timer only (no directory watch)")
    p.add_argument("--read-only", action="store_true", help="never open a read-write connection")
    p.add_argument(
        "--writable", action="store_true", help="allow actions even when bound to a non-loopback address"
    )
    p.add_argument("--journal", metavar="FILE", help="action journal file")
    return p


def guard_exposure(args: argparse.Namespace) -> list[str]:
    """Make a server bound off loopback read-only (unless --writable); returns the warnings to print."""
    if is_loopback(args.host):
        return []
    warnings = [f"WARNING: serving on {args.host}: anyone who can reach port {args.port} sees these sources"]
    if not args.writable and not args.read_only:
        args.read_only = True
        warnings.append("read-only: actions are disabled (pass --writable to allow them)")
    return warnings


def descendants(pid: int) -> list[int]:
    """Process ids below `pid` (children first), from /proc; empty where /proc is not there."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:  # noqa: PTH123 - a tiny procfs read
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def end_descendants() -> None:
    """SIGTERM every process this one started (the app of each browser tab, and its shell)."""
    for pid in reversed(descendants(os.getpid())):
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the web server until interrupted."""
    try:
        from textual_serve.server import Server
    except ImportError:  # pragma: no cover - textual-serve is a dependency
        print("batchtop: serve needs textual-serve (pip install textual-serve)", file=sys.stderr)
        return 2
    args.paths = args.paths or ["."]
    for warning in guard_exposure(args):
        print(f"batchtop: {warning}", file=sys.stderr)
    os.environ[ARGV_ENV] = json.dumps(app_argv(args))

    class QuietServer(Server):
        async def on_startup(self, app: object) -> None:  # the stock banner prints the command line
            print(f"batchtop: serving on {self.public_url} (ctrl+c to stop)", file=sys.stderr, flush=True)

        async def on_shutdown(self, app: object) -> None:
            # Tabs still open when the server stops leave their app processes running: end them.
            end_descendants()

    server = QuietServer(
        child_command(), host=args.host, port=args.port, title="batchtop", public_url=args.public_url
    )
    server.serve()
    return 0
