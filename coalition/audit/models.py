"""The audit log: who did what to which object, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.accounts.models import User
from coalition.db import UTCDateTime, utcnow
from coalition.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (
        sa.Index("ix_audit_entries_object", "object_type", "object_id"),
        sa.Index("ix_audit_entries_created_at", "created_at"),
        sa.Index("ix_audit_entries_action", "action"),
        # The newest row about a kind of object, at once (coalition.caching).
        sa.Index("ix_audit_entries_type_id", "object_type", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str | None] = mapped_column(sa.String(64))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    # {"field": [before, after], ...}
    changes: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # Anything else worth keeping (never a password, token or form body).
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))

    actor: Mapped[User | None] = relationship(lazy="joined")
