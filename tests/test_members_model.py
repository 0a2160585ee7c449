"""The member model and its lifecycle: transitions, derived fields, lapsing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition.audit.models import AuditEntry
from coalition.countries import Region
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members.models import (
    TRANSITIONS,
    FocusArea,
    Member,
    MemberKind,
    MemberStatus,
    OrgType,
    TransitionError,
)


@pytest.fixture
def make_member():
    def make(status=MemberStatus.ACTIVE, **values):
        base = {
            "kind": MemberKind.ORGANISATION,
            "name": "Centre for Digital Rights",
            "org_type": OrgType.NGO,
            "country": "KE",
            "website": "https://www.cdr.example.org/about",
        }
        base.update(values)
        member = ops.create_member(
            actor=None,
            values=base,
            focus_areas=[FocusArea.DISINFORMATION],
            work_countries=["UG", "TZ"],
            contacts=[{"name": "Wanjiku Kamau", "email": "Wanjiku@cdr.example.org"}],
            status=status,
        )
        db.session.commit()
        return member

    return make


def test_derived_fields(make_member):
    member = make_member(name="Réseau Sénégalais des Vérificateurs", country="SN")
    assert member.region == Region.SUB_SAHARAN_AFRICA
    assert member.name_key == "reseau senegalais des verificateurs"
    assert member.web_domain == "cdr.example.org"
    assert member.work_countries == ["TZ", "UG"]
    assert member.focus_areas == [FocusArea.DISINFORMATION]
    assert "wanjiku kamau" in member.search_text and "wanjiku@cdr.example.org" in member.search_text
    assert member.primary_contact.is_primary


ALL = list(MemberStatus)
ALLOWED = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


@pytest.mark.parametrize(("current", "target"), [(a, b) for a in ALL for b in ALL if a != b])
def test_every_transition(make_member, current, target, make_user):
    member = make_member(status=current)
    actor = make_user()
    if (current, target) in ALLOWED:
        ops.change_status(member, target, actor=actor, reason="because")
        db.session.commit()
        assert member.status == target
        latest = member.status_changes[0]
        assert (latest.from_status, latest.to_status, latest.reason) == (current, target, "because")
        assert latest.actor_id == actor.id
        entry = db.session.scalar(
            sa.select(AuditEntry).filter_by(
                action="member.status_changed", object_id=str(member.id)
            )
        )
        assert entry.changes == {"status": [current.value, target.value]}
    else:
        with pytest.raises(TransitionError):
            ops.change_status(member, target, actor=actor, reason="because")
        assert member.status == current


def test_the_lifecycle_is_as_designed():
    assert {
        (MemberStatus.APPLIED, MemberStatus.ACTIVE),
        (MemberStatus.APPLIED, MemberStatus.REJECTED),
        (MemberStatus.ACTIVE, MemberStatus.SUSPENDED),
        (MemberStatus.ACTIVE, MemberStatus.LAPSED),
        (MemberStatus.ACTIVE, MemberStatus.WITHDRAWN),
        (MemberStatus.SUSPENDED, MemberStatus.ACTIVE),
        (MemberStatus.LAPSED, MemberStatus.ACTIVE),
    } == ALLOWED


def test_lapse_overdue_is_idempotent(make_member):
    old = make_member(name="Old")
    old.last_confirmed_at = utcnow() - ops.CONFIRMATION_PERIOD - ops.LAPSE_GRACE - timedelta(days=1)
    fresh = make_member(name="Fresh")
    fresh.last_confirmed_at = utcnow() - timedelta(days=30)
    db.session.commit()
    assert ops.lapse_overdue() == 1
    assert ops.lapse_overdue() == 0
    assert old.status == MemberStatus.LAPSED and fresh.status == MemberStatus.ACTIVE


def test_confirmation_reactivates_a_lapsed_member(make_member, make_user):
    member = make_member(status=MemberStatus.LAPSED)
    ops.confirm_membership(member, actor=make_user())
    assert member.status == MemberStatus.ACTIVE
    assert member.last_confirmed_at is not None


def test_stale_edit_is_refused(make_member, make_user):
    member = make_member()
    actor = make_user()
    version = member.version
    ops.update_member(member, actor=actor, version=version, values={"name": "New name"})
    db.session.commit()
    with pytest.raises(ops.StaleEdit):
        ops.update_member(member, actor=actor, version=version, values={"name": "Other name"})
    assert member.name == "New name"


def test_expert_erasure_keeps_counts(make_member, make_user):
    expert = make_member(kind=MemberKind.EXPERT, name="Dr Ama Mensah", country="GH")
    before = db.session.scalar(
        sa.select(sa.func.count()).select_from(Member).filter_by(country="GH")
    )
    ops.erase_member(expert, actor=make_user())
    db.session.commit()
    after = db.session.scalar(
        sa.select(sa.func.count()).select_from(Member).filter_by(country="GH")
    )
    assert before == after
    assert "Ama" not in expert.name and expert.contacts == [] and expert.erased_at
    assert not expert.is_public
