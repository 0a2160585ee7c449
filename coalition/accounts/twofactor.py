"""Two-factor sign-in: TOTP codes (RFC 6238) and one-time recovery codes (S6)."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time
from datetime import timedelta

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from coalition.accounts.models import RecoveryCode, TwoFactorEnrolment, User
from coalition.db import utcnow
from coalition.extensions import db

RECOVERY_CODE_COUNT = 10
ISSUER = "Coalition"
# Time to install an authenticator app, scan the code and type one back.
ENROLMENT_LIFETIME = timedelta(minutes=30)


def new_secret() -> str:
    return pyotp.random_base32()


def enrolment_secret(user: User) -> str:
    """Start (or carry on) ``user``'s enrolment: the secret, kept server-side until proved.

    The same secret until it expires (so starting twice shows the same QR
    code), then a new one. Expired enrolments of everyone are deleted here.
    """
    now = utcnow()
    db.session.execute(
        sa.delete(TwoFactorEnrolment)
        .where(TwoFactorEnrolment.expires_at <= now)
        .execution_options(synchronize_session=False)
    )
    row = db.session.scalar(
        sa.select(TwoFactorEnrolment).where(TwoFactorEnrolment.user_id == user.id)
    )
    if row is not None:
        return row.secret
    row = TwoFactorEnrolment(
        user_id=user.id, secret=new_secret(), created_at=now, expires_at=now + ENROLMENT_LIFETIME
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Another request (a second tab) started the enrolment first: use its secret.
        return db.session.scalar(
            sa.select(TwoFactorEnrolment.secret).where(TwoFactorEnrolment.user_id == user.id)
        )
    return row.secret


def pending_secret(user: User) -> str | None:
    """The secret of ``user``'s enrolment under way, or None (none started, or expired)."""
    return db.session.scalar(
        sa.select(TwoFactorEnrolment.secret).where(
            TwoFactorEnrolment.user_id == user.id, TwoFactorEnrolment.expires_at > utcnow()
        )
    )


def end_enrolment(user: User) -> None:
    """The enrolment is over (done, or two factors turned off): forget its secret."""
    db.session.execute(
        sa.delete(TwoFactorEnrolment)
        .where(TwoFactorEnrolment.user_id == user.id)
        .execution_options(synchronize_session=False)
    )


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_svg(uri: str, title: str) -> str:
    """The QR code as inline SVG, drawn here: no outside service sees the secret."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title=title, desc=None
    )
    return out.getvalue().decode("utf-8")


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step whose code equals ``code`` (±1 step of drift), or None."""
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    step_now = int(now // totp.interval)
    for step in (step_now, step_now - 1, step_now + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def verify_totp(user: User, code: str, secret: str | None = None) -> bool:
    """Check a code and use it up: the same code (or an older one) never works twice."""
    secret = secret or user.totp_secret
    if not secret:
        return False
    step = matching_step(secret, code)
    if step is None:
        return False
    if user.totp_last_step is not None and step <= user.totp_last_step:
        return False
    user.totp_last_step = step
    return True


def _code_digest(code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    normal = code.replace("-", "").replace(" ", "").lower()
    return hmac.new(key, normal.encode(), hashlib.sha256).hexdigest()


def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with ten fresh ones, shown once."""
    codes = []
    user.recovery_codes.clear()
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)  # 40 bits each, single use, rate-limited
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        user.recovery_codes.append(RecoveryCode(code_hash=_code_digest(code)))
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    digest = _code_digest(code or "")
    for row in user.recovery_codes:
        if row.used_at is None and hmac.compare_digest(row.code_hash, digest):
            row.used_at = utcnow()
            return True
    return False


def remaining_recovery_codes(user: User) -> int:
    return sum(1 for row in user.recovery_codes if row.used_at is None)
