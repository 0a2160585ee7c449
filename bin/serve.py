"""Serve the app for development: the web server and the scheduler beside it.

``make run`` starts this (``.venv/bin/python bin/serve.py``). Ctrl-C, SIGTERM
or a closed terminal stops both children, waits for them, and exits 0. If
either child dies on its own, the other is stopped too and the exit status
says so.

On a terminal, the launcher takes the terminal's foreground for its own
process group (as a shell does for a job), so Ctrl-C reaches the launcher and
its children, not ``make``: make then sees its recipe end normally and exits
0, instead of dying of the signal ("make: *** ... Interrupt").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 10


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 5000))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or 2))
    parser.add_argument(
        "--debug",
        action="store_true",
        default=os.environ.get("FLASK_DEBUG") == "1",
        help="Flask's debug server instead of gunicorn (never in production)",
    )
    return parser.parse_args()


class Terminal:
    """The controlling terminal's foreground, taken for this process group and given back."""

    def __init__(self) -> None:
        self.fd: int | None = None
        self.previous: int | None = None
        try:
            fd = sys.stdin.fileno()
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                self.fd, self.previous = fd, os.getpgrp()
        except (OSError, ValueError):
            pass

    def take(self) -> None:
        if self.fd is None:
            return
        os.setpgid(0, 0)
        self._hand_to(os.getpgrp())

    def give_back(self) -> None:
        if self.fd is not None and self.previous is not None:
            self._hand_to(self.previous)

    def _hand_to(self, group: int) -> None:
        # A background group that sets the foreground is sent SIGTTOU; ignore it meanwhile.
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            with contextlib.suppress(OSError):
                os.tcsetpgrp(self.fd, group)
        finally:
            signal.signal(signal.SIGTTOU, old)


def _stop(children: list[subprocess.Popen]) -> None:
    """SIGTERM to each child still running; SIGKILL to any that outlives the grace period."""
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> int:
    args = _arguments()
    tools = Path(sys.executable).parent
    env = dict(os.environ, HOST=args.host, PORT=str(args.port))
    if args.debug:
        web = [str(tools / "flask"), "run", "--host", args.host, "--port", str(args.port)]
    else:
        bind = f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"
        web = [str(tools / "gunicorn"), "--bind", bind, "--workers", str(args.workers), "wsgi:app"]

    stopping: list[int] = []

    def on_signal(signum, _frame):
        stopping.append(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)

    terminal = Terminal()
    terminal.take()
    children: list[subprocess.Popen] = []
    status = 0
    try:
        children.append(subprocess.Popen([str(tools / "flask"), "scheduler"], env=env))  # noqa: S603
        children.append(subprocess.Popen(web, env=env))  # noqa: S603
        while not stopping:
            ended = [child for child in children if child.poll() is not None]
            if ended:
                name = "scheduler" if ended[0] is children[0] else "web server"
                print(f"The {name} stopped (status {ended[0].returncode}).", file=sys.stderr)
                status = 1
                break
            time.sleep(0.2)
    finally:
        _stop(children)
        if stopping:
            print("Stopped.", file=sys.stderr)
        terminal.give_back()
    return status


if __name__ == "__main__":
    sys.exit(main())
