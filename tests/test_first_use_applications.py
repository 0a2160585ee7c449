"""First use of the grant pages: a submitted application's edit link, the way
back and the actions of each reader, the drafts already started for a call."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants.models import Application, ApplicationStatus
from tests.clock import NOW
from tests.conftest import post, sign_in_as
from tests.test_grants_rounds import make_round


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
    assert "already submitted, on" in message and "can no longer be edited" in message
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


# -- 14. Each reader's way back, and the staff's actions -----------------------------------


def _back_link(page: str) -> str:
    main = page.split('<main id="main"', 1)[1]
    return re.search(r'<p><a href="([^"]+)">(.*?)</a></p>', main)[1]


def test_the_applicant_goes_back_to_their_applications(client, make_user, open_round):
    applicant = make_user(Role.APPLICANT)
    application = application_of(applicant, open_round, ApplicationStatus.SUBMITTED)
    sign_in_as(client, applicant)
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert _back_link(page) == "/applications/"
    assert "Record the screening" not in page


@pytest.mark.parametrize("role", [Role.CONVENOR, Role.STEERING])
def test_staff_and_steering_go_back_to_the_rounds_list(client, make_user, open_round, role):
    application = application_of(
        make_user(Role.APPLICANT), open_round, ApplicationStatus.SUBMITTED, org_name="Watch KE"
    )
    sign_in_as(client, make_user(role, two_factor=True))
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert _back_link(page) == f"/grants/rounds/{open_round.id}/applications"
    assert "My applications" not in page.split('<main id="main"', 1)[1]
    assert "Watch KE" in page
    # Screening is the staff's action, on the page itself.
    screening_form = f'action="/grants/applications/{application.id}/screen"'
    assert (screening_form in page) == (role == Role.CONVENOR)
    assert ('<a class="button" href="#screening">' in page) == (role == Role.CONVENOR)


def test_staff_screen_from_the_application_page(client, make_user, open_round):
    application = application_of(make_user(Role.APPLICANT), open_round, ApplicationStatus.SUBMITTED)
    sign_in_as(client, make_user(Role.CONVENOR, two_factor=True))
    path = f"/applications/{application.id}"
    assert "The automatic checks found" in client.get(path).get_data(as_text=True)
    response = post(
        client,
        f"/grants/applications/{application.id}/screen",
        {"decision": "ineligible", "reason": "Outside the fund's countries."},
        token_from=path,
    )
    assert response.status_code == 302
    db.session.refresh(application)
    assert application.status == ApplicationStatus.INELIGIBLE
    page = client.get(path).get_data(as_text=True)
    assert "Record the screening" not in page  # screened: no form any more
    assert "Outside the fund&#39;s countries." in page  # the reason, for staff too


# -- 16. The drafts already started, on the call's page ------------------------------------


def test_the_call_page_offers_to_continue_each_draft_before_starting_another(
    client, make_user, open_round
):
    applicant = make_user(Role.APPLICANT)
    first = application_of(applicant, open_round, title="Radio monitoring")
    second = application_of(applicant, open_round)
    application_of(applicant, open_round, ApplicationStatus.SUBMITTED, title="Sent already")
    application_of(make_user(Role.APPLICANT), open_round, title="Someone else's")
    sign_in_as(client, applicant)

    page = client.get(f"/calls/{open_round.id}").get_data(as_text=True)
    assert "You have started 2 applications to this call" in page
    continue_first = f'href="/applications/{first.id}/edit">Continue “Radio monitoring”'
    continue_second = f'href="/applications/{second.id}/edit">Continue “Untitled draft”'
    assert continue_first in page and continue_second in page
    assert "Sent already" not in page and "Someone else" not in page
    assert page.index(continue_first) < page.index("Start another application")

    # Someone with no draft starts their first.
    sign_in_as(client, make_user(Role.APPLICANT))
    page = client.get(f"/calls/{open_round.id}").get_data(as_text=True)
    assert "Start an application" in page and "Continue" not in page
