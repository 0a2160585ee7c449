"""The error summary of a form with repeated sub-forms says each error in words,
linked to its field ("Contact 2, Email: ..."), never as Python's ``{'email': [...]}``."""

from __future__ import annotations

import html
import importlib
import pkgutil
import re
from datetime import timedelta

import pytest
from flask_wtf import FlaskForm
from wtforms import FieldList
from wtforms.fields.core import UnboundField

import coalition
from coalition.accounts.models import Role
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.application_forms import ApplicationForm
from coalition.grants.award_forms import AmendForm, AwardForm, GranteeReportForm
from coalition.grants.models import Application, ApplicationStatus
from coalition.grants.round_forms import RoundForm
from coalition.members.forms import ProfileForm
from coalition.members.staff_forms import MemberForm
from tests.conftest import sign_in_as
from tests.html_forms import form_data
from tests.test_grants_rounds import make_round

SUMMARY = re.compile(r'<div class="error-summary"[^>]*>(.*?)</div>', re.S)
ITEM = re.compile(r'<li><a href="#([^"]+)">(.*?)</a></li>', re.S)

# Every form with repeated sub-forms, and the case below that covers it.
COVERED = {
    MemberForm,
    ProfileForm,
    RoundForm,
    ApplicationForm,
    AwardForm,
    AmendForm,
    GranteeReportForm,
}


def _forms_with_rows() -> set[type]:
    for module in pkgutil.walk_packages(coalition.__path__, "coalition."):
        importlib.import_module(module.name)
    found, stack = set(), [FlaskForm]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        # Only where the rows are declared: a subclass (NewMemberForm) shares its parent's rows.
        for attr in vars(cls).values():
            if isinstance(attr, UnboundField) and issubclass(attr.field_class, FieldList):
                found.add(cls)
    return found


def test_every_form_with_sub_forms_is_covered_here():
    assert _forms_with_rows() == COVERED


def summary_items(page: str) -> list[tuple[str, str]]:
    """(target, text) of each line of the page's error summary, as a reader sees them."""
    match = SUMMARY.search(page)
    assert match, "no error summary on the page"
    items = [(target, html.unescape(text).strip()) for target, text in ITEM.findall(match[1])]
    for _target, text in items:
        # No Python in sight: no braces or brackets, and a quote only as an
        # apostrophe inside a word ("the contact's name").
        assert not set(text) & set("{[]}"), text
        assert not re.search(r"(?<!\w)'|'(?!\w)", text), text
    return items


def _post_changed(client, path: str, having: str, **changes):
    page = client.get(path)
    assert page.status_code == 200, path
    data = form_data(page.get_data(as_text=True), having)
    for name, value in changes.items():
        data[name] = value
    return client.post(path, data=data)


@pytest.fixture
def convenor(make_user, client):
    user = make_user(Role.CONVENOR, two_factor=True)
    sign_in_as(client, user)
    return user


def _two_contacts(make_member):
    return make_member(
        contacts=[
            {"name": "Aya Diop", "email": "aya@example.org", "is_primary": True},
            {"name": "Omar Ba", "email": "omar@example.org"},
        ]
    )


def test_staff_member_form_names_the_contact_row(client, convenor, make_member):
    member = _two_contacts(make_member)
    response = _post_changed(
        client, f"/members/{member.id}/edit", "version", **{"contacts-1-email": "omar@"}
    )
    items = summary_items(response.get_data(as_text=True))
    assert items == [
        ("contacts-1-email", "Contact 2, Email: Enter an email address like name@example.org.")
    ]
    assert 'id="contacts-1-email"' in response.get_data(as_text=True)


def test_new_member_form_names_the_contact_row(client, convenor):
    response = _post_changed(
        client,
        "/members/new",
        "name",
        **{"name": "Centre", "country": "KE", "contacts-0-email": "aya@"},
    )
    assert (
        "contacts-0-email",
        "Contact 1, Email: Enter an email address like name@example.org.",
    ) in summary_items(response.get_data(as_text=True))


def test_profile_form_names_saved_and_new_contact_rows(client, make_user, make_member):
    member = _two_contacts(make_member)
    person = make_user(Role.MEMBER_CONTACT)
    member.contacts[0].user_id = person.id
    db.session.commit()
    sign_in_as(client, person)
    response = _post_changed(
        client,
        f"/members/{member.id}/profile",
        "version",
        **{"contacts-1-email": "omar@", "contacts-2-email": "new@example.org"},
    )
    assert response.status_code == 200
    items = summary_items(response.get_data(as_text=True))
    assert items == [
        ("contacts-1-email", "Contact 2, Email: Enter an email address like name@example.org."),
        ("contacts-2-name", "New contact, Name: Enter the contact's name."),
    ]


def test_round_form_names_the_criterion_row(client, convenor):
    round_ = make_round()
    db.session.commit()
    response = _post_changed(
        client, f"/grants/rounds/{round_.id}/edit", "version", **{"criteria-1-weight": "heavy"}
    )
    items = summary_items(response.get_data(as_text=True))
    assert [target for target, _text in items] == ["criteria-1-weight"]
    assert items[0][1].startswith("Criterion 2, Weight: ")


def test_round_form_without_criteria_links_to_the_rubric(client, convenor):
    round_ = make_round()
    db.session.commit()
    response = _post_changed(
        client,
        f"/grants/rounds/{round_.id}/edit",
        "version",
        **{f"criteria-{row}-{name}": "" for row in (0, 1) for name in ("name", "weight")},
    )
    items = summary_items(response.get_data(as_text=True))
    assert [target for target, _text in items] == ["criteria"]
    assert items[0][1].startswith("Rubric: ")


def test_application_form_names_the_budget_line(client, make_user):
    round_ = make_round(opens_at=utcnow() - timedelta(days=1))
    applicant = make_user(Role.APPLICANT)
    application = Application(
        round=round_, applicant=applicant, status=ApplicationStatus.DRAFT, title="Watch"
    )
    db.session.add(application)
    db.session.commit()
    sign_in_as(client, applicant)
    response = _post_changed(
        client,
        f"/applications/{application.id}/edit",
        "version",
        save="1",
        **{"budget_lines-1-amount": "a lot"},
    )
    items = summary_items(response.get_data(as_text=True))
    assert [target for target, _text in items] == ["budget_lines-1-amount"]
    assert items[0][1].startswith("Budget line 2, Amount: ")


def test_a_valid_form_with_rows_shows_no_summary_when_shown_again(client, convenor, make_member):
    """A stale edit shows the form again: its rows hold no error, so no summary lists them."""
    member = _two_contacts(make_member)
    page = client.get(f"/members/{member.id}/edit").get_data(as_text=True)
    data = form_data(page, "version")
    member.name = "Changed meanwhile"
    member.version += 1
    db.session.commit()
    response = client.post(f"/members/{member.id}/edit", data=data)
    assert response.status_code == 409
    assert "Contacts: {}" not in response.get_data(as_text=True)
    assert '<div class="error-summary" role="alert" tabindex="-1">' not in response.get_data(
        as_text=True
    )


def test_award_forms_name_the_tranche_row(client, convenor):
    from tests.awards_factories import approved, award
    from tests.reviews_factories import make_round as make_review_round

    round_ = make_review_round(budget=5_000_000)
    application = approved(round_, amount=1_000_000)
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    response = _post_changed(
        client,
        f"/grants/applications/{application.id}/award",
        "split_count",
        award="1",
        **{"tranches-1-amount": "a lot"},
    )
    items = summary_items(response.get_data(as_text=True))
    assert (
        "tranches-1-amount",
        "Tranche 2, Amount: Enter an amount in figures, like 12,500.50.",
    ) in items
    response = _post_changed(
        client, f"/grants/awards/{grant.id}/amend", "version", **{"tranches-0-amount": "-1"}
    )
    items = summary_items(response.get_data(as_text=True))
    assert ("tranches-0-amount", "Tranche 1, Amount: Enter an amount of zero or more.") in items


def test_report_form_names_the_budget_line(client):
    from coalition.accounts.models import User
    from tests.awards_factories import approved, award
    from tests.reviews_factories import make_round as make_review_round

    application = approved(make_review_round(budget=5_000_000), amount=1_000_000)
    grant = award(application)
    db.session.commit()
    sign_in_as(client, db.session.get(User, application.applicant_id))
    response = _post_changed(
        client,
        f"/grants/reports/{grant.reports[0].id}",
        "version",
        save="1",
        **{"spending-0-spent": "plenty"},
    )
    items = summary_items(response.get_data(as_text=True))
    assert [target for target, _text in items] == ["spending-0-spent"]
    assert items[0][1].startswith("Budget line 1, Spent so far: ")
