"""The number of SQL queries of the registry's pages does not grow with the data."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.members.models import Member
from tests.members_factories import bulk_members


@contextmanager
def counting_queries():
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


PAGES = [
    ("staff directory", lambda ids: "/members/"),
    ("directory search", lambda ids: "/members/?q=bulk"),
    (
        "directory filter",
        lambda ids: "/members/?status=active&region=sub_saharan_africa&focus=disinformation",
    ),
    ("member page", lambda ids: f"/members/{ids[-1]}"),
    ("public directory", lambda ids: "/directory"),
    ("figures", lambda ids: "/members/figures"),
    ("public figures", lambda ids: "/directory/figures"),
]


def queries_for(client, path: str) -> int:
    client.get(path)  # warm: first-request work (CSRF token, session) is not the page's
    with counting_queries() as statements:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(statements)


@pytest.mark.parametrize(("name", "path_of"), PAGES, ids=[p[0] for p in PAGES])
def test_query_count_does_not_grow_with_members(client, make_user, login, name, path_of):
    login(make_user(Role.CONVENOR, two_factor=True))
    bulk_members(10)
    ids = db.session.scalars(sa.select(Member.id).order_by(Member.id)).all()
    small = queries_for(client, path_of(ids))
    bulk_members(990, start=10)
    ids = db.session.scalars(sa.select(Member.id).order_by(Member.id)).all()
    large = queries_for(client, path_of(ids))
    assert large == small, f"{name}: {small} queries with 10 members, {large} with 1,000"
