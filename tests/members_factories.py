"""Member factories shared by the registry's tests."""

from __future__ import annotations

from itertools import count

import pytest
import sqlalchemy as sa

from coalition.countries import fold, region_of
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberFocus,
    MemberKind,
    MemberStatus,
    OrgType,
    member_countries,
)

_seq = count(1)


@pytest.fixture
def make_member():
    """Create one member through the operations (audit, history and derived fields right)."""

    def make(
        status: MemberStatus = MemberStatus.ACTIVE,
        *,
        focus_areas=(FocusArea.DISINFORMATION,),
        work_countries=(),
        contacts=None,
        commit=True,
        **values,
    ) -> Member:
        n = next(_seq)
        base = {
            "kind": MemberKind.ORGANISATION,
            "name": f"Organisation {n}",
            "org_type": OrgType.NGO,
            "country": "KE",
            "website": f"https://org{n}.example.org",
        }
        base.update(values)
        if contacts is None:
            contacts = [{"name": f"Contact {n}", "email": f"contact{n}@example.org"}]
        member = ops.create_member(
            actor=None,
            values=base,
            focus_areas=focus_areas,
            work_countries=work_countries,
            contacts=contacts,
            status=status,
        )
        if commit:
            db.session.commit()
        return member

    return make


def bulk_members(n: int, *, start: int = 0, status: MemberStatus = MemberStatus.ACTIVE) -> None:
    """Insert ``n`` members with a contact, two focus areas and a country of work, fast."""
    now = utcnow()
    countries = ["KE", "NG", "SN", "BR", "IN", "TN", "ZA", "CO"]
    rows = []
    for i in range(start, start + n):
        country = countries[i % len(countries)]
        name = f"Bulk organisation {i:05d}"
        rows.append(
            {
                "kind": MemberKind.ORGANISATION,
                "name": name,
                "name_key": fold(name),
                "search_text": fold(f"{name} contact {i} contact{i}@bulk.example.org"),
                "org_type": OrgType.NGO,
                "country": country,
                "region": region_of(country),
                "website": f"https://bulk{i}.example.org",
                "web_domain": f"bulk{i}.example.org",
                "languages": ["en"],
                "status": status,
                "status_changed_at": now,
                "consent_public": i % 2 == 0,
                "at_risk": False,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    db.session.execute(sa.insert(Member), rows)
    ids = db.session.scalars(
        sa.select(Member.id).where(Member.name.like("Bulk organisation %")).order_by(Member.id)
    ).all()[start : start + n]
    db.session.execute(
        sa.insert(MemberContact),
        [
            {
                "member_id": i,
                "name": f"Contact {i}",
                "email": f"c{i}@bulk.example.org",
                "is_primary": True,
            }
            for i in ids
        ],
    )
    db.session.execute(
        sa.insert(MemberFocus),
        [
            {"member_id": i, "focus_area": f}
            for i in ids
            for f in (FocusArea.DISINFORMATION, FocusArea.ELECTION_INTEGRITY)
        ],
    )
    db.session.execute(
        sa.insert(member_countries), [{"member_id": i, "country": "UG"} for i in ids]
    )
    db.session.commit()
