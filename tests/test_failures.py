"""Failures injected (issue 15 C): processes killed with SIGKILL in the middle of
their work, and a PostgreSQL restarted under load. Each test runs the real
application in processes of its own (tests/ops_processes.py, gunicorn, the
scheduler) against an installation of its own; the shared PostgreSQL is never
stopped (the restart test starts a private cluster).

The SMTP outage is in tests/test_mail.py, the full disk in
tests/test_grants_application_pages.py.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from coalition.extensions import db
from tests.installations import (
    PROJECT_ROOT,
    Installation,
    drop_database,
    free_port,
    start_gunicorn,
    stop,
)

pytestmark = pytest.mark.committing


@pytest.fixture
def installation(tmp_path):
    made = Installation(tmp_path, "failures")
    made.upgrade()
    yield made
    made.close()
    drop_database(made.url)


def wait_for(predicate, timeout=20.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached after {timeout} s")


class Child:
    """``python -m tests.ops_processes COMMAND`` for an installation, killed at will."""

    def __init__(self, installation, tmp_path: Path, command: str, **env):
        self.marker = tmp_path / f"marker-{time.monotonic_ns()}"
        self.marker.touch()
        environment = installation.env()
        environment.update({"OPS_MARKER": str(self.marker), "JOBS_POLL_SECONDS": "1"})
        environment.update({k: str(v) for k, v in env.items()})
        self.log = tmp_path / f"child-{command}.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.ops_processes", command],
                cwd=PROJECT_ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def marks(self) -> list[str]:
        return self.marker.read_text().splitlines()

    def wait_mark(self, label: str, timeout=30.0) -> str:
        def seen():
            if self.process.poll() is not None and not any(
                m.startswith(label) for m in self.marks()
            ):
                raise AssertionError(
                    f"the child ended ({self.process.returncode}) before {label!r}:\n"
                    + self.log.read_text(errors="replace")[-3000:]
                )
            return next((m for m in self.marks() if m.startswith(label)), None)

        return wait_for(seen, timeout, f"the mark {label!r}")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def finish(self, timeout=60.0) -> int:
        return self.process.wait(timeout)

    def stop(self) -> None:
        stop(self.process)


def count(installation, model, *where) -> int:
    with installation.context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


# -- The scheduler killed in the middle of an import ---------------------------------------


def members_csv(rows: int) -> bytes:
    from tests.test_members_import import csv_text, row

    return csv_text(
        [
            row(
                name=f"Killed Import Organisation {n}",
                acronym=f"KIO{n}",
                website=f"https://kio{n}.example.org",
                contact_email=f"contact{n}@kio{n}.example.org",
            )
            for n in range(rows)
        ]
    ).encode()


def queue_import(installation, payload: bytes) -> int:
    from coalition import jobs
    from coalition.members.importing.job import JOB_KIND

    with installation.context():
        job = jobs.enqueue(
            JOB_KIND,
            created_by=None,
            params={"mode": "commit", "filename": "members.csv", "sheet": None},
            payload=payload,
        )
        db.session.commit()
        return job.id


def job_state(installation, job_id):
    from coalition.jobs import Job

    with installation.context():
        job = db.session.get(Job, job_id)
        return job.status.value, job.error, job.result


def test_scheduler_killed_mid_import_leaves_it_failed_and_the_data_as_it_was(
    installation, tmp_path
):
    from coalition.audit.models import AuditEntry
    from coalition.jobs import INTERRUPTED
    from coalition.members.models import Member

    payload = members_csv(12)
    job_id = queue_import(installation, payload)
    killed = Child(installation, tmp_path, "scheduler", OPS_PAUSE_ON="members")
    killed.wait_mark("members")  # a member is written in the job's open transaction
    killed.kill()
    assert job_state(installation, job_id)[0] == "running"
    assert count(installation, Member) == 0

    # The next scheduler marks the job failed: nothing it did was kept.
    scheduler = Child(installation, tmp_path, "scheduler")
    try:
        wait_for(lambda: job_state(installation, job_id)[0] == "failed", what="the job failed")
        assert job_state(installation, job_id)[1] == INTERRUPTED
        assert count(installation, Member) == 0
        # Only one scheduler per installation: a second one refuses to start.
        second = subprocess.run(
            [sys.executable, "-m", "flask", "scheduler"],
            cwd=PROJECT_ROOT,
            env=installation.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "one scheduler per installation" in second.stderr
        # Started again, the import completes, once.
        again = queue_import(installation, payload)
        wait_for(lambda: job_state(installation, again)[0] == "done", what="the import done")
        assert job_state(installation, again)[2]["counts"]["created"] == 12
        time.sleep(2.5)  # a few more polls of the running scheduler
        assert count(installation, Member) == 12
        imported = AuditEntry.action == "members.imported"
        assert count(installation, AuditEntry, imported) == 1
    finally:
        scheduler.stop()


# -- The scheduler killed in the middle of reminders, and while sending them ---------------


def reviewers_with_pending_reviews(installation, reviewers: int) -> list[str]:
    from coalition.db import utcnow
    from coalition.grants import assignment
    from tests.reviews_factories import make_application, make_person, make_round

    with installation.context():
        round_ = make_round(deadline=utcnow() + timedelta(days=2))
        people = []
        for _ in range(reviewers):
            person = make_person()
            assignment.assign(make_application(round_), person, actor=None)
            people.append(person.email)
        # The assignment emails are not this test's subject: out of the way.
        from coalition.mail.models import OutboxMessage, OutboxStatus

        db.session.execute(
            sa.update(OutboxMessage).values(status=OutboxStatus.SENT, sent_at=utcnow())
        )
        db.session.commit()
        return people


def test_scheduler_killed_mid_reminders_and_mid_send_sends_nothing_twice(installation, tmp_path):
    from aiosmtpd.controller import Controller

    from coalition.mail.models import OutboxMessage, OutboxStatus
    from tests.test_mail import RecordingHandler

    emails = reviewers_with_pending_reviews(installation, 4)
    reminders = OutboxMessage.template == "review_reminder"

    # Killed while queuing (the second reminder written, nothing committed): nothing queued.
    killed = Child(installation, tmp_path, "remind", OPS_PAUSE_ON="outbox")
    killed.wait_mark("outbox")
    killed.kill()
    assert count(installation, OutboxMessage, reminders) == 0
    done = Child(installation, tmp_path, "remind")
    assert done.finish() == 0
    assert count(installation, OutboxMessage, reminders) == 4

    port = free_port()
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    smtp = {"MAIL_BACKEND": "smtp", "SMTP_PORT": port, "OUTBOX_POLL_SECONDS": 1}
    try:
        # Killed after the server took a message, before it was marked sent.
        sending = Child(installation, tmp_path, "scheduler", OPS_PAUSE_ON="sending", **smtp)
        sending.wait_mark("sent")
        sending.kill()
        assert len(handler.envelopes) == 1
        # The reminder job runs again (as after a restart): nothing new is queued.
        assert Child(installation, tmp_path, "remind").finish() == 0
        assert count(installation, OutboxMessage, reminders) == 4
        scheduler = Child(installation, tmp_path, "scheduler", **smtp)
        try:
            wait_for(
                lambda: count(installation, OutboxMessage, OutboxMessage.status == "queued") == 0,
                what="the outbox emptied",
            )
            time.sleep(1.5)  # another poll: nothing more goes out
        finally:
            scheduler.stop()
    finally:
        controller.stop()
    received = sorted(m["To"] for m in handler.messages())
    assert received == sorted(emails)  # each reviewer once, the interrupted one included
    sent = OutboxMessage.status == OutboxStatus.SENT
    failed = OutboxMessage.status == OutboxStatus.FAILED
    assert count(installation, OutboxMessage, reminders, sent) == 3
    assert count(installation, OutboxMessage, reminders, failed) == 1  # may have arrived


# -- A web worker killed in the middle of a request ----------------------------------------


def get(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_a_worker_killed_mid_request_leaves_nothing_half_committed(installation, tmp_path):
    """A joining application writes the member, its contact, an audit row and the
    receipt email in one request; killed after the flush, none of it is kept."""
    from urllib.parse import urlencode

    from coalition.audit.models import AuditEntry
    from coalition.mail.models import OutboxMessage
    from coalition.members.models import Member

    email = "killed-mid-request@example.org"
    name = "Killed Mid Request Collective"
    marker = tmp_path / "worker-marker"
    marker.touch()
    server, port = start_gunicorn(
        installation,
        tmp_path / "gunicorn.log",
        workers=1,
        app="tests.ops_processes:app",
        OPS_PAUSE_ON=f"outbox:{email}",
        OPS_MARKER=marker,
    )
    try:
        status, headers, page = get(port, "/join")
        assert status == 200
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        once = re.search(r'name="once"[^>]*value="([^"]+)"', page)
        fields = [
            ("csrf_token", token),
            ("kind", "organisation"),
            ("name", name),
            ("org_type", "research"),
            ("country", "ML"),
            ("languages", "fr"),
            ("contact_name", "Aminata Traore"),
            ("contact_email", email),
            ("motivation", "We monitor election-time hate speech in the Sahel."),
            ("website_confirm", ""),
        ]
        if once:
            fields.append(("once", once.group(1)))
        body = urlencode(fields)
        outcome = {}

        def join():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request(
                    "POST",
                    "/join",
                    body=body,
                    headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
                )
                outcome["status"] = connection.getresponse().status
            except (OSError, http.client.HTTPException) as exc:
                outcome["error"] = exc
            finally:
                connection.close()

        request = threading.Thread(target=join)
        request.start()
        # The member, its contact, its audit entry and its email are flushed, not committed.
        line = wait_for(lambda: marker.read_text().strip(), what="the request paused")
        os.kill(int(line.split()[-1]), signal.SIGKILL)
        request.join(30)
        assert "status" not in outcome or outcome["status"] >= 500
        assert count(installation, Member, Member.name == name) == 0
        assert count(installation, OutboxMessage, OutboxMessage.recipient == email) == 0
        assert count(installation, AuditEntry) == 0
        # gunicorn starts a new worker; the app serves again.
        wait_for(lambda: get(port, "/healthz")[0] == 200, what="a new worker serving")
    finally:
        stop(server)


# -- PostgreSQL restarted under load ---------------------------------------------------------


def private_postgres_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PrivateCluster:
    """A PostgreSQL cluster of this test only, in a temporary folder, on a free port."""

    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="coalition-pg-"))
        self.data = self.folder / "data"
        self.prefix: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run it as the postgres user
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.binaries / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c full_page_writes=off"
        )
        self.run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def private_cluster():
    binaries = private_postgres_binaries()
    if binaries is None:
        pytest.skip(
            "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin) for a private cluster"
        )
    cluster = PrivateCluster(binaries)
    yield cluster
    cluster.remove()


def test_postgres_restarted_under_load_gives_503_then_serves_again(private_cluster, tmp_path):
    engine = sa.create_engine(
        private_cluster.url().replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE coalition")
    engine.dispose()
    installation = Installation(tmp_path, "pgrestart", url=private_cluster.url("coalition"))
    installation.upgrade()
    installation.close()
    server, port = start_gunicorn(installation, tmp_path / "gunicorn.log", workers=2)
    answers: list[tuple[float, int, str]] = []
    running = threading.Event()
    running.set()

    def load():
        while running.is_set():
            try:
                status, _headers, page = get(port, "/directory")
            except (OSError, http.client.HTTPException) as exc:
                answers.append((time.monotonic(), 0, repr(exc)))
                continue
            answers.append((time.monotonic(), status, page))

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        private_cluster.stop("fast")  # requests in flight lose their connections
        time.sleep(1.5)
        private_cluster.start()
        restarted = time.monotonic()
        time.sleep(2.0)
    finally:
        running.clear()
        for thread in threads:
            thread.join(30)
        stop(server)
    statuses = {status for _at, status, _page in answers}
    assert statuses <= {200, 503}, {s: p[:300] for _a, s, p in answers if s not in (200, 503)}
    unavailable = [page for _at, status, page in answers if status == 503]
    assert unavailable, "the load saw the database down"
    assert all("briefly unavailable" in page and "Traceback" not in page for page in unavailable)
    after = [status for at, status, _page in answers if at > restarted + 1.0]
    assert after and set(after) == {200}, after  # the same workers, reconnected
    log = (tmp_path / "gunicorn.log").read_text(errors="replace")
    assert "Booting worker" in log and log.count("Booting worker") == 2  # no worker restarted


def test_a_lost_database_connection_is_a_503_page_not_a_500(app, client, monkeypatch):
    def lost(*_args, **_kwargs):
        raise sa.exc.OperationalError("SELECT 1", {}, OSError("server closed the connection"))

    monkeypatch.setitem(app.view_functions, "core.home", lost)
    response = client.get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "briefly unavailable" in response.get_data(as_text=True)
