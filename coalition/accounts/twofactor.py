"""Two-factor sign-in: TOTP codes (RFC 6238) and one-time recovery codes (S6)."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time

import pyotp
import segno
from flask import current_app

from coalition.accounts.models import RecoveryCode, User
from coalition.db import utcnow

RECOVERY_CODE_COUNT = 10
ISSUER = "Coalition"


def new_secret() -> str:
    return pyotp.random_base32()


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
