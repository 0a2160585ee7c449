"""The vote's pages run the same number of SQL queries whatever the shortlist and the seats."""

from __future__ import annotations

from datetime import timedelta

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.steering import voting
from coalition.steering.models import Choice
from tests.reviews_factories import NOW, make_application, make_round
from tests.steering_factories import make_seat, vote_as
from tests.test_members_queries import counting_queries


def _vote(seats, applications):
    round_ = make_round()
    apps = [make_application(round_) for _ in range(applications)]
    vote = voting.open_vote(
        round_,
        closes_at=NOW + timedelta(days=5),
        actor=None,
        application_ids=[a.id for a in apps],
        now=NOW,
    )
    for seat in seats:
        for n, application in enumerate(apps):
            vote_as(vote, seat, application, list(Choice)[n % 3], note="A note.")
    return vote, apps


def _count(client, path):
    db.session.expire_all()
    with counting_queries() as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(statements)


def test_vote_and_result_pages_query_counts_do_not_grow(client, login, make_user):
    staff = make_user(Role.CONVENOR, two_factor=True)
    seats = [make_seat() for _ in range(3)]
    sitter = seats[0].representative
    sitter.totp_secret, sitter.totp_enabled_at = "JBSWY3DPEHPK3PXP", NOW
    small, small_apps = _vote(seats, 3)
    seats += [make_seat() for _ in range(7)]
    large, large_apps = _vote(seats, 12)
    db.session.flush()
    login(sitter)
    for path in ("/steering/votes/{id}", "/steering/votes/{id}/applications/{app}"):
        few = _count(client, path.format(id=small.id, app=small_apps[0].id))
        many = _count(client, path.format(id=large.id, app=large_apps[0].id))
        assert few == many, (path, few, many)
    voting.close(small, now=small.closes_at)
    voting.close(large, now=large.closes_at)
    login(staff)
    few = _count(client, f"/steering/votes/{small.id}/result")
    many = _count(client, f"/steering/votes/{large.id}/result")
    assert few == many, (few, many)
    # Once recorded, with an override and the waitlist's next application named.
    from coalition.grants import decisions

    for vote, apps in ((small, small_apps), (large, large_apps)):
        decisions.apply_result(vote, actor=staff, overrides={apps[0].id: ("waitlisted", "Why.")})
    db.session.flush()
    few = _count(client, f"/steering/votes/{small.id}/result")
    many = _count(client, f"/steering/votes/{large.id}/result")
    assert few == many, (few, many)
    page = client.get(f"/steering/votes/{large.id}/result").get_data(as_text=True)
    assert 'id="move-h"' in page and "Override" in page


def test_an_open_vote_keeps_only_its_frozen_parts(client, login, app):
    """The roll's seats and the shortlist are read once per worker; recusals, counts and
    votes, which change while the vote is open, are read on every request."""
    from coalition.steering import sheets

    seats = [make_seat() for _ in range(3)]
    sitter = seats[0].representative
    sitter.totp_secret, sitter.totp_enabled_at = "JBSWY3DPEHPK3PXP", NOW
    vote, apps = _vote(seats[1:], 2)
    db.session.flush()
    login(sitter)
    path = f"/steering/votes/{vote.id}"
    app.config["VOTE_FROZEN_CACHE_SECONDS"] = 600
    sheets.forget_result_sheets()
    try:
        cold = _count(client, path)
        warm = _count(client, path)
        assert warm == cold - 2
        page = client.get(path).get_data(as_text=True)
        assert "2 / 3" in page and apps[0].title in page
        # A vote cast since shows in the counts; a conflict declared since hides the
        # application from this sitter.
        voting.declare(vote, apps[0], sitter, conflict=True, description="Board member")
        voting.declare(vote, apps[1], sitter, conflict=False)
        vote_as(vote, seats[0], apps[1], Choice.APPROVE)
        page = client.get(path).get_data(as_text=True)
        assert apps[0].title not in page and "3 / 3" in page
    finally:
        app.config.pop("VOTE_FROZEN_CACHE_SECONDS", None)
        sheets.forget_result_sheets()
