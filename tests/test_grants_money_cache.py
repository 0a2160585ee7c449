"""The money page keeps the figures a worker summed until an audited change or the next
day: a change shows on the very next view, in the worker that made it and in any
other (each app instance keeps its own figures, as each worker process does)."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition import create_app
from coalition.accounts.models import Role, User
from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants.award_models import Award, Tranche
from tests.awards_factories import TODAY, approved, award
from tests.conftest import FreshContextClient, app_config, post, sign_in_as
from tests.reviews_factories import make_round


def figure(page: str, name: str) -> str:
    """The fund's figure after its name in the facts list ("Paid" -> "$5,000.00")."""
    match = re.search(rf"<dt>{name}</dt><dd>([^<]*)</dd>", page)
    assert match, name
    return match.group(1)


@pytest.fixture
def kept(app):
    app.config["MONEY_CACHE_SECONDS"] = 60
    ops.forget_money_figures(app)
    yield
    del app.config["MONEY_CACHE_SECONDS"]
    ops.forget_money_figures(app)


def test_a_payment_shows_on_the_next_view_in_the_same_worker(client, make_user, kept):
    round_ = make_round(budget=3_000_000)
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    staff = make_user(Role.CONVENOR, two_factor=True)
    sign_in_as(client, staff)
    page = client.get("/grants/money").get_data(as_text=True)
    assert figure(page, "Paid") == "$0.00"
    # A change behind the operations' back (no audit row): the kept figures answer,
    # so this test would see a cache that did not invalidate.
    db.session.execute(sa.update(Award).where(Award.id == grant.id).values(amount=900_000))
    db.session.commit()
    assert figure(client.get("/grants/money").get_data(as_text=True), "Awarded") == ("$10,000.00")
    db.session.execute(sa.update(Award).where(Award.id == grant.id).values(amount=1_000_000))
    db.session.commit()
    tranche = grant.tranches[0]
    path = f"/grants/awards/{grant.id}/tranches/{tranche.id}/pay"
    response = post(
        client, path, {"paid_on": TODAY.isoformat(), "reference": "TX-1"}, token_from=path
    )
    assert response.status_code == 302
    page = client.get("/grants/money").get_data(as_text=True)
    assert figure(page, "Paid") == "$5,000.00"
    assert figure(page, "Still to pay") == "$5,000.00"


def test_a_report_falling_overdue_shows_the_next_day(client, make_user, kept, monkeypatch):
    round_ = make_round(budget=3_000_000)
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    sign_in_as(client, make_user(Role.CONVENOR, two_factor=True))
    interim = grant.reports[0]
    monkeypatch.setattr(ops, "today_utc", lambda: interim.due_on)
    page = client.get("/grants/money").get_data(as_text=True)
    assert (figure(page, "Reports due"), figure(page, "Reports overdue")) == ("2", "0")
    monkeypatch.setattr(ops, "today_utc", lambda: interim.due_on + timedelta(days=1))
    page = client.get("/grants/money").get_data(as_text=True)
    assert (figure(page, "Reports due"), figure(page, "Reports overdue")) == ("1", "1")


@pytest.mark.committing
def test_a_change_in_another_worker_shows_on_the_next_view(app, db_url, make_user):
    round_ = make_round(budget=3_000_000)
    grant = award(approved(round_, amount=1_000_000))
    staff = make_user(Role.CONVENOR, two_factor=True)
    grant_id, tranche_id, staff_id = grant.id, grant.tranches[0].id, staff.id
    db.session.commit()
    db.session.remove()
    other = create_app(app_config(db_url, os.environ["COALITION_INSTANCE_PATH"]))
    other.test_client_class = FreshContextClient
    for instance in (app, other):
        instance.config["MONEY_CACHE_SECONDS"] = 60
        ops.forget_money_figures(instance)
    try:
        here, there = app.test_client(), other.test_client()
        sign_in_as(here, db.session.get(User, staff_id))
        db.session.remove()  # SQLite: no transaction of the test left open
        with other.app_context():
            sign_in_as(there, db.session.get(User, staff_id))
        assert figure(here.get("/grants/money").get_data(as_text=True), "Paid") == "$0.00"
        assert figure(there.get("/grants/money").get_data(as_text=True), "Paid") == "$0.00"
        # The other worker pays the tranche; this one was told nothing.
        path = f"/grants/awards/{grant_id}/tranches/{tranche_id}/pay"
        response = post(
            there, path, {"paid_on": TODAY.isoformat(), "reference": "TX-9"}, token_from=path
        )
        assert response.status_code == 302
        with other.app_context():
            assert db.session.get(Tranche, tranche_id).paid_on == TODAY
        page = here.get("/grants/money").get_data(as_text=True)
        assert figure(page, "Paid") == "$5,000.00"
    finally:
        for instance in (app, other):
            del instance.config["MONEY_CACHE_SECONDS"]
            ops.forget_money_figures(instance)
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_an_audit_row_committed_out_of_order_still_shows(client, make_user, kept):
    """A transaction that numbered its audit row before another and committed after it
    (as PostgreSQL allows) still refreshes the kept figures."""
    from coalition import audit
    from coalition.audit.models import AuditEntry

    round_ = make_round(budget=3_000_000)
    grant = award(approved(round_, amount=1_000_000))
    db.session.commit()
    sign_in_as(client, make_user(Role.CONVENOR, two_factor=True))
    # A number taken and not yet committed: a gap below the newest row.
    late = audit.record("award.tranche_paid", grant)
    db.session.flush()
    late_id = late.id
    db.session.delete(late)
    audit.record("account.viewed", None)
    db.session.commit()
    assert figure(client.get("/grants/money").get_data(as_text=True), "Paid") == "$0.00"
    # The late transaction commits: a tranche paid, its audit row under the newest.
    db.session.execute(
        sa.update(Tranche)
        .where(Tranche.id == grant.tranches[0].id)
        .values(paid_on=TODAY, payment_reference="LATE-1")
    )
    db.session.add(AuditEntry(id=late_id, action="award.tranche_paid", object_type="Award"))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.max(AuditEntry.id))) > late_id
    assert figure(client.get("/grants/money").get_data(as_text=True), "Paid") == "$5,000.00"
