"""``make run`` on a terminal: it serves, its emails link to the port it serves on,
and Ctrl-C stops the web server and the scheduler and exits 0.

Slow-ish (about 10 s on an idle machine: migrations, demo data, gunicorn), and
kept in the suite: CI runs it. It commits nothing to the test database; the
server has a database of its own in a temporary folder.
"""

from __future__ import annotations

import fcntl
import http.cookiejar
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import termios
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 90  # migrations and the demo data on a busy machine
STOP_SECONDS = 20

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "gunicorn").exists(),
    reason="needs make and the project's virtual environment",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Output:
    """Everything the terminal shows, read from the pty's master side as it comes."""

    def __init__(self, fd: int):
        self.fd, self.text, self.lock = fd, "", threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.text += chunk.decode("utf-8", "replace")

    def get(self) -> str:
        with self.lock:
            return self.text


def _ours(marker: str) -> list[tuple[int, str]]:
    """Processes (pid, command line) started with our own database in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append((int(entry.name), cmdline))
    return found


def _wait_for_health(port: int, proc: subprocess.Popen, output: Output) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert proc.poll() is None, output.get()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise AssertionError("make run did not answer /healthz:\n" + output.get())


def _sign_up(port: int) -> None:
    """Create an account through the sign-up page, as a browser would."""
    base = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(f"{base}/sign-up", timeout=10).read().decode()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)[1]
    form = {
        "csrf_token": token,
        "name": "Port Tester",
        "email": "port-tester@example.org",
        "password": "a long and unusual passphrase 7",
        "confirm": "a long and unusual passphrase 7",
        "language": "en",
        "timezone": "UTC",
    }
    request = urllib.request.Request(
        f"{base}/sign-up", data=urllib.parse.urlencode(form).encode(), method="POST"
    )
    with opener.open(request, timeout=10) as response:
        assert response.status == 200, response.status


def _make_controlling_terminal() -> None:
    # Runs in the child, after start_new_session's setsid(): the pty becomes its terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_make_run_serves_on_its_port_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = _free_port()
    marker = f"sqlite:///{tmp_path / 'run.sqlite'}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"BASE_URL", "FLASK_DEBUG", "HOST", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    env.update(
        PORT=str(port),
        WORKERS="1",
        DATABASE_URL=marker,
        COALITION_INSTANCE_PATH=str(tmp_path),
        UPLOAD_FOLDER=str(tmp_path / "uploads"),
        SECRET_KEY="make-run-test-secret-key-long-enough-000000",
        OUTBOX_POLL_SECONDS="1",
        RATELIMIT_ENABLED="0",
    )
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=_make_controlling_terminal,
    )
    os.close(slave)
    output = Output(master)
    try:
        _wait_for_health(port, proc, output)
        children = _ours(marker)
        assert any("gunicorn" in cmd for _pid, cmd in children), children
        assert any("scheduler" in cmd for _pid, cmd in children), children

        # The confirmation email (written to the log by the scheduler) links to this port.
        _sign_up(port)
        deadline = time.monotonic() + 20
        link = re.compile(rf"http://127\.0\.0\.1:{port}/confirm/")
        while not link.search(output.get()) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert link.search(output.get()), output.get()[-3000:]

        os.write(master, b"\x03")  # Ctrl-C, as typed on the terminal
        proc.wait(timeout=STOP_SECONDS)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        time.sleep(0.2)
        left = _ours(marker)
        for pid, _cmd in left:
            os.kill(pid, signal.SIGKILL)
        os.close(master)
    text = output.get()
    assert proc.returncode == 0, text[-3000:]
    assert "Segmentation fault" not in text and "make: ***" not in text, text[-3000:]
    assert left == [], left
    assert "Stopped." in text
