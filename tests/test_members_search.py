"""The staff text search and its trigram index (FTS5 on SQLite, pg_trgm on PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members.models import Member
from coalition.members.queries import MemberFilters, staff_query
from coalition.members.search import FTS_TABLE, PG_INDEX


def found(q: str) -> set[str]:
    filters = MemberFilters.from_args(MultiDict({"q": q}))
    return set(
        db.session.scalars(
            staff_query(filters, contacts=sa.true()).with_only_columns(Member.name)
        ).all()
    )


def dialect() -> str:
    return db.session.get_bind().dialect.name


def test_every_word_must_match_in_name_acronym_or_contacts(make_member):
    make_member(
        name="Lantern Media Collective",
        acronym="LMC",
        contacts=[{"name": "Wanjiru Kamau", "email": "wanjiru@lantern.example"}],
    )
    make_member(name="Lantern Research", contacts=[{"name": "Ama Mensah", "email": None}])
    make_member(name="Other Group")
    assert found("lantern") == {"Lantern Media Collective", "Lantern Research"}
    assert found("LANTERN kamau") == {"Lantern Media Collective"}
    assert found("lmc") == {"Lantern Media Collective"}
    assert found("wanjiru@lantern.example") == {"Lantern Media Collective"}
    assert found("lantern nobody") == set()


def test_short_words_and_wildcards_are_searched_literally(make_member):
    make_member(name="AB Watch", contacts=[{"name": "Joy 100% Sure", "email": "j_o@x.example"}])
    make_member(name="Abc Group", contacts=[{"name": "Joy", "email": "jo@x.example"}])
    assert found("ab") == {"AB Watch", "Abc Group"}  # under three letters: no trigram
    assert found("100%") == {"AB Watch"}
    assert found("j_o") == {"AB Watch"}  # "_" is a character here, not LIKE's wildcard
    assert found("%") == {"AB Watch"}


def test_the_index_follows_edits_erasure_and_deletion(make_member, make_user):
    from coalition.accounts.models import Role

    staff = make_user(Role.CONVENOR)
    member = make_member(
        name="Kept Name", contacts=[{"name": "Old Contact", "email": "old@x.example"}]
    )
    assert found("old contact") == {"Kept Name"}

    ops.update_member(
        member,
        actor=staff,
        version=member.version,
        values={"name": "Renamed Collective"},
        contacts=[{"id": member.contacts[0].id, "name": "New Person", "email": "new@x.example"}],
    )
    db.session.flush()
    assert found("old contact") == set()
    assert found("new person renamed") == {"Renamed Collective"}

    ops.erase_contact(member.contacts[0], actor=staff)
    db.session.flush()
    assert found("new person") == set()

    db.session.delete(member)
    db.session.flush()
    assert found("renamed") == set()
    if dialect() == "sqlite":
        left = db.session.execute(
            sa.text(f"SELECT count(*) FROM {FTS_TABLE} WHERE search_text LIKE '%renamed%'")
        ).scalar()
        assert left == 0


def test_a_search_of_whole_words_uses_the_trigram_index(make_member):
    make_member(name="Lantern Media Collective")
    filters = MemberFilters.from_args(MultiDict({"q": "lantern"}))
    statement = staff_query(filters, contacts=sa.true()).with_only_columns(sa.literal_column("1"))
    compiled = statement.compile(dialect=db.session.get_bind().dialect)
    connection = db.session.connection()
    if dialect() == "sqlite":
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.params.values())
        ).all()
        assert any(f"{FTS_TABLE} VIRTUAL TABLE INDEX 0:L" in row[-1] for row in plan), plan
    elif dialect() == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = connection.execute(
            sa.text("EXPLAIN SELECT id FROM members WHERE search_text LIKE '%lantern%'")
        ).all()
        assert any(PG_INDEX in row[0] for row in plan), plan
    else:  # pragma: no cover - the suite runs on SQLite and PostgreSQL only
        pytest.skip("no trigram index on this database")


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_a_rare_condition_keeps_its_or_inside_on_every_database(dialect_name):
    """The public search ORs name and acronym; among the public conditions'
    ANDs it must stay one term, or an at-risk member's acronym would match."""
    from sqlalchemy.dialects import postgresql, sqlite

    from coalition.db import rarely_true

    dialect = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}[dialect_name]
    condition = sa.and_(
        Member.at_risk.is_(False),
        rarely_true(sa.or_(Member.name_key.like("%x%"), Member.acronym == "x")),
    )
    sql = str(condition.compile(dialect=dialect))
    assert sql.endswith(")") and "(members.name_key LIKE" in sql, sql
