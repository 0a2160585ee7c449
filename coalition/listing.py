"""One page of a list as plain rows: what list pages show of fifty records.

Reading a few columns as rows costs a fraction of loading whole objects
(identity map, every column, eager relations), and a list page needs no more.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from coalition.extensions import db


@dataclass
class Listing:
    """One page of rows, with what the pager needs."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page)) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def page_of_rows(query: sa.Select, key, columns, page: int, per_page: int) -> Listing:
    """Page ``page`` of ``query`` (filtered and ordered) as rows of ``columns``.

    Two queries whatever the size of the list: the count (of ``key`` only,
    so that an index can answer it) and the page's rows.
    """
    matches = query.with_only_columns(key).order_by(None).subquery()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(matches)) or 0
    rows = db.session.execute(
        query.with_only_columns(*columns).limit(per_page).offset((page - 1) * per_page)
    ).all()
    return Listing(items=rows, page=page, per_page=per_page, total=total)
