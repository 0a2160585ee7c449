"""The award pages' SQL query count does not grow with grants, tranches or reports:
the staff grants list, the money page (one query for every fund), a grant's
page and a report's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants.award_models import ReportKind
from tests.awards_factories import TODAY, approved
from tests.reviews_factories import make_round
from tests.test_grants_queries import count


def _grants(round_, n: int, tranches: int, reports: int) -> list:
    made = []
    for _ in range(n):
        application = approved(round_, amount=1_200_000)
        parts = ops.split_evenly(1_200_000, tranches)
        made.append(
            ops.make_award(
                application,
                actor=None,
                amount=1_200_000,
                starts_on=TODAY,
                ends_on=TODAY + timedelta(days=365),
                payee="organisation",
                tranches=[
                    ops.TrancheInput(
                        TODAY + timedelta(days=30 * i), a, after_report=0 if i else None
                    )
                    for i, a in enumerate(parts)
                ],
                reports=[
                    *(
                        ops.ReportInput(ReportKind.INTERIM, TODAY + timedelta(days=30 * (i + 1)))
                        for i in range(reports - 1)
                    ),
                    ops.ReportInput(ReportKind.FINAL, TODAY + timedelta(days=400)),
                ],
            )
        )
    for grant in made:
        ops.mark_paid(grant.tranches[0], actor=None, paid_on=TODAY, reference="T")
    db.session.commit()
    return made


@pytest.mark.parametrize("person", [Role.CONVENOR, Role.STEERING])
def test_award_pages_cost_the_same_for_few_and_many(client, make_user, login, person):
    round_ = make_round(budget=10**10)
    first = _grants(round_, 2, tranches=2, reports=2)[0]
    pages = {
        "grants list": "/grants/awards",
        "money": "/grants/money",
        "grant": f"/grants/awards/{first.id}",
        "report": f"/grants/reports/{first.reports[0].id}",
    }
    login(make_user(person, two_factor=True))
    small = {name: count(client, path) for name, path in pages.items()}
    _grants(round_, 30, tranches=4, reports=3)
    more = _grants(round_, 1, tranches=12, reports=12)[0]
    large = {name: count(client, path) for name, path in pages.items()}
    assert large == small
    # A grant with twelve tranches and twelve reports costs what one with two does.
    assert count(client, f"/grants/awards/{more.id}") == small["grant"]
