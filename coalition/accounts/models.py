"""User accounts, roles, one-time tokens and recovery codes."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coalition.db import UTCDateTime, enum_column, utcnow
from coalition.extensions import db


class Role(enum.StrEnum):
    CONVENOR = "convenor"
    STEERING = "steering"
    REVIEWER = "reviewer"
    APPLICANT = "applicant"
    MEMBER_CONTACT = "member_contact"

    @property
    def label(self) -> str:
        from flask_babel import lazy_gettext as _l

        return {
            Role.CONVENOR: _l("Convenor (staff)"),
            Role.STEERING: _l("Steering group"),
            Role.REVIEWER: _l("Reviewer"),
            Role.APPLICANT: _l("Applicant"),
            Role.MEMBER_CONTACT: _l("Member contact"),
        }[self]


# Roles whose holders must sign in with a second factor, and may not be remembered.
TWO_FACTOR_ROLES = frozenset({Role.CONVENOR, Role.STEERING})


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def normalise_email(email: str) -> str:
    """One spelling per address: trimmed and lower-cased (S3: variants share a counter)."""
    return (email or "").strip().lower()


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    language: Mapped[str] = mapped_column(sa.String(8), default="en")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    active: Mapped[bool] = mapped_column(default=True)
    # The value Flask-Login keeps in the session. It changes on sign-out,
    # password change, role change and deactivation, which ends every
    # session and remember-me cookie issued before (S9).
    session_token: Mapped[str] = mapped_column(
        sa.String(64), unique=True, default=new_session_token
    )
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last TOTP time step accepted: a code is never accepted twice (S6).
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"

    # Flask-Login
    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    def rotate_session(self) -> None:
        self.session_token = new_session_token()

    # Roles
    @property
    def roles(self) -> frozenset[Role]:
        # Asked many times a page (every permission check): kept while the loaded
        # rows are the same list of the same length. A reload gives a new list;
        # ``set_roles``, the one place that changes them, forgets it.
        rows = self.role_rows
        kept = self.__dict__.get("_roles_kept")
        if kept is not None and kept[0] is rows and kept[1] == len(rows):
            return kept[2]
        roles = frozenset(Role(r.role) for r in rows)
        self.__dict__["_roles_kept"] = (rows, len(rows), roles)
        return roles

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    def set_roles(self, roles) -> None:
        wanted = {Role(r) for r in roles}
        for row in list(self.role_rows):
            if Role(row.role) not in wanted:
                self.role_rows.remove(row)
        for role in wanted - self.roles:
            self.role_rows.append(UserRole(role=role))
        self.__dict__.pop("_roles_kept", None)

    @property
    def is_staff(self) -> bool:
        return Role.CONVENOR in self.roles

    @property
    def requires_two_factor(self) -> bool:
        return bool(self.roles & TWO_FACTOR_ROLES)

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None and self.totp_secret is not None

    @property
    def email_confirmed(self) -> bool:
        return self.email_confirmed_at is not None


class UserRole(db.Model):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(enum_column(Role), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_rows")


class TokenPurpose(enum.StrEnum):
    CONFIRM = "confirm"
    RESET = "reset"
    INVITE = "invite"
    EMAIL_CHANGE = "email_change"


class UserToken(db.Model):
    """A one-time token sent by email. Only its SHA-256 is stored."""

    __tablename__ = "user_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(enum_column(TokenPurpose))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # For an email change: the new address, confirmed by using the token.
    new_email: Mapped[str | None] = mapped_column(sa.String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class RecoveryCode(db.Model):
    """A one-time second-factor recovery code. Only its HMAC is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class TwoFactorEnrolment(db.Model):
    """A TOTP secret shown to a person setting up two-factor sign-in, until they prove it.

    Kept here, not in the session cookie (signed, not encrypted): the secret
    never leaves the server except on the set-up page itself. One per person;
    it expires, and expired rows are deleted whenever an enrolment starts.
    """

    __tablename__ = "two_factor_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
