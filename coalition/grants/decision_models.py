"""Appeals against a decision: one per application, lodged by a rejected
applicant within the round's appeal period, decided by staff."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.accounts.models import User
from coalition.db import UTCDateTime, enum_column, utcnow
from coalition.extensions import db
from coalition.grants.models import Application
from coalition.i18n import cached_label


class AppealOutcome(enum.StrEnum):
    UPHELD = "upheld"  # back to a new vote
    DISMISSED = "dismissed"  # the rejection stands

    @property
    def label(self) -> str:
        return cached_label(
            self,
            {
                AppealOutcome.UPHELD: _l("Upheld: the application goes to a new vote"),
                AppealOutcome.DISMISSED: _l("Dismissed: the decision stands"),
            }[self],
        )


class Appeal(db.Model):
    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One appeal per application, ever.
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), unique=True
    )
    reasons: Mapped[str] = mapped_column(sa.Text)
    lodged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lodged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    outcome: Mapped[AppealOutcome | None] = mapped_column(enum_column(AppealOutcome))
    outcome_reasons: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    application: Mapped[Application] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
