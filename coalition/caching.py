"""Figures a worker keeps between page views, until what they are drawn from changes.

The figures pages, the ranked overview and the like compute something costly
from many rows. Each worker keeps what it computed last, with two checks:

* a quick one, the same for everything: the audit log's newest row (every
  change made through the operations writes one) and how many rows lie just
  below it. When it has not moved, nothing has changed: the kept value is
  shown at once.
* an exact one, of the rows the value is drawn from (counts, sums of
  versions, newest times): when the audit log moved for something else (a
  draft saved in another round, a sign-up), the exact check still matches and
  the kept value stays. Only a change to those rows computes it afresh.

Both are read before the value is computed, so a change that commits while it
is computed shows on the next view. A kept value lives ``seconds`` at the
most, so a change made behind the operations' back shows within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from coalition.extensions import db

T = TypeVar("T")

# How far below the newest audit row a row committed late is still noticed:
# PostgreSQL numbers rows as they are written, not as they are committed, so a
# transaction that took its number before another and committed after it
# leaves the newest number as it was, but grows the count below it.
AUDIT_WINDOW = 1_000


def audit_marker() -> tuple:
    """The quick check: the newest audit row's number, and how many rows lie within
    ``AUDIT_WINDOW`` of it. One query, on the audit table's key."""
    from coalition.audit.models import AuditEntry

    newest = sa.select(sa.func.max(AuditEntry.id)).scalar_subquery()
    recent = (
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.id > newest - AUDIT_WINDOW)
        .scalar_subquery()
    )
    return tuple(db.session.execute(sa.select(newest, recent)).one())


def typed_audit_marker(*object_types: str) -> tuple:
    """For an exact check drawn from the audit log: per type of object, the newest
    audit row about one and how many lie within ``AUDIT_WINDOW`` of it. One query,
    on the index of (object_type, id)."""
    from coalition.audit.models import AuditEntry

    columns = []
    for object_type in object_types:
        newest = (
            sa.select(sa.func.max(AuditEntry.id))
            .where(AuditEntry.object_type == object_type)
            .scalar_subquery()
        )
        columns.append(newest)
        columns.append(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.object_type == object_type, AuditEntry.id > newest - AUDIT_WINDOW)
            .scalar_subquery()
        )
    return tuple(db.session.execute(sa.select(*columns)).one())


@dataclass
class _Kept:
    marker: tuple
    fingerprint: tuple
    expires: float
    value: Any


def kept(
    store: dict[Hashable, _Kept],
    key: Hashable,
    *,
    seconds: float,
    fingerprint: Callable[[], tuple],
    compute: Callable[[], T],
) -> T:
    """``compute()``, or the value kept in ``store`` under ``key`` while nothing it is
    drawn from has changed (``fingerprint()``, the exact check) and it is younger
    than ``seconds``. With ``seconds`` 0, always computes.

    What is known without a query (the day, the round's settings) belongs in
    ``key``: the quick check alone would not notice it change."""
    if not seconds:
        return compute()
    now = time.monotonic()
    marker = audit_marker()
    entry = store.get(key)
    exact = None
    if entry is not None and entry.expires > now:
        if entry.marker == marker:
            return entry.value
        exact = tuple(fingerprint())
        if exact == entry.fingerprint:
            entry.marker = marker
            return entry.value
    if exact is None:
        exact = tuple(fingerprint())
    value = compute()
    store[key] = _Kept(marker, exact, now + seconds, value)
    return value
