"""Funds and rounds: money parsing, the staff forms and operations, the round's
lifecycle (Round.move_to) against a frozen clock, and the round's staff page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
import sqlalchemy as sa
import time_machine
from flask_babel import force_locale

from coalition.audit.models import AuditEntry
from coalition.countries import AFRICAN_COUNTRIES
from coalition.extensions import db
from coalition.grants import rounds as ops
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    DomainError,
    Fund,
    Round,
    RoundPhase,
)
from coalition.grants.money import AmountError, amount_text, format_money, parse_amount
from tests.conftest import post

_seq = count(1)


# -- Factories ----------------------------------------------------------------------------


def make_fund(**values) -> Fund:
    n = next(_seq)
    base = {
        "name": f"Fund {n}",
        "partner": "Partner organisation",
        "currency": "USD",
        "total_budget": 100_000_000,
    }
    countries = values.pop("countries", ["KE", "NG", "SN"])
    base.update(values)
    fund = Fund(**base)
    fund.eligible_countries = countries
    db.session.add(fund)
    db.session.flush()
    return fund


def make_round(fund: Fund | None = None, *, criteria=None, **values) -> Round:
    fund = fund or make_fund()
    opens_at = values.pop("opens_at", datetime(2027, 3, 1, 6, 0, tzinfo=UTC))
    base = {
        "title": f"Round {next(_seq)}",
        "description": "A call.",
        "opens_at": opens_at,
        "closes_at": opens_at + timedelta(days=14),
        "budget": 10_000_000,
        "min_grant": 500_000,
        "max_grant": 2_500_000,
        "phase": RoundPhase.PUBLISHED,
        "required_attachments": ["proposal", "budget"],
    }
    base.update(values)
    round_ = Round(fund=fund, **base)
    from coalition.grants.models import Criterion

    for position, (name, weight) in enumerate(criteria or [("Relevance", 2), ("Feasibility", 1)]):
        round_.criteria.append(Criterion(position=position, name=name, weight=weight))
    db.session.add(round_)
    db.session.flush()
    return round_


@pytest.fixture
def convenor(make_user, login):
    return login(make_user("convenor", two_factor=True))


def audit_actions(obj) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry.action)
            .where(
                AuditEntry.object_type == type(obj).__name__,
                AuditEntry.object_id == str(obj.id),
            )
            .order_by(AuditEntry.id)
        )
    )


def last_audit(obj) -> AuditEntry:
    return db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.object_type == type(obj).__name__, AuditEntry.object_id == str(obj.id))
        .order_by(AuditEntry.id.desc())
    ).first()


def field_error(html: str, field_id: str) -> str:
    """The error text shown beside the field ``field_id`` ('' when none)."""
    match = re.search(
        rf'<p class="error-text" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S
    )
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


# -- Money ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("12,500.50", 1_250_050),
        ("12500.5", 1_250_050),
        ("12500", 1_250_000),
        ("0", 0),
        ("0.05", 5),
        ("1,000", 100_000),
        ("1,234,567.89", 123_456_789),
        ("  250000.00 ", 25_000_000),
        ("007", 700),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_parse_amount_reads_major_units_into_minor_units(text, minor):
    assert parse_amount(text) == minor


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("-5", "zero or more"),
        ("-0.01", "zero or more"),
        ("\u22125", "zero or more"),
        ("12.345", "two decimals"),
        ("0.001", "two decimals"),
        ("abc", "in figures"),
        ("12,50", "in figures"),
        ("1,2345", "in figures"),
        ("12,500,00", "in figures"),
        ("1.2.3", "in figures"),
        ("1e5", "in figures"),
        ("NaN", "in figures"),
        ("Infinity", "in figures"),
        ("$100", "in figures"),
        ("12 500", "in figures"),
        (".5", "in figures"),
        ("5.", "in figures"),
        ("1" * 16, "smaller"),
    ],
)
def test_parse_amount_refuses_with_a_reason(app, text, why):
    with app.test_request_context():
        with pytest.raises(AmountError) as refused:
            parse_amount(text)
        assert why in str(refused.value.message)


def test_parse_amount_never_goes_through_float():
    # 0.1 + 0.2 is not 0.3 in binary floating point; in Decimal it is.
    assert parse_amount("0.29") == 29
    assert parse_amount("9,999,999,999.99") == 999_999_999_999


@pytest.mark.parametrize("minor", [0, 5, 1_250_050, 123_456_789, 100_000])
def test_amount_text_reads_back(minor):
    assert parse_amount(amount_text(minor)) == minor


def test_format_money_uses_the_currency_and_the_language(app):
    with app.test_request_context():
        assert format_money(1_250_050, "USD") == "$12,500.50"
        assert format_money(1_250_050, "KES") == "KES12,500.50"
        with force_locale("fr"):
            assert format_money(1_250_050, "EUR") == "12\u202f500,50\xa0€"
        assert format_money(None, "USD") == "—"


# -- Funds --------------------------------------------------------------------------------


def fund_data(**overrides) -> dict:
    data = {
        "name": "Africa Elections Fund",
        "partner": "East African Partner",
        "currency": "usd",
        "total_budget": "1,500,000.50",
        "countries": ["KE", "NG"],
    }
    data.update(overrides)
    return data


def test_convenor_creates_a_fund(client, convenor):
    response = post(client, "/grants/funds/new", fund_data(), token_from="/grants/funds/new")
    assert response.status_code == 302, response.get_data(as_text=True)
    fund = db.session.scalar(sa.select(Fund).where(Fund.name == "Africa Elections Fund"))
    assert fund.currency == "USD"
    assert fund.total_budget == 150_000_050
    assert fund.eligible_countries == ["KE", "NG"]
    entry = last_audit(fund)
    assert entry.action == "fund.created"
    assert entry.actor_id == convenor.id
    assert entry.details["countries"] == ["KE", "NG"]

    listing = client.get("/grants/funds/").get_data(as_text=True)
    assert "Africa Elections Fund" in listing
    assert "$1,500,000.50" in listing


def test_duplicate_fund_name_is_refused_beside_the_field(client, convenor):
    make_fund(name="Africa Elections Fund")
    response = post(
        client,
        "/grants/funds/new",
        fund_data(name="africa elections FUND"),
        token_from="/grants/funds/new",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "There is already a fund called africa elections FUND." in field_error(html, "name")
    # What was typed is kept.
    assert 'value="1,500,000.50"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Fund)) == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"currency": "XYZ"}, "currency", "ISO 4217"),
        ({"currency": ""}, "currency", "Enter the currency"),
        ({"total_budget": "-10"}, "total_budget", "zero or more"),
        ({"total_budget": "ten"}, "total_budget", "in figures"),
        ({"total_budget": ""}, "total_budget", "Enter the fund"),
        ({"name": " "}, "name", "Enter the fund"),
        ({"countries": ["KE", "QQ"]}, "countries", "Choose countries"),
    ],
)
def test_fund_form_refuses_bad_values(client, convenor, overrides, field, message):
    response = post(
        client, "/grants/funds/new", fund_data(**overrides), token_from="/grants/funds/new"
    )
    assert response.status_code == 200
    assert message in field_error(response.get_data(as_text=True), field)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Fund)) == 0


def test_all_of_africa_fills_the_countries_and_shows_the_form_again(client, convenor):
    response = post(
        client,
        "/grants/funds/new",
        fund_data(countries=["FR"], all_africa="1"),
        token_from="/grants/funds/new",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    selected = set(re.findall(r'name="countries" value="([A-Z]{2})" checked>', html))
    assert selected == {*AFRICAN_COUNTRIES, "FR"}
    assert 'value="Africa Elections Fund"' in html  # the rest of the form is kept
    assert 'class="error-summary"' not in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Fund)) == 0

    # Sending the filled form creates the fund with those countries.
    saved = post(
        client,
        "/grants/funds/new",
        fund_data(countries=sorted(selected)),
        token_from="/grants/funds/new",
    )
    assert saved.status_code == 302
    fund = db.session.scalar(sa.select(Fund))
    assert set(fund.eligible_countries) == {*AFRICAN_COUNTRIES, "FR"}


def test_convenor_edits_a_fund_and_the_change_is_audited(client, convenor):
    fund = make_fund(name="Old name", countries=["KE"])
    db.session.commit()
    page = client.get(f"/grants/funds/{fund.id}/edit").get_data(as_text=True)
    assert 'value="Old name"' in page
    assert 'value="1,000,000.00"' in page

    response = post(
        client,
        f"/grants/funds/{fund.id}/edit",
        fund_data(name="New name", countries=["KE", "GH"], version=str(fund.version)),
        token_from=f"/grants/funds/{fund.id}/edit",
    )
    assert response.status_code == 302
    db.session.refresh(fund)
    assert fund.name == "New name"
    assert fund.eligible_countries == ["GH", "KE"]
    assert fund.version == 2
    entry = last_audit(fund)
    assert entry.action == "fund.updated"
    assert entry.changes["name"] == ["Old name", "New name"]
    assert entry.changes["total_budget"] == [100_000_000, 150_000_050]
    assert entry.changes["eligible_countries"] == [["KE"], ["GH", "KE"]]


def test_a_stale_fund_edit_is_refused_and_keeps_what_was_typed(client, convenor):
    fund = make_fund(name="Shared fund")
    db.session.commit()
    opened_version = fund.version
    # Someone else saves first.
    ops.update_fund(
        fund,
        actor=None,
        version=opened_version,
        values={"name": "Renamed", "partner": None, "currency": "USD", "total_budget": 1},
        countries=["KE"],
    )
    db.session.commit()

    response = post(
        client,
        f"/grants/funds/{fund.id}/edit",
        fund_data(name="My typing", version=str(opened_version)),
        token_from=f"/grants/funds/{fund.id}/edit",
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "someone else changed this fund" in html
    assert 'value="My typing"' in html
    db.session.refresh(fund)
    assert fund.name == "Renamed"


def test_fund_total_cannot_drop_below_its_rounds(client, convenor):
    fund = make_fund(total_budget=20_000_000)
    make_round(fund, budget=15_000_000)
    db.session.commit()
    response = post(
        client,
        f"/grants/funds/{fund.id}/edit",
        fund_data(name=fund.name, total_budget="100,000", version=str(fund.version)),
        token_from=f"/grants/funds/{fund.id}/edit",
    )
    assert response.status_code == 200
    assert "$150,000.00" in field_error(response.get_data(as_text=True), "total_budget")
    db.session.refresh(fund)
    assert fund.total_budget == 20_000_000


def test_fund_currency_stays_once_it_has_rounds(client, convenor):
    fund = make_fund()
    make_round(fund)
    db.session.commit()
    response = post(
        client,
        f"/grants/funds/{fund.id}/edit",
        fund_data(name=fund.name, currency="EUR", version=str(fund.version)),
        token_from=f"/grants/funds/{fund.id}/edit",
    )
    assert "its currency stays" in field_error(response.get_data(as_text=True), "currency")


# -- Rounds: create and edit -----------------------------------------------------------------


def round_data(fund: Fund, **overrides) -> dict:
    data = {
        "fund": str(fund.id),
        "title": "Elections 2027",
        "description": "## Who\n\nCivil society groups.",
        "timezone": "Africa/Nairobi",
        "opens_at": "2027-03-01T09:00",
        "closes_at": "2027-03-15T23:59",
        "review_deadline": "2027-04-30T17:00",
        "budget": "100,000",
        "min_grant": "5,000",
        "max_grant": "25,000.50",
        "required_attachments": ["proposal", "budget"],
        "reviewers_per_application": "3",
        "blind_review": "y",
        "criteria-0-name": "Relevance",
        "criteria-0-guidance": "How close to elections?",
        "criteria-0-weight": "3",
        "criteria-1-name": "",
        "criteria-1-guidance": "",
        "criteria-1-weight": "",
        "criteria-2-name": "Feasibility",
        "criteria-2-guidance": "",
        "criteria-2-weight": "1",
    }
    data.update(overrides)
    return data


def test_new_round_form_offers_three_blank_criteria_and_the_users_zone(client, make_user, login):
    user = make_user("convenor", two_factor=True)
    user.timezone = "Africa/Lagos"
    db.session.commit()
    login(user)
    fund = make_fund()
    db.session.commit()
    html = client.get(f"/grants/rounds/new?fund={fund.id}").get_data(as_text=True)
    assert html.count('name="criteria-') == 9  # 3 rows x name, guidance, weight
    assert 'name="criteria-2-weight"' in html
    assert '<option selected value="Africa/Lagos">' in html
    assert f'<option selected value="{fund.id}">' in html


def test_convenor_creates_a_round_with_its_rubric_in_a_time_zone(client, convenor):
    fund = make_fund()
    db.session.commit()
    response = post(client, "/grants/rounds/new", round_data(fund), token_from="/grants/rounds/new")
    assert response.status_code == 302, response.get_data(as_text=True)
    round_ = db.session.scalar(sa.select(Round).where(Round.title == "Elections 2027"))
    assert response.location.endswith(f"/grants/rounds/{round_.id}")
    # 23:59 in Nairobi (UTC+3) is 20:59 UTC.
    assert round_.closes_at == datetime(2027, 3, 15, 20, 59, tzinfo=UTC)
    assert round_.opens_at == datetime(2027, 3, 1, 6, 0, tzinfo=UTC)
    assert round_.review_deadline == datetime(2027, 4, 30, 14, 0, tzinfo=UTC)
    assert round_.phase == RoundPhase.DRAFT
    assert (round_.budget, round_.min_grant, round_.max_grant) == (10_000_000, 500_000, 2_500_050)
    assert round_.required_attachments == ["proposal", "budget"]
    assert round_.reviewers_per_application == 3
    assert round_.blind_review is True
    # The blank row is ignored.
    assert [(c.name, c.guidance, c.weight, c.position) for c in round_.criteria] == [
        ("Relevance", "How close to elections?", 3, 0),
        ("Feasibility", "", 1, 1),
    ]
    entry = last_audit(round_)
    assert entry.action == "round.created"
    assert entry.details["criteria"] == ["Relevance (weight 3)", "Feasibility (weight 1)"]


def test_round_times_are_shown_back_in_the_viewers_zone(client, make_user, login):
    user = make_user("convenor", two_factor=True)
    user.timezone = "Africa/Nairobi"
    db.session.commit()
    login(user)
    round_ = make_round(closes_at=datetime(2027, 3, 15, 20, 59, tzinfo=UTC))
    db.session.commit()
    edit = client.get(f"/grants/rounds/{round_.id}/edit").get_data(as_text=True)
    assert 'value="2027-03-15T23:59"' in edit
    assert '<option selected value="Africa/Nairobi">' in edit
    page = client.get(f"/grants/rounds/{round_.id}").get_data(as_text=True)
    assert "Africa/Nairobi (20:59 UTC)" in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"closes_at": "2027-02-28T09:00"},
            "closes_at",
            "The round must close after it opens.",
        ),
        (
            {"closes_at": "2027-03-01T09:00"},
            "closes_at",
            "The round must close after it opens.",
        ),
        (
            {"review_deadline": "2027-03-10T09:00"},
            "review_deadline",
            "after the round closes",
        ),
        (
            {"min_grant": "30,000", "max_grant": "25,000"},
            "min_grant",
            "The smallest grant cannot be more than the largest.",
        ),
        (
            {"max_grant": "100,000.01"},
            "max_grant",
            "The largest grant cannot be more than the round's budget.",
        ),
        ({"budget": "-1"}, "budget", "zero or more"),
        ({"min_grant": "1.234"}, "min_grant", "two decimals"),
        ({"reviewers_per_application": "0"}, "reviewers_per_application", "1 to 10"),
        ({"reviewers_per_application": "11"}, "reviewers_per_application", "1 to 10"),
        ({"timezone": "Mars/Olympus"}, "timezone", "time zone"),
        ({"opens_at": "15/03/2027"}, "opens_at", "date"),
        ({"title": ""}, "title", "title"),
    ],
)
def test_round_form_refuses_bad_values(client, convenor, overrides, field, message):
    fund = make_fund()
    db.session.commit()
    response = post(
        client,
        "/grants/rounds/new",
        round_data(fund, **overrides),
        token_from="/grants/rounds/new",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in field_error(html, field)
    assert 'class="error-summary"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0


def test_round_budget_must_fit_in_what_the_fund_has_left(client, convenor):
    fund = make_fund(total_budget=15_000_000)  # $150,000
    make_round(fund, budget=8_000_000)  # $80,000 taken
    db.session.commit()
    response = post(client, "/grants/rounds/new", round_data(fund), token_from="/grants/rounds/new")
    assert response.status_code == 200
    error = field_error(response.get_data(as_text=True), "budget")
    assert "The fund has $70,000.00 left for this round" in error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 1

    # Exactly what is left is fine.
    ok = post(
        client,
        "/grants/rounds/new",
        round_data(fund, budget="70,000"),
        token_from="/grants/rounds/new",
    )
    assert ok.status_code == 302


def test_a_round_needs_at_least_one_criterion(client, convenor):
    fund = make_fund()
    db.session.commit()
    blank = {
        f"criteria-{i}-{part}": "" for i in range(3) for part in ("name", "guidance", "weight")
    }
    response = post(
        client, "/grants/rounds/new", round_data(fund, **blank), token_from="/grants/rounds/new"
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Give the rubric at least one criterion." in html
    assert '<a href="#criteria">Rubric: Give the rubric at least one criterion.</a>' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0


@pytest.mark.parametrize("weight", ["0", "-1", "1.5", "two", "", "101"])
def test_a_criterion_needs_a_positive_whole_weight(client, convenor, weight):
    fund = make_fund()
    db.session.commit()
    response = post(
        client,
        "/grants/rounds/new",
        round_data(fund, **{"criteria-2-weight": weight}),
        token_from="/grants/rounds/new",
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Give a whole number from 1 to 100." in field_error(html, "criteria-2-weight")
    # The summary names the row and the field, in words.
    assert "Criterion 3, Weight: Give a whole number from 1 to 100." in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Round)) == 0


def test_a_criterion_with_guidance_but_no_name_is_refused(client, convenor):
    fund = make_fund()
    db.session.commit()
    response = post(
        client,
        "/grants/rounds/new",
        round_data(fund, **{"criteria-1-guidance": "Orphan guidance"}),
        token_from="/grants/rounds/new",
    )
    assert "Name the criterion" in field_error(response.get_data(as_text=True), "criteria-1-name")


def test_operations_refuse_what_the_form_would_let_through(app):
    """The rules hold in the operations too, whoever calls them."""
    fund = make_fund(total_budget=1_000_000)
    values = {
        "title": "T",
        "description": "",
        "opens_at": datetime(2027, 3, 1, tzinfo=UTC),
        "closes_at": datetime(2027, 3, 2, tzinfo=UTC),
        "review_deadline": None,
        "budget": 1_000_000,
        "min_grant": 10,
        "max_grant": 100,
        "required_attachments": [],
        "reviewers_per_application": 2,
        "blind_review": False,
    }
    cases = [
        ({"closes_at": datetime(2027, 3, 1, tzinfo=UTC)}, [("A", 1)], "closes_at"),
        ({"min_grant": 101}, [("A", 1)], "min_grant"),
        ({"max_grant": 1_000_001}, [("A", 1)], "max_grant"),
        ({"budget": 1_000_001, "max_grant": 100}, [("A", 1)], "budget"),
        ({"reviewers_per_application": 11}, [("A", 1)], "reviewers_per_application"),
        ({"required_attachments": ["passport"]}, [("A", 1)], "required_attachments"),
        ({}, [], "criteria"),
        ({}, [("A", 0)], "criteria"),
    ]
    with app.test_request_context():
        for overrides, rubric, field in cases:
            criteria = [{"name": n, "weight": w} for n, w in rubric]
            with pytest.raises(DomainError, match=r".") as refused:
                ops.create_round(
                    fund, actor=None, values={**values, **overrides}, criteria=criteria
                )
            assert refused.value.field == field, (overrides, rubric)
        created = ops.create_round(
            fund, actor=None, values=values, criteria=[{"name": "A", "weight": 1}]
        )
    assert created.id is not None


def test_convenor_edits_a_round_and_its_rubric(client, convenor):
    round_ = make_round(criteria=[("Relevance", 2), ("Feasibility", 1)], phase=RoundPhase.DRAFT)
    db.session.commit()
    kept_id = round_.criteria[0].id
    data = round_data(
        round_.fund,
        title="Renamed round",
        timezone="UTC",
        opens_at="2027-03-01T06:00",
        closes_at="2027-03-20T12:00",
        review_deadline="",
        version=str(round_.version),
        **{
            "criteria-0-name": "Relevance",
            "criteria-0-guidance": "",
            "criteria-0-weight": "5",
            "criteria-1-name": "",
            "criteria-1-weight": "",
            "criteria-2-name": "",
            "criteria-2-weight": "",
        },
    )
    response = post(
        client,
        f"/grants/rounds/{round_.id}/edit",
        data,
        token_from=f"/grants/rounds/{round_.id}/edit",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    round_ = db.session.get(Round, round_.id)
    assert round_.title == "Renamed round"
    assert round_.closes_at == datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
    assert [(c.name, c.weight) for c in round_.criteria] == [("Relevance", 5)]
    assert round_.criteria[0].id == kept_id  # updated in place, not replaced
    entry = last_audit(round_)
    assert entry.action == "round.updated"
    assert entry.changes["title"][1] == "Renamed round"
    assert entry.changes["criteria"] == [
        ["Relevance (weight 2)", "Feasibility (weight 1)"],
        ["Relevance (weight 5)"],
    ]


def test_a_stale_round_edit_is_refused_and_keeps_what_was_typed(client, convenor):
    round_ = make_round(phase=RoundPhase.DRAFT)
    db.session.commit()
    opened = round_.version
    round_.title = "Saved by someone else"
    db.session.commit()
    response = post(
        client,
        f"/grants/rounds/{round_.id}/edit",
        round_data(round_.fund, title="My own title", version=str(opened)),
        token_from=f"/grants/rounds/{round_.id}/edit",
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "someone else changed this round" in html
    assert 'value="My own title"' in html
    # The form now carries the current version, so saving again overwrites.
    assert f'name="version" value="{opened + 1}"' in html
    db.session.refresh(round_)
    assert round_.title == "Saved by someone else"


def test_the_rubric_is_frozen_once_the_round_is_in_review(app):
    round_ = make_round(phase=RoundPhase.IN_REVIEW)
    values = {key: getattr(round_, key) for key in ops.ROUND_FIELDS}
    with app.test_request_context():
        with pytest.raises(DomainError) as refused:
            ops.update_round(
                round_,
                actor=None,
                version=round_.version,
                values=values,
                criteria=[{"name": "Relevance", "weight": 9}],
            )
        assert refused.value.field == "criteria"
        # The same rubric with another title is fine.
        changes = ops.update_round(
            round_,
            actor=None,
            version=round_.version,
            values={**values, "title": "New title"},
            criteria=[{"name": c.name, "weight": c.weight} for c in round_.criteria],
        )
    assert list(changes) == ["title"]


# -- The round's lifecycle: every move, at three moments ---------------------------------------

OPENS = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)
CLOSES = datetime(2027, 3, 15, 20, 59, tzinfo=UTC)
MOMENTS = {
    "before opening": OPENS - timedelta(seconds=1),
    "while open": OPENS + timedelta(days=1),
    "at closing": CLOSES,
    "after closing": CLOSES + timedelta(days=1),
}
# Every allowed (from, to, moment); anything else is refused.
ALLOWED = {
    *((RoundPhase.DRAFT, RoundPhase.PUBLISHED, m) for m in MOMENTS),
    (RoundPhase.PUBLISHED, RoundPhase.DRAFT, "before opening"),
    (RoundPhase.PUBLISHED, RoundPhase.IN_REVIEW, "at closing"),
    (RoundPhase.PUBLISHED, RoundPhase.IN_REVIEW, "after closing"),
    *((RoundPhase.IN_REVIEW, RoundPhase.DECIDED, m) for m in MOMENTS),
    *((RoundPhase.DECIDED, RoundPhase.ARCHIVED, m) for m in MOMENTS),
}


@pytest.mark.parametrize("moment", list(MOMENTS))
@pytest.mark.parametrize("target", list(RoundPhase))
@pytest.mark.parametrize("current", list(RoundPhase))
def test_round_moves(app, current, target, moment):
    round_ = make_round(phase=current, opens_at=OPENS, closes_at=CLOSES)
    with app.test_request_context(), time_machine.travel(MOMENTS[moment], tick=False):
        if (current, target, moment) in ALLOWED:
            before = ops.move_round(round_, target, actor=None)
            assert before == current
            assert round_.phase == target
            entry = last_audit(round_)
            assert entry.action == "round.moved"
            assert entry.changes == {"phase": [current.value, target.value]}
        else:
            with pytest.raises(DomainError) as refused:
                ops.move_round(round_, target, actor=None)
            assert refused.value.message
            assert round_.phase == current
            assert audit_actions(round_) == []


def test_move_refusals_say_why(app):
    round_ = make_round(phase=RoundPhase.PUBLISHED, opens_at=OPENS, closes_at=CLOSES)
    with app.test_request_context(), time_machine.travel(MOMENTS["while open"], tick=False):
        with pytest.raises(DomainError, match="goes to review after it closes"):
            ops.move_round(round_, RoundPhase.IN_REVIEW, actor=None)
        with pytest.raises(DomainError, match="can no longer go back to draft"):
            ops.move_round(round_, RoundPhase.DRAFT, actor=None)
        with pytest.raises(DomainError, match="cannot move to archived"):
            ops.move_round(round_, RoundPhase.ARCHIVED, actor=None)
        with pytest.raises(DomainError, match="cannot move to published"):
            ops.move_round(round_, RoundPhase.PUBLISHED, actor=None)
        with pytest.raises(DomainError, match="Choose a step"):
            ops.move_round(round_, "somewhere", actor=None)


def test_staff_move_a_round_from_its_page(client, convenor):
    now = datetime.now(UTC)
    round_ = make_round(
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=1),
    )
    db.session.commit()
    path = f"/grants/rounds/{round_.id}"
    page = client.get(path).get_data(as_text=True)
    assert 'value="in_review"' in page  # the button is offered ...
    refused = post(client, f"{path}/move", {"to": "in_review"}, token_from=path)
    assert refused.status_code == 302
    shown = client.get(path).get_data(as_text=True)
    assert "goes to review after it closes" in shown  # ... and refused with the reason
    db.session.refresh(round_)
    assert round_.phase == RoundPhase.PUBLISHED
    assert audit_actions(round_) == []

    round_.closes_at = now - timedelta(seconds=1)
    db.session.commit()
    moved = post(client, f"{path}/move", {"to": "in_review"}, token_from=path)
    assert moved.status_code == 302
    assert "The round is now in review." in client.get(path).get_data(as_text=True)
    db.session.refresh(round_)
    assert round_.phase == RoundPhase.IN_REVIEW
    assert audit_actions(round_) == ["round.moved"]

    nowhere = post(client, f"{path}/move", {"to": "nowhere"}, token_from=path)
    assert nowhere.status_code == 302
    assert "Choose a step" in client.get(path).get_data(as_text=True)


def test_steering_reads_the_round_page_without_the_staff_buttons(client, make_user, login):
    login(make_user("steering", two_factor=True))
    round_ = make_round()
    db.session.commit()
    html = client.get(f"/grants/rounds/{round_.id}").get_data(as_text=True)
    assert round_.title in html
    assert f'href="/grants/rounds/{round_.id}/applications"' in html
    assert "/move" not in html
    assert f"/grants/rounds/{round_.id}/edit" not in html
    assert client.post(f"/grants/rounds/{round_.id}/move").status_code in (400, 403)


# -- The round's staff page ---------------------------------------------------------------------


def add_applications(round_: Round, applicant, spec) -> None:
    for status, amount in spec:
        db.session.add(
            Application(
                round=round_,
                applicant=applicant,
                status=status,
                requested_amount=amount,
                title=f"{status.value} application",
            )
        )
    db.session.flush()


def status_rows(html: str) -> dict[str, tuple[str, str]]:
    table = html.split("Applications by status", 1)[1].split("</table>", 1)[0]
    return {
        label: (n, amount)
        for label, n, amount in re.findall(
            r'<tr><th scope="row">(?:<bdi>)?([^<]+)(?:</bdi>)?</th>'
            r"<td[^>]*>(\d+)</td><td[^>]*>([^<]*)</td></tr>",
            table,
        )
    }


def test_round_page_counts_applications_by_status_against_the_budget(client, make_user, login):
    login(make_user("steering", two_factor=True))
    applicant = make_user("applicant")
    round_ = make_round(budget=5_000_000, criteria=[("Relevance", 3), ("Team", 1)])
    add_applications(
        round_,
        applicant,
        [
            (ApplicationStatus.DRAFT, 9_000_000),
            (ApplicationStatus.SUBMITTED, 1_000_000),
            (ApplicationStatus.SUBMITTED, 1_500_000),
            (ApplicationStatus.ELIGIBLE, 2_000_000),
            (ApplicationStatus.WITHDRAWN, 700_000),
            (ApplicationStatus.INELIGIBLE, None),
        ],
    )
    other = make_round(round_.fund)
    add_applications(other, applicant, [(ApplicationStatus.SUBMITTED, 3_000_000)])
    db.session.commit()

    html = client.get(f"/grants/rounds/{round_.id}").get_data(as_text=True)
    assert status_rows(html) == {
        "Draft": ("1", "$90,000.00"),
        "Submitted": ("2", "$25,000.00"),
        "Eligible, in review": ("1", "$20,000.00"),
        "Not eligible": ("1", "$0.00"),
        "Withdrawn": ("1", "$7,000.00"),
        "All": ("6", ""),
    }
    assert '<tfoot><tr><th scope="row">All</th><td data-label="Applications">6</td>' in html
    # Requested: not drafts, not withdrawn ones: 10,000 + 15,000 + 20,000.
    assert "<dt>Requested</dt><dd>$45,000.00" in html
    assert "<dt>Left</dt><dd>$5,000.00</dd>" in html
    # The rubric, with its weights.
    assert '<tr><th scope="row"><bdi>Relevance</bdi></th><td data-label="Weight">3</td>' in html
    assert '<tr><th scope="row"><bdi>Team</bdi></th><td data-label="Weight">1</td>' in html


def test_round_page_shows_when_requests_exceed_the_budget(client, make_user, login):
    login(make_user("convenor", two_factor=True))
    round_ = make_round(budget=1_000_000, max_grant=1_000_000, min_grant=0)
    add_applications(round_, make_user(), [(ApplicationStatus.SUBMITTED, 1_500_000)])
    db.session.commit()
    html = client.get(f"/grants/rounds/{round_.id}").get_data(as_text=True)
    assert "<dt>Over the budget by</dt><dd>$5,000.00</dd>" in html


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, *args, **kwargs):
        self.count += 1


def count_queries(client, path: str) -> int:
    counter = QueryCounter()
    sa.event.listen(db.engine, "before_cursor_execute", counter)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", counter)
    return counter.count


def test_round_page_and_fund_list_query_count_does_not_grow(client, make_user, login):
    login(make_user("convenor", two_factor=True))
    applicant = make_user()
    fund = make_fund()
    round_ = make_round(fund)
    add_applications(round_, applicant, [(ApplicationStatus.SUBMITTED, 100)])
    db.session.commit()
    round_page = count_queries(client, f"/grants/rounds/{round_.id}")
    fund_list = count_queries(client, "/grants/funds/")
    home = count_queries(client, "/grants/")

    for status in (ApplicationStatus.DRAFT, ApplicationStatus.ELIGIBLE, ApplicationStatus.REJECTED):
        add_applications(round_, applicant, [(status, 100)] * 3)
    for _ in range(4):
        make_round(make_fund())
        make_round(fund, budget=1)
    db.session.commit()
    assert count_queries(client, f"/grants/rounds/{round_.id}") == round_page
    assert count_queries(client, "/grants/funds/") == fund_list
    assert count_queries(client, "/grants/") == home


def test_grants_home_links_staff_to_funds_and_everyone_to_the_calls(client, make_user, login):
    round_ = make_round(phase=RoundPhase.DRAFT)
    db.session.commit()
    login(make_user("applicant"))
    html = client.get("/grants/").get_data(as_text=True)
    assert 'href="/calls"' in html
    assert 'href="/applications/"' in html  # the person's own applications
    assert 'href="/grants/funds/"' not in html
    assert round_.title not in html

    login(make_user("convenor", two_factor=True))
    html = client.get("/grants/").get_data(as_text=True)
    assert 'href="/grants/funds/"' in html
    assert f'href="/grants/rounds/{round_.id}"' in html


def test_a_save_that_crosses_another_is_refused_as_stale(app):
    """Another save lands between the version check and the write: the version
    column catches it, and the operation says so rather than fail."""
    round_ = make_round(phase=RoundPhase.DRAFT)
    values = {key: getattr(round_, key) for key in ops.ROUND_FIELDS}
    criteria = [{"name": c.name, "weight": c.weight} for c in round_.criteria]
    db.session.execute(
        sa.update(Round)
        .where(Round.id == round_.id)
        .values(version=Round.version + 1)
        .execution_options(synchronize_session=False)
    )
    with app.test_request_context(), pytest.raises(ops.StaleEdit):
        ops.update_round(
            round_,
            actor=None,
            version=round_.version,
            values={**values, "title": "Mine"},
            criteria=criteria,
        )


def test_changing_only_the_countries_still_moves_the_funds_version(app):
    fund = make_fund(countries=["KE"])
    values = {key: getattr(fund, key) for key in ops.FUND_FIELDS}
    with app.test_request_context():
        changes = ops.update_fund(
            fund, actor=None, version=fund.version, values=values, countries=["KE", "UG"]
        )
        assert changes == {"eligible_countries": [["KE"], ["KE", "UG"]]}
        assert fund.version == 2  # a form opened before this save is now stale
        with pytest.raises(ops.StaleEdit):
            ops.update_fund(fund, actor=None, version=1, values=values, countries=["KE"])
        # Saving the same again changes nothing and records nothing.
        assert (
            ops.update_fund(fund, actor=None, version=2, values=values, countries=["UG", "KE"])
            == {}
        )
    assert audit_actions(fund) == ["fund.updated"]
