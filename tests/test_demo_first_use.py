"""Every demo account works end to end: it signs in, and the forms it reaches save unchanged."""

from __future__ import annotations

import itertools
import re

import pyotp
import sqlalchemy as sa

from coalition import demo
from coalition.accounts.models import Role, User
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import Application, ApplicationStatus
from coalition.members.models import Member, MemberContact
from tests.conftest import csrf_token, sign_in_as
from tests.html_forms import form_data

ERRORS = re.compile(
    r'class="(?:error-summary|flash flash-error|error-text)"[^>]*>(.*?)</(?:div|p)>', re.S
)


def _seed() -> dict[str, dict]:
    accounts = {row["role"]: row for row in demo.seed()}
    assert set(accounts) == {role.value for role, _email, _name in demo.DEMO_ACCOUNTS}
    return accounts


def _user(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def _save_unchanged(client, path: str, having: str = "version", **button) -> None:
    page = client.get(path)
    assert page.status_code == 200, path
    data = form_data(page.get_data(as_text=True), having)
    data.update(button)
    sent = client.post(path, data=data)
    errors = ERRORS.findall(sent.get_data(as_text=True))
    assert sent.status_code == 302, (path, sent.status_code, errors)


def test_demo_accounts_sign_in_with_the_printed_passwords(app):
    accounts = _seed()
    db.session.commit()
    for row in accounts.values():
        client = app.test_client()
        response = client.post(
            "/sign-in",
            data={
                "email": row["email"],
                "password": row["password"],
                "csrf_token": csrf_token(client, "/sign-in"),
            },
        )
        assert response.status_code == 302, (row["email"], response.get_data(as_text=True))
        assert "/sign-in" not in response.headers["Location"], row["email"]


def _with_second_factor(user: User) -> User:
    if user.requires_two_factor:
        user.totp_secret, user.totp_enabled_at = pyotp.random_base32(), utcnow()
    return user


def test_every_demo_account_saves_its_settings_and_drafts_unchanged(client):
    _seed()
    users = [_with_second_factor(_user(email)) for _role, email, _name in demo.DEMO_ACCOUNTS]
    db.session.commit()
    for user in users:
        sign_in_as(client, user)
        _save_unchanged(client, "/account/", having="timezone")

    applicant = _user(f"applicant@{demo.DEMO_DOMAIN}")
    drafts = db.session.scalars(
        sa.select(Application).where(
            Application.applicant_id == applicant.id,
            Application.status == ApplicationStatus.DRAFT,
        )
    ).all()
    editable = [a.id for a in drafts if a.round.is_open()]
    assert editable
    sign_in_as(client, applicant)
    for application_id in editable:
        _save_unchanged(client, f"/applications/{application_id}/edit", save="1")


def test_every_demo_member_saves_unchanged_as_staff_and_as_its_contact(client):
    _seed()
    convenor = _with_second_factor(_user(demo.DEMO_ACCOUNTS[0][1]))
    assert Role.CONVENOR in convenor.roles
    db.session.commit()

    sign_in_as(client, convenor)
    member_ids = db.session.scalars(sa.select(Member.id).order_by(Member.id)).all()
    assert len(member_ids) >= 240
    for member_id in member_ids:
        _save_unchanged(client, f"/members/{member_id}/edit")

    contact = _user(f"contact@{demo.DEMO_DOMAIN}")
    own = db.session.scalars(
        sa.select(MemberContact.member_id).where(MemberContact.user_id == contact.id)
    ).all()
    assert own
    sign_in_as(client, contact)
    for member_id in own:
        _save_unchanged(client, f"/members/{member_id}/profile")


def test_every_demo_application_history_reads_in_order(app):
    """The whole demo, as `make run` seeds it: each application's history goes
    forward in time, step by step, and nothing in it lies in the future (a
    grant approved months before its application was submitted reads as a bug)."""
    from coalition.grants.award_models import Award
    from coalition.grants.models import Round

    _seed()
    db.session.commit()
    now = utcnow()
    applications = db.session.scalars(sa.select(Application)).all()
    assert applications
    for application in applications:
        changes = sorted(application.status_changes, key=lambda change: change.id)
        times = [change.created_at for change in changes]
        steps = [(c.to_status, c.created_at) for c in changes]
        assert times == sorted(times), (application.id, steps)
        assert times[-1] <= now
        for before, after in itertools.pairwise(changes):
            assert after.from_status == before.to_status, application.id
        assert abs((application.status_changed_at - times[-1]).total_seconds()) < 1, application.id
        if application.submitted_at is not None:
            assert application.submitted_at <= application.round.closes_at
            assert all(
                change.created_at >= application.submitted_at
                for change in changes
                if change.from_status not in (None, ApplicationStatus.DRAFT)
            ), application.id
    # The grants belong to a round decided long before today's rounds opened.
    grants = db.session.scalars(sa.select(Award)).all()
    assert grants
    for grant in grants:
        round_ = db.session.get(Round, grant.application.round_id)
        assert round_.closes_at.date() < grant.starts_on
        assert grant.awarded_at.date() <= grant.starts_on
