"""One-time tokens for confirmation, password reset, invitation and email change (S5)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from coalition.accounts.models import TokenPurpose, User, UserToken
from coalition.db import utcnow
from coalition.extensions import db


class TokenError(Exception):
    """The token is unknown, forged, expired or already used."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _lifetime(purpose: TokenPurpose) -> timedelta:
    config = current_app.config
    return {
        TokenPurpose.CONFIRM: timedelta(hours=config["CONFIRM_TOKEN_HOURS"]),
        TokenPurpose.EMAIL_CHANGE: timedelta(hours=config["CONFIRM_TOKEN_HOURS"]),
        TokenPurpose.RESET: timedelta(minutes=config["RESET_TOKEN_MINUTES"]),
        TokenPurpose.INVITE: timedelta(days=config["INVITE_TOKEN_DAYS"]),
    }[purpose]


def issue(user: User, purpose: TokenPurpose, *, new_email: str | None = None) -> str:
    """A fresh token for ``user``. Earlier unused tokens of the same purpose stop working."""
    revoke(user, purpose)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        UserToken(
            user=user,
            purpose=purpose,
            token_hash=_digest(token),
            new_email=new_email,
            created_at=now,
            expires_at=now + _lifetime(purpose),
        )
    )
    db.session.flush()
    return token


def peek(token: str, purpose: TokenPurpose) -> UserToken:
    """The live token row, without using it up. Raises TokenError."""
    if not token or len(token) > 128:
        raise TokenError
    row = db.session.scalar(
        sa.select(UserToken)
        .where(UserToken.token_hash == _digest(token), UserToken.purpose == purpose)
        .with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise TokenError
    return row


def consume(token: str, purpose: TokenPurpose) -> UserToken:
    """Use a token up; it never works again. Raises TokenError."""
    row = peek(token, purpose)
    # Compare-and-set, so that two requests racing with one token use it once.
    result = db.session.execute(
        sa.update(UserToken)
        .where(UserToken.id == row.id, UserToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TokenError
    db.session.refresh(row)
    return row


def revoke(user: User, *purposes: TokenPurpose) -> None:
    """Every unused token of ``user`` (of these purposes, or all) stops working."""
    if user.id is None:
        return
    query = sa.update(UserToken).where(UserToken.user_id == user.id, UserToken.used_at.is_(None))
    if purposes:
        query = query.where(UserToken.purpose.in_(purposes))
    db.session.execute(query.values(used_at=utcnow()).execution_options(synchronize_session=False))
