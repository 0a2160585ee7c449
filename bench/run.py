"""The benchmark behind ``make bench``: the register at scale, measured through real HTTP.

It seeds a database (a temporary SQLite one, or ``--database-url``) with
``--members`` fictional members (10,000 by default, about forty times the
coalition's register), serves the application with gunicorn on loopback (two
workers), signs in as a convenor through the real sign-in and two-factor
forms, and times each page over ``--requests`` requests (median and 95th
percentile), then each page again in English and in Arabic in turn (an Arabic
page may cost at most 10% more). The export, a dry-run import of 5,000 rows and
the membership report of 250 members (against WeasyPrint alone on its HTML) are timed too, and
peak memory is read from ``/proc``. It prints one table with each target
marked PASS or FAIL, and exits 0 either way: it is a measurement.

Pages another part of the application does not have yet are reported as
"not available" and the run goes on.

    python bench/run.py [--members N] [--requests N] [--database-url URL]

The seeding and the dry run run in their own processes (``run.py seed`` and
``run.py dry-run``), so that each memory peak is its own.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

# Targets.
PAGE_FACTOR = 3.0  # every page within 3x the bare page's median
ARABIC_FACTOR = 1.10  # a page in Arabic costs at most 10% more than in English
EXPORT_SECONDS = 5.0
DRY_RUN_SECONDS = 10.0
DRY_RUN_ROWS = 5000
MEMORY_MB = 300
# A web worker's resident memory once it has served every page: what each of
# the production workers keeps (four on a small server), weasyprint, pikepdf
# and openpyxl left unloaded until a PDF, an upload or a workbook needs them.
WORKER_RSS_MB = 100
# The bare page: it renders the base layout and nothing else.
BARE_PATH = "/sign-up/check-email"
WARM_UP = 4  # requests per page before timing (both workers compile their templates)


# -- Child processes: seeding and the dry run ------------------------------------------


def _app():
    sys.path.insert(0, str(ROOT))
    from coalition import create_app

    return create_app()


def seed_command(members: int) -> None:
    """Build the schema, add the members and a convenor with a second factor; print JSON."""
    import random

    import pyotp
    import sqlalchemy as sa

    from coalition.migrations import upgrade

    app = _app()
    with app.app_context():
        from coalition.accounts import operations as account_ops
        from coalition.accounts.models import Role
        from coalition.db import utcnow
        from coalition.extensions import db
        from coalition.members.demo import seed_members_in_bulk
        from coalition.members.models import Member

        upgrade()
        if db.session.scalar(sa.select(sa.func.count()).select_from(Member)):
            raise SystemExit(
                "The database already holds members: the benchmark only seeds an empty one."
            )
        started = time.perf_counter()
        seed_members_in_bulk(random.Random(2024), members)
        password = "bench-" + secrets.token_urlsafe(16)
        user = account_ops.create_user(
            email=f"bench-{secrets.token_hex(4)}@bench.coalition.test",
            name="Bench Convenor",
            password=password,
            # Steering too: the bench person also reviews (the reviewer's pages).
            roles=[Role.CONVENOR, Role.STEERING],
        )
        user.totp_secret = pyotp.random_base32()
        user.totp_enabled_at = utcnow()
        # The same convenor reading in Arabic: the pages again, right to left.
        arabic = account_ops.create_user(
            email=f"bench-ar-{secrets.token_hex(4)}@bench.coalition.test",
            name="Bench Convenor (ar)",
            password=password,
            roles=[Role.CONVENOR],
            language="ar",
        )
        arabic.totp_secret = pyotp.random_base32()
        arabic.totp_enabled_at = utcnow()
        db.session.commit()
        grants = seed_grants_in_bulk(user.id)
        grants.update(seed_reviews_in_bulk(user.id))
        grants.update(seed_votes_in_bulk(user.id, grants["vote_round_id"]))
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does on a live database: planner statistics, and
            # the visibility map that lets counts read the indexes alone.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        ids = db.session.scalars(sa.select(Member.id).order_by(Member.id)).all()
        step = max(1, len(ids) // 50)
        print(
            json.dumps(
                {
                    "email": user.email,
                    "password": password,
                    "totp_secret": user.totp_secret,
                    "arabic_email": arabic.email,
                    "arabic_totp_secret": arabic.totp_secret,
                    "member_ids": ids[::step][:50],
                    "members": len(ids),
                    "seconds": round(time.perf_counter() - started, 1),
                    **grants,
                }
            )
        )


GRANT_ROUNDS = 10  # 20,000 applications in all
APPLICATIONS_PER_ROUND = 2_000
BUDGET_LINES = 3


def seed_grants_in_bulk(convenor_id: int) -> dict:
    """A fund with ten closed rounds of 2,000 submitted applications each (bulk inserts).

    The bench convenor is the applicant of a few of them, for the dashboard.
    """
    from datetime import timedelta

    import sqlalchemy as sa

    from coalition.accounts.models import Role, User
    from coalition.db import utcnow
    from coalition.extensions import db
    from coalition.grants.models import (
        Application,
        ApplicationStatus,
        BudgetLine,
        Fund,
        Round,
        RoundPhase,
    )

    now = utcnow()
    fund = Fund(name="Bench Fund", currency="USD", total_budget=10**13)
    fund.eligible_countries = ["KE", "SN", "NG", "GH", "ZA"]
    rounds = [
        Round(
            fund=fund,
            title=f"Bench round {n}",
            phase=RoundPhase.IN_REVIEW,
            opens_at=now - timedelta(days=60),
            closes_at=now - timedelta(days=30),
            budget=10**12,
            min_grant=100_000,
            max_grant=10**9,
        )
        for n in range(GRANT_ROUNDS)
    ]
    applicants = [
        User(email=f"applicant{i}@bench.coalition.test", name=f"Applicant {i}", active=True)
        for i in range(200)
    ]
    for person in applicants:
        person.set_roles([Role.APPLICANT])
    db.session.add_all([*rounds, *applicants])
    db.session.flush()
    countries = ["KE", "SN", "NG", "GH", "ZA"]
    statuses = [
        ApplicationStatus.SUBMITTED,
        ApplicationStatus.ELIGIBLE,
        ApplicationStatus.INELIGIBLE,
    ]
    rows = []
    for r, round_ in enumerate(rounds):
        for i in range(APPLICATIONS_PER_ROUND):
            owner = convenor_id if (r == 0 and i < 10) else applicants[i % len(applicants)].id
            rows.append(
                {
                    "round_id": round_.id,
                    "applicant_id": owner,
                    "status": statuses[i % len(statuses)],
                    "org_name": f"Bench organisation {r}-{i}",
                    "org_country": countries[i % len(countries)],
                    "title": f"Bench project {r}-{i}",
                    "summary": "A bench application.",
                    "problem": "Platform harms around elections.",
                    "activities": "Research and advocacy.",
                    "outcomes": "A report.",
                    "duration_months": 12,
                    "requested_amount": 300_000,
                    "created_at": now,
                    "updated_at": now,
                    "submitted_at": now - timedelta(days=31),
                    "status_changed_at": now,
                    "version": 1,
                }
            )
    db.session.execute(sa.insert(Application), rows)
    ids = db.session.scalars(sa.select(Application.id).order_by(Application.id)).all()
    db.session.execute(
        sa.insert(BudgetLine),
        [
            {
                "application_id": i,
                "position": p,
                "category": "Staff",
                "description": "Work",
                "amount": 100_000,
            }
            for i in ids
            for p in range(BUDGET_LINES)
        ],
    )
    db.session.commit()
    first_round = ids[:APPLICATIONS_PER_ROUND]
    step = max(1, len(first_round) // 50)
    # The third round's applications (the second's are the vote's shortlist).
    award_ids = seed_awards_in_bulk(ids[2 * APPLICATIONS_PER_ROUND : 3 * APPLICATIONS_PER_ROUND])
    return {
        "round_id": rounds[0].id,
        "vote_round_id": rounds[1].id,
        "award_ids": award_ids[:: max(1, len(award_ids) // 50)][:50],
        "application_ids": first_round[::step][:50],
        "applications": len(ids),
    }


REVIEWED_APPLICATIONS = 2_000
REVIEWS_PER_APPLICATION = 3
REVIEW_CRITERIA = 5
BENCH_REVIEWERS = 30
OWN_ASSIGNMENTS = 200


def seed_reviews_in_bulk(reviewer_id: int) -> dict:
    """A round in review: 2,000 eligible applications with 3 submitted reviews each, scored
    on 5 criteria (bulk inserts); the bench person has 200 more to do (no conflict declared,
    one submitted), for the ranking, the reviewer's home and the review form."""
    from datetime import timedelta

    import sqlalchemy as sa

    from coalition.accounts.models import Role, User
    from coalition.db import utcnow
    from coalition.extensions import db
    from coalition.grants.models import (
        Application,
        ApplicationStatus,
        Criterion,
        Fund,
        Round,
        RoundPhase,
    )
    from coalition.grants.review_models import (
        ConflictDeclaration,
        ConflictKind,
        Recommendation,
        Review,
        ReviewScore,
        ReviewStatus,
    )

    now = utcnow()
    fund = Fund(name="Bench Review Fund", currency="USD", total_budget=10**13)
    fund.eligible_countries = ["KE", "SN", "NG", "GH", "ZA"]
    round_ = Round(
        fund=fund,
        title="Bench round in review",
        phase=RoundPhase.IN_REVIEW,
        opens_at=now - timedelta(days=60),
        closes_at=now - timedelta(days=30),
        review_deadline=now + timedelta(days=20),
        budget=300_000 * REVIEWED_APPLICATIONS // 2,
        min_grant=100_000,
        max_grant=10**9,
        reviewers_per_application=REVIEWS_PER_APPLICATION,
    )
    for n in range(REVIEW_CRITERIA):
        round_.criteria.append(
            Criterion(position=n, name=f"Criterion {n + 1}", weight=1 + n % 3, guidance="How well?")
        )
    reviewers = [
        User(email=f"reviewer{i}@bench.coalition.test", name=f"Reviewer {i}", active=True)
        for i in range(BENCH_REVIEWERS)
    ]
    for person in reviewers:
        person.set_roles([Role.REVIEWER])
    applicant = User(email="review-applicant@bench.coalition.test", name="Applicant", active=True)
    applicant.set_roles([Role.APPLICANT])
    db.session.add_all([round_, applicant, *reviewers])
    db.session.flush()
    countries = ["KE", "SN", "NG", "GH", "ZA"]
    db.session.execute(
        sa.insert(Application),
        [
            {
                "round_id": round_.id,
                "applicant_id": applicant.id,
                "status": ApplicationStatus.ELIGIBLE,
                "org_name": f"Reviewed organisation {i}",
                "org_country": countries[i % len(countries)],
                "title": f"Reviewed project {i}",
                "summary": "A bench application.",
                "requested_amount": 300_000,
                "created_at": now,
                "updated_at": now,
                "submitted_at": now - timedelta(days=31, seconds=i),
                "status_changed_at": now,
                "version": 1,
            }
            for i in range(REVIEWED_APPLICATIONS)
        ],
    )
    app_ids = db.session.scalars(
        sa.select(Application.id).where(Application.round_id == round_.id).order_by(Application.id)
    ).all()
    criteria = [c.id for c in round_.criteria]
    reviews = []
    for n, app_id in enumerate(app_ids):
        for k in range(REVIEWS_PER_APPLICATION):
            reviews.append(
                {
                    "application_id": app_id,
                    "reviewer_id": reviewers[(n + k) % BENCH_REVIEWERS].id,
                    "status": ReviewStatus.SUBMITTED,
                    "recommendation": list(Recommendation)[(n + k) % 3],
                    "comment_applicant": "A clear plan.",
                    "comment_confidential": "Strong team.",
                    "assigned_at": now,
                    "updated_at": now,
                    "submitted_at": now,
                    "version": 3,
                }
            )
    for n, app_id in enumerate(app_ids[:OWN_ASSIGNMENTS]):
        reviews.append(
            {
                "application_id": app_id,
                "reviewer_id": reviewer_id,
                "status": ReviewStatus.SUBMITTED if n == 0 else ReviewStatus.IN_PROGRESS,
                "recommendation": Recommendation.FUND if n == 0 else None,
                "comment_applicant": "Mine." if n == 0 else None,
                "assigned_at": now,
                "updated_at": now,
                "submitted_at": now if n == 0 else None,
                "version": 2,
            }
        )
    db.session.execute(sa.insert(Review), reviews)
    db.session.execute(
        sa.insert(ConflictDeclaration),
        [
            {
                "user_id": reviewer_id,
                "application_id": app_id,
                "kind": ConflictKind.NONE,
                "declared_at": now,
            }
            for app_id in app_ids[:OWN_ASSIGNMENTS]
        ],
    )
    rows = db.session.execute(
        sa.select(Review.id, Review.application_id, Review.status)
        .join(Application, Application.id == Review.application_id)
        .where(Application.round_id == round_.id)
    ).all()
    db.session.execute(
        sa.insert(ReviewScore),
        [
            {"review_id": review_id, "criterion_id": c, "score": 1 + (review_id * 7 + c) % 5}
            for review_id, _app_id, status in rows
            if status == ReviewStatus.SUBMITTED
            for c in criteria
        ],
    )
    db.session.commit()
    own = db.session.scalars(
        sa.select(Review.id).where(Review.reviewer_id == reviewer_id).order_by(Review.id)
    ).all()
    return {
        "review_round_id": round_.id,
        # The submitted one (with the others' reviews beside it), then drafts.
        "review_ids": [own[0], *own[1:50]],
    }


GRANTS = 2_000  # with 8,000 tranches and 4,000 reports
TRANCHES_PER_GRANT = 4
REPORTS_PER_GRANT = 2


def seed_awards_in_bulk(application_ids: list[int]) -> list[int]:
    """The second round's 2,000 applications awarded (bulk inserts): four tranches each
    (the first paid), an interim report (overdue for a third of them, accepted for
    another third) and a final one. Returns the grants' ids."""
    from datetime import timedelta

    import sqlalchemy as sa

    from coalition.db import utcnow
    from coalition.extensions import db
    from coalition.grants.award_models import (
        Award,
        GranteeReport,
        GrantStatus,
        Payee,
        ReportKind,
        ReportStatus,
        Tranche,
    )
    from coalition.grants.models import Application, ApplicationStatus

    now = utcnow()
    today = now.date()
    chosen = application_ids[:GRANTS]
    db.session.execute(
        sa.update(Application)
        .where(Application.id.in_(chosen))
        .values(status=ApplicationStatus.AWARDED)
    )
    rows = db.session.execute(
        sa.select(
            Application.id, Application.round_id, Application.org_name, Application.org_country
        )
        .where(Application.id.in_(chosen))
        .order_by(Application.id)
    ).all()
    starts = today - timedelta(days=100)
    db.session.execute(
        sa.insert(Award),
        [
            {
                "application_id": r.id,
                "round_id": r.round_id,
                "status": GrantStatus.CANCELLED if n % 20 == 0 else GrantStatus.ACTIVE,
                "amount": 300_000,
                "conditions": "Acknowledge the fund.",
                "starts_on": starts,
                "ends_on": starts + timedelta(days=365),
                "payee": Payee.ORGANISATION,
                "payee_name": r.org_name,
                "payee_country": r.org_country,
                "awarded_at": now,
                "version": 1,
            }
            for n, r in enumerate(rows)
        ],
    )
    award_ids = db.session.scalars(
        sa.select(Award.id).where(Award.application_id.in_(chosen)).order_by(Award.id)
    ).all()
    share = 300_000 // TRANCHES_PER_GRANT
    db.session.execute(
        sa.insert(Tranche),
        [
            {
                "award_id": a,
                "position": p,
                "planned_on": starts + timedelta(days=90 * p),
                "amount": share,
                "paid_on": starts if p == 0 else None,
                "payment_reference": f"BENCH-{a}-{p}" if p == 0 else None,
            }
            for a in award_ids
            for p in range(TRANCHES_PER_GRANT)
        ],
    )
    db.session.execute(
        sa.insert(GranteeReport),
        [
            {
                "award_id": a,
                "position": p,
                "kind": ReportKind.FINAL if p == REPORTS_PER_GRANT - 1 else ReportKind.INTERIM,
                "due_on": starts + timedelta(days=380)
                if p == REPORTS_PER_GRANT - 1
                else today - timedelta(days=5)
                if n % 3 == 0
                else today + timedelta(days=30),
                "status": ReportStatus.ACCEPTED if n % 3 == 1 and p == 0 else ReportStatus.DUE,
                "updated_at": now,
                "submissions": 0,
                "version": 1,
            }
            for n, a in enumerate(award_ids)
            for p in range(REPORTS_PER_GRANT)
        ],
    )
    db.session.commit()
    return list(award_ids)


VOTE_SHORTLIST = 200
VOTE_SEATS = 10


def seed_votes_in_bulk(convenor_id: int, round_id: int) -> dict:
    """Ten steering seats (the bench convenor sits on the first) and two votes of 200
    shortlisted applications each, every seat having voted on every one: one open (the
    voting page), one closed (the result page). Opened and closed by the domain code;
    declarations and votes inserted in bulk."""
    from datetime import timedelta

    import sqlalchemy as sa

    from coalition.accounts.models import Role, User
    from coalition.countries import fold, region_of
    from coalition.db import utcnow
    from coalition.extensions import db
    from coalition.grants.models import Application, ApplicationStatus
    from coalition.grants.review_models import ConflictDeclaration, ConflictKind
    from coalition.members.models import Member, MemberKind, MemberStatus, OrgType
    from coalition.steering import voting
    from coalition.steering.models import Choice, SeatVote, SeatVoteChange, SteeringSeat

    now = utcnow().replace(microsecond=0)
    # Ten seats exactly: the bulk members' steering terms are dropped.
    db.session.execute(sa.update(Member).values(steering_from=None, steering_until=None))
    convenor = db.session.get(User, convenor_id)
    convenor.set_roles([Role.CONVENOR, Role.STEERING])
    sitters = [convenor]
    for n in range(1, VOTE_SEATS):
        person = User(email=f"sitter{n}@bench.coalition.test", name=f"Sitter {n}", active=True)
        person.set_roles([Role.STEERING])
        sitters.append(person)
    db.session.add_all(sitters[1:])
    db.session.flush()
    for n, person in enumerate(sitters):
        name = f"Bench seat {n}"
        member = Member(
            kind=MemberKind.ORGANISATION,
            name=name,
            name_key=fold(name),
            search_text=fold(name),
            org_type=OrgType.NGO,
            country="KE",
            region=region_of("KE"),
            languages=["en"],
            status=MemberStatus.ACTIVE,
            steering_from=now.date() - timedelta(days=30),
        )
        db.session.add(member)
        db.session.flush()
        db.session.add(SteeringSeat(member_id=member.id, representative_id=person.id))
    eligible = db.session.scalars(
        sa.select(Application.id)
        .where(Application.round_id == round_id, Application.status == ApplicationStatus.ELIGIBLE)
        .order_by(Application.id)
        .limit(2 * VOTE_SHORTLIST)
    ).all()
    db.session.execute(
        sa.insert(ConflictDeclaration),
        [
            {"user_id": p.id, "application_id": a, "kind": ConflictKind.NONE, "declared_at": now}
            for p in sitters
            for a in eligible
        ],
    )
    from coalition.grants.models import Round

    round_ = db.session.get(Round, round_id)
    votes = []
    for shortlist in (eligible[:VOTE_SHORTLIST], eligible[VOTE_SHORTLIST:]):
        vote = voting.open_vote(
            round_,
            closes_at=now + timedelta(days=7),
            actor=convenor,
            application_ids=shortlist,
            now=now,
        )
        rows = [
            {
                "vote_id": vote.id,
                "vote_seat_id": seat.id,
                "application_id": a,
                "choice": list(Choice)[(seat.position + i) % 3],
                "note": "A bench note.",
                "cast_by_id": seat.representative_id,
                "cast_at": now,
            }
            for seat in voting.load_roll(vote).seats
            for i, a in enumerate(shortlist)
        ]
        db.session.execute(sa.insert(SeatVote), [{**r, "version": 1} for r in rows])
        db.session.execute(
            sa.insert(SeatVoteChange),
            [{k: v for k, v in r.items() if k != "cast_at"} | {"created_at": now} for r in rows],
        )
        votes.append(vote)
    open_vote, closed_vote = votes
    voting.close(closed_vote, actor=convenor, reason="The bench closes it.", now=now)
    db.session.commit()
    return {"open_vote_id": open_vote.id, "closed_vote_id": closed_vote.id}


def votes_bench(args) -> None:
    """``run.py votes``: only the vote's two pages, against the bare page, through the same
    seed, gunicorn and sign-in as the whole run (a minute rather than several)."""
    workdir = Path(tempfile.mkdtemp(prefix="coalition-bench-votes-"))
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'bench.sqlite'}",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "COALITION_INSTANCE_PATH": str(workdir),
        "COALITION_ENV": "development",
        "FLASK_DEBUG": "0",
        "MAIL_BACKEND": "log",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PYTHONPATH": str(ROOT),
    }
    print(f"Seeding {args.members:,} members and the votes ...", flush=True)
    seeded = child(["seed", "--members", str(args.members)], env)
    port = free_port()
    gunicorn = start_gunicorn(env, port, workdir / "gunicorn.log")
    try:
        base = f"http://127.0.0.1:{port}"
        english, arabic = Browser(base), Browser(base)
        english.sign_in(seeded["email"], seeded["password"], seeded["totp_secret"])
        arabic.sign_in(seeded["arabic_email"], seeded["password"], seeded["arabic_totp_secret"])
        listed = [
            ("steering vote, 200 shortlisted", [f"/steering/votes/{seeded['open_vote_id']}"]),
            (
                "vote result, 200 x 10 seats",
                [f"/steering/votes/{seeded['closed_vote_id']}/result"],
            ),
        ]
        timed = [
            measure(english, name, paths, args.requests, paired=True) for name, paths in listed
        ]
        languages = [
            measure_languages(english, arabic, name, paths, args.requests) for name, paths in listed
        ]
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
    bare = Timing("bare page (base layout only)", BARE_PATH)
    for page in timed:
        bare.seconds += page.bare_seconds
    print(f"\n{'page':<34} {'median':>9} {'p95':>9}  factor")
    print(f"{bare.name:<34} {ms(bare.median):>9} {ms(bare.p95):>9}  (reference)")
    for page in timed:
        if not page.ok:
            print(f"{page.name:<34} {unavailable(page)}")
            continue
        verdict = "PASS" if page.factor <= PAGE_FACTOR else "FAIL"
        print(
            f"{page.name:<34} {ms(page.median):>9} {ms(page.p95):>9}  "
            f"{page.factor:.2f}x <= {PAGE_FACTOR:g}x {verdict}"
        )
    for english_timing, arabic_timing in languages:
        factor = arabic_timing.median / english_timing.median
        verdict = "PASS" if factor <= ARABIC_FACTOR else "FAIL"
        print(
            f"{arabic_timing.name:<34} {ms(arabic_timing.median):>9} "
            f"{ms(arabic_timing.p95):>9}  {factor:.2f}x en <= {ARABIC_FACTOR:g}x {verdict}"
        )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


def _import_csv(rows: int) -> bytes:
    """A member list of fictional members, in the columns of shared/samples/members.csv."""
    import csv
    import io
    import random

    from coalition.members.demo import plan_members

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "kind",
            "name",
            "acronym",
            "type",
            "country",
            "focus_areas",
            "website",
            "contact_name",
            "contact_email",
            "joined",
            "public_listing",
        ]
    )
    for plan in plan_members(random.Random(99), rows):
        values, contact = plan.values, plan.contacts[0]
        writer.writerow(
            [
                values["kind"].value,
                values["name"],
                values["acronym"] or "",
                values["org_type"].label if values["org_type"] else "",
                values["country"],
                "; ".join(f.label for f in plan.focus_areas),
                values["website"] or "",
                contact["name"],
                contact["email"],
                values["joined_on"].isoformat() if values["joined_on"] else "",
                "yes" if values["consent_public"] else "no",
            ]
        )
    return out.getvalue().encode("utf-8")


def dry_run_command(rows: int) -> None:
    """Time importing.read_table + importing.analyse on ``rows`` rows; print JSON.

    Also times counting the figures afresh (the pages keep them between views).
    """
    import resource

    app = _app()
    with app.app_context(), app.test_request_context():
        import sqlalchemy as sa

        from coalition.extensions import db
        from coalition.grants import awards
        from coalition.grants.models import Fund
        from coalition.members import stats

        def money():
            # The money page's figures, summed as on its first view after a change.
            return awards.figures_of_funds(db.session.scalars(sa.select(Fund)).all())

        result: dict = {"rows": rows, "figures": {}}
        for name, count in (
            ("staff", stats.staff_figures),
            ("public", stats.public_figures),
            ("the fund's money", money),
        ):
            times = []
            for _ in range(5):
                started = time.perf_counter()
                count()
                times.append(time.perf_counter() - started)
            result["figures"][name] = statistics.median(times)
        try:
            from coalition.members import importing

            read_table, analyse = importing.read_table, importing.analyse
        except (ImportError, AttributeError) as exc:
            result["unavailable"] = f"coalition.members.importing has no read_table/analyse ({exc})"
            print(json.dumps(result))
            return
        data = _import_csv(rows)
        started = time.perf_counter()
        try:
            table = read_table(data, "bench-members.csv")
            report = analyse(table)
        except Exception as exc:
            result["unavailable"] = f"the dry run failed: {type(exc).__name__}: {exc}"
            print(json.dumps(result))
            return
        result["seconds"] = time.perf_counter() - started
        result["report_keys"] = sorted(report)[:12] if isinstance(report, dict) else None
        # ru_maxrss is in kilobytes on Linux.
        result["max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(result))


REPORT_MEMBERS = 250  # the coalition's register
REPORT_SECONDS = 3.0
REPORT_OVERHEAD = 1.15  # the report within 15% of WeasyPrint drawing its finished HTML
REPORT_RUNS = 3


def report_command(members: int) -> None:
    """Time the membership report of ``members`` members (its own SQLite database); print JSON.

    The report's time is everything a job does: the HTML (queries, figures,
    charts, template) and the PDF drawn in a child process with its time
    limit. It is set against WeasyPrint alone drawing the same finished HTML
    in this process, so that what the pipeline adds shows.
    """
    import random

    from coalition.migrations import upgrade

    app = _app()
    with app.app_context():
        from coalition.db import utcnow
        from coalition.extensions import db
        from coalition.members.demo import seed_members_in_bulk
        from coalition.steering.reports.kinds import ReportRequest
        from coalition.steering.reports.rendering import (
            base_url,
            build_html,
            fetcher_for_app,
            render_pdf,
            write_pdf,
        )

        upgrade()
        seed_members_in_bulk(random.Random(2024), members)
        db.session.commit()
        today = utcnow().date()
        request = ReportRequest(
            kind="membership", start=today.replace(day=1), end=today, requested_by="bench"
        )
        build_html(request)  # templates compiled, fonts found, as in a running job process
        totals, raws, htmls, pages = [], [], [], 0
        for _ in range(REPORT_RUNS):
            started = time.perf_counter()
            html = build_html(request)
            htmls.append(time.perf_counter() - started)
            pages = render_pdf(html).pages
            totals.append(time.perf_counter() - started)
            started = time.perf_counter()
            write_pdf(html, fetcher_for_app(), base_url())
            raws.append(time.perf_counter() - started)
        print(
            json.dumps(
                {
                    "members": members,
                    "pages": pages,
                    "seconds": statistics.median(totals),
                    "html_seconds": statistics.median(htmls),
                    "raw_seconds": statistics.median(raws),
                }
            )
        )


# -- The fund portfolio report: 2,000 grants, drawn as the job draws it --------------------
#
# ``python bench/run.py portfolio [--grants N]``: seeds a temporary SQLite database in one
# process, then in a fresh process queues the staff portfolio report and runs its job as
# the scheduler does (the HTML in the job process, the PDF in the child it forks with
# its time limit). Both peaks are read: the job process's own, and its render child's.

PORTFOLIO_GRANTS = 2_000
PORTFOLIO_SECONDS = 60.0
PORTFOLIO_MB = 400


def portfolio_seed_command(grants: int) -> None:
    from coalition.migrations import upgrade

    app = _app()
    with app.app_context():
        from coalition.extensions import db
        from coalition.steering.reports.portfolio_demo import seed_portfolio_in_bulk

        upgrade()
        started = time.perf_counter()
        seed_portfolio_in_bulk(grants, rounds=8)
        db.session.commit()
        print(json.dumps({"grants": grants, "seconds": round(time.perf_counter() - started, 1)}))


def portfolio_job_command() -> None:
    import resource
    from datetime import timedelta

    app = _app()
    with app.app_context():
        from coalition import jobs
        from coalition.db import utcnow
        from coalition.extensions import db
        from coalition.steering.reports import operations
        from coalition.steering.reports.kinds import ReportRequest
        from coalition.steering.reports.models import GeneratedReport

        today = utcnow().date()
        request = ReportRequest(
            kind="portfolio",
            # The last 30 days, whatever today's date: the payments and the reports
            # accepted in the period are listed, so their share does not depend on the day.
            start=today - timedelta(days=29),
            end=today,
            confidential=True,
            requested_by="bench",
        )
        report, _new = operations.request_report(request, person=None)
        db.session.commit()
        started = time.perf_counter()
        ran = jobs.run_pending()
        seconds = time.perf_counter() - started
        db.session.expire_all()
        report = db.session.get(GeneratedReport, report.id)
        print(
            json.dumps(
                {
                    "ran": ran,
                    "ready": bool(report.ready),
                    "pages": report.page_count,
                    "kib": (report.size_bytes or 0) // 1024,
                    "seconds": seconds,
                    # ru_maxrss is in kilobytes on Linux.
                    "job_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                    "child_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                    * 1024,
                }
            )
        )


def portfolio_bench(grants: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="coalition-bench-portfolio-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite'}",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "COALITION_INSTANCE_PATH": str(workdir),
        "COALITION_ENV": "development",
        "FLASK_DEBUG": "0",
        "MAIL_BACKEND": "log",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PYTHONPATH": str(ROOT),
    }
    try:
        seeded = child(["portfolio-seed", "--grants", str(grants)], env)
        print(f"Seeded {seeded['grants']:,} grants in {seeded['seconds']} s", flush=True)
        done = child(["portfolio-job"], env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    fast = done["ready"] and done["seconds"] <= PORTFOLIO_SECONDS
    print(
        f"portfolio report, {grants:,} grants: {done['pages']} pages, {done['kib']:,} KiB, "
        f"{done['seconds']:.1f} s in the background (<= {PORTFOLIO_SECONDS:g} s) "
        f"{'PASS' if fast else 'FAIL'}"
    )
    for name, key in (("job process", "job_rss_bytes"), ("render child", "child_rss_bytes")):
        value = done[key]
        print(
            f"  {name:<14} peak {value / MB:7.1f} MB  < {PORTFOLIO_MB} MB  "
            f"{'PASS' if value < PORTFOLIO_MB * MB else 'FAIL'}"
        )


# -- HTTP ---------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Browser:
    """A cookie jar and a CSRF token: what a browser carries between requests."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self):
        cookies = urllib.request.HTTPCookieProcessor(self.jar)
        self.following = urllib.request.build_opener(cookies)
        self.staying = urllib.request.build_opener(cookies, _NoRedirect)

    def open(self, path: str, data: dict | None = None, *, follow: bool = True):
        """(status, body, final URL); redirects followed only when ``follow``."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body)
        opener = self.following if follow else self.staying
        try:
            with opener.open(request, timeout=120) as response:
                return response.status, response.read(), response.url
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.url

    def token(self, path: str) -> str:
        _status, body, _url = self.open(path)
        match = re.search(rb'name="csrf-token" content="([^"]+)"', body)
        if not match:
            raise RuntimeError(f"no CSRF token on {path}")
        return match.group(1).decode()

    def sign_in(self, email: str, password: str, totp_secret: str) -> None:
        """The real forms: email and password, then the code from the authenticator."""
        import pyotp

        token = self.token("/sign-in")
        self.open("/sign-in", {"csrf_token": token, "email": email, "password": password})
        token = self.token("/sign-in/code")
        status, _body, url = self.open(
            "/sign-in/code", {"csrf_token": token, "code": pyotp.TOTP(totp_secret).now()}
        )
        if status != 200 or urllib.parse.urlsplit(url).path.startswith("/sign-in"):
            raise RuntimeError(f"sign-in did not complete (ended on {url}, {status})")

    def timed(self, path: str, data: dict | None = None) -> tuple[int, float, int]:
        started = time.perf_counter()
        status, body, _url = self.open(path, data, follow=False)
        return status, time.perf_counter() - started, len(body)


@dataclass
class Timing:
    name: str
    path: str
    statuses: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    # The bare page, timed right after each request of this page.
    bare_seconds: list[float] = field(default_factory=list)
    bare_statuses: list[int] = field(default_factory=list)
    size: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.statuses) and all(200 <= s < 300 for s in self.statuses)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def factor(self) -> float:
        """This page's median over the median of the bare requests taken in turn with it."""
        return self.median / statistics.median(self.bare_seconds)


def measure(
    browser: Browser, name: str, paths: list[str], count: int, data=None, *, paired: bool = False
) -> Timing:
    """Time ``count`` requests, cycling through ``paths`` (after a few untimed ones).

    ``paired``: a bare-page request follows each one, so that the page and its
    reference share the same moments of a machine whose speed drifts.
    """
    shown = paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more)"
    timing = Timing(name, shown)
    for i in range(WARM_UP):
        status, _seconds, _size = browser.timed(paths[i % len(paths)], data() if data else None)
        if status == 404:
            timing.statuses.append(status)
            return timing
    for i in range(count):
        status, seconds, size = browser.timed(paths[i % len(paths)], data() if data else None)
        timing.statuses.append(status)
        timing.seconds.append(seconds)
        timing.size = max(timing.size, size)
        if paired:
            bare_status, bare_seconds, _size = browser.timed(BARE_PATH)
            timing.bare_statuses.append(bare_status)
            timing.bare_seconds.append(bare_seconds)
    return timing


def measure_languages(
    english: Browser, arabic: Browser, name: str, paths: list[str], count: int
) -> tuple[Timing, Timing]:
    """The same pages in English and in Arabic, requests taken in turn (English, then
    Arabic) so that both see the same moments of a machine whose speed drifts."""
    shown = paths[0] if len(paths) == 1 else f"{paths[0]} (and {len(paths) - 1} more)"
    timings = (Timing(name, shown), Timing(f"{name}, in Arabic", shown))
    browsers = (english, arabic)
    for i in range(WARM_UP):
        for browser in browsers:
            browser.timed(paths[i % len(paths)])
    for i in range(count):
        for browser, timing in zip(browsers, timings, strict=True):
            status, seconds, size = browser.timed(paths[i % len(paths)])
            timing.statuses.append(status)
            timing.seconds.append(seconds)
            timing.size = max(timing.size, size)
    return timings


# -- Gunicorn ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "120",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return wait_until_healthy(process, port, log_path, seconds=60)


def wait_until_healthy(
    process: subprocess.Popen, port: int, log_path: Path, *, seconds: int
) -> subprocess.Popen:
    """Wait for the server's ``/healthz`` to answer 200; stop it and raise if it ends or
    does not answer within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped at start; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the server did not answer within {seconds} seconds")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the parent id follows it.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _status_kb(pid: int, field: str) -> int | None:
    """A memory line of ``/proc/<pid>/status``, in bytes; None where /proc cannot say."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def peak_rss(pid: int) -> int | None:
    """The process's peak resident memory (VmHWM), in bytes."""
    return _status_kb(pid, "VmHWM")


def current_rss(pid: int) -> int | None:
    """The process's resident memory now (VmRSS), in bytes."""
    return _status_kb(pid, "VmRSS")


# -- The run -------------------------------------------------------------------------------


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
        raise SystemExit(f"`run.py {' '.join(command)}` failed ({completed.returncode})")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def run(args) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="coalition-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "COALITION_INSTANCE_PATH": str(workdir),
        "COALITION_ENV": "development",
        "FLASK_DEBUG": "0",
        "MAIL_BACKEND": "log",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PYTHONPATH": str(ROOT),
    }
    where = "the database at --database-url" if args.database_url else "a temporary SQLite file"
    print(f"Seeding {args.members:,} members into {where} ...", flush=True)
    seeded = child(["seed", "--members", str(args.members)], env)
    print(
        f"  {seeded['members']:,} members and {seeded['applications']:,} applications "
        f"in {seeded['seconds']} s",
        flush=True,
    )

    port = free_port()
    gunicorn = start_gunicorn(env, port, workdir / "gunicorn.log")
    try:
        base = f"http://127.0.0.1:{port}"
        browser = Browser(base)
        browser.sign_in(seeded["email"], seeded["password"], seeded["totp_secret"])
        print(f"Signed in as a convenor; timing {args.requests} requests a page ...", flush=True)
        ids = seeded["member_ids"]
        n = args.requests
        round_id = seeded["round_id"]
        listed = [
            ("staff directory, first page", ["/members/"]),
            ("staff directory, search", ["/members/?q=lantern"]),
            ("staff directory, filter", ["/members/?status=active&region=sub_saharan_africa"]),
            ("member page", [f"/members/{i}" for i in ids]),
            ("public directory", ["/directory"]),
            ("figures (staff)", ["/members/figures"]),
            ("figures (public)", ["/directory/figures"]),
            ("staff list of a round (2,000)", [f"/grants/rounds/{round_id}/applications"]),
            ("staff grants list (2,000 grants)", ["/grants/awards"]),
            ("grants list, report overdue", ["/grants/awards?state=report_overdue"]),
            ("the fund's money (8,000 tranches)", ["/grants/money"]),
            ("grant page", [f"/grants/awards/{i}" for i in seeded["award_ids"]]),
            ("applicant dashboard", ["/applications/"]),
            ("application page", [f"/applications/{i}" for i in seeded["application_ids"]]),
            (
                "ranked overview (2,000 x 3 reviews x 5 criteria)",
                [f"/grants/rounds/{seeded['review_round_id']}/review"],
            ),
            ("reviewer's home (200 assignments)", ["/reviews/"]),
            ("review form", [f"/reviews/{i}" for i in seeded["review_ids"]]),
            ("steering vote, 200 shortlisted", [f"/steering/votes/{seeded['open_vote_id']}"]),
            (
                "vote result, 200 x 10 seats",
                [f"/steering/votes/{seeded['closed_vote_id']}/result"],
            ),
        ]
        timed = [measure(browser, name, paths, n, paired=True) for name, paths in listed]
        arabic = Browser(base)
        arabic.sign_in(seeded["arabic_email"], seeded["password"], seeded["arabic_totp_secret"])
        print("Timing the same pages in English and in Arabic, in turn ...", flush=True)
        languages = [measure_languages(browser, arabic, name, paths, n) for name, paths in listed]
        # What each worker keeps once it has served the pages.
        resident = {
            f"gunicorn worker {number}": current_rss(pid)
            for number, pid in enumerate(sorted(children_of(gunicorn.pid)), start=1)
        }
        bare = Timing("bare page (base layout only)", BARE_PATH, size=0)
        for page in timed:
            bare.seconds += page.bare_seconds
            bare.statuses += page.bare_statuses
        pages = [bare, *timed]
        token = browser.token(BARE_PATH)
        export = measure(
            browser,
            "export of all members (CSV)",
            ["/members/export.csv"],
            n,
            data=lambda: {"csrf_token": token},
        )
        round_export = measure(
            browser,
            "export of a round (CSV)",
            [f"/grants/rounds/{round_id}/applications.csv"],
            n,
            data=lambda: {"csrf_token": token},
        )
        master = gunicorn.pid
        memory = {"gunicorn master": peak_rss(master)}
        for number, pid in enumerate(sorted(children_of(master)), start=1):
            memory[f"gunicorn worker {number}"] = peak_rss(pid)
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        try:
            gunicorn.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gunicorn.kill()

    print(f"Dry-run import of {DRY_RUN_ROWS:,} rows ...", flush=True)
    dry_run = child(["dry-run", "--rows", str(DRY_RUN_ROWS)], env)
    memory["dry-run import (bench process)"] = dry_run.get("max_rss_bytes")

    print(f"Membership report of {REPORT_MEMBERS} members ...", flush=True)
    pdf = child(
        ["report", "--members", str(REPORT_MEMBERS)],
        {**env, "DATABASE_URL": f"sqlite:///{workdir / 'report.sqlite'}"},
    )

    report(args, pages, [export, round_export], dry_run, memory, resident, pdf, languages)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"Kept {workdir}")


def unavailable(timing: Timing) -> str:
    """Why a page has no time: it does not exist yet (404), or it did not answer 2xx."""
    wrong = [s for s in timing.statuses if not 200 <= s < 300]
    if wrong and wrong[0] == 404:
        return "not available (404)"
    return f"answered {wrong[0] if wrong else '?'}: not timed"


def report(
    args,
    pages: list[Timing],
    exports: list[Timing],
    dry_run: dict,
    memory: dict,
    resident: dict,
    pdf: dict | None = None,
    languages: list[tuple[Timing, Timing]] = (),
) -> None:
    bare = pages[0]
    rows = []
    verdicts = []

    def verdict(passed: bool) -> str:
        verdicts.append(passed)
        return "PASS" if passed else "FAIL"

    for page in pages:
        if not page.ok:
            rows.append((page.name, page.path, unavailable(page), "", "", "", ""))
            continue
        factor = 1.0 if page is bare else page.factor
        target = "(reference)" if page is bare else f"<= {PAGE_FACTOR:g}x"
        result = "" if page is bare else verdict(factor <= PAGE_FACTOR)
        rows.append(
            (
                page.name,
                page.path,
                ms(page.median),
                ms(page.p95),
                f"{factor:.1f}x",
                target,
                result,
            )
        )
    for english, arabic in languages:
        if not (english.ok and arabic.ok):
            rows.append((arabic.name, arabic.path, unavailable(arabic), "", "", "", ""))
            continue
        factor = arabic.median / english.median
        rows.append(
            (
                arabic.name,
                arabic.path,
                ms(arabic.median),
                ms(arabic.p95),
                f"{factor:.2f}x en",
                f"<= {ARABIC_FACTOR:g}x en",
                verdict(factor <= ARABIC_FACTOR),
            )
        )
    for export in exports:
        if export.ok:
            rows.append(
                (
                    export.name,
                    "POST " + export.path,
                    ms(export.median),
                    ms(export.p95),
                    f"{export.size / MB:.1f} MB",
                    f"<= {EXPORT_SECONDS:g} s",
                    verdict(export.median <= EXPORT_SECONDS),
                )
            )
        else:
            rows.append((export.name, "POST " + export.path, unavailable(export), "", "", "", ""))
    for name, seconds in dry_run.get("figures", {}).items():
        rows.append(
            (
                f"figures ({name}), counted afresh",
                "stats, in-process, after a change",
                ms(seconds),
                "",
                "",
                "(for information)",
                "",
            )
        )
    if "seconds" in dry_run:
        rows.append(
            (
                f"dry-run import, {dry_run['rows']:,} rows",
                "importing.read_table + analyse",
                ms(dry_run["seconds"]),
                "",
                "(once)",
                f"<= {DRY_RUN_SECONDS:g} s",
                verdict(dry_run["seconds"] <= DRY_RUN_SECONDS),
            )
        )
    else:
        rows.append(("dry-run import", "", "not available", "", "", "", ""))
        print(f"  dry run: {dry_run.get('unavailable')}")

    if pdf:
        rows.append(
            (
                f"membership report, {pdf['members']} members ({pdf['pages']} pages)",
                "HTML + PDF in a child, as the job",
                ms(pdf["seconds"]),
                "",
                f"html {ms(pdf['html_seconds'])}",
                f"<= {REPORT_SECONDS:g} s",
                verdict(pdf["seconds"] <= REPORT_SECONDS),
            )
        )
        overhead = pdf["seconds"] / pdf["raw_seconds"]
        rows.append(
            (
                "membership report over WeasyPrint alone",
                "same HTML, write_pdf in-process",
                ms(pdf["raw_seconds"]),
                "",
                f"{overhead:.2f}x",
                f"<= {REPORT_OVERHEAD:g}x",
                verdict(overhead <= REPORT_OVERHEAD),
            )
        )

    headers = ("what", "request", "median ms", "p95 ms", "x bare", "target", "result")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("{:<" + str(w) + "}" for w in widths)
    print()
    print(
        f"Coalition benchmark: {args.members:,} members, {args.requests} requests per page, "
        f"gunicorn with 2 workers on loopback"
    )
    print(line.format(*headers))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))

    print()
    print("Peak memory (resident set, VmHWM / ru_maxrss)")
    for name, value in memory.items():
        if value is None:
            print(f"  {name:<32} not available")
            continue
        print(
            f"  {name:<32} {value / MB:7.1f} MB  < {MEMORY_MB} MB  "
            f"{verdict(value < MEMORY_MB * MB)}"
        )
    print()
    print("Resident memory of each web worker after the pages, before the exports (VmRSS)")
    for name, value in resident.items():
        if value is None:
            print(f"  {name:<32} not available")
            continue
        print(
            f"  {name:<32} {value / MB:7.1f} MB  < {WORKER_RSS_MB} MB  "
            f"{verdict(value < WORKER_RSS_MB * MB)}"
        )
    print()
    failed = verdicts.count(False)
    if failed:
        print(f"RESULT: {failed} of {len(verdicts)} targets FAILED (see FAIL above).")
    else:
        print(f"RESULT: all {len(verdicts)} targets passed.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    seed = sub.add_parser("seed", help=argparse.SUPPRESS)
    seed.add_argument("--members", type=int, required=True)
    dry = sub.add_parser("dry-run", help=argparse.SUPPRESS)
    dry.add_argument("--rows", type=int, required=True)
    pdf = sub.add_parser("report", help=argparse.SUPPRESS)
    pdf.add_argument("--members", type=int, required=True)
    # The fund portfolio report (see its block above).
    folio = sub.add_parser("portfolio", help="time the portfolio report of --grants grants")
    folio.add_argument("--grants", type=int, default=PORTFOLIO_GRANTS)
    folio_seed = sub.add_parser("portfolio-seed", help=argparse.SUPPRESS)
    folio_seed.add_argument("--grants", type=int, required=True)
    sub.add_parser("portfolio-job", help=argparse.SUPPRESS)
    # Only the steering vote's pages (see votes_bench).
    votes = sub.add_parser("votes", help="time only the vote and result pages")
    votes.add_argument("--members", type=int, default=2_000)
    votes.add_argument("--requests", type=int, default=20)
    votes.add_argument("--database-url")
    votes.add_argument("--keep", action="store_true")
    parser.add_argument("--members", type=int, default=10_000, help="members to seed (10,000)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests a page (20)")
    parser.add_argument(
        "--database-url", help="an empty database to use instead of a temporary SQLite file"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.command == "seed":
        seed_command(args.members)
    elif args.command == "dry-run":
        dry_run_command(args.rows)
    elif args.command == "report":
        report_command(args.members)
    elif args.command == "portfolio":
        portfolio_bench(args.grants)
    elif args.command == "portfolio-seed":
        portfolio_seed_command(args.grants)
    elif args.command == "portfolio-job":
        portfolio_job_command()
    elif args.command == "votes":
        votes_bench(args)
    else:
        if args.requests < 1 or args.members < 1:
            parser.error("--members and --requests must be positive")
        run(args)


if __name__ == "__main__":
    main()
