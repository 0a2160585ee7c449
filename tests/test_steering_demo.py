"""The steering demo: ten seats (one without a representative, one with an alternate),
a closed vote with its result (a tie, a recusal, an override, an appeal), an open vote."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from coalition.extensions import db
from coalition.grants.decision_models import Appeal
from coalition.grants.demo import seed_grants
from coalition.members.demo import seed_members
from coalition.steering.demo import seed_votes
from coalition.steering.models import Outcome, ResultRule, SteeringSeat, VoteStatus
from coalition.steering.seats import current_seats
from coalition.steering.voting import load_roll


@pytest.fixture
def uploads(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path / "uploads"))


def test_demo_votes(app, uploads):
    seed_members(random.Random(2024))
    seed_grants(random.Random(2026))
    result = seed_votes(random.Random(2026))
    seats = current_seats()
    assert len(seats) == 10
    assert sum(1 for s in seats if s.representative is None) == 1
    assert sum(1 for s in seats if s.alternate is not None) == 1
    closed, opened = result["closed"], result["open"]
    assert closed.status == VoteStatus.CLOSED and opened.status == VoteStatus.OPEN
    rules = [i.rule for i in closed.items]
    assert ResultRule.TIE in rules
    assert any(i.outcome == Outcome.REJECTED for i in closed.items)
    assert any(i.is_override for i in closed.items)
    assert load_roll(closed).recusals
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appeal)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SteeringSeat)) == 10
