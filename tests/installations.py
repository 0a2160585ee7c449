"""Whole installations for the operations tests: each with its own database (a
SQLite file, or a PostgreSQL database beside TEST_DATABASE_URL's) and its own
instance folder, built by the migrations, used through its own Flask app.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from coalition import create_app
from coalition.config import normalise_db_url
from tests.conftest import app_config, is_postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_admin_url() -> str:
    url = sa.engine.make_url(normalise_db_url(os.environ["TEST_DATABASE_URL"]))
    return url.set(database="postgres").render_as_string(hide_password=False)


def fresh_database_url(tmp_path: Path, name: str) -> str:
    """A new, empty database: a SQLite file, or a PostgreSQL database named after the
    test database (dropped first if a previous run left it)."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base or not is_postgres(base):
        return f"sqlite:///{tmp_path / f'{name}.sqlite'}"
    url = sa.engine.make_url(normalise_db_url(base))
    database = f"{url.database}_{name}"
    drop_postgres_database(database)
    engine = sa.create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    engine.dispose()
    return url.set(database=database).render_as_string(hide_password=False)


def drop_postgres_database(database: str) -> None:
    engine = sa.create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    engine.dispose()


def drop_database(url: str) -> None:
    if is_postgres(url):
        drop_postgres_database(sa.engine.make_url(url).database)


class Installation:
    """One installation: ``url``, ``instance`` and an app built for them."""

    def __init__(self, tmp_path: Path, name: str, *, url: str | None = None, **config):
        self.name = name
        self.url = url or fresh_database_url(tmp_path, name)
        self.instance = tmp_path / f"{name}-instance"
        self.instance.mkdir(mode=0o700, exist_ok=True)
        self.uploads = self.instance / "uploads"
        self.backups = tmp_path / f"{name}-backups"
        from coalition.extensions import limiter

        # ``limiter`` is one module-level object that create_app re-points to the new
        # app: put it back for the session's app (as tests/test_throttle.py does).
        saved_limiter = dict(limiter.__dict__)
        previous = os.environ.get("COALITION_INSTANCE_PATH")
        os.environ["COALITION_INSTANCE_PATH"] = str(self.instance)
        try:
            self.app = create_app(
                app_config(
                    self.url,
                    str(self.instance),
                    UPLOAD_FOLDER=str(self.uploads),
                    BACKUP_FOLDER=str(self.backups),
                    **config,
                )
            )
        finally:
            limiter.__dict__.clear()
            limiter.__dict__.update(saved_limiter)
            if previous is None:
                os.environ.pop("COALITION_INSTANCE_PATH", None)
            else:
                os.environ["COALITION_INSTANCE_PATH"] = previous

    @contextmanager
    def context(self):
        from coalition.extensions import db

        with self.app.app_context():
            try:
                yield
            finally:
                db.session.remove()

    def upgrade(self, revision: str = "heads") -> None:
        from coalition.migrations import upgrade

        with self.context():
            upgrade(revision=revision)

    def cli(self, *args: str):
        """Run a ``flask`` command against this installation (in its own app context:
        a command finds the app through ``current_app`` when one is pushed)."""
        with self.context():
            return self.app.test_cli_runner().invoke(args=list(args))

    def env(self) -> dict[str, str]:
        """Environment variables for processes (gunicorn, flask) serving this installation."""
        env = dict(os.environ)
        env.update(
            {
                "COALITION_INSTANCE_PATH": str(self.instance),
                "DATABASE_URL": self.url,
                "UPLOAD_FOLDER": str(self.uploads),
                "BACKUP_FOLDER": str(self.backups),
                "SECRET_KEY": "test-secret-key-that-is-long-enough-for-the-checks",
                "FLASK_APP": "wsgi",
            }
        )
        return env

    def close(self) -> None:
        from coalition.extensions import db

        with self.app.app_context():
            db.engine.dispose()


def table_contents(installation: Installation) -> dict[str, list[tuple]]:
    """Every row of every table the database holds (reflected), in a stable order."""
    from coalition.extensions import db

    contents = {}
    with installation.context(), db.engine.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        for table in sorted(sa.inspect(conn).get_table_names()):
            rows = conn.exec_driver_sql(f"SELECT * FROM {quote(table)}").all()
            contents[table] = sorted((tuple(r) for r in rows), key=repr)
    return contents


def file_contents(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``root`` by its relative path, leaving out ``skip`` (names)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in skip:
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def wait_for_port(port: int, process=None, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process ended with {process.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


def start_gunicorn(
    installation: Installation, log_path: Path, *, workers: int = 1, app: str = "wsgi:app", **env
):
    """gunicorn serving ``installation`` on a free loopback port: (process, port)."""
    import subprocess
    import sys

    port = free_port()
    environment = installation.env()
    environment.update({k: str(v) for k, v in env.items()})
    log = open(log_path, "ab")  # noqa: SIM115 - the process writes to it while it runs
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "30",
            "--no-control-socket",
            app,
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        wait_for_port(port, process)
        wait_until_serving(port, process)
    except RuntimeError:
        stop(process)
        raise RuntimeError(log_path.read_text(errors="replace")[-3000:]) from None
    return process, port


def wait_until_serving(port: int, process, timeout: float = 60.0) -> None:
    """Until the app answers /healthz (workers import the app after the port opens)."""
    import http.client
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn ended with {process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"the app on port {port} does not answer /healthz")


def stop(process, timeout: float = 10.0) -> None:
    """Stop a process this test started (its own session: gunicorn and its workers)."""
    import signal
    import subprocess

    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
