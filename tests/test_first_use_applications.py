"""First use of the grant pages: a submitted application's edit link, the way
back and the actions of each reader, the drafts already started for a call."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from coalition.accounts.models import Role
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import Application, ApplicationStatus
from tests.conftest import post, sign_in_as
from tests.test_grants_rounds import make_round

NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def open_round():
    round_ = make_round(opens_at=NOW - timedelta(days=3), title="Elections 2027")
    db.session.commit()
    return round_


def application_of(user, round_, status=ApplicationStatus.DRAFT, **values) -> Application:
    application = Application(round=round_, applicant=user, status=status, **values)
    if status != ApplicationStatus.DRAFT:
        application.submitted_at = NOW - timedelta(days=1)
    db.session.add(application)
    db.session.commit()
    return application


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html, re.S)


# -- 5. The edit page of a submitted application ------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_edit_of_own_submitted_application_leads_to_it_with_the_reason(
    client, make_user, open_round, method
):
    applicant = make_user(Role.APPLICANT)
    application = application_of(
        applicant, open_round, ApplicationStatus.SUBMITTED, title="Watching the vote"
    )
    sign_in_as(client, applicant)
    path = f"/applications/{application.id}/edit"
    response = client.get(path) if method == "GET" else post(client, path, {"title": "Late"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/applications/{application.id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    [message] = flashes(page)
    assert "was submitted on" in message and "can no longer be edited" in message
    db.session.refresh(application)
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.title == "Watching the vote"


def test_edit_of_someone_elses_application_is_still_not_found(client, make_user, open_round):
    owner = make_user(Role.APPLICANT)
    submitted = application_of(owner, open_round, ApplicationStatus.SUBMITTED)
    draft = application_of(owner, open_round)
    sign_in_as(client, make_user(Role.APPLICANT))
    assert client.get(f"/applications/{submitted.id}/edit").status_code == 404
    assert client.get(f"/applications/{draft.id}/edit").status_code == 404
    sign_in_as(client, make_user(Role.CONVENOR, two_factor=True))
    assert client.get(f"/applications/{submitted.id}/edit").status_code == 404
