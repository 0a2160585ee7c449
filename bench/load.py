"""The sustained load run behind ``make load``: mixed traffic for ten minutes, then checks.

    python bench/load.py [--minutes N] [--database-url URL] [--members N]

1. **A database of its own**: ``--database-url`` (or ``LOAD_DATABASE_URL``;
   ``postgresql://postgres@127.0.0.1:5432/coalition_load`` by default) is
   dropped and created again, then seeded by ``bench/run.py``'s seeding
   (members, rounds, awards, a round in review, an open steering vote), with
   what the load's people need beside it: an open call, an account for each
   simulated person (applicants; reviewers with assignments, declared free of
   conflicts; the vote's sitters and staff with a second factor).
2. **Serves** it as in production on one machine: ``bin/serve.py`` runs
   gunicorn with 4 workers and the scheduler (jobs, outbox), on loopback.
   The rate limits are the production defaults, kept in Redis
   (``LOAD_RATELIMIT_STORAGE_URI``, ``redis://127.0.0.1:6379/7`` by default,
   emptied first); ``TRUSTED_PROXIES=1``, and each simulated person sends its
   own address in ``X-Forwarded-For``, as nginx would: the per-address limits
   apply to each of them, not to one crowd on 127.0.0.1. The outbox sends
   through SMTP to a sink on loopback (aiosmtpd), which counts what arrives.
3. **Runs** ``bench/locustfile.py`` with Locust, headless, for ``--minutes``
   (``LOAD_MINUTES``, 10 by default): visitors, applicants, reviewers,
   steering members and staff (see that file), every response checked.
4. **Checks the database** against what the users did (Locust's ledger):
   every form sent is in it exactly once, no email is queued twice, and the
   audit log holds one entry per change. The server's log must hold no
   traceback and no error.
5. **Prints** one table (page, requests, failures, p50, p95, ratio to the bare
   page's p50 in the same run, PASS/FAIL) and writes it to
   ``bench/load-results.md`` (``--results``).

The targets are the benchmark's (bench/README.md): every page's median
within 3 times the bare page's median, measured in the same run; the export of
all members within 5 s. Form posts, sign-in and the report's making are shown
for information. The exit status is 1 when any error or any check failed, 0
otherwise (page times are a measurement, shown PASS or FAIL in the table).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/coalition_load"
DEFAULT_RATELIMIT_STORAGE = "redis://127.0.0.1:6379/7"
RESULTS = BENCH / "load-results.md"
WORKERS = 4

# Simulated people of each kind (Locust users, each with its own account).
PEOPLE = {"visitor": 6, "applicant": 5, "reviewer": 4, "steering": 3, "staff": 2}
ENV_COUNTS = {
    "visitor": "LOAD_VISITORS",
    "applicant": "LOAD_APPLICANTS",
    "reviewer": "LOAD_REVIEWERS",
    "steering": "LOAD_STEERING",
    "staff": "LOAD_STAFF",
}
REVIEWS_EACH = 10  # assignments of each load reviewer

# Targets (bench/README.md).
PAGE_FACTOR = 3.0
EXPORT_SECONDS = 5.0
BARE = "bare page (base layout only)"
EXPORT = "POST /members/export.csv (all members)"


def _bench():
    """bench/run.py, for its seeding and its sign-in helper."""
    sys.path.insert(0, str(BENCH))
    import run

    return run


# -- Seeding (a child process) -------------------------------------------------------------


def people_counts() -> dict[str, int]:
    return {kind: int(os.environ.get(ENV_COUNTS[kind]) or n) for kind, n in PEOPLE.items()}


def seed_command(out: Path, members: int, small: bool) -> None:
    """bench/run.py's seed, then the load's own people and an open call; writes JSON."""
    bench = _bench()
    bench.GRANT_ROUNDS = 3  # 6,000 applications; the third round's awarded
    if small:  # for the automated test: the same shapes, a few rows each
        bench.APPLICATIONS_PER_ROUND = 60
        bench.GRANTS = 20
        bench.REVIEWED_APPLICATIONS = 30 + REVIEWS_EACH * PEOPLE["reviewer"] * 2
        bench.OWN_ASSIGNMENTS = 20
        bench.VOTE_SHORTLIST = 10
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        bench.seed_command(members)
    seeded = json.loads(printed.getvalue().strip().splitlines()[-1])

    import pyotp
    import sqlalchemy as sa

    app = bench._app()
    with app.app_context(), app.test_request_context():
        from coalition.accounts import operations as account_ops
        from coalition.accounts.models import Role, User
        from coalition.accounts.passwords import hash_password
        from coalition.db import utcnow
        from coalition.demo import DEMO_DOMAIN
        from coalition.extensions import db
        from coalition.grants import assignment
        from coalition.grants import reviews as review_ops
        from coalition.grants.models import Application, Fund, Round, RoundPhase
        from coalition.steering import voting
        from coalition.steering.models import Vote

        now = utcnow()
        counts = people_counts()
        password = "load-" + secrets.token_urlsafe(16)
        convenor = db.session.scalar(sa.select(User).where(User.email == seeded["email"]))

        def person(email: str, name: str, roles, *, second_factor: bool) -> dict:
            user = account_ops.create_user(email=email, name=name, password=password, roles=roles)
            if second_factor:
                user.totp_secret = pyotp.random_base32()
                user.totp_enabled_at = now
            db.session.flush()
            return {"id": user.id, "email": user.email, "password": password} | (
                {"totp_secret": user.totp_secret} if second_factor else {}
            )

        fund = Fund(name="Load Fund", currency="USD", total_budget=10**12)
        fund.eligible_countries = ["KE", "SN", "NG", "GH", "ZA"]
        call = Round(
            fund=fund,
            title="Load call for proposals",
            phase=RoundPhase.PUBLISHED,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=60),
            budget=10**10,
            min_grant=100_000,
            max_grant=10**9,
        )
        db.session.add(call)
        applicants = [
            person(
                f"load-applicant{i}@{DEMO_DOMAIN}",
                f"Load Applicant {i}",
                [Role.APPLICANT],
                second_factor=False,
            )
            for i in range(counts["applicant"])
        ]
        # Reviewers: assignments in the round in review, beyond the bench person's own.
        review_round = db.session.get(Round, seeded["review_round_id"])
        free = db.session.scalars(
            sa.select(Application)
            .where(Application.round_id == review_round.id)
            .order_by(Application.id.desc())
            .limit(REVIEWS_EACH * counts["reviewer"])
        ).all()
        reviewers = []
        for i in range(counts["reviewer"]):
            account = person(
                f"load-reviewer{i}@{DEMO_DOMAIN}",
                f"Load Reviewer {i}",
                [Role.REVIEWER],
                second_factor=False,
            )
            user = db.session.get(User, account["id"])
            ids = []
            for application in free[i * REVIEWS_EACH : (i + 1) * REVIEWS_EACH]:
                review = assignment.assign(application, user, actor=convenor, now=now)
                review_ops.declare(application, user, conflict=False, now=now)
                ids.append(review.id)
            reviewers.append({**account, "review_ids": ids})
        # Steering: the open vote's sitters (bench/run.py's), given a password and a code.
        sitters = db.session.scalars(
            sa.select(User)
            .where(User.email.like("sitter%@bench.coalition.test"))
            .order_by(User.id)
            .limit(counts["steering"])
        ).all()
        if len(sitters) < counts["steering"]:
            raise SystemExit(f"only {len(sitters)} sitters for {counts['steering']} steering users")
        steering = []
        for user in sitters:
            user.password_hash = hash_password(password)
            user.email_confirmed_at = now
            user.totp_secret = pyotp.random_base32()
            user.totp_enabled_at = now
            steering.append(
                {
                    "id": user.id,
                    "email": user.email,
                    "password": password,
                    "totp_secret": user.totp_secret,
                }
            )
        staff = [
            {
                "id": convenor.id,
                "email": seeded["email"],
                "password": seeded["password"],
                "totp_secret": seeded["totp_secret"],
            }
        ] + [
            person(
                f"load-staff{i}@{DEMO_DOMAIN}",
                f"Load Staff {i}",
                [Role.CONVENOR],
                second_factor=True,
            )
            for i in range(1, counts["staff"])
        ]
        db.session.commit()
        vote = db.session.get(Vote, seeded["open_vote_id"])
        seeded.update(
            demo_domain=DEMO_DOMAIN,
            open_round_id=call.id,
            shortlist=voting.item_ids(vote),
            accounts={
                "applicant": applicants,
                "reviewer": reviewers,
                "steering": steering,
                "staff": staff,
            },
        )
    out.write_text(json.dumps(seeded))


# -- After the run: the database against the ledger (a child process) ----------------------


@dataclass
class Check:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


def _exactly_once(name: str, wanted: list, found: Counter) -> Check:
    """Each of ``wanted`` found exactly once; ``found`` counts what the database holds."""
    missing = [w for w in wanted if found[w] == 0]
    doubled = [w for w in wanted if found[w] > 1]
    extra = sum(n for key, n in found.items() if key not in set(wanted))
    ok = not missing and not doubled and not extra and len(set(wanted)) == len(wanted)
    detail = f"{len(wanted)} sent, {sum(found.values())} in the database"
    if missing:
        detail += f"; missing {missing[:3]}"
    if doubled:
        detail += f"; twice or more {doubled[:3]}"
    if extra:
        detail += f"; {extra} not sent by anyone"
    return Check(name, ok, detail)


def verify(ledger: list[dict], since: datetime, accounts: dict) -> list[Check]:
    """What the load's people did (``ledger``) against the database (in an app context)."""
    import sqlalchemy as sa

    from coalition.accounts.models import User
    from coalition.audit.models import AuditEntry
    from coalition.extensions import db
    from coalition.grants.models import Application, Attachment
    from coalition.grants.review_models import Review
    from coalition.mail.models import OutboxMessage
    from coalition.members.models import Member  # noqa: F401  (models loaded)
    from coalition.steering.models import SeatVote, SeatVoteChange
    from coalition.steering.reports.models import GeneratedReport

    of = defaultdict(list)
    for entry in sorted(ledger, key=lambda e: e["at"]):
        of[entry["kind"]].append(entry)
    checks: list[Check] = []
    audit = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.created_at >= since).order_by(AuditEntry.id)
    ).all()
    actions = Counter(e.action for e in audit)

    # Drafts started: each start one application, a start sent twice still one.
    applicant_ids = [a["id"] for a in accounts.get("applicant", [])]
    made = db.session.scalars(
        sa.select(Application.id).where(
            Application.applicant_id.in_(applicant_ids or [-1]), Application.created_at >= since
        )
    ).all()
    checks.append(
        _exactly_once(
            "drafts started (a third sent twice)",
            [e["application_id"] for e in of["start"]],
            Counter(made),
        )
    )
    checks.append(
        Check(
            "a start sent twice led to the first draft",
            not of["duplicate_start"],
            f"{sum(1 for e in of['start'] if e['twice'])} sent twice, "
            f"{len(of['duplicate_start'])} led elsewhere",
        )
    )
    # Drafts saved: each summary written is in exactly one audit entry, as the new value,
    # and each application holds the last one its applicant saved.
    saved = Counter(
        (e.changes or {}).get("summary", [None, None])[1]
        for e in audit
        if e.action == "application.saved"
    )
    checks.append(_exactly_once("drafts saved (audit)", [e["marker"] for e in of["save"]], saved))
    last = {e["application_id"]: e["marker"] for e in of["save"]}
    held = dict(
        db.session.execute(
            sa.select(Application.id, Application.summary).where(
                Application.id.in_(list(last) or [-1])
            )
        ).all()
    )
    wrong = [i for i, text in last.items() if held.get(i) != text]
    checks.append(
        Check(
            "each draft holds its last save",
            not wrong,
            f"{len(last)} drafts" + (f"; not the last save: {wrong[:3]}" if wrong else ""),
        )
    )
    # Attachments: each file uploaded is attached once.
    names = [e["name"] for e in of["upload"]]
    attached = Counter(
        db.session.scalars(
            sa.select(Attachment.original_name).where(Attachment.original_name.like("load-file-%"))
        ).all()
    )
    checks.append(_exactly_once("attachments uploaded", names, attached))
    # Reviews: one audit entry per save; each review holds its last comment.
    review_saves = Counter(e["review_id"] for e in of["review"])
    audited = Counter(int(e.object_id) for e in audit if e.action == "review.saved" and e.object_id)
    wrong = [r for r in set(review_saves) | set(audited) if review_saves[r] != audited[r]]
    checks.append(
        Check(
            "review drafts saved (audit)",
            not wrong,
            f"{sum(review_saves.values())} saves, {sum(audited.values())} audit entries"
            + (f"; differ on reviews {sorted(wrong)[:3]}" if wrong else ""),
        )
    )
    last = {e["review_id"]: e["marker"] for e in of["review"]}
    held = dict(
        db.session.execute(
            sa.select(Review.id, Review.comment_confidential).where(
                Review.id.in_(list(last) or [-1])
            )
        ).all()
    )
    wrong = [i for i, text in last.items() if held.get(i) != text]
    checks.append(
        Check(
            "each review holds its last save",
            not wrong,
            f"{len(last)} reviews" + (f"; not the last save: {wrong[:3]}" if wrong else ""),
        )
    )
    # Votes: each vote cast is one change kept, and each seat's vote is the last cast.
    notes = [e["marker"] for e in of["vote"]]
    kept = Counter(
        db.session.scalars(
            sa.select(SeatVoteChange.note).where(SeatVoteChange.note.like("load-note-%"))
        ).all()
    )
    checks.append(_exactly_once("votes cast (changes kept)", notes, kept))
    last = {(e["seat_id"], e["application_id"]): e for e in of["vote"]}
    held = {
        (v.vote_seat_id, v.application_id): v
        for v in db.session.scalars(
            sa.select(SeatVote).where(SeatVote.note.like("load-note-%"))
        ).all()
    }
    wrong = [
        k
        for k, e in last.items()
        if k not in held or held[k].note != e["marker"] or held[k].choice.value != e["choice"]
    ]
    checks.append(
        Check(
            "each seat's vote is its last cast",
            not wrong and len(held) == len(last),
            f"{len(last)} seat votes" + (f"; differ: {wrong[:3]}" if wrong else ""),
        )
    )
    # Reports: each request one report, each made.
    requested = [e["report_id"] for e in of["report"]]
    reports = Counter(
        db.session.scalars(
            sa.select(GeneratedReport.id).where(GeneratedReport.created_at >= since)
        ).all()
    )
    checks.append(_exactly_once("reports requested", requested, reports))
    unready = [e["report_id"] for e in of["report"] if not e["ready"]]
    checks.append(
        Check(
            "every report requested was made",
            not unready,
            f"{len(requested)} made" + (f"; not ready: {unready}" if unready else ""),
        )
    )
    # Sign-ups: each one account, made by the job, with one confirmation email.
    emails = [e["email"] for e in of["sign_up"]]
    made = Counter(
        db.session.scalars(sa.select(User.email).where(User.email.in_(emails or ["-"]))).all()
    )
    checks.append(_exactly_once("sign-ups (accounts made by the job)", emails, made))
    told = Counter(
        db.session.scalars(
            sa.select(OutboxMessage.recipient).where(
                OutboxMessage.recipient.in_(emails or ["-"]), OutboxMessage.created_at >= since
            )
        ).all()
    )
    checks.append(_exactly_once("sign-ups: one confirmation email each", emails, told))
    # The audit log: one entry per change, nothing else.
    expected = {
        "user.sign_in": len(of["sign_in"]),
        "user.sign_up": len(of["sign_up"]),
        "application.started": len(of["start"]),
        "application.saved": len(of["save"]),
        "application.attachment_added": len(of["upload"]),
        "review.saved": len(of["review"]),
        "steering.vote_cast": len(of["vote"]),
        "members.exported": len(of["export"]),
        "report.requested": len(of["report"]),
        "report.generated": sum(1 for e in of["report"] if e["ready"]),
    }
    differ = {
        a: (expected.get(a, 0), actions.get(a, 0))
        for a in set(expected) | set(actions)
        if expected.get(a, 0) != actions.get(a, 0)
    }
    checks.append(
        Check(
            "audit log: one entry per change",
            not differ,
            f"{len(audit)} entries in {len(actions)} kinds"
            + "".join(f"; {a}: {n} expected, {m} found" for a, (n, m) in sorted(differ.items())),
        )
    )
    # The outbox: no email queued twice during the run (the same recipient, template,
    # subject and text; the key is unique, so a duplicate would differ in its key only).
    rows = db.session.execute(
        sa.select(
            OutboxMessage.recipient,
            OutboxMessage.template,
            OutboxMessage.subject,
            OutboxMessage.body_text,
        ).where(OutboxMessage.created_at >= since)
    ).all()
    twice = [k[:3] for k, n in Counter(tuple(r) for r in rows).items() if n > 1]
    checks.append(
        Check(
            "outbox: no email queued twice",
            not twice,
            f"{len(rows)} messages queued during the run"
            + (f"; twice: {twice[:3]}" if twice else ""),
        )
    )
    return checks


def verify_command(out_path: Path, seed_path: Path, since: str) -> None:
    bench = _bench()
    out = json.loads(out_path.read_text())
    accounts = json.loads(seed_path.read_text())["accounts"]
    app = bench._app()
    with app.app_context():
        import sqlalchemy as sa

        from coalition.extensions import db
        from coalition.mail.models import OutboxMessage, OutboxStatus

        checks = verify(out["ledger"], datetime.fromisoformat(since), accounts)
        statuses = Counter(
            s.value if hasattr(s, "value") else s
            for s in db.session.scalars(sa.select(OutboxMessage.status)).all()
        )
        sent = statuses.get(OutboxStatus.SENT.value, 0)
    print(
        json.dumps(
            {"checks": [c.as_dict() for c in checks], "outbox": dict(statuses), "sent": sent}
        )
    )


# -- The run -------------------------------------------------------------------------------


def reset_database(url: str) -> None:
    """Drop and create the database ``url`` names (PostgreSQL); a SQLite file is removed."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        path.unlink(missing_ok=True)
        return
    import psycopg

    parts = urllib.parse.urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"the database name {name!r} is not a plain name")
    admin = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def empty_ratelimits(uri: str) -> None:
    if uri.startswith("redis://"):
        import redis

        redis.Redis.from_url(uri).flushdb()


class SmtpSink:
    """An SMTP server on loopback that keeps a count of what arrives (aiosmtpd)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.received: list[str] = []
        self._lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink._lock:
                    sink.received.extend(envelope.rcpt_tos)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=_bench().free_port())

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def port(self) -> int:
        return self.controller.port


def start_server(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    """bin/serve.py: gunicorn with 4 workers, and the scheduler beside it."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bin" / "serve.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        return _bench().wait_until_healthy(process, port, log_path, seconds=90)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from exc


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Gunicorn's own lines ("[ERROR]", "[CRITICAL] WORKER TIMEOUT"), the app's and the
# scheduler's JSON lines at level error or critical, and any traceback.
LOG_ERRORS = re.compile(
    r'Traceback|Exception|\[ERROR\]|\[CRITICAL\]|WORKER TIMEOUT|"level": "(error|critical)"',
    re.IGNORECASE,
)


def log_errors(text: str) -> list[str]:
    """The lines of the server's log (gunicorn and the scheduler) that tell of an error."""
    return [line for line in text.splitlines() if LOG_ERRORS.search(line)]


def child(command: list[str], env: dict) -> dict:
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *command],
        cwd=ROOT,
        env={**env, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-4000:])
        raise SystemExit(f"`load.py {' '.join(command)}` failed ({completed.returncode})")
    return json.loads(completed.stdout.strip().splitlines()[-1]) if completed.stdout.strip() else {}


def pending_command() -> None:
    """Print how many jobs and emails the scheduler still has to do."""
    import sqlalchemy as sa

    app = _bench()._app()
    with app.app_context():
        from coalition.extensions import db
        from coalition.jobs import Job, JobStatus
        from coalition.mail.models import OutboxMessage, OutboxStatus

        jobs = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Job)
            .where(Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
        )
        mail = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == OutboxStatus.QUEUED)
        )
    print(json.dumps({"pending": jobs + mail}))


def wait_for_background(env: dict, seconds: float = 90) -> None:
    """Let the scheduler finish what the run left: jobs under way, emails queued."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child(["pending"], env)["pending"] == 0:
            return
        time.sleep(3)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(-(-q * len(ordered) // 1)) - 1)]


@dataclass
class Row:
    page: str
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    ratio: str
    target: str
    result: str


def table_rows(times: dict, failures: dict, warm_up: dict | None = None) -> list[Row]:
    """One row a page: its requests (those of the warm-up too), failures, p50 and p95 (of
    the timed ones), its p50 over the bare page's, and its verdict."""
    warm_up = warm_up or {}
    bare = statistics.median(times[BARE]) if times.get(BARE) else None
    names = set(times) | set(failures) | set(warm_up)
    rows = []
    for name in sorted(names, key=lambda n: (n != BARE, n)):
        values = times.get(name) or []
        failed = len(failures.get(name, []))
        requests = len(values) + warm_up.get(name, 0)
        p50 = statistics.median(values) if values else None
        p95 = percentile(values, 0.95) if values else None
        ratio = f"{p50 / bare:.1f}x" if bare and p50 is not None else "-"
        if name == BARE:
            target, within = "(reference)", True
        elif name == EXPORT:
            target = f"p50 <= {EXPORT_SECONDS:g} s"
            within = p50 is not None and p50 <= EXPORT_SECONDS * 1000
        elif name.startswith("GET "):
            target = f"p50 <= {PAGE_FACTOR:g}x bare"
            within = bare is not None and p50 is not None and p50 <= PAGE_FACTOR * bare
        else:
            target, within = "(for information)", None
        if failed:
            result = "FAIL"
        elif within is None:
            result = "-"
        else:
            result = "PASS" if within else "FAIL"
        rows.append(Row(name, requests, failed, p50, p95, ratio, target, result))
    return rows


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def render(rows: list[Row], checks: list[dict], errors: list[str], heading: str) -> str:
    lines = [heading, ""]
    lines.append("| page | requests | failures | p50 ms | p95 ms | x bare p50 | target | result |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in rows:
        lines.append(
            f"| {r.page} | {r.requests} | {r.failures} | {ms(r.p50)} | {ms(r.p95)} | "
            f"{r.ratio} | {r.target} | {r.result} |"
        )
    lines += ["", "| check after the run | result | detail |", "| --- | --- | --- |"]
    for c in checks:
        lines.append(f"| {c['name']} | {'PASS' if c['passed'] else 'FAIL'} | {c['detail']} |")
    lines.append("")
    if errors:
        lines.append(f"Errors ({len(errors)}):")
        lines += [f"    {e}" for e in errors[:20]]
    else:
        lines.append("Errors: none (no failed request, no error in the server's log).")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="coalition-load-"))
    url = args.database_url
    if url == "sqlite":
        url = f"sqlite:///{workdir / 'load.sqlite'}"
    storage = os.environ.get("LOAD_RATELIMIT_STORAGE_URI", DEFAULT_RATELIMIT_STORAGE)
    reset_database(url)
    empty_ratelimits(storage)
    counts = people_counts()
    with SmtpSink() as smtp:
        port = _bench().free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "COALITION_INSTANCE_PATH": str(workdir),
            "COALITION_ENV": "development",
            "FLASK_DEBUG": "0",
            "BASE_URL": f"http://127.0.0.1:{port}",
            "MAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp.port),
            "SMTP_SECURITY": "none",
            "OUTBOX_POLL_SECONDS": "5",
            "RATELIMIT_STORAGE_URI": storage,
            "TRUSTED_PROXIES": "1",
            "PYTHONPATH": str(ROOT),
            **{ENV_COUNTS[k]: str(n) for k, n in counts.items()},
        }
        print(f"Seeding {url.split('@')[-1]} ({args.members:,} members) ...", flush=True)
        started = time.perf_counter()
        seed_path = workdir / "seed.json"
        child(
            ["seed", "--out", str(seed_path), "--members", str(args.members)]
            + (["--small"] if args.small else []),
            env,
        )
        print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
        server = start_server(env, port, workdir / "server.log")
        out_path = workdir / "locust.json"
        since = datetime.now(UTC)
        load_before = os.getloadavg()[0]
        users = sum(counts.values())
        print(
            f"Load: {users} people ({', '.join(f'{n} {k}' for k, n in counts.items())}) "
            f"for {args.seconds:g} s against gunicorn ({WORKERS} workers) and the "
            f"scheduler ...",
            flush=True,
        )
        try:
            locust = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "locust",
                    "-f",
                    str(BENCH / "locustfile.py"),
                    "--headless",
                    "--only-summary",
                    "-u",
                    str(users),
                    "-r",
                    "2",
                    "--run-time",
                    f"{int(args.seconds)}s",
                    "--stop-timeout",
                    "200",
                    "--host",
                    f"http://127.0.0.1:{port}",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env={**env, "LOAD_SEED": str(seed_path), "LOAD_OUT": str(out_path)},
                capture_output=True,
                text=True,
                check=False,
            )
            (workdir / "locust.log").write_text(locust.stdout + locust.stderr)
            wait_for_background(env)
        finally:
            stop_server(server)
        delivered = len(smtp.received)
    if not out_path.exists():
        sys.stderr.write((locust.stdout + locust.stderr)[-4000:])
        raise SystemExit(f"Locust wrote no results (exit {locust.returncode})")
    out = json.loads(out_path.read_text())
    verified = child(
        ["verify", "--out", str(out_path), "--seed", str(seed_path), "--since", since.isoformat()],
        env,
    )
    checks = verified["checks"]
    checks.append(
        {
            "name": "every email sent was delivered once",
            "passed": delivered == verified["sent"],
            "detail": f"{verified['sent']} sent by the outbox, {delivered} received by SMTP; "
            f"outbox {verified['outbox']}",
        }
    )
    errors = [f"{name}: {why}" for name, whys in out["failures"].items() for why in whys]
    log = (workdir / "server.log").read_text(errors="replace")
    errors += [f"server log: {line}" for line in log_errors(log)]
    errors += [f"locust: {line}" for line in log_errors(locust.stderr)]
    rows = table_rows(out["times"], out["failures"], out.get("warm_up"))
    minutes = args.seconds / 60
    heading = (
        f"Coalition load run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {minutes:g} minutes, "
        f"{users} simulated people ({', '.join(f'{n} {k}' for k, n in counts.items())}), "
        f"{sum(r.requests for r in rows):,} requests; gunicorn with {WORKERS} workers and the "
        f"scheduler, {'PostgreSQL' if url.startswith('postgres') else 'SQLite'}, "
        f"{args.members:,} members, on loopback. This machine: {os.cpu_count()} cores, "
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end."
    )
    text = render(rows, checks, errors, heading)
    print()
    print(text)
    failed_pages = [r.page for r in rows if r.result == "FAIL"]
    failed_checks = [c["name"] for c in checks if not c["passed"]]
    verdict = not errors and not failed_checks
    summary = (
        f"RESULT: {'no error' if not errors else f'{len(errors)} errors'}, "
        f"{len(checks) - len(failed_checks)} of {len(checks)} checks passed, "
        f"{sum(1 for r in rows if r.result == 'PASS')} pages within their targets"
        + (f", {len(failed_pages)} not: {', '.join(failed_pages)}" if failed_pages else "")
        + "."
    )
    print(summary)
    if args.results:
        Path(args.results).write_text(text + "\n" + summary + "\n")
        print(f"Written to {args.results}")
    if args.keep:
        print(f"Kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if verdict else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    seed = sub.add_parser("seed", help=argparse.SUPPRESS)
    seed.add_argument("--out", type=Path, required=True)
    seed.add_argument("--members", type=int, required=True)
    seed.add_argument("--small", action="store_true")
    check = sub.add_parser("verify", help=argparse.SUPPRESS)
    check.add_argument("--out", type=Path, required=True)
    check.add_argument("--seed", type=Path, required=True)
    check.add_argument("--since", required=True)
    sub.add_parser("pending", help=argparse.SUPPRESS)
    parser.add_argument(
        "--minutes",
        type=float,
        default=float(os.environ.get("LOAD_MINUTES") or 10),
        help="how long the traffic runs (LOAD_MINUTES, 10)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LOAD_DATABASE_URL") or DEFAULT_DATABASE_URL,
        help="the database to drop, create and load (LOAD_DATABASE_URL); 'sqlite' for a "
        "temporary SQLite file",
    )
    parser.add_argument("--members", type=int, default=2000, help="members to seed (2,000)")
    parser.add_argument("--small", action="store_true", help="a few rows of everything (tests)")
    parser.add_argument(
        "--results", default=str(RESULTS), help="where to write the table ('' for nowhere)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.command == "seed":
        seed_command(args.out, args.members, args.small)
        return 0
    if args.command == "pending":
        pending_command()
        return 0
    if args.command == "verify":
        verify_command(args.out, args.seed, args.since)
        return 0
    args.seconds = args.minutes * 60
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
