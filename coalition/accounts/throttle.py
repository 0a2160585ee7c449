"""Counters of failed attempts, per address and per account (S3).

They live in Flask-Limiter's storage: memory by default, Redis when
RATELIMIT_STORAGE_URI names it. Only failures count, so a person who signs
in correctly is never slowed down, and failures against other accounts
never lock a victim out: each account has its own counter, keyed on its
normalised email.

Counters name an address by a keyed hash of it (``address_key``), never the
address itself: Flask-Limiter logs the key of every limit reached, and the
storage (Redis) need not hold a list of the addresses people typed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time

from flask import current_app
from limits import parse
from werkzeug.exceptions import TooManyRequests

from coalition.accounts.models import normalise_email
from coalition.extensions import client_address, limiter


def address_key(email: str) -> str:
    """HMAC-SHA256 of the normalised address, keyed by a key derived from SECRET_KEY.

    The same address always gives the same key (variants in case and spaces
    included), so counters work; without SECRET_KEY, nobody can tell from a
    log line which address it was, or test a guess.
    """
    secret = current_app.config["SECRET_KEY"].encode()
    derived = hmac.new(secret, b"coalition.throttle.address-key", hashlib.sha256).digest()
    normal = normalise_email(email)[:254].encode("utf-8", "surrogatepass")
    return hmac.new(derived, normal, hashlib.sha256).hexdigest()[:32]


def _keys(scope: str, email: str | None) -> list[tuple[str, str, str]]:
    """(limit string, namespace, identifier) for each counter of this scope."""
    config = current_app.config
    per_ip, per_account = {
        "signin": (config["RATELIMIT_SIGNIN_PER_IP"], config["RATELIMIT_SIGNIN_PER_ACCOUNT"]),
        "code": (config["RATELIMIT_SIGNIN_PER_IP"], config["RATELIMIT_CODE_PER_ACCOUNT"]),
    }[scope]
    keys = [(per_ip, f"{scope}-ip", client_address())]
    if email:
        keys.append((per_account, f"{scope}-account", address_key(email)))
    return keys


def check(scope: str, email: str | None) -> None:
    """Raise 429 (with Retry-After) when any counter of this attempt is spent."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    strategy = limiter.limiter
    wait = 0
    for limit_string, namespace, identifier in _keys(scope, email):
        item = parse(limit_string)
        if not strategy.test(item, namespace, identifier):
            reset_at, _remaining = strategy.get_window_stats(item, namespace, identifier)
            wait = max(wait, math.ceil(reset_at - time.time()))
    if wait:
        raise TooManyRequests(retry_after=max(wait, 1))


def fail(scope: str, email: str | None) -> None:
    """Count one failed attempt against the address and the account."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    strategy = limiter.limiter
    for limit_string, namespace, identifier in _keys(scope, email):
        strategy.hit(parse(limit_string), namespace, identifier)


def email_allowed(email: str) -> bool:
    """Count one email to this address; False once RATELIMIT_EMAIL_PER_ADDRESS is spent.

    For the emails that anyone may cause to be sent to any address (sign-up,
    a joining application's receipt), counted whoever asks and from wherever.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    item = parse(current_app.config["RATELIMIT_EMAIL_PER_ADDRESS"])
    return limiter.limiter.hit(item, "mail-to", address_key(email))
