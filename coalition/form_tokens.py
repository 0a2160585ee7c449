"""One-time form tokens: a create form sent twice creates once.

A double click, a form sent again after a slow answer, the same page open in
two tabs: each posts the same create form again, and each post would create
another member, draft or fund. A create form opts in with a hidden field that
holds a random token, issued with the form::

    class FundForm(FlaskForm):
        once = OnceField()

    if form.validate_on_submit():
        claim = form_tokens.claim(form.once.data)
        if claim.repeated:
            return claim.earlier_result()      # a redirect to what the first post made
        fund = ops.create_fund(...)
        url = url_for("grants.funds")
        claim.done(url)
        return redirect(url)

A form without a ``FlaskForm`` (a lone button) renders
``<input type="hidden" name="once" value="{{ once_token() }}">`` and reads
``request.form.get("once")``.

How it holds under concurrency: ``claim`` inserts the token's row
(``used_form_tokens``, UNIQUE on a hash of the form's endpoint, the user and
the token) in the request's own transaction, before anything is created, then
reads it back locked (``FOR UPDATE``). On PostgreSQL a concurrent duplicate
waits on that unique key until the first request commits, then finds the
first result and redirects to it; on SQLite every POST holds the write lock
from its start (``coalition.db``), so duplicates come one after the other. The
row gets the result's URL (``done``) in the same transaction as the creation:
both commit, or neither. A first post that created nothing (refused, rolled
back, or committed without ``done``) leaves no result, and the next post with
the token creates as if it were the first.

Only the token's hash is stored. A post without a token (a script, a page
from before this field existed) is served as before, without the guard.
Rows older than ``KEEP_FOR`` are removed by ``expire`` (the nightly clean-up).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import flash, redirect, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.wrappers import Response
from wtforms import HiddenField

from coalition.db import UTCDateTime, utcnow
from coalition.extensions import db

FIELD_NAME = "once"
# What new_token() makes: 24 random bytes, URL-safe base64 (32 characters).
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
# A form left open longer than this is served as new (and guarded again from then on).
KEEP_FOR = timedelta(days=2)


class UsedFormToken(db.Model):
    """A form token spent on a creation, and where its result is."""

    __tablename__ = "used_form_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Where the first post led; None until the creation is done.
    result_url: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _clean(token) -> str | None:
    return token if isinstance(token, str) and _TOKEN.fullmatch(token) else None


class OnceField(HiddenField):
    """The hidden field of a create form: a fresh token on every new form.

    Posted back, ``data`` is the token, or ``None`` when it is absent or not
    one this module makes (it is never an error: the post is then unguarded).
    """

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("default", new_token)
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        self.data = _clean(valuelist[0]) if valuelist else None

    def _value(self):
        # A form shown again after a post without a token gets one from now on.
        if self.data is None:
            self.data = new_token()
        return self.data


def _key(token: str) -> str:
    who = str(current_user.id) if current_user.is_authenticated else "-"
    material = f"{request.endpoint}\x00{request.view_args or {}}\x00{who}\x00{token}"
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass
class Claim:
    """This request's hold on a form token (see the module's docstring)."""

    row: UsedFormToken | None

    @property
    def repeated(self) -> bool:
        """The token was spent by an earlier post that created something."""
        return self.row is not None and self.row.result_url is not None

    def earlier_result(self) -> Response:
        """A redirect to what the earlier post made, saying so."""
        flash(_("This form was already sent: here is what it made."), "info")
        return redirect(self.row.result_url)

    def done(self, result_url: str) -> None:
        """Record where the creation's result is, in the creation's transaction."""
        if self.row is not None:
            self.row.result_url = result_url[:500]
            db.session.flush()


def claim(token) -> Claim:
    """Hold ``token`` for this request; ``repeated`` when an earlier post already used it.

    Flushes only. On PostgreSQL, waits for a concurrent post with the same
    token to finish. A missing or malformed token gives an empty claim (never
    repeated, ``done`` does nothing).
    """
    token = _clean(token)
    if token is None:
        return Claim(None)
    key = _key(token)
    try:
        with db.session.begin_nested():
            db.session.add(UsedFormToken(key=key))
    except IntegrityError:
        pass  # an earlier or concurrent post holds it: read what it left
    row = db.session.scalar(
        sa.select(UsedFormToken)
        .where(UsedFormToken.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return Claim(row)


def expire(now: datetime | None = None) -> int:
    """Delete the rows older than ``KEEP_FOR``; flushes, returns how many went."""
    cutoff = (now or utcnow()) - KEEP_FOR
    result = db.session.execute(sa.delete(UsedFormToken).where(UsedFormToken.created_at < cutoff))
    return result.rowcount or 0
