"""What the report form offers as the subject of a round report or a dossier: only the
rounds and applications the reader may see (the same rules as asking and reading)."""

from __future__ import annotations

import sqlalchemy as sa

from coalition.extensions import db
from coalition.grants.models import Application, Round
from coalition.grants.review_models import ConflictDeclaration, ConflictKind
from coalition.grants.scores import RANKED
from coalition.policy import can, prime_application_rules, resolved
from coalition.steering.reports.round_report import application_labels

# The most applications the dossier's list offers (the newest first).
LISTED_APPLICATIONS = 300


def rounds_for(user) -> list[Round]:
    if not can(user, "reports.round"):
        return []
    rounds = db.session.scalars(sa.select(Round).order_by(Round.opens_at.desc(), Round.id.desc()))
    return [r for r in rounds if can(user, "reports.round_of", r)]


def applications_for(user) -> list[tuple[int, str]]:
    """The screened-eligible applications (ranked ones) whose dossier the reader may
    have, as (id, label), the newest first."""
    user = resolved(user)
    if not can(user, "reports.dossier"):
        return []
    # A list of titles: rows of what the rules and the label read, not whole
    # applications (up to 300 of them, on a page a reader opens to ask for one).
    query = sa.select(Application.id, Application.title, Application.applicant_id).where(
        Application.status.in_(RANKED)
    )
    staff = can(user, "reports.confidential")
    if not staff:
        # A steering member reads only the applications they declared no conflict on
        # (``reviews.read_reviews``): ask the full rule only of those, not of every one.
        query = query.where(
            Application.id.in_(
                sa.select(ConflictDeclaration.application_id).where(
                    ConflictDeclaration.user_id == user.id,
                    ConflictDeclaration.kind == ConflictKind.NONE,
                )
            )
        )
    rows = db.session.execute(
        query.order_by(Application.id.desc()).limit(LISTED_APPLICATIONS)
    ).all()
    if not staff:
        # The rule's inputs for all of them at once (staff's rule needs none).
        prime_application_rules(user, [row.id for row in rows])
    allowed = [row for row in rows if can(user, "reports.dossier_of", row)]
    return list(
        zip(
            (row.id for row in allowed),
            application_labels((row.id, row.title) for row in allowed),
            strict=True,
        )
    )
