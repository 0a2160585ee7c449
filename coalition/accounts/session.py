"""Sign-in state of a request: who, since when, and whether the second factor is done."""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, g, redirect, request, session, url_for
from flask_login import current_user, login_user

from coalition.accounts.models import User
from coalition.extensions import db

PENDING_KEY = "pending_2fa"
AUTH_AT_KEY = "auth_at"


def signed_in_user_id() -> int | None:
    """The id of the user this request signed in, read without loading anything.

    After the commit point the user is expired; asking it ``is_authenticated``
    then would load it again just to log or to choose a cache header.
    """
    user = g.get("_login_user")
    state = sa.inspect(user, raiseerr=False) if user is not None else None
    return state.identity[0] if state is not None and state.identity else None


def safe_next(target: str | None, default: str | None = None) -> str:
    """A local path to go to after sign-in; anything else becomes the home page (S7)."""
    fallback = default or url_for("core.home")
    if not target or len(target) > 2000:
        return fallback
    if any(ch in target for ch in "\\\r\n\t") or any(ord(ch) < 32 for ch in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


def start_session(user: User, *, remember: bool = False) -> None:
    """Sign in with a fresh session: nothing from before sign-in carries over (S10)."""
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language
    # Not a "permanent" session: with one, Flask-Login's strong protection
    # would only mark a hijacked session stale instead of ending it.
    login_user(user, remember=remember and not user.requires_two_factor, fresh=True)
    session[AUTH_AT_KEY] = int(time.time())


def begin_second_factor(user: User, next_url: str | None, remember: bool) -> None:
    """Password accepted: remember who is half-way through sign-in, for a few minutes."""
    language = session.get("language")
    session.clear()
    if language:
        session["language"] = language
    session[PENDING_KEY] = {
        "token": user.session_token,
        "at": int(time.time()),
        "next": next_url,
        "remember": bool(remember),
    }


def pending_second_factor(max_age: int = 600) -> tuple[User | None, dict]:
    data = session.get(PENDING_KEY) or {}
    if not data or int(time.time()) - int(data.get("at", 0)) > max_age:
        return None, {}
    user = db.session.scalar(sa.select(User).where(User.session_token == data.get("token")))
    if user is None or not user.active:
        return None, {}
    return user, data


def is_fresh() -> bool:
    auth_at = session.get(AUTH_AT_KEY)
    if not auth_at:
        return False
    return time.time() - int(auth_at) <= current_app.config["REAUTH_AFTER_SECONDS"]


def mark_fresh() -> None:
    session[AUTH_AT_KEY] = int(time.time())


def fresh_required(view):
    """Ask for the password again when the sign-in is older than REAUTH_AFTER_MINUTES (S11)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user.is_authenticated and not is_fresh():
            return ask_for_password()
        return view(*args, **kwargs)

    return wrapped


def ask_for_password():
    """The redirect to the password page, back to this page (a GET) or the form's page (a POST).

    For a view that checks ``is_fresh()`` itself, after its own access check
    (so that someone refused still gets the refusal, not the password page).
    """
    if request.method == "GET":
        target = request.full_path.rstrip("?")
    else:
        target = safe_next(urlsplit(request.referrer or "").path or None)
    return redirect(url_for("accounts.reauthenticate", next=target))
