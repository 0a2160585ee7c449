"""Demo data: fictional people only. Each area adds its own records here."""

from __future__ import annotations

import random
import secrets

import sqlalchemy as sa

from coalition.accounts import operations as ops
from coalition.accounts.models import Role
from coalition.db import utcnow
from coalition.extensions import db

# The demo accounts' addresses are on a reserved domain (RFC 2606) that the
# forms accept, so that every demo account can save its own forms.
DEMO_DOMAIN = "demo.example.org"
DEMO_ACCOUNTS = [
    (Role.CONVENOR, f"convenor@{DEMO_DOMAIN}", "Amina Diallo (demo convenor)"),
    (Role.STEERING, f"steering@{DEMO_DOMAIN}", "Kwame Mensah (demo steering member)"),
    (Role.REVIEWER, f"reviewer@{DEMO_DOMAIN}", "Lucía Fernández (demo reviewer)"),
    (Role.APPLICANT, f"applicant@{DEMO_DOMAIN}", "Grace Wanjiru (demo applicant)"),
    (Role.MEMBER_CONTACT, f"contact@{DEMO_DOMAIN}", "Youssef Benali (demo member contact)"),
]
# The demo members are the same every time (for the same day).
DEMO_MEMBERS_SEED = 2024
DEMO_GRANTS_SEED = 2026


def random_password() -> str:
    return "demo-" + secrets.token_urlsafe(12)


def seed() -> list[dict[str, str]]:
    """Create the demo accounts (and later each area's demo data). Flushes; the caller commits."""
    accounts = []
    for role, email, name in DEMO_ACCOUNTS:
        if ops.email_taken(email):
            continue
        password = random_password()
        ops.create_user(email=email, name=name, password=password, roles=[role])
        accounts.append({"role": role.value, "email": email, "password": password})
    _seed_members()
    _seed_grants()
    _seed_votes()
    _seed_reports()  # after the votes: the round report and the dossier show them
    return accounts


def _seed_members() -> None:
    """About 250 fictional members, once; the demo member-contact account is a contact of one."""
    from coalition.members.demo import seed_members
    from coalition.members.models import Member

    if db.session.scalar(sa.select(Member.id).limit(1)) is not None:
        return
    contact = ops.find_by_email(f"contact@{DEMO_DOMAIN}")
    seed_members(random.Random(DEMO_MEMBERS_SEED), contact_user=contact)


def _seed_votes() -> None:
    """Steering seats and votes on the round in review, once (only while no seat is named)."""
    from coalition.steering.demo import seed_votes
    from coalition.steering.models import SteeringSeat

    if db.session.scalar(sa.select(SteeringSeat.id).limit(1)) is not None:
        return
    seed_votes(random.Random(DEMO_GRANTS_SEED))


def _seed_grants() -> None:
    """The Africa fund with an open and a closed round, and grants in every state, once
    (only while no fund exists)."""
    from coalition.grants.demo import seed_awards, seed_grants
    from coalition.grants.models import Fund

    if db.session.scalar(sa.select(Fund.id).limit(1)) is not None:
        return
    rng = random.Random(DEMO_GRANTS_SEED)
    seed_awards(rng, seed_grants(rng))


# The demo's reports: one of each kind in English, and each again in French or Arabic.
DEMO_REPORT_LANGUAGES = {
    "membership": ("en", "fr"),
    "portfolio": ("en", "fr"),
    "round": ("en", "ar"),
    "dossier": ("en", "ar"),
}


def _seed_reports() -> None:
    """One report of each kind in English and in French or Arabic, once (while none exists).

    They are queued for the job runner, as a person's request would be, not
    drawn here: drawing the eight took 19 s on a busy two-core machine, on top
    of the 11 s the rest of the demo takes, at ``make run``'s first start. The
    scheduler that ``make run`` starts beside the web server picks them up
    within seconds (JOBS_POLL_SECONDS) and draws them in its first half-minute;
    until then the reports page shows each one's progress.
    """
    from coalition.grants.models import Application, ApplicationStatus, Round
    from coalition.steering.models import Vote
    from coalition.steering.reports import operations as reports
    from coalition.steering.reports.kinds import ReportRequest
    from coalition.steering.reports.models import GeneratedReport

    if db.session.scalar(sa.select(GeneratedReport.id).limit(1)) is not None:
        return
    convenor = ops.find_by_email(f"convenor@{DEMO_DOMAIN}")
    today = utcnow().date()
    start, end = reports.previous_month(today)
    # The round with a steering vote (else the newest), and an application decided
    # in that vote (else any ranked one): the dossier then has reviews, votes, a decision.
    round_id = db.session.scalar(
        sa.select(Vote.round_id).order_by(Vote.id).limit(1)
    ) or db.session.scalar(sa.select(Round.id).order_by(Round.opens_at.desc()).limit(1))
    application_id = db.session.scalar(
        sa.select(Application.id)
        .where(
            Application.round_id == round_id,
            Application.status.in_([ApplicationStatus.APPROVED, ApplicationStatus.REJECTED]),
        )
        .order_by(Application.id)
        .limit(1)
    )
    subjects = {
        "membership": ({}, start, end),
        "portfolio": ({}, start, end),
        # About one round or application as it stands today (as `flask reports build`).
        "round": ({"round_id": round_id}, today, today),
        "dossier": ({"application_id": application_id}, today, today),
    }
    for kind, languages in DEMO_REPORT_LANGUAGES.items():
        options, first, last = subjects[kind]
        if any(value is None for value in options.values()):
            continue  # no round or decided application in this demo
        for language in languages:
            reports.request_report(
                ReportRequest(
                    kind=kind,
                    start=first,
                    end=last,
                    language=language,
                    timezone=convenor.timezone if convenor else "UTC",
                    options=options,
                ),
                person=convenor,
            )
