"""Staff and steering lists of a round's applications, their export, and screening."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import Application, ApplicationStatus, Fund, Round, RoundPhase
from tests.conftest import outbox, post


@pytest.fixture
def round_with_applications(make_user):
    fund = Fund(name="Fund", currency="USD", total_budget=10**9)
    now = utcnow()
    round_ = Round(
        fund=fund,
        title="Round",
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=30),
        closes_at=now - timedelta(days=1),
        budget=10**8,
        min_grant=1,
        max_grant=10**7,
    )
    applicant = make_user(Role.APPLICANT)
    rows = [
        ("Draft in progress", ApplicationStatus.DRAFT, "KE", 100_000),
        ("Kenyan watch", ApplicationStatus.SUBMITTED, "KE", 500_000),
        ("Senegal monitor", ApplicationStatus.SUBMITTED, "SN", 2_000_000),
        ("=cmd|' /C calc'!A0", ApplicationStatus.ELIGIBLE, "NG", 900_000),
        ("Too late", ApplicationStatus.INELIGIBLE, "GH", 300_000),
    ]
    for title, status, country, amount in rows:
        db.session.add(
            Application(
                round=round_,
                applicant=applicant,
                title=title,
                status=status,
                org_name=f"{title} org",
                org_country=country,
                requested_amount=amount,
                submitted_at=None if status == ApplicationStatus.DRAFT else now,
            )
        )
    db.session.add(round_)
    db.session.commit()
    return round_


def titles(client, round_, **args) -> set[str]:
    page = client.get(f"/grants/rounds/{round_.id}/applications", query_string=args)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    return {
        t
        for t in ("Draft in progress", "Kenyan watch", "Senegal monitor", "calc", "Too late")
        if t in text
    }


def test_list_filters_and_hides_drafts(client, make_user, login, round_with_applications):
    login(make_user(Role.STEERING, two_factor=True))
    r = round_with_applications
    assert titles(client, r) == {"Kenyan watch", "Senegal monitor", "calc", "Too late"}
    assert titles(client, r, status="submitted") == {"Kenyan watch", "Senegal monitor"}
    assert titles(client, r, country="SN") == {"Senegal monitor"}
    assert titles(client, r, min="4,000", max="6000") == {"Kenyan watch"}
    assert titles(client, r, screening="ineligible") == {"Too late"}
    assert titles(client, r, screening="pending") == {"Kenyan watch", "Senegal monitor"}
    assert titles(client, r, min="junk") == titles(client, r)


def test_export_neutralises_formulas_and_is_audited(
    client, make_user, login, round_with_applications
):
    login(make_user(Role.CONVENOR, two_factor=True))
    r = round_with_applications
    response = post(
        client,
        f"/grants/rounds/{r.id}/applications.csv",
        {"status": "eligible"},
        token_from=f"/grants/rounds/{r.id}/applications",
    )
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [row["title"] for row in rows] == ["'=cmd|' /C calc'!A0"]
    assert db.session.scalar(sa.select(AuditEntry).filter_by(action="applications.exported"))


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("csv", "text/csv; charset=utf-8"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ],
)
def test_export_headers(client, make_user, login, round_with_applications, fmt, content_type):
    login(make_user(Role.STEERING, two_factor=True))
    r = round_with_applications
    response = post(
        client,
        f"/grants/rounds/{r.id}/applications.{fmt}",
        {},
        token_from=f"/grants/rounds/{r.id}/applications",
    )
    assert response.status_code == 200
    assert response.headers.getlist("Content-Type") == [content_type]
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="round-{r.id}-applications.{fmt}"'
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_screening(client, make_user, login, round_with_applications):
    staff = login(make_user(Role.CONVENOR, two_factor=True))
    r = round_with_applications
    page = client.get(f"/grants/rounds/{r.id}/screening").get_data(as_text=True)
    assert "Kenyan watch" in page and "Senegal monitor" in page and "Too late" not in page
    target = db.session.scalar(sa.select(Application).filter_by(title="Kenyan watch"))
    response = post(
        client,
        f"/grants/applications/{target.id}/screen",
        {"decision": "eligible", "reason": ""},
        token_from=f"/grants/rounds/{r.id}/screening",
    )
    db.session.refresh(target)
    assert target.status == ApplicationStatus.SUBMITTED  # no reason, no decision
    post(
        client,
        f"/grants/applications/{target.id}/screen",
        {"decision": "ineligible", "reason": "Not registered in an eligible country"},
        token_from=f"/grants/rounds/{r.id}/screening",
    )
    db.session.refresh(target)
    assert target.status == ApplicationStatus.INELIGIBLE
    assert target.screening_reason == "Not registered in an eligible country"
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="application.screened"))
    assert entry.actor_id == staff.id
    [message] = outbox("application_status_changed")
    assert "registered" not in message.body_text
    assert response.status_code == 302


def test_steering_cannot_screen(client, make_user, login, round_with_applications):
    login(make_user(Role.STEERING, two_factor=True))
    target = db.session.scalar(sa.select(Application).filter_by(title="Kenyan watch"))
    response = post(
        client,
        f"/grants/applications/{target.id}/screen",
        {"decision": "eligible", "reason": "x"},
        token_from="/grants/",
    )
    assert response.status_code == 403
    db.session.refresh(target)
    assert target.status == ApplicationStatus.SUBMITTED
