"""The suite's clock (tests/clock.py): a run that crosses midnight keeps its NOW and
TODAY on the app's day."""

from __future__ import annotations

from datetime import timedelta

from tests import clock


def test_refresh_moves_every_issued_value_and_no_fixed_one():
    from tests import (
        awards_factories,
        reviews_factories,
        test_members_figures,
        test_reports,
        test_reports_portfolio,
    )

    fixed = test_members_figures.NOW  # a module's own instant, not the clock's
    later = clock.NOW + timedelta(days=1, hours=2)
    clock.refresh(later)
    assert later.replace(microsecond=0) == reviews_factories.NOW
    assert awards_factories.TODAY == test_reports.TODAY == later.date()
    assert later.date().replace(day=1) == test_reports_portfolio.MONTH_START
    assert test_members_figures.NOW is fixed
    # Once more: the values handed out last are the ones moved.
    clock.refresh(later + timedelta(days=40))
    assert (later + timedelta(days=40)).date() == awards_factories.TODAY
