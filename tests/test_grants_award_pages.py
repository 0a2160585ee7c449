"""The award pages: staff award, amend, cancel and pay through the forms; grantees
read their grant and file reports; staff answer; the grants list and its exports;
the money page; the waitlist. Each bad input says why, beside its field, keeps
what was typed and changes nothing."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants.award_models import (
    Award,
    GranteeReport,
    GrantStatus,
    ReportAttachment,
    ReportStatus,
    Tranche,
)
from coalition.grants.models import Application, ApplicationStatus
from tests import sample_files
from tests.awards_factories import TODAY, approved, award, file_and_submit, snapshot
from tests.conftest import post
from tests.reviews_factories import make_round


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(folder))
    return folder


@pytest.fixture
def staff(make_user):
    return make_user(Role.CONVENOR, two_factor=True)


@pytest.fixture
def round_():
    round_ = make_round(budget=3_000_000)
    db.session.commit()
    return round_


def day(delta: int = 0) -> str:
    return (TODAY + timedelta(days=delta)).isoformat()


def award_form(**changes) -> dict:
    data = {
        "amount": "10,000.00",
        "reduction_reason": "",
        "conditions": "Acknowledge the fund.",
        "starts_on": day(),
        "ends_on": day(365),
        "payee": "organisation",
        "reports-0-kind": "interim",
        "reports-0-due_on": day(150),
        "reports-1-kind": "final",
        "reports-1-due_on": day(400),
        "reports-2-kind": "interim",
        "reports-2-due_on": "",
        "tranches-0-planned_on": day(),
        "tranches-0-amount": "4,000",
        "tranches-0-after_report": "",
        "tranches-1-planned_on": day(90),
        "tranches-1-amount": "3,000",
        "tranches-1-after_report": "",
        "tranches-2-planned_on": day(200),
        "tranches-2-amount": "3,000",
        "tranches-2-after_report": "0",
        "tranches-3-planned_on": "",
        "tranches-3-amount": "",
        "tranches-3-after_report": "",
        "award": "1",
    }
    data.update(changes)
    return data


def send_award(client, application, data):
    path = f"/grants/applications/{application.id}/award"
    return post(client, path, data, token_from=path)


def test_staff_award_an_application_with_three_tranches(client, login, staff, round_):
    application = approved(round_, amount=1_000_000)
    db.session.commit()
    login(staff)
    page = client.get(f"/grants/applications/{application.id}/award").get_data(as_text=True)
    assert "$10,000.00" in page and "Left to award in the round" in page
    response = send_award(client, application, award_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    grant = db.session.scalar(sa.select(Award))
    assert response.headers["Location"].endswith(f"/grants/awards/{grant.id}")
    assert [t.amount for t in grant.tranches] == [400_000, 300_000, 300_000]
    assert grant.tranches[2].condition_report.kind.value == "interim"
    assert [r.kind.value for r in grant.reports] == ["interim", "final"]
    assert db.session.get(Application, application.id).status == ApplicationStatus.AWARDED
    page = client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert f"/grants/awards/{grant.id}" in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"tranches-2-amount": "2,000"},
            "tranches",
            "The tranches add up to $9,000.00, not to the $10,000.00 awarded.",
        ),
        ({"amount": "-5"}, "amount", "Enter an amount of zero or more."),
        ({"amount": "ten thousand"}, "amount", "Enter an amount in figures"),
        ({"tranches-1-amount": "lots"}, "tranches", "Enter an amount in figures"),
        ({"amount": "9,000", "tranches-2-amount": "2,000"}, "reduction_reason", "Say why less"),
        ({"ends_on": day(-1)}, "ends_on", "The grant ends on or after the day it starts."),
        ({"reports-1-kind": "interim"}, "reports", "Set exactly one final report."),
        ({"tranches-1-planned_on": ""}, "tranches", "Give each tranche its planned date."),
    ],
)
def test_bad_awards_are_refused_beside_the_field_keeping_what_was_typed(
    client, login, staff, round_, changes, field, message
):
    application = approved(round_, amount=1_000_000)
    db.session.commit()
    login(staff)
    before = snapshot()
    data = award_form(**changes)
    response = send_award(client, application, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    # Beside its field (or its rows), besides the summary at the top.
    anchor = f'id="{field}-error"' if f'id="{field}-error"' in page else f'id="{field}"'
    assert message in page[page.index(anchor) :]
    assert "Please correct the following" in page
    for typed in ("Acknowledge the fund.", data["amount"], data["tranches-0-amount"]):
        assert typed in page
    db.session.expire_all()
    assert snapshot() == before


def test_an_award_over_the_money_left_says_how_much_is_left(client, login, staff, round_):
    first = approved(round_, amount=2_500_000)
    award(first)
    application = approved(round_, amount=1_000_000)
    db.session.commit()
    login(staff)
    before = snapshot()
    page = send_award(client, application, award_form()).get_data(as_text=True)
    assert "over its budget: $5,000.00 is left to award in it." in page
    db.session.expire_all()
    assert snapshot() == before


def test_split_evenly_fills_the_rows_without_saving(client, login, staff, round_):
    application = approved(round_, amount=1_000_000)
    db.session.commit()
    login(staff)
    data = award_form(split_count="3", split="1")
    data.pop("award")
    page = send_award(client, application, data).get_data(as_text=True)
    assert 'value="3,333.34"' in page and page.count('value="3,333.33"') == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Award)) == 0


def amend_path(grant):
    return f"/grants/awards/{grant.id}/amend"


def amend_data(grant, **changes):
    data = {
        "version": str(grant.version),
        "amount": "10,000",
        "reduction_reason": "",
        "conditions": "New conditions.",
        "reason": "The partner asked.",
    }
    unpaid = [t for t in grant.tranches if not t.is_paid]
    for i, tranche in enumerate(unpaid):
        data[f"tranches-{i}-planned_on"] = tranche.planned_on.isoformat()
        data[f"tranches-{i}-amount"] = str(tranche.amount / 100)
        data[f"tranches-{i}-after_report"] = ""
    data.update(changes)
    return data


def test_amend_with_a_reason_and_a_stale_save_is_refused(client, login, staff, round_):
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    login(staff)
    data = amend_data(grant)
    assert "New conditions." not in client.get(amend_path(grant)).get_data(as_text=True)
    response = post(client, amend_path(grant), {**data, "reason": ""}, token_from=amend_path(grant))
    assert "Give the reason for the amendment." in response.get_data(as_text=True)
    response = post(client, amend_path(grant), data, token_from=amend_path(grant))
    assert response.headers["Location"].endswith(f"/grants/awards/{grant.id}")
    db.session.expire_all()
    assert db.session.get(Award, grant.id).conditions == "New conditions."
    # The same form again (the version it was opened with): refused, typed text kept.
    before = snapshot()
    stale = {**data, "conditions": "Other window."}
    response = post(client, amend_path(grant), stale, token_from=amend_path(grant))
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "changed from another window" in page and "Other window." in page
    db.session.expire_all()
    assert snapshot() == before


def test_amend_tranches_that_do_not_add_up(client, login, staff, round_):
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    login(staff)
    before = snapshot()
    data = amend_data(grant, **{"tranches-0-amount": "1"})
    page = post(client, amend_path(grant), data, token_from=amend_path(grant)).get_data(
        as_text=True
    )
    assert "not to the $10,000.00 awarded" in page
    db.session.expire_all()
    assert snapshot() == before


def test_cancel_with_a_reason_not_a_completed_grant(client, login, staff, round_):
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    login(staff)
    path = f"/grants/awards/{grant.id}/cancel"
    page = post(client, path, {"reason": ""}, token_from=path).get_data(as_text=True)
    assert "Give the reason for cancelling the grant." in page
    response = post(client, path, {"reason": "The group dissolved."}, token_from=path)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Award, grant.id).status == GrantStatus.CANCELLED

    done = award(approved(round_, amount=1_000_000))
    done.status = GrantStatus.COMPLETED
    db.session.commit()
    path = f"/grants/awards/{done.id}/cancel"
    page = post(client, path, {"reason": "Late."}, token_from=path).get_data(as_text=True)
    assert "A grant that is completed cannot become cancelled." in page
    db.session.expire_all()
    assert db.session.get(Award, done.id).status == GrantStatus.COMPLETED


def test_pay_a_tranche(client, login, staff, round_):
    application = approved(round_, amount=1_000_000)
    grant = award(
        application,
        tranches=[
            ops.TrancheInput(TODAY, 500_000),
            ops.TrancheInput(TODAY + timedelta(days=180), 500_000, after_report=0),
        ],
    )
    db.session.commit()
    login(staff)
    first, second = grant.tranches
    path = f"/grants/awards/{grant.id}/tranches/{first.id}/pay"
    before = snapshot()
    page = post(client, path, {"paid_on": day(1), "reference": "TX-1"}, token_from=path).get_data(
        as_text=True
    )
    assert "The date of payment cannot be in the future." in page and "TX-1" in page
    page = post(client, path, {"paid_on": day(), "reference": ""}, token_from=path).get_data(
        as_text=True
    )
    assert "Give the payment&#39;s reference." in page
    db.session.expire_all()
    assert snapshot() == before
    assert (
        post(client, path, {"paid_on": day(), "reference": "TX-1"}, token_from=path).status_code
        == 302
    )

    path = f"/grants/awards/{grant.id}/tranches/{second.id}/pay"
    page = post(client, path, {"paid_on": day(), "reference": "TX-2"}, token_from=path).get_data(
        as_text=True
    )
    assert "give a reason to pay it anyway" in page
    response = post(
        client,
        path,
        {"paid_on": day(), "reference": "TX-2", "override_reason": "Rent is due."},
        token_from=path,
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Tranche, second.id).override_reason == "Rent is due."


def test_the_grantee_reads_their_grant_without_payment_references(
    client, login, make_user, staff, round_
):
    application = approved(round_, amount=1_000_000)
    grant = award(application)
    ops.mark_paid(grant.tranches[0], actor=None, paid_on=TODAY, reference="BANK-778")
    db.session.commit()
    path = f"/grants/awards/{grant.id}"
    login(application.applicant)
    page = client.get(path).get_data(as_text=True)
    assert "$10,000.00" in page and "Acknowledge the fund" in page
    assert "Paid on" in page and "BANK-778" not in page
    assert "Interim report" in page and f"/grants/reports/{grant.reports[0].id}" in page
    login(make_user(Role.STEERING, two_factor=True))
    page = client.get(path).get_data(as_text=True)
    assert "Paid on" in page and "BANK-778" not in page and "Amend" not in page
    login(make_user(Role.APPLICANT))
    assert client.get(path).status_code == 404
    assert client.get(f"/grants/reports/{grant.reports[0].id}").status_code == 404
    login(staff)
    assert "BANK-778" in client.get(path).get_data(as_text=True)


def report_data(**changes):
    data = {
        "version": "",
        "activities": "Monitored 40 channels.",
        "results": "Two briefs.",
        "problems": "None.",
        "spending_note": "As planned.",
        "spending-0-line_id": "",
        "spending-0-spent": "1,000",
    }
    data.update(changes)
    return data


def test_a_grantee_files_a_report_with_a_file_and_staff_accept_it(
    client, login, staff, round_, uploads
):
    application = approved(round_, amount=1_000_000)
    grant = award(application)
    report = grant.reports[0]
    line = application.budget_lines[0]
    db.session.commit()
    path = f"/grants/reports/{report.id}"
    login(application.applicant)
    page = client.get(path).get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    data = report_data(version=version, **{"spending-0-line_id": str(line.id), "save": "1"})
    response = post(client, path, data, token_from=path)
    assert response.status_code == 302
    db.session.expire_all()
    report = db.session.get(GranteeReport, report.id)
    assert report.activities == "Monitored 40 channels."
    assert [(s.budget_line_id, s.spent) for s in report.spending] == [(line.id, 100_000)]

    # A refused file says why, and keeps nothing.
    upload = f"{path}/attachments"
    response = post(
        client,
        upload,
        {"file": (io.BytesIO(sample_files.exe()), "setup.pdf")},
        token_from=path,
        content_type="multipart/form-data",
    )
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "not one of the allowed types" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportAttachment)) == 0
    response = post(
        client,
        upload,
        {"file": (io.BytesIO(sample_files.pdf()), "spending.pdf")},
        token_from=path,
        content_type="multipart/form-data",
    )
    assert "spending.pdf is attached" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )

    report = db.session.get(GranteeReport, report.id)
    data = report_data(
        version=str(report.version), **{"spending-0-line_id": str(line.id), "submit": "1"}
    )
    assert post(client, path, data, token_from=path).status_code == 302
    db.session.expire_all()
    assert db.session.get(GranteeReport, report.id).status == ReportStatus.SUBMITTED
    response = post(client, path, data, token_from=path)
    assert "already been submitted" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )

    login(staff)
    page = client.get(path).get_data(as_text=True)
    assert "spending.pdf" in page and "Answer the report" in page
    answer = f"{path}/answer"
    response = post(client, answer, {"decision": "changes", "comment": ""}, token_from=path)
    assert "Say what should change" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert post(client, answer, {"decision": "accept"}, token_from=path).status_code == 302
    db.session.expire_all()
    assert db.session.get(GranteeReport, report.id).status == ReportStatus.ACCEPTED


def test_staff_ask_for_changes_and_the_grantee_resubmits(client, login, staff, round_):
    application = approved(round_, amount=1_000_000)
    grant = award(application)
    report = grant.reports[0]
    file_and_submit(report)
    db.session.commit()
    path = f"/grants/reports/{report.id}"
    login(staff)
    response = post(
        client,
        f"{path}/answer",
        {"decision": "changes", "comment": "Add numbers."},
        token_from=path,
    )
    assert response.status_code == 302
    login(application.applicant)
    page = client.get(path).get_data(as_text=True)
    assert "Add numbers." in page
    db.session.expire_all()
    report = db.session.get(GranteeReport, report.id)
    data = report_data(
        version=str(report.version), results="Two briefs, 3,000 readers.", submit="1"
    )
    data.pop("spending-0-line_id")
    data.pop("spending-0-spent")
    assert post(client, path, data, token_from=path).status_code == 302
    db.session.expire_all()
    assert db.session.get(GranteeReport, report.id).status == ReportStatus.SUBMITTED


def test_a_report_of_someone_elses_grant_is_404(client, login, make_user, round_):
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    before = snapshot()
    login(make_user(Role.APPLICANT))
    path = f"/grants/reports/{grant.reports[0].id}"
    assert post(client, path, report_data(submit="1")).status_code == 404
    db.session.expire_all()
    assert snapshot() == before


def test_grants_list_filters_and_exports(client, login, staff, round_):
    active = award(approved(round_, amount=1_000_000, title="=HYPERLINK(1)"))
    overdue = award(approved(round_, amount=1_000_000, title="Overdue one"))
    overdue.reports[0].due_on = TODAY - timedelta(days=1)
    ops.cancel(
        award(approved(round_, amount=500_000, title="Cancelled one")), actor=None, reason="x"
    )
    db.session.commit()
    login(staff)
    page = client.get("/grants/awards").get_data(as_text=True)
    assert "3 grants" in page and 'class="cards"' in page and 'data-label="Amount"' in page
    page = client.get("/grants/awards?state=report_overdue").get_data(as_text=True)
    assert "Overdue one" in page and "Cancelled one" not in page and "HYPERLINK" not in page
    page = client.get("/grants/awards?state=active").get_data(as_text=True)
    assert "HYPERLINK" in page and "Overdue one" not in page
    page = client.get(f"/grants/awards?state=cancelled&round={round_.id}").get_data(as_text=True)
    assert "Cancelled one" in page and "1 grant" in page
    response = post(client, "/grants/awards.csv", {"state": "active"}, token_from="/grants/awards")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "application", "payee"]
    assert len(rows) == 2 and rows[1][1] == "'=HYPERLINK(1)"
    assert rows[1][0] == str(active.id)
    response = post(client, "/grants/awards.xlsx", {}, token_from="/grants/awards")
    assert response.status_code == 200 and response.data[:2] == b"PK"


def test_the_money_page_for_staff_and_steering(client, login, make_user, staff, round_):
    grant = award(approved(round_, amount=1_000_000))
    ops.mark_paid(grant.tranches[0], actor=None, paid_on=TODAY, reference="BANK-1")
    db.session.commit()
    for person in (staff, make_user(Role.STEERING, two_factor=True)):
        login(person)
        page = client.get("/grants/money").get_data(as_text=True)
        # Budget 30,000; awarded 10,000; paid 5,000; to pay 5,000; left 20,000.
        for figure in ("$30,000.00", "$10,000.00", "$5,000.00", "$20,000.00"):
            assert figure in page
        assert "BANK-1" not in page
    login(make_user(Role.REVIEWER))
    assert client.get("/grants/money").status_code == 403


def test_the_waitlist_after_a_cancellation(client, login, staff, round_):
    first = award(approved(round_, amount=2_500_000))
    waiting = approved(round_, amount=1_000_000, waitlisted=True, title="Waiting one")
    db.session.commit()
    login(staff)
    path = f"/grants/rounds/{round_.id}/waitlist"
    page = client.get(path).get_data(as_text=True)
    assert "Waiting one" in page and ">No<" in page
    ops.cancel(first, actor=None, reason="Dissolved.")
    db.session.commit()
    page = client.get(path).get_data(as_text=True)
    assert ">Yes<" in page
    approve = f"/grants/applications/{waiting.id}/approve-from-waitlist"
    response = post(client, approve, {"reason": ""}, token_from=path)
    assert "Give the reason" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert db.session.get(Application, waiting.id).status == ApplicationStatus.WAITLISTED
    response = post(client, approve, {"reason": "Money freed."}, token_from=path)
    assert response.headers["Location"].endswith(f"/grants/applications/{waiting.id}/award")
    db.session.expire_all()
    assert db.session.get(Application, waiting.id).status == ApplicationStatus.APPROVED


def test_the_money_figures_of_a_fund_and_its_rounds(app, round_):
    from coalition.grants.models import Fund, Round

    second = Round(
        fund=round_.fund,
        title="Second",
        phase=round_.phase,
        opens_at=round_.opens_at,
        closes_at=round_.closes_at,
        budget=2_000_000,
        min_grant=1,
        max_grant=2_000_000,
    )
    other_fund = Fund(name="Other fund", currency="EUR", total_budget=9_000_000)
    db.session.add_all([second, other_fund])
    db.session.flush()
    paid = award(approved(round_, amount=1_000_000))  # two tranches of 500,000
    ops.mark_paid(paid.tranches[0], actor=None, paid_on=TODAY, reference="T")
    dropped = award(approved(second, amount=600_000))
    ops.mark_paid(dropped.tranches[0], actor=None, paid_on=TODAY, reference="U")
    ops.cancel(dropped, actor=None, reason="Closed.")  # commits the 300,000 paid
    late = award(approved(second, amount=400_000))
    late.reports[0].due_on = TODAY - timedelta(days=3)
    db.session.flush()
    fund = round_.fund
    later = TODAY + timedelta(days=1)
    first_figures, second_figures = ops.round_figures(fund, later)
    assert (first_figures.round_id, second_figures.round_id) == (round_.id, second.id)
    assert (first_figures.awarded, first_figures.paid, first_figures.grants) == (
        1_000_000, 500_000, 1,
    )  # fmt: skip
    assert (first_figures.reports_due, first_figures.reports_overdue) == (2, 0)
    # The cancelled grant holds what was paid of it; its reports count no more.
    assert (second_figures.awarded, second_figures.paid, second_figures.grants) == (
        700_000, 300_000, 2,
    )  # fmt: skip
    assert (second_figures.reports_due, second_figures.reports_overdue) == (1, 1)
    assert second_figures.still_to_pay == 400_000
    assert second_figures.left_to_award == 1_300_000
    total = ops.fund_figures(fund, later)
    assert (total.budget, total.awarded, total.paid, total.grants) == (
        fund.total_budget, 1_700_000, 800_000, 3,
    )  # fmt: skip
    assert (total.reports_due, total.reports_overdue) == (3, 1)
    # Every fund in one query: a fund without rounds has zero everywhere.
    both = ops.figures_of_funds([fund, other_fund], later)
    assert [f.fund_id for f in both] == [fund.id, other_fund.id]
    assert both[0].total == total and both[0].rounds == [first_figures, second_figures]
    assert both[1].rounds == [] and both[1].total.awarded == 0
    assert both[1].total.left_to_award == 9_000_000


def test_s22_staff_and_steering_downloads_of_a_report_file_are_recorded(
    client, login, make_user, staff, round_
):
    from coalition.audit.models import AuditEntry
    from coalition.grants import grantee_reports as report_ops

    application = approved(round_, amount=1_000_000)
    grant = award(application)
    report = grant.reports[0]
    attachment = report_ops.add_attachment(
        report, sample_files.pdf(), original_name="plan.pdf", actor=application.applicant
    )
    db.session.commit()
    path = f"/grants/reports/{report.id}/attachments/{attachment.id}"
    steering = make_user(Role.STEERING, two_factor=True)
    for person in (application.applicant, staff, steering):
        login(person)
        assert client.get(path).status_code == 200
    entries = db.session.scalars(
        sa.select(AuditEntry).filter_by(action="grant_report.attachment_downloaded")
    ).all()
    assert [e.actor_id for e in entries] == [staff.id, steering.id]
    assert entries[0].details == {"attachment_id": attachment.id, "name": "plan.pdf"}


def test_a_reduction_leads_to_the_waitlist(client, login, staff, round_):
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    login(staff)
    data = amend_data(
        grant,
        amount="8,000",
        reduction_reason="Travel cut.",
        **{"tranches-0-amount": "4,000", "tranches-1-amount": "4,000"},
    )
    response = post(client, amend_path(grant), data, token_from=amend_path(grant))
    assert response.headers["Location"].endswith(f"/grants/rounds/{round_.id}/waitlist")
    db.session.expire_all()
    assert db.session.get(Award, grant.id).amount == 800_000


def test_the_round_ranking_shows_what_is_awarded_against_the_funding_line(
    client, login, make_user, staff, round_
):
    from coalition.grants.models import RoundPhase

    round_.phase = RoundPhase.DECIDED
    grant = award(approved(round_, amount=1_000_000))
    dropped = award(approved(round_, amount=600_000))
    ops.mark_paid(dropped.tranches[0], actor=None, paid_on=TODAY, reference="T")
    ops.cancel(dropped, actor=None, reason="Closed.")
    db.session.commit()
    path = f"/grants/rounds/{round_.id}/review"
    for person in (staff, make_user(Role.STEERING, two_factor=True)):
        login(person)
        page = client.get(path).get_data(as_text=True)
        # The grant's 10,000 and the 3,000 paid of the cancelled one.
        assert "<dt>Awarded</dt><dd>$13,000.00" in page, page
        assert "<dt>Above the funding line</dt>" in page
    ops.amend(grant, actor=None, reason="Less travel.", version=None, amount=800_000,
              tranches=[ops.TrancheInput(TODAY, 800_000)], reduction_reason="Travel.")  # fmt: skip
    db.session.commit()
    assert "<dt>Awarded</dt><dd>$11,000.00" in client.get(path).get_data(as_text=True)
