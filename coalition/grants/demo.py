"""Demo grant fund: the Africa fund, an open round, and a closed round in review.

Everything is made up: the fund's partner, the applicants, their
organisations and projects. Email addresses are on the reserved
``example.org`` and ``example.net`` domains. The same random generator gives
the same data (for the same day: times are counted from today's midnight UTC).

The closed round holds about sixty applications: drafts never submitted,
and submitted ones all screened (eligible or ineligible) or withdrawn, so
that it can go in review. Its eligible applications have reviews in every
state (conflict declaration due, to do, draft, submitted, recused), with one
strong disagreement; demo reviewers and steering members declared conflicts
on some (see ``seed_reviews``). Each one
past draft is complete, with budget lines adding up to the amount requested
and a small generated PDF for each required attachment, kept through the
attachment store. Status changes follow ``APPLICATION_TRANSITIONS`` and each
leaves its row in the history, dated in the past.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pikepdf

from coalition import audit
from coalition.accounts import operations as account_ops
from coalition.accounts.models import Role, User
from coalition.countries import AFRICAN_COUNTRIES, country_name
from coalition.db import utcnow
from coalition.demo import DEMO_DOMAIN
from coalition.extensions import db
from coalition.grants import applications as app_ops
from coalition.grants import files
from coalition.grants import rounds as round_ops
from coalition.grants.models import (
    APPLICATION_TRANSITIONS,
    Application,
    ApplicationStatus,
    ApplicationStatusChange,
    Attachment,
    AttachmentKind,
    BudgetLine,
    Fund,
    RegistrationStatus,
    Round,
    RoundPhase,
)

FUND_NAME = "Africa Fund for Election Integrity"
PARTNER = "Harmattan Civic Futures Foundation (fictional partner)"
DEMO_APPLICANT_EMAIL = f"applicant@{DEMO_DOMAIN}"
DOLLAR = 100  # amounts are kept in cents

# The applicants' home countries (all in the fund's eligible list).
COUNTRIES = [
    "KE", "NG", "GH", "SN", "UG", "ZA", "ZW", "ZM",
    "MW", "TZ", "CI", "CM", "BJ", "ET", "RW", "MZ",
]  # fmt: skip

# How many applications of the closed round end in each status.
# None waits for screening: the round goes in review once they are all screened.
STATUS_COUNTS: dict[ApplicationStatus, int] = {
    ApplicationStatus.DRAFT: 7,
    ApplicationStatus.ELIGIBLE: 30,
    ApplicationStatus.INELIGIBLE: 13,
    ApplicationStatus.WITHDRAWN: 10,
}

FIRST_NAMES = [
    "Adaeze", "Kwabena", "Nomvula", "Tesfaye", "Mariama", "Babajide", "Wairimu", "Chikondi",
    "Rutendo", "Aïssatou", "Mbali", "Jabari", "Ifeoma", "Kagiso", "Nafula", "Olumide",
    "Zawadi", "Séverine", "Tinashe", "Akosua", "Lindiwe", "Mamadou", "Nyokabi", "Efua",
]  # fmt: skip
LAST_NAMES = [
    "Achieng", "Bamidele", "Chanda", "Dlamini", "Essien", "Fofana", "Gatwiri", "Hlongwane",
    "Ikenna", "Juma", "Kabore", "Lungu", "Mavhunga", "Ndiaye", "Obi", "Phiri", "Quaye",
    "Rukundo", "Sesay", "Tembo", "Uwase", "Wekesa", "Yeboah", "Zulu",
]  # fmt: skip
ORG_WORDS = [
    "Baobab", "Sunbird", "Weaver", "Kapok", "Marula", "Harmattan", "Acacia", "Ibis",
    "Lantern", "Granary", "Compass", "Heron", "Kestrel", "Tamarind", "Loom", "Savanna",
]  # fmt: skip
ORG_FORMS = ["Collective", "Lab", "Observatory", "Network", "Initiative", "Centre", "Trust"]
ORG_TOPICS = [
    "Civic Technology", "Information Integrity", "Election Monitoring", "Media Literacy",
    "Digital Rights", "Youth Participation", "Open Data", "Fact-Checking",
]  # fmt: skip
HOST_NAMES = [
    "Meridian Community Trust",
    "Sable Civic Foundation",
    "Quill Development Association",
    "Juniper Rights Foundation",
]
PROJECT_VERBS = ["Mapping", "Countering", "Tracking", "Checking", "Explaining", "Monitoring"]
PROJECT_OBJECTS = [
    "false claims about voter registration",
    "paid political advertising on social media",
    "coordinated inauthentic accounts",
    "hate speech against candidates",
    "rumours about polling stations",
    "manipulated audio and video",
    "threats against election officials",
    "misleading results claims",
]
AUDIENCES = [
    "first-time voters",
    "community radio stations",
    "women candidates",
    "local election observers",
    "journalists in regional newsrooms",
    "people voting in local languages",
]
BUDGET_CATEGORIES = [
    "Staff",
    "Training and workshops",
    "Travel",
    "Equipment",
    "Research and monitoring",
    "Communications",
    "Administration",
]
WITHDRAWAL_REASONS = [
    "Another funder has agreed to cover the project.",
    "Our lead researcher has left the organisation; we will apply again later.",
    "The election date moved and the plan no longer fits the round.",
    "We found a mistake in our budget and prefer to apply in the next round.",
]
ELIGIBLE_REASONS = [
    "Registered organisation in an eligible country; budget and documents complete.",
    "Eligible: applying through a named fiscal host; documents complete.",
    "Eligible; the budget matches the amount and the activities fit the call.",
]
INELIGIBLE_REASONS = [
    "The project concerns election work outside the fund's remit (party campaigning).",
    "The registration certificate belongs to a different organisation.",
    "The organisation is a for-profit consultancy; the fund supports civil society.",
    "The proposal document is the template, not a completed proposal.",
]

OPEN_RUBRIC = [
    {"name": "Relevance to election integrity", "weight": 3, "guidance": "Fit with the call."},
    {"name": "Feasibility of the plan", "weight": 2, "guidance": "Activities, timeline, team."},
    {"name": "Value for money", "weight": 2, "guidance": "A realistic, clear budget."},
    {"name": "Reach and sustainability", "weight": 1, "guidance": "What lasts afterwards."},
]
CLOSED_RUBRIC = [
    {"name": "Relevance to election integrity", "weight": 3, "guidance": "Fit with the call."},
    {"name": "Feasibility of the plan", "weight": 2, "guidance": "Activities, timeline, team."},
    {"name": "Value for money", "weight": 1, "guidance": "A realistic, clear budget."},
]


def seed_grants(rng: random.Random) -> dict[str, Any]:
    """Create the demo fund, its rounds and applications. Flushes; the caller commits.

    Returns the fund, both rounds and the closed round's applications.
    """
    today = datetime.combine(utcnow().date(), time(), tzinfo=UTC)
    convenor = account_ops.find_by_email(f"convenor@{DEMO_DOMAIN}")
    fund = round_ops.create_fund(
        actor=convenor,
        values={
            "name": FUND_NAME,
            "partner": PARTNER,
            "currency": "USD",
            "total_budget": 2_000_000 * DOLLAR,
        },
        countries=list(AFRICAN_COUNTRIES),
    )
    closed_round = _closed_round(fund, today, convenor)
    open_round = _open_round(fund, today, convenor)
    applicants = _applicants(rng, sum(STATUS_COUNTS.values()))
    plan = [status for status, n in STATUS_COUNTS.items() for _ in range(n)]
    rng.shuffle(plan)
    closed_applications = [
        _closed_application(rng, closed_round, applicant, final, convenor, index)
        for index, (applicant, final) in enumerate(zip(applicants, plan, strict=True))
    ]
    demo_applicant = account_ops.find_by_email(DEMO_APPLICANT_EMAIL)
    if demo_applicant is not None:
        _demo_applicant_drafts(rng, open_round, closed_round, demo_applicant, today)
    db.session.flush()
    # Every submitted application is screened (or withdrawn): the review starts.
    round_ops.move_round(closed_round, RoundPhase.IN_REVIEW, actor=convenor)
    seed_reviews(
        rng,
        closed_round,
        [a for a in closed_applications if a.status == ApplicationStatus.ELIGIBLE],
        convenor,
    )
    db.session.flush()
    # Last year's round, decided long ago: the grants live there (``seed_awards``).
    past_round, past_applications = _past_round(rng, fund, today, convenor)
    db.session.flush()
    return {
        "fund": fund,
        "open_round": open_round,
        "closed_round": closed_round,
        "applications": closed_applications,
        "past_round": past_round,
        "past_applications": past_applications,
    }


# -- Rounds ---------------------------------------------------------------------------


def _closed_round(fund: Fund, today: datetime, convenor: User | None) -> Round:
    opens_at = today - timedelta(weeks=10) + timedelta(hours=9)
    closes_at = today - timedelta(days=14) + timedelta(hours=17)
    round_ = round_ops.create_round(
        fund,
        actor=convenor,
        values={
            "title": "2026 call: information integrity around elections",
            "description": (
                "Grants for civil society groups that protect voters from false and "
                "misleading information before, during and after elections.\n\n"
                "Apply with a full proposal and a detailed budget."
            ),
            "opens_at": opens_at,
            "closes_at": closes_at,
            "review_deadline": today + timedelta(weeks=3),
            "budget": 600_000 * DOLLAR,
            "min_grant": 10_000 * DOLLAR,
            "max_grant": 60_000 * DOLLAR,
            "required_attachments": [AttachmentKind.PROPOSAL.value, AttachmentKind.BUDGET.value],
            "reviewers_per_application": 2,
            "blind_review": False,
        },
        criteria=CLOSED_RUBRIC,
    )
    round_ops.move_round(round_, RoundPhase.PUBLISHED, actor=convenor, now=opens_at)
    return round_


def _open_round(fund: Fund, today: datetime, convenor: User | None) -> Round:
    round_ = round_ops.create_round(
        fund,
        actor=convenor,
        values={
            "title": "2027 call: local elections and community media",
            "description": (
                "Small and medium grants for work with community media and local "
                "observers ahead of local elections.\n\n"
                "Send a full proposal, a detailed budget and your registration certificate "
                "(or your fiscal host's)."
            ),
            "opens_at": today - timedelta(days=7),
            "closes_at": today + timedelta(weeks=6) + timedelta(hours=17),
            "review_deadline": today + timedelta(weeks=12),
            "budget": 400_000 * DOLLAR,
            "min_grant": 5_000 * DOLLAR,
            "max_grant": 40_000 * DOLLAR,
            "required_attachments": [
                AttachmentKind.PROPOSAL.value,
                AttachmentKind.BUDGET.value,
                AttachmentKind.REGISTRATION.value,
            ],
            "reviewers_per_application": 2,
            "blind_review": True,
        },
        criteria=OPEN_RUBRIC,
    )
    round_ops.move_round(round_, RoundPhase.PUBLISHED, actor=convenor)
    return round_


# Last year's round: its grants started up to 400 days ago, so it closed well before.
PAST_ROUND_CLOSED_DAYS_AGO = 440
PAST_STATUS_COUNTS: dict[ApplicationStatus, int] = {
    ApplicationStatus.ELIGIBLE: 10,
    ApplicationStatus.INELIGIBLE: 3,
    ApplicationStatus.WITHDRAWN: 2,
}


def _past_round(
    rng: random.Random, fund: Fund, today: datetime, convenor: User | None
) -> tuple[Round, list[Application]]:
    """Last year's call: open, screened and decided long ago (its grants are seeded
    by ``seed_awards``). Every date in it comes before today's rounds' dates."""
    closes_at = today - timedelta(days=PAST_ROUND_CLOSED_DAYS_AGO) + timedelta(hours=17)
    opens_at = closes_at - timedelta(weeks=8) - timedelta(hours=8)
    round_ = round_ops.create_round(
        fund,
        actor=convenor,
        values={
            "title": "2025 call: safer elections online",
            "description": (
                "Grants for civil society groups that document and answer online "
                "harms around elections.\n\nApply with a full proposal and a detailed budget."
            ),
            "opens_at": opens_at,
            "closes_at": closes_at,
            "review_deadline": closes_at + timedelta(weeks=2),
            "budget": 500_000 * DOLLAR,
            "min_grant": 10_000 * DOLLAR,
            "max_grant": 60_000 * DOLLAR,
            "required_attachments": [AttachmentKind.PROPOSAL.value, AttachmentKind.BUDGET.value],
            "reviewers_per_application": 2,
            "blind_review": False,
        },
        criteria=CLOSED_RUBRIC,
    )
    round_ops.move_round(round_, RoundPhase.PUBLISHED, actor=convenor, now=opens_at)
    plan = [status for status, n in PAST_STATUS_COUNTS.items() for _ in range(n)]
    rng.shuffle(plan)
    applicants = _applicants(rng, len(plan), first_number=sum(STATUS_COUNTS.values()) + 1)
    applications = [
        _closed_application(rng, round_, applicant, final, convenor, index)
        for index, (applicant, final) in enumerate(zip(applicants, plan, strict=True))
    ]
    db.session.flush()
    round_ops.move_round(
        round_, RoundPhase.IN_REVIEW, actor=convenor, now=closes_at + timedelta(days=6)
    )
    return round_, applications


def past_decision_time(round_: Round) -> datetime:
    """When last year's steering group decided: three weeks after its call closed."""
    return round_.closes_at + timedelta(weeks=3)


# -- Applicants -----------------------------------------------------------------------


def _applicants(rng: random.Random, count: int, *, first_number: int = 1) -> list[User]:
    """Fictional applicant accounts.

    They get no password (no stored hash matches any password): nobody signs in
    as them, and hashing sixty passwords with argon2 would take seconds. Each
    can still set one through the password reset.
    """
    now = utcnow()
    users = []
    for number in range(first_number, first_number + count):
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        domain = rng.choice(["example.org", "example.net"])
        email = f"{_ascii(first)}.{_ascii(last)}.{number}@{domain}".lower()
        if account_ops.email_taken(email):
            users.append(account_ops.find_by_email(email))
            continue
        user = User(
            email=email,
            name=f"{first} {last}",
            password_hash=None,
            email_confirmed_at=now,
            language="en",
            timezone="UTC",
        )
        user.set_roles([Role.APPLICANT])
        db.session.add(user)
        users.append(user)
    db.session.flush()
    for user in users:
        audit.record("user.created", user, changes={"roles": [[], [Role.APPLICANT.value]]})
    return users


def _ascii(text: str) -> str:
    return text.replace("ï", "i").replace("é", "e").replace("è", "e")


# -- Applications ---------------------------------------------------------------------


def _closed_application(
    rng: random.Random,
    round_: Round,
    applicant: User,
    final: ApplicationStatus,
    convenor: User | None,
    index: int,
) -> Application:
    country = COUNTRIES[index % len(COUNTRIES)]
    started = round_.opens_at + timedelta(minutes=rng.randint(60, 40 * 24 * 60))
    application = Application(
        round=round_,
        applicant=applicant,
        status=ApplicationStatus.DRAFT,
        created_at=started,
        updated_at=started,
        status_changed_at=started,
    )
    db.session.add(application)
    _history(application, None, ApplicationStatus.DRAFT, started, applicant)
    complete = final != ApplicationStatus.DRAFT
    _fill(rng, application, round_, country, complete=complete)
    if not complete:
        return application
    _attach(application, round_, applicant, started)
    last_edit = round_.closes_at - timedelta(days=1)
    submitted = min(started + timedelta(minutes=rng.randint(60, 20 * 24 * 60)), last_edit)
    submitted = submitted + timedelta(seconds=rng.randint(0, 3_599))
    application.updated_at = submitted
    application.submitted_at = submitted
    _move(application, ApplicationStatus.SUBMITTED, submitted, applicant)
    if final == ApplicationStatus.SUBMITTED:
        return application
    if final == ApplicationStatus.WITHDRAWN and rng.random() < 0.5:
        at = submitted + timedelta(hours=rng.randint(2, 20))
        _withdraw(rng, application, at, applicant)
        return application
    screened = round_.closes_at + timedelta(hours=rng.randint(20, 4 * 24))
    _move(application, ApplicationStatus.SCREENING, screened, convenor)
    if final == ApplicationStatus.SCREENING:
        return application
    if final == ApplicationStatus.WITHDRAWN:
        _withdraw(rng, application, screened + timedelta(hours=rng.randint(2, 48)), applicant)
        return application
    decided = screened + timedelta(hours=rng.randint(4, 5 * 24))
    if final == ApplicationStatus.ELIGIBLE:
        reason = rng.choice(ELIGIBLE_REASONS)
    else:
        reason = rng.choice(INELIGIBLE_REASONS)
    application.screening_reason = reason
    _move(application, final, decided, convenor, reason)
    return application


def _fill(
    rng: random.Random, application: Application, round_: Round, country: str, *, complete: bool
) -> None:
    """The proposal's fields: all of them when ``complete``, some of them otherwise."""
    word = rng.choice(ORG_WORDS)
    application.org_name = (
        f"{word} {rng.choice(ORG_FORMS)} for {rng.choice(ORG_TOPICS)} ({country_name(country)})"
    )
    application.org_country = country
    registered = rng.random() < 0.8
    application.org_registration = (
        RegistrationStatus.REGISTERED if registered else RegistrationStatus.UNREGISTERED
    )
    if not registered:
        application.fiscal_host_name = rng.choice(HOST_NAMES)
        application.fiscal_host_country = country
    topic = rng.choice(PROJECT_OBJECTS)
    audience = rng.choice(AUDIENCES)
    application.title = f"{rng.choice(PROJECT_VERBS)} {topic} with {audience}"[:200]
    application.summary = (
        f"A {word} project working with {audience} in {country_name(country)} against {topic} "
        "in the months around the next elections."
    )
    year = round_.closes_at.year + rng.choice([0, 1])
    application.elections = f"General elections expected in {year}; local elections after them."
    others = [c for c in COUNTRIES if c != country]
    application.countries = [country, *rng.sample(others, rng.choice([0, 0, 1, 2]))]
    if not complete:
        if rng.random() < 0.5:
            application.problem = f"In the last elections, {topic} spread faster than corrections."
        return
    application.problem = (
        f"In the last elections, {topic} spread faster than corrections could reach "
        f"{audience}. Few local groups track it, and the election body answers slowly."
    )
    application.activities = (
        "1. Train a team of monitors and fact-checkers.\n"
        f"2. Publish weekly checks for {audience} in local languages.\n"
        "3. Share findings with the election body and the platforms."
    )
    application.outcomes = (
        f"More {audience} recognise and report {topic}; faster answers from the election "
        "body; an open data set of the cases found."
    )
    application.duration_months = rng.choice([6, 9, 12, 12, 18, 24])
    dollars = rng.randrange(round_.min_grant // DOLLAR, round_.max_grant // DOLLAR + 1, 500)
    application.requested_amount = dollars * DOLLAR
    for position, (category, amount) in enumerate(_budget(rng, dollars)):
        application.budget_lines.append(
            BudgetLine(
                position=position,
                category=category,
                description=f"{category} for the project's {application.duration_months} months",
                amount=amount * DOLLAR,
            )
        )


def _budget(rng: random.Random, dollars: int) -> list[tuple[str, int]]:
    """Three to five lines adding up to ``dollars`` exactly."""
    categories = rng.sample(BUDGET_CATEGORIES, rng.randint(3, 5))
    weights = [rng.randint(1, 5) for _ in categories]
    amounts = [dollars * w // sum(weights) // 50 * 50 for w in weights]
    amounts[0] += dollars - sum(amounts)
    return list(zip(categories, amounts, strict=True))


def _attach(application: Application, round_: Round, uploader: User, at: datetime) -> None:
    total = 0
    for kind in round_.required_kinds:
        data = demo_pdf(f"{kind.label}: {application.title}")
        stored = files.store(
            data, original_name=f"{kind.value}-{application.org_country}.pdf", current_total=total
        )
        total += stored.size
        application.attachments.append(
            Attachment(
                kind=kind,
                original_name=stored.original_name,
                stored_name=stored.stored_name,
                content_type=stored.content_type,
                size=stored.size,
                sha256=stored.sha256,
                uploaded_by_id=uploader.id,
                created_at=at,
            )
        )


def _move(
    application: Application,
    target: ApplicationStatus,
    at: datetime,
    actor: User | None,
    reason: str | None = None,
) -> None:
    """One step along ``APPLICATION_TRANSITIONS``, dated ``at``, with its history row."""
    old = ApplicationStatus(application.status)
    if target not in APPLICATION_TRANSITIONS[old]:
        raise ValueError(f"demo data: {old} cannot become {target}")
    application.status = target
    application.status_changed_at = at
    _history(application, old, target, at, actor, reason)


def _history(application, old, new, at, actor, reason=None) -> None:
    application.status_changes.append(
        ApplicationStatusChange(
            from_status=old, to_status=new, reason=reason, actor=actor, created_at=at
        )
    )


def _withdraw(rng: random.Random, application: Application, at: datetime, actor: User) -> None:
    reason = rng.choice(WITHDRAWAL_REASONS)
    application.withdrawal_reason = reason
    _move(application, ApplicationStatus.WITHDRAWN, at, actor, reason)


def _demo_applicant_drafts(
    rng: random.Random, open_round: Round, closed_round: Round, applicant: User, today: datetime
) -> None:
    """The demo applicant's drafts: one in each round (the closed one stays a draft)."""
    stale = Application(
        round=closed_round,
        applicant=applicant,
        status=ApplicationStatus.DRAFT,
        created_at=closed_round.opens_at + timedelta(days=3),
        updated_at=closed_round.opens_at + timedelta(days=5),
        status_changed_at=closed_round.opens_at + timedelta(days=3),
    )
    db.session.add(stale)
    _history(stale, None, ApplicationStatus.DRAFT, stale.created_at, applicant)
    _fill(rng, stale, closed_round, "KE", complete=False)
    # In the open round: through the operations, as the applicant would.
    draft = app_ops.start(open_round, applicant)
    app_ops.save_draft(
        draft,
        actor=applicant,
        version=None,
        values={
            "org_name": "Sunbird Community Radio Network (Kenya)",
            "org_country": "KE",
            "org_registration": RegistrationStatus.REGISTERED,
            "title": "Community radio call-in shows on polling day rumours",
            "summary": (
                "Weekly call-in shows on five community radio stations where listeners "
                "ask about rumours they heard, and a fact-checker answers on air."
            ),
            "problem": "Rumours about polling stations travel by word of mouth and radio.",
            "duration_months": 9,
            "requested_amount": 18_000 * DOLLAR,
        },
        budget_lines=[
            {"category": "Staff", "description": "Two fact-checkers", "amount": 9_000 * DOLLAR},
            {"category": "Communications", "description": "Airtime", "amount": 6_000 * DOLLAR},
        ],
        countries=["KE"],
    )
    stored = files.store(
        demo_pdf("Full proposal: community radio call-in shows"),
        original_name="proposal-draft.pdf",
        current_total=0,
    )
    app_ops.add_attachment(draft, stored, kind=AttachmentKind.PROPOSAL, actor=applicant)


def demo_pdf(text: str) -> bytes:
    """A small one-page PDF with one line of text, and nothing active in it."""
    document = pikepdf.new()
    document.add_blank_page(page_size=(595, 842))
    page = document.pages[0]
    page.Resources = pikepdf.Dictionary(
        Font=pikepdf.Dictionary(
            F1=pikepdf.Dictionary(
                Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
            )
        )
    )
    line = text.encode("ascii", "replace")[:90]
    line = line.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    page.Contents = document.make_stream(b"BT /F1 12 Tf 56 780 Td (" + line + b") Tj ET")
    document.docinfo["/Title"] = text
    out = io.BytesIO()
    document.save(out, deterministic_id=True)
    return out.getvalue()


# -- Reviews -----------------------------------------------------------------------------

DEMO_REVIEWER_EMAIL = f"reviewer@{DEMO_DOMAIN}"
DEMO_STEERING_EMAIL = f"steering@{DEMO_DOMAIN}"
# Fictional people who review (they never sign in: no password).
OUTSIDE_REVIEWERS = [
    ("Nokuthula Zwane (demo reviewer)", "n.zwane@reviewers.example.net"),
    ("Ousmane Diop (demo reviewer)", "o.diop@reviewers.example.net"),
    ("Faith Otieno (demo reviewer)", "f.otieno@reviewers.example.net"),
    ("Yaw Boateng (demo reviewer)", "y.boateng@reviewers.example.net"),
]
STEERING_MEMBERS = [
    ("Halima Abubakar (demo steering member)", "h.abubakar@steering.example.org"),
    ("Thabo Nkosi (demo steering member)", "t.nkosi@steering.example.org"),
]
FOR_APPLICANT = [
    "A clear problem and a credible team. Tighten the monitoring plan and say how results "
    "reach voters.",
    "The activities fit the call; the budget for travel looks high for the reach described.",
    "Strong local partnerships. Add how you will measure what changed after the election.",
    "The proposal is promising but the timeline is tight for the number of districts.",
]
CONFIDENTIAL = [
    "The lead organisation delivered a similar project well in 2024.",
    "I am unsure the team can handle the legal risk of publishing this monitoring.",
    "Good value; could be funded with a smaller travel line.",
    "",
]


def _demo_person(name: str, email: str, role: Role) -> User:
    user = account_ops.find_by_email(email)
    if user is not None:
        return user
    user = User(
        email=email,
        name=name,
        password_hash=None,
        email_confirmed_at=utcnow(),
        language="en",
        timezone="Africa/Nairobi",
    )
    user.set_roles([role])
    db.session.add(user)
    return user


def _scores(rng: random.Random, round_: Round, quality: float) -> dict[int, int]:
    return {c.id: max(1, min(5, round(quality + rng.gauss(0, 0.6)))) for c in round_.criteria}


def _recommend(scores: dict[int, int]):
    from coalition.grants.review_models import Recommendation

    mean = sum(scores.values()) / len(scores)
    if mean >= 3.8:
        return Recommendation.FUND
    if mean >= 2.8:
        return Recommendation.FUND_WITH_CHANGES
    return Recommendation.DO_NOT_FUND


def _write(rng, review, scores, recommendation, *, submit: bool) -> None:
    from coalition.grants import reviews as review_ops

    review_ops.save_draft(
        review,
        actor=review.reviewer,
        version=None,
        scores=scores,
        comment_applicant=rng.choice(FOR_APPLICANT),
        comment_confidential=rng.choice(CONFIDENTIAL),
        recommendation=recommendation,
    )
    if submit:
        review_ops.submit(review, actor=review.reviewer)


def seed_reviews(
    rng: random.Random, round_: Round, eligible: list[Application], convenor: User | None
) -> None:
    """The round's reviews, assigned automatically, in every state.

    The demo reviewer has one of each (conflict declaration due, to do, draft,
    submitted, recused); the demo steering member reviews too and declared on
    part of the list (one conflict), leaving the rest to declare; another
    steering member declared a conflict; one application has two reviews far
    apart (a disagreement). Most other reviews are submitted.
    """
    from coalition.grants import assignment
    from coalition.grants import reviews as review_ops
    from coalition.grants.review_models import Recommendation

    for name, email in OUTSIDE_REVIEWERS:
        _demo_person(name, email, Role.REVIEWER)
    steering = [_demo_person(name, email, Role.STEERING) for name, email in STEERING_MEMBERS]
    db.session.flush()
    result = assignment.auto_assign(round_, actor=convenor)
    reviews = sorted(result.created, key=lambda r: (r.application_id, r.reviewer_id))
    quality = {a.id: rng.uniform(1.8, 4.7) for a in eligible}
    demo_reviewer = account_ops.find_by_email(DEMO_REVIEWER_EMAIL)
    demo_steering = account_ops.find_by_email(DEMO_STEERING_EMAIL)
    scripted = {}
    for person in (demo_reviewer, demo_steering):
        if person is None:
            continue
        own = [r for r in reviews if r.reviewer_id == person.id]
        # declare, to do, draft, recused, then submitted
        for review, state in zip(own, ["declare", "todo", "draft", "recused"], strict=False):
            scripted[review.id] = state
    # One disagreement: the first application reviewed by two people without a script.
    by_application: dict[int, list] = {}
    for review in reviews:
        by_application.setdefault(review.application_id, []).append(review)
    split = next(
        (
            pair
            for pair in by_application.values()
            if len(pair) == 2 and not any(r.id in scripted for r in pair)
        ),
        None,
    )
    for review in reviews:
        state = scripted.get(review.id)
        if state is None and split is not None and review in split:
            state = "split"  # always written: whatever the draws, the round shows one
        if state is None:
            state = "submitted" if rng.random() < 0.8 else rng.choice(["declare", "draft"])
        application = review.application
        if state == "declare":
            continue
        if state == "recused":
            review_ops.declare(
                application,
                review.reviewer,
                conflict=True,
                description="I advised this organisation on its last project.",
            )
            continue
        review_ops.declare(application, review.reviewer, conflict=False)
        if state == "todo":
            continue
        if state == "split":
            high = review is split[0]
            scores = {c.id: (5 if high else 1) for c in round_.criteria}
            recommendation = Recommendation.FUND if high else Recommendation.DO_NOT_FUND
            _write(rng, review, scores, recommendation, submit=True)
            continue
        scores = _scores(rng, round_, quality[application.id])
        if state == "draft":
            partial = dict(list(scores.items())[:1])
            _write(rng, review, partial, None, submit=False)
        else:
            _write(rng, review, scores, _recommend(scores), submit=True)
    # Steering declarations on the list: a conflict each, and "no conflict" on a few.
    reviewed_by = {(r.application_id, r.reviewer_id) for r in reviews}
    for person in [p for p in (demo_steering, *steering) if p is not None]:
        free = [a for a in eligible if (a.id, person.id) not in reviewed_by]
        if not free:
            continue
        review_ops.declare(
            free[0], person, conflict=True, description="A close relative works there."
        )
        for application in free[1:4]:
            review_ops.declare(application, person, conflict=False)


# -- Approvals (until the steering vote's demo takes this over) ---------------------------


def approve_for_demo(
    applications: list[Application],
    convenor: User | None,
    at: datetime,
    *,
    waitlisted: list[Application] = (),
) -> None:
    """Eligible applications through the vote's steps: in vote, then approved (or
    waitlisted). Along ``APPLICATION_TRANSITIONS`` only; the vote's own demo data,
    once it exists, replaces this function and nothing else."""
    for application in [*applications, *waitlisted]:
        _move(application, ApplicationStatus.IN_VOTE, at - timedelta(days=2), convenor)
    for application in applications:
        _move(application, ApplicationStatus.APPROVED, at, convenor, "Approved by the vote.")
    for application in waitlisted:
        _move(application, ApplicationStatus.WAITLISTED, at, convenor, "Waitlisted by the vote.")


# -- Grants -------------------------------------------------------------------------------

DEMO_GRANT_STATES = (
    "paid_and_interim_accepted",
    "report_overdue",
    "completed",
    "cancelled",
    "amended",
    "interim_submitted",
)


# The interim report falls due 180 days after the start: the amended grant's is still ahead.
STARTED_DAYS_AGO = {"completed": 400, "amended": 100}


def seed_awards(rng: random.Random, seeded: dict[str, Any]) -> dict[str, Any]:
    """Grants on last year's eligible applications, one in each state the pages
    show: active with a tranche paid and its interim report accepted, a report
    overdue, completed, cancelled, amended, and one whose interim report waits for
    the staff. Two more stay waitlisted. Through the award operations, so every
    grant keeps the budget rule and leaves its audit rows and emails. Flushes."""
    from coalition.grants import awards
    from coalition.grants import grantee_reports as reports
    from coalition.grants.award_models import ReportKind

    convenor = account_ops.find_by_email(f"convenor@{DEMO_DOMAIN}")
    past_round = seeded["past_round"]
    eligible = [a for a in seeded["past_applications"] if a.status == ApplicationStatus.ELIGIBLE]
    chosen = eligible[: len(DEMO_GRANT_STATES)]
    waitlisted = eligible[len(DEMO_GRANT_STATES) : len(DEMO_GRANT_STATES) + 2]
    today = utcnow().date()
    decided = past_decision_time(past_round)
    demo_applicant = account_ops.find_by_email(DEMO_APPLICANT_EMAIL)
    if demo_applicant is not None and chosen:
        # The demo applicant is a grantee: their grant, its payments and its reports.
        chosen[0].applicant = demo_applicant
    approve_for_demo(chosen, convenor, decided, waitlisted=waitlisted)
    db.session.flush()
    grants = {}
    for state, application in zip(DEMO_GRANT_STATES, chosen, strict=True):
        starts = today - timedelta(days=STARTED_DAYS_AGO.get(state, 190))
        amount = application.requested_amount
        first, second = awards.split_evenly(amount, 2)
        interim = starts + timedelta(days=180)
        final = starts + timedelta(days=380)
        grant = awards.make_award(
            application,
            actor=convenor,
            amount=amount,
            starts_on=starts,
            ends_on=starts + timedelta(days=365),
            payee="organisation",
            tranches=[
                awards.TrancheInput(starts, first),
                awards.TrancheInput(starts + timedelta(days=200), second, after_report=0),
            ],
            reports=[
                awards.ReportInput(ReportKind.INTERIM, interim),
                awards.ReportInput(ReportKind.FINAL, final),
            ],
            conditions="Acknowledge the fund in every publication made with the grant.",
        )
        grants[state] = grant
        if state == "report_overdue":
            continue
        awards.mark_paid(
            grant.tranches[0], actor=convenor, paid_on=starts, reference=f"DEMO-{grant.id}-1"
        )
        if state == "cancelled":
            awards.cancel(grant, actor=convenor, reason="The organisation closed its office.")
            continue
        if state == "amended":
            awards.amend(
                grant,
                actor=convenor,
                reason="The partner cut the travel line.",
                version=grant.version,
                amount=amount - 1_000 * DOLLAR,
                reduction_reason="Travel is no longer eligible.",
                tranches=[
                    awards.TrancheInput(
                        starts + timedelta(days=200),
                        amount - 1_000 * DOLLAR - grant.paid_total,
                        after_report=0,
                    )
                ],
            )
            continue
        grantee = application.applicant
        _demo_report(reports, grant.reports[0], grantee)
        if state == "interim_submitted":
            continue
        reports.accept(grant.reports[0], actor=convenor, comment="Thank you: clear and complete.")
        if state == "completed":
            awards.mark_paid(
                grant.tranches[1], actor=convenor, paid_on=today, reference=f"DEMO-{grant.id}-2"
            )
            _demo_report(reports, grant.reports[1], grantee)
            reports.accept(grant.reports[1], actor=convenor)
    db.session.flush()
    _date_the_awards(grants.values())
    round_ops.move_round(past_round, RoundPhase.DECIDED, actor=convenor, now=decided)
    db.session.flush()
    return {"grants": grants, "waitlisted": waitlisted}


def _date_the_awards(grants) -> None:
    """The award operations date what they do now; the demo's grants were made
    a week before each one started, and went to reporting on its first day, so
    that every application's history reads in order."""
    for grant in grants:
        awarded_at = datetime.combine(grant.starts_on, time(9), tzinfo=UTC) - timedelta(days=7)
        grant.awarded_at = awarded_at
        for change in grant.application.status_changes:
            if change.to_status == ApplicationStatus.AWARDED:
                change.created_at = awarded_at
            elif change.to_status == ApplicationStatus.REPORTING:
                change.created_at = datetime.combine(grant.starts_on, time(10), tzinfo=UTC)
        application = grant.application
        application.status_changed_at = max(c.created_at for c in application.status_changes)


def _demo_report(reports, report, grantee: User) -> None:
    reports.save_draft(
        report,
        actor=grantee,
        version=report.version,
        values={
            "activities": "Trained 30 community reporters; monitored 45 radio stations.",
            "results": "Four fact-check briefs, aired by 12 stations.",
            "problems": "Two stations refused to air corrections.",
            "spending_note": "Spending follows the budget; travel was lower than planned.",
        },
    )
    reports.submit(report, actor=grantee)
