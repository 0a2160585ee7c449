"""Awards: the budget rule (also under concurrency), tranches that add up, amendments,
cancellations, payments, the grant's transitions, the money figures in constant
queries, the waitlist, and the access rules."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants import decisions
from coalition.grants import grantee_reports as report_ops
from coalition.grants.award_models import (
    GRANT_TRANSITIONS,
    Award,
    GrantState,
    GrantStatus,
    ReportKind,
)
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    DomainError,
    Fund,
    Round,
    RoundPhase,
)
from coalition.policy import can
from tests.awards_factories import (
    REPORTS,
    TODAY,
    approved,
    award,
    count,
    file_and_submit,
    pay_all,
    plan,
    refused,
)
from tests.conftest import outbox
from tests.reviews_factories import NOW, make_round

# -- Making an award -------------------------------------------------------------------


def test_an_approved_application_becomes_a_grant(app, make_user):
    round_ = make_round(budget=5_000_000)
    staff = make_user(Role.CONVENOR, two_factor=True)
    application = approved(round_, amount=2_000_000)
    grant = award(application, actor=staff, amount=1_500_000)
    assert grant.status == GrantStatus.ACTIVE
    assert grant.amount == 1_500_000
    assert grant.reduction_reason == "The travel budget is not eligible."
    assert sum(t.amount for t in grant.tranches) == 1_500_000
    assert [r.kind for r in grant.reports] == [ReportKind.INTERIM, ReportKind.FINAL]
    assert grant.payee_name == application.org_name
    assert application.status == ApplicationStatus.AWARDED
    change = application.status_changes[0]
    assert (change.from_status, change.to_status) == (
        ApplicationStatus.APPROVED,
        ApplicationStatus.AWARDED,
    )
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="award.made"))
    assert entry.actor_id == staff.id and entry.changes["amount"] == [None, 1_500_000]
    (mail,) = outbox("grant_awarded")
    assert mail.recipient == application.applicant.email
    assert f"/applications/{application.id}" in mail.body_text
    assert "1,500,000" not in mail.body_text and "15,000" not in mail.body_text


def test_the_fiscal_host_may_be_the_payee(app):
    round_ = make_round()
    application = approved(round_, fiscal_host_name="Host Trust", fiscal_host_country="ZA")
    grant = award(application, payee="fiscal_host")
    assert (grant.payee_name, grant.payee_country) == ("Host Trust", "ZA")


def test_a_member_contact_is_a_grantee_too(app, make_user, make_member):
    contact = make_user(Role.MEMBER_CONTACT)
    member = make_member(contacts=[{"name": "Ama", "email": contact.email}])
    member.contacts[0].user_id = contact.id
    round_ = make_round()
    application = approved(round_, member_id=member.id)
    grant = award(application)
    assert grant.payee_name == member.name
    assert sorted(m.recipient for m in outbox("grant_awarded")) == sorted(
        [application.applicant.email, contact.email]
    )
    assert can(contact, "awards.view", grant)
    assert can(contact, "awards.file_report", grant.reports[0])


BAD_AWARDS = [
    ({"amount": -5}, "more than zero"),
    ({"amount": 0}, "more than zero"),
    ({"amount": 1_000_001}, "cannot be more than"),
    ({"amount": 900_000, "reduction_reason": " "}, "Say why less"),
    ({"tranches": plan(999_999)}, "add up to $9,999.99, not to the $10,000.00"),
    ({"tranches": []}, "at least one tranche"),
    ({"tranches": [ops.TrancheInput(TODAY, 1_000_001), ops.TrancheInput(TODAY, -1)]},
     "more than zero"),
    ({"payee": "fiscal_host"}, "no fiscal host"),
    ({"payee": "cousin"}, "Choose from the list"),
    ({"ends_on": TODAY - timedelta(days=1)}, "ends on or after"),
    ({"reports": REPORTS[:1]}, "exactly one final report"),
    ({"reports": [REPORTS[1], REPORTS[1]]}, "exactly one final report"),
    ({"reports": [REPORTS[1], ops.ReportInput(ReportKind.INTERIM, TODAY + timedelta(days=500))]},
     "final report is the last"),
    ({"tranches": [ops.TrancheInput(TODAY, 1_000_000, after_report=5)]},
     "one of the grant's reports"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "message"), BAD_AWARDS)
def test_bad_awards_are_refused_and_change_nothing(app, overrides, message):
    application = approved(make_round())
    assert message in refused(award, application, **overrides)
    assert application.status == ApplicationStatus.APPROVED


def test_only_an_approved_application_is_awarded(app):
    round_ = make_round()
    waiting = approved(round_, waitlisted=True)
    assert "waitlisted cannot become awarded" in refused(award, waiting)
    grant = award(approved(round_))
    assert "already been awarded" in refused(award, grant.application)


def test_the_round_budget_is_never_exceeded(app):
    round_ = make_round(budget=2_500_000)
    award(approved(round_, amount=1_000_000))
    award(approved(round_, amount=1_000_000))
    third = approved(round_, amount=1_000_000)
    message = refused(award, third)
    assert "over its budget: $5,000.00 is left" in message
    award(third, amount=500_000)  # what is left fits
    assert ops.money_left(round_) == 0


def test_the_fund_budget_is_never_exceeded(app):
    first = make_round(budget=2_000_000)
    fund = first.fund
    fund.total_budget = 3_000_000
    second = Round(
        fund=fund,
        title="Second round",
        opens_at=first.opens_at,
        closes_at=first.closes_at,
        budget=2_000_000,
        min_grant=1,
        max_grant=2_000_000,
        phase=RoundPhase.DECIDED,
    )
    db.session.add(second)
    db.session.flush()
    award(approved(first, amount=2_000_000))
    message = refused(award, approved(second, amount=1_500_000))
    assert "over its total budget: $10,000.00 is left" in message
    award(approved(second, amount=1_000_000))


def test_a_round_budget_never_drops_below_its_grants(app):
    from coalition.grants import rounds as round_ops

    round_ = make_round(budget=3_000_000)
    award(approved(round_, amount=2_000_000))

    def lower(budget):
        values = {key: getattr(round_, key) for key in round_ops.ROUND_FIELDS}
        values.update(budget=budget, max_grant=budget)
        criteria = [{"name": c.name, "weight": c.weight} for c in round_.criteria]
        with app.test_request_context():
            return round_ops.update_round(
                round_, actor=None, version=round_.version, values=values, criteria=criteria
            )

    message = refused(lower, 1_999_999)
    assert message == "The round's grants already hold $20,000.00: its budget cannot be less."
    assert lower(2_000_000)["budget"] == [3_000_000, 2_000_000]
    assert ops.money_left(round_) == 0


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["award", "amend", "cancel", "pay"]),
        st.integers(0, 5),  # which application
        st.integers(1, 12),  # twelfths of the request (amend); quarters, tranches (award)
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS, budget=st.integers(1, 40))
def test_no_sequence_of_operations_breaks_the_budget_rule(app, operations, budget):
    savepoint = db.session.begin_nested()
    try:
        _random_operations(operations, budget * 250_000)
    finally:
        savepoint.rollback()
        db.session.expire_all()


def _random_operations(operations, budget):
    """Awards, amendments, cancellations and payments in any order: whatever is refused,
    the round never commits more than its budget, each active grant's tranches add up
    to its amount, and the SQL figures agree with the grants themselves."""
    round_ = make_round(budget=budget)
    requests = [1_000_000, 500_000, 2_000_000, 750_000, 1_250_000, 300_000]
    applications = [approved(round_, amount=a) for a in requests]
    grants: dict[int, Award] = {}
    for name, which, n in operations:
        application = applications[which]
        grant = grants.get(which)
        with contextlib.suppress(DomainError), db.session.begin_nested():
            if grant is None or name == "award":  # the first move on an application
                parts = min(n, 4)
                amount = application.requested_amount * (1 + n % 4) // 4
                grants[which] = award(application, amount=amount, tranches=plan(amount, parts))
            elif name == "amend":
                amount = application.requested_amount * n // 12
                rest = amount - grant.paid_total
                tranches = plan(rest, 1) if rest > 0 else []
                ops.amend(grant, actor=None, reason="Random", version=None, amount=amount,
                          tranches=tranches, reduction_reason="Random")  # fmt: skip
            elif name == "cancel":
                ops.cancel(grant, actor=None, reason="Random")
            elif name == "pay":
                unpaid = [t for t in grant.tranches if not t.is_paid]
                if unpaid:
                    ops.mark_paid(unpaid[0], actor=None, paid_on=TODAY, reference="R")
        db.session.expire_all()
        live = [g for g in grants.values() if db.session.get(Award, g.id) is not None]
        committed = sum(g.committed for g in live)
        assert committed <= budget
        for g in live:
            if g.status == GrantStatus.ACTIVE:
                assert sum(t.amount for t in g.tranches) == g.amount
        (figures,) = ops.round_figures(round_.fund)
        assert (figures.awarded, figures.paid) == (
            committed,
            sum(g.paid_total for g in live),
        )
        assert ops.money_left(round_) == budget - committed


# -- Tranches --------------------------------------------------------------------------


@given(amount=st.integers(min_value=1, max_value=10**14), count=st.integers(1, 12))
def test_an_even_split_adds_up_exactly(amount, count):
    if amount < count:
        with pytest.raises(DomainError):
            ops.split_evenly(amount, count)
        return
    parts = ops.split_evenly(amount, count)
    assert sum(parts) == amount and len(parts) == count
    assert max(parts) - min(parts) <= 1 and min(parts) > 0


@given(
    amounts=st.lists(st.integers(min_value=-10, max_value=10**12), min_size=1, max_size=12),
    total=st.integers(min_value=1, max_value=10**13),
    paid=st.integers(min_value=0, max_value=10**12),
)
def test_tranches_are_accepted_exactly_when_they_add_up(amounts, total, paid):
    tranches = [ops.TrancheInput(TODAY, a) for a in amounts]
    good = all(a > 0 for a in amounts) and paid + sum(amounts) == total
    try:
        ops._check_tranches(tranches, total, "USD", 2, paid=paid)
    except DomainError:
        assert not good
    else:
        assert good


def test_a_tranche_is_paid_once_not_in_the_future_with_a_reference(app, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    grant = award(approved(make_round()))
    first = grant.tranches[0]
    future = TODAY + timedelta(days=1)
    assert "future" in refused(ops.mark_paid, first, actor=staff, paid_on=future, reference="X")
    assert "reference" in refused(ops.mark_paid, first, actor=staff, paid_on=TODAY, reference=" ")
    ops.mark_paid(first, actor=staff, paid_on=TODAY, reference="TX-1")
    assert (first.paid_on, first.payment_reference, first.paid_by_id) == (TODAY, "TX-1", staff.id)
    again = refused(ops.mark_paid, first, actor=staff, paid_on=TODAY, reference="TX-2")
    assert "already been paid" in again


def test_tranche_conditions_follow_reports_given_in_any_order(app):
    final, interim = REPORTS[1], REPORTS[0]
    tranches = [
        ops.TrancheInput(TODAY, 500_000),
        ops.TrancheInput(TODAY + timedelta(days=130), 500_000, after_report=1),  # the interim
    ]
    grant = award(approved(make_round()), reports=[final, interim], tranches=tranches)
    assert [r.kind for r in grant.reports] == [ReportKind.INTERIM, ReportKind.FINAL]
    assert grant.tranches[1].condition_report.kind == ReportKind.INTERIM


def test_grantees_hear_of_each_payment_without_its_amount(app):
    grant = award(approved(make_round()))
    ops.mark_paid(grant.tranches[0], actor=None, paid_on=TODAY, reference="BANK-1")
    (mail,) = [m for m in outbox("grant_changed") if "payment" in m.subject]
    assert mail.recipient == grant.application.applicant.email
    assert "BANK-1" not in mail.body_text and "5,000" not in mail.body_text


def test_a_tranche_waiting_for_a_report_needs_an_override_reason(app):
    application = approved(make_round())
    grant = award(application, tranches=plan(1_000_000, after_interim=True))
    _first, last = grant.tranches
    assert last.condition_report.kind == ReportKind.INTERIM
    message = refused(ops.mark_paid, last, actor=None, paid_on=TODAY, reference="TX")
    assert "waits for the interim report" in message
    ops.mark_paid(last, actor=None, paid_on=TODAY, reference="TX", override_reason="Urgent rent.")
    assert last.override_reason == "Urgent rent."
    entry = db.session.scalar(
        sa.select(AuditEntry).filter_by(action="award.tranche_paid").order_by(AuditEntry.id.desc())
    )
    assert entry.details["override_reason"] == "Urgent rent."


# -- Amending and cancelling -----------------------------------------------------------


def test_an_amendment_is_audited_field_by_field(app, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    round_ = make_round(budget=3_000_000)
    grant = award(approved(round_, amount=2_000_000), amount=1_000_000)
    changes = ops.amend(
        grant,
        actor=staff,
        reason="The steering group restored the travel line.",
        version=grant.version,
        amount=1_600_000,
        conditions="Publish the dataset openly.",
        tranches=plan(1_600_000, 3),
    )
    assert changes["amount"] == [1_000_000, 1_600_000]
    assert changes["conditions"] == [
        "Acknowledge the fund in publications.",
        "Publish the dataset openly.",
    ]
    assert len(changes["tranches"][0]) == 2 and len(changes["tranches"][1]) == 3
    assert sum(t.amount for t in grant.tranches) == 1_600_000
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="award.amended"))
    assert entry.details["reason"] == "The steering group restored the travel line."
    assert outbox("grant_changed")


def test_amendments_keep_the_budget_rule(app):
    round_ = make_round(budget=3_000_000)
    other = award(approved(round_, amount=2_000_000))
    grant = award(approved(round_, amount=2_000_000), amount=1_000_000)
    version = grant.version
    message = refused(
        ops.amend, grant, actor=None, reason="More", version=version, amount=1_000_001,
        tranches=plan(1_000_001),
    )  # fmt: skip
    assert "over its budget: $10,000.00 is left" in message
    # Reducing another grant makes room.
    ops.amend(other, actor=None, reason="Less", version=other.version, amount=1_500_000,
              tranches=plan(1_500_000), reduction_reason="Smaller scope.")  # fmt: skip
    ops.amend(grant, actor=None, reason="More", version=version, amount=1_500_000,
              tranches=plan(1_500_000), reduction_reason="Smaller scope.")  # fmt: skip
    assert ops.money_left(round_) == 0


def test_bad_amendments_are_refused(app):
    grant = award(approved(make_round()))
    ops.mark_paid(grant.tranches[0], actor=None, paid_on=TODAY, reference="TX-1")
    v = grant.version
    cases = [
        ({"reason": ""}, "reason for the amendment"),
        ({"version": v - 1}, "another window"),
        ({"amount": 400_000, "tranches": []}, "already been paid"),
        ({"amount": 900_000, "tranches": plan(400_000)}, "Say why less"),
        (
            {"amount": 900_000, "reduction_reason": "Less", "tranches": plan(300_000)},
            "add up to $8,000.00 with those already paid, not to the $9,000.00",
        ),
        ({"amount": 900_000, "reduction_reason": "Less"}, "add up to"),
    ]
    for overrides, message in cases:
        values = {"actor": None, "reason": "Because", "version": v, **overrides}
        assert message in refused(ops.amend, grant, **values), overrides
    # Paid tranches stay; the unpaid ones are replaced.
    ops.amend(grant, actor=None, reason="Less", version=v, amount=900_000,
              reduction_reason="Less", tranches=plan(400_000))  # fmt: skip
    assert sorted(t.amount for t in grant.tranches) == [200_000, 200_000, 500_000]
    assert sum(t.is_paid for t in grant.tranches) == 1


def test_cancelling_drops_unpaid_tranches_and_frees_the_money(app, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    round_ = make_round(budget=2_000_000)
    grant = award(approved(round_, amount=2_000_000))
    ops.mark_paid(grant.tranches[0], actor=staff, paid_on=TODAY, reference="TX-1")
    assert ops.money_left(round_) == 0
    assert "reason" in refused(ops.cancel, grant, actor=staff, reason="")
    freed = ops.cancel(grant, actor=staff, reason="The organisation dissolved.")
    assert freed == 1_000_000
    assert grant.status == GrantStatus.CANCELLED
    assert [t.amount for t in grant.tranches] == [1_000_000]
    assert ops.money_left(round_) == 1_000_000
    assert grant.application.status == ApplicationStatus.AWARDED  # the grant says "cancelled"
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="award.cancelled"))
    second_date = (TODAY + timedelta(days=90)).isoformat()
    assert entry.details["dropped_tranches"] == [[second_date, 1_000_000, None]]
    assert entry.details["freed"] == 1_000_000
    assert "cancelled cannot become cancelled" in refused(
        ops.cancel, grant, actor=staff, reason="x"
    )
    assert "active grant" in refused(
        ops.amend, grant, actor=None, reason="x", version=grant.version, conditions="y"
    )


def test_a_completed_grant_cannot_be_cancelled(app):
    grant = award(approved(make_round()))
    pay_all(grant)
    for report in grant.reports:
        file_and_submit(report)
        report_ops.accept(report, actor=None)
    assert grant.status == GrantStatus.COMPLETED
    assert grant.application.status == ApplicationStatus.COMPLETED
    message = refused(ops.cancel, grant, actor=None, reason="Too late")
    assert message == "A grant that is completed cannot become cancelled."


# -- The grant's transitions -----------------------------------------------------------


@pytest.mark.parametrize("start", list(GrantStatus))
@pytest.mark.parametrize("target", list(GrantStatus))
def test_every_grant_transition_follows_the_table(app, start, target):
    grant = Award(status=start, amount=1, starts_on=TODAY, ends_on=TODAY)
    if target in GRANT_TRANSITIONS[start]:
        assert grant.move_to(target) == start
        assert grant.status == target
    else:
        with pytest.raises(DomainError) as info:
            grant.move_to(target)
        assert info.value.message == (
            f"A grant that is {start.label.lower()} cannot become {target.label.lower()}."
        )
        assert grant.status == start


def test_report_overdue_is_derived_from_the_dates(app):
    grant = award(approved(make_round()))
    interim = grant.reports[0]
    assert grant.state_on(TODAY) == GrantState.ACTIVE
    late = interim.due_on + timedelta(days=1)
    assert grant.state_on(late) == GrantState.REPORT_OVERDUE
    file_and_submit(interim)
    assert grant.state_on(late) == GrantState.ACTIVE
    report_ops.request_changes(interim, actor=None, comment="Add the budget table.")
    assert grant.state_on(late) == GrantState.REPORT_OVERDUE


# -- Money figures ---------------------------------------------------------------------


def test_money_figures_match_hand_computed_ones(app):
    round_ = make_round(budget=5_000_000)
    fund = round_.fund
    fund.total_budget = 8_000_000
    empty = Round(
        fund=fund, title="Empty round", opens_at=round_.opens_at + timedelta(days=1),
        closes_at=round_.closes_at, budget=1_000_000, min_grant=1, max_grant=1_000_000,
    )  # fmt: skip
    db.session.add(empty)
    a = award(approved(round_, amount=2_000_000))  # half paid
    b = award(approved(round_, amount=1_000_000), amount=800_000)  # all paid, still active
    c = award(approved(round_, amount=1_200_000))  # a quarter paid, then cancelled
    ops.mark_paid(a.tranches[0], actor=None, paid_on=TODAY, reference="A1")
    pay_all(b)
    c_tranches = ops.split_evenly(1_200_000, 4)
    ops.amend(c, actor=None, reason="Four", version=c.version,
              tranches=[ops.TrancheInput(TODAY, x) for x in c_tranches])  # fmt: skip
    ops.mark_paid(c.tranches[0], actor=None, paid_on=TODAY, reference="C1")
    ops.cancel(c, actor=None, reason="Stopped")
    file_and_submit(a.reports[0])  # submitted: neither due nor overdue
    later = TODAY + timedelta(days=130)  # a's and b's interim reports were due at 120 days

    # By hand: committed 2,000,000 + 800,000 + 300,000 (c paid before cancelling).
    figures = {f.round_id: f for f in ops.round_figures(fund, today=later)}
    f = figures[round_.id]
    assert (f.budget, f.awarded, f.paid, f.grants) == (
        5_000_000,
        3_100_000,
        1_000_000 + 800_000 + 300_000,
        3,
    )
    assert (f.still_to_pay, f.left_to_award) == (1_000_000, 1_900_000)
    # a: final due; b: interim overdue, final due; c: cancelled, not counted.
    assert (f.reports_due, f.reports_overdue) == (2, 1)
    e = figures[empty.id]
    assert (e.budget, e.awarded, e.paid, e.grants, e.left_to_award) == (
        1_000_000,
        0,
        0,
        0,
        1_000_000,
    )
    total = ops.fund_figures(fund, today=later)
    assert (total.budget, total.awarded, total.paid) == (8_000_000, 3_100_000, 2_100_000)
    assert (total.still_to_pay, total.left_to_award) == (1_000_000, 4_900_000)
    assert (total.reports_due, total.reports_overdue) == (2, 1)
    assert ops.committed_in(round_.id, fund.id) == (3_100_000, 3_100_000)


def _count_queries(fn):
    statements = []

    def before(_conn, _cursor, statement, *_args):
        statements.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    return len(statements)


def test_money_figures_take_a_constant_number_of_queries(app):
    def measure(grants, tranches, interim_reports):
        round_ = make_round(budget=10**12)
        reports = [
            ops.ReportInput(ReportKind.INTERIM, TODAY + timedelta(days=30 * (i + 1)))
            for i in range(interim_reports)
        ] + [ops.ReportInput(ReportKind.FINAL, TODAY + timedelta(days=400))]
        for _ in range(grants):
            grant = award(
                approved(round_, amount=1_200_000),
                tranches=plan(1_200_000, tranches),
                reports=reports,
            )
            ops.mark_paid(grant.tranches[0], actor=None, paid_on=TODAY, reference="T")
        fund = round_.fund
        db.session.flush()
        db.session.expire_all()
        fund = db.session.get(Fund, fund.id)
        later = TODAY + timedelta(days=45)  # some reports overdue, some due
        figures = []

        def read():
            figures.append(ops.round_figures(fund, today=later))
            figures.append(ops.fund_figures(fund, today=later))

        queries = _count_queries(read)
        (row,), total = figures
        assert row.grants == total.grants == grants
        assert total.reports_overdue == grants * min(interim_reports, 1)
        return queries

    small = measure(1, 1, 0)
    large = measure(8, 6, 5)
    assert small == large == 2, (small, large)


# -- The waitlist ----------------------------------------------------------------------


def test_freed_money_reaches_the_waitlist_in_ranking_order(app, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    round_ = make_round(budget=3_000_000)
    grant = award(approved(round_, amount=2_000_000, submitted_at=NOW - timedelta(days=30)))
    award(approved(round_, amount=1_000_000, submitted_at=NOW - timedelta(days=30)))
    # Ranked by submission time (no reviews yet): first, second, third.
    first = approved(
        round_, amount=1_500_000, waitlisted=True, submitted_at=NOW - timedelta(days=29)
    )
    second = approved(
        round_, amount=600_000, waitlisted=True, submitted_at=NOW - timedelta(days=28)
    )
    third = approved(round_, amount=400_000, waitlisted=True, submitted_at=NOW - timedelta(days=27))
    entries, left = decisions.waitlist(round_)
    assert left == 0 and [e.fits for e in entries] == [False, False, False]
    assert "does not cover" in refused(decisions.move_up, first, actor=staff, reason="Early.")

    ops.amend(
        grant, actor=staff, reason="Smaller scope", version=grant.version, amount=1_000_000,
        reduction_reason="Smaller scope", tranches=plan(1_000_000),
    )  # fmt: skip
    entries, left = decisions.waitlist(round_)
    assert left == 1_000_000
    assert [e.application_id for e in entries] == [first.id, second.id, third.id]
    # 1,000,000 free: the first does not fit; the second does, then the third.
    assert [e.fits for e in entries] == [False, True, True]
    # The best-ranked one that fits moves up first: not the third before the second.
    assert decisions.waitlist_head(round_).application_id == second.id
    assert "ranking order" in refused(decisions.move_up, third, actor=staff, reason="Jump.")
    assert "does not cover" in refused(decisions.move_up, first, actor=staff, reason="Big.")

    assert "reason" in refused(decisions.move_up, second, actor=staff, reason="")
    decisions.move_up(second, actor=staff, reason="Money freed by a reduction.")
    assert second.status == ApplicationStatus.APPROVED
    assert second.status_changes[-1].reason == "Money freed by a reduction."
    # Approved but not yet awarded, it holds its request: 400,000 left, the third fits.
    entries, left = decisions.waitlist(round_)
    assert left == 400_000 and [e.fits for e in entries] == [False, True]
    award(second)
    assert [e.application_id for e in decisions.waitlist(round_)[0]] == [first.id, third.id]
    assert "Only a waitlisted application" in refused(
        decisions.move_up, second, actor=staff, reason="again"
    )


def test_budget_left_counts_grants_as_awarded_and_approvals_as_requested(app):
    """One rule for the money the vote's funding line, the waitlist and moving up
    read: a grant holds what it was awarded (less than asked, or what was paid of
    it once cancelled), an approval not yet awarded holds what it asked for."""
    round_ = make_round(budget=5_000_000)
    award(approved(round_, amount=2_000_000), amount=1_500_000)  # reduced: holds 1.5M
    pending = approved(round_, amount=1_000_000)  # approved, not yet awarded: holds 1M
    dropped = award(approved(round_, amount=1_000_000))
    ops.mark_paid(dropped.tranches[0], actor=None, paid_on=TODAY, reference="P")
    ops.cancel(dropped, actor=None, reason="Closed.")  # holds the 500,000 paid
    assert ops.money_left(round_) == 5_000_000 - 1_500_000 - 500_000
    assert decisions.budget_left(round_) == 5_000_000 - 1_500_000 - 500_000 - 1_000_000
    assert decisions.budget_left(round_, excluding=[pending.id]) == 3_000_000


# -- Access ----------------------------------------------------------------------------


@pytest.fixture
def people(app, make_user, make_member):
    grantee = make_user(Role.APPLICANT)
    contact = make_user(Role.MEMBER_CONTACT)
    member = make_member(contacts=[{"name": "Ama", "email": contact.email}])
    member.contacts[0].user_id = contact.id
    round_ = make_round()
    grant = award(approved(round_, applicant=grantee, member_id=member.id))
    other = award(approved(round_))
    cast = {
        "convenor": make_user(Role.CONVENOR, two_factor=True),
        "steering": make_user(Role.STEERING, two_factor=True),
        "reviewer": make_user(Role.REVIEWER),
        "grantee": grantee,
        "contact": contact,
        "stranger": make_user(Role.APPLICANT),
    }
    db.session.commit()
    return cast, grant, other


ACCESS = [
    ("awards.manage", None, {"convenor"}),
    ("awards.figures", None, {"convenor", "steering"}),
    ("awards.view", "grant", {"convenor", "steering", "grantee", "contact"}),
    ("awards.payment_details", "grant", {"convenor", "grantee", "contact"}),
    ("awards.read_report", "report", {"convenor", "steering", "grantee", "contact"}),
    ("awards.file_report", "report", {"grantee", "contact"}),
    ("awards.review_report", "report", {"convenor"}),
]


@pytest.mark.parametrize(("permission", "target", "allowed"), ACCESS)
def test_award_access_rules(people, permission, target, allowed):
    cast, grant, _other = people
    obj = {"grant": grant, "report": grant.reports[0], None: None}[target]
    assert {name for name, user in cast.items() if can(user, permission, obj)} == allowed


def test_steering_reads_the_payment_plan_without_references(people):
    cast, grant, _other = people
    first, _second = grant.tranches
    ops.mark_paid(first, actor=None, paid_on=TODAY, reference="BANK-778", override_reason=None)
    seen = {
        name: [(t.amount, t.paid_on, t.reference) for t in ops.payment_plan(grant, cast[name])]
        for name in ("convenor", "steering", "grantee")
    }
    assert (
        seen["convenor"]
        == seen["grantee"]
        == [
            (500_000, TODAY, "BANK-778"),
            (500_000, None, None),
        ]
    )
    assert seen["steering"] == [(500_000, TODAY, None), (500_000, None, None)]


def test_grantees_list_only_their_own_grants(people):
    from coalition.policy import visible_awards

    cast, grant, other = people

    def listed(user, **kwargs):
        return set(db.session.scalars(sa.select(Award.id).where(visible_awards(user, **kwargs))))

    assert listed(cast["grantee"]) == listed(cast["contact"]) == {grant.id}
    assert listed(cast["stranger"]) == listed(cast["reviewer"]) == set()
    assert listed(cast["steering"]) == listed(cast["convenor"]) == {grant.id, other.id}
    assert listed(cast["steering"], grantee_only=True) == set()
    assert {r.award_id for r in report_ops.reports_of(cast["contact"])} == {grant.id}


def test_a_report_on_someone_elses_grant_is_refused(people):
    cast, _grant, other = people
    report = other.reports[0]
    assert not can(cast["grantee"], "awards.file_report", report)
    message = refused(
        report_ops.save_draft, report, actor=cast["grantee"], version=None,
        values={"activities": "Not mine"},
    )  # fmt: skip
    assert message == "Only the grantee of this grant files its reports."
    assert report.activities is None


# -- Races (real threads, committed rows; meaningful on PostgreSQL) ------------------------


def _race(app, ids, attempt):
    barrier = threading.Barrier(len(ids))
    outcomes: list[str] = []

    def run(item_id):
        with app.app_context():
            try:
                barrier.wait()
                attempt(item_id)
                db.session.commit()
                outcomes.append("done")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(f"refused: {exc.message}")
            except Exception as exc:  # a deadlock or lock error would be a design failure
                db.session.rollback()
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(item_id,)) for item_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


@pytest.mark.committing
def test_ten_awards_at_once_never_pass_the_budget(app):
    round_ = make_round(budget=3_500_000)
    ids = [approved(round_, amount=1_000_000).id for _ in range(10)]
    round_id = round_.id
    db.session.commit()
    db.session.remove()

    def attempt(application_id):
        award(db.session.get(Application, application_id))

    outcomes = _race(app, ids, attempt)
    assert sorted(o.split(":")[0] for o in outcomes) == ["done"] * 3 + ["refused"] * 7, outcomes
    assert all(
        "over its budget: $5,000.00 is left" in o for o in outcomes if o.startswith("refused")
    ), outcomes
    total = db.session.scalar(
        sa.select(sa.func.sum(Award.amount)).where(Award.round_id == round_id)
    )
    assert total == 3_000_000
    assert count(Application, status=ApplicationStatus.AWARDED) == 3


@pytest.mark.committing
def test_two_staff_awarding_one_application_at_once_award_it_once(app):
    round_ = make_round()
    application_id = approved(round_).id
    db.session.commit()
    db.session.remove()
    outcomes = _race(
        app, [application_id, application_id],
        lambda i: award(db.session.get(Application, i)),
    )  # fmt: skip
    assert sorted(outcomes) == ["done", "refused: This application has already been awarded."]
    assert count(Award) == 1


@pytest.mark.committing
def test_an_amendment_and_an_award_at_once_keep_the_budget(app):
    round_ = make_round(budget=2_000_000)
    grant = award(approved(round_, amount=1_500_000), amount=1_000_000)
    waiting = approved(round_, amount=1_000_000)
    grant_id, waiting_id, round_id = grant.id, waiting.id, round_.id
    db.session.commit()
    db.session.remove()

    def attempt(which):
        if which == "amend":
            g = db.session.get(Award, grant_id)
            ops.amend(g, actor=None, reason="More", version=None, amount=1_500_000,
                      tranches=plan(1_500_000))  # fmt: skip
        else:
            award(db.session.get(Application, waiting_id))

    outcomes = _race(app, ["amend", "award"], attempt)
    assert sorted(o.split(":")[0] for o in outcomes) == ["done", "refused"], outcomes
    total = db.session.scalar(
        sa.select(sa.func.sum(Award.amount)).where(Award.round_id == round_id)
    )
    assert total <= 2_000_000


@pytest.mark.committing
def test_the_last_payment_and_the_final_acceptance_at_once_complete_the_grant(app, monkeypatch):
    grant = award(approved(make_round()))
    for report in grant.reports:
        file_and_submit(report)
    report_ops.accept(grant.reports[0], actor=None)
    ops.mark_paid(grant.tranches[0], actor=None, paid_on=TODAY, reference="T1")
    grant_id = grant.id
    db.session.commit()
    db.session.remove()

    def attempt(which):
        g = db.session.get(Award, grant_id)
        if which == "pay":
            last = next(t for t in g.tranches if not t.is_paid)
            ops.mark_paid(last, actor=None, paid_on=TODAY, reference="T2")
        else:
            report_ops.accept(g.reports[-1], actor=None)

    # Both look for completion at the same moment if they can (each after its own
    # change, before committing it): without turns on the grant's row, each would
    # miss the other's change. Taking turns, the first waits two seconds in vain.
    check = ops.complete_if_done
    meeting = threading.Barrier(2, timeout=2)

    def slow_check(award_, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait()
        return check(award_, **kwargs)

    monkeypatch.setattr(ops, "complete_if_done", slow_check)
    outcomes = _race(app, ["pay", "accept"], attempt)
    assert outcomes.count("done") == 2, outcomes
    grant = db.session.get(Award, grant_id)
    assert grant.status == GrantStatus.COMPLETED
    assert grant.application.status == ApplicationStatus.COMPLETED
