"""Counters of failed attempts, per address and per account (S3).

They live in Flask-Limiter's storage: memory by default, Redis when
RATELIMIT_STORAGE_URI names it. Only failures count, so a person who signs
in correctly is never slowed down, and failures against other accounts
never lock a victim out: each account has its own counter, keyed on its
normalised email.
"""

from __future__ import annotations

import math
import time

from flask import current_app
from limits import parse
from werkzeug.exceptions import TooManyRequests

from coalition.accounts.models import normalise_email
from coalition.extensions import client_address, limiter


def _keys(scope: str, email: str | None) -> list[tuple[str, str, str]]:
    """(limit string, namespace, identifier) for each counter of this scope."""
    config = current_app.config
    per_ip, per_account = {
        "signin": (config["RATELIMIT_SIGNIN_PER_IP"], config["RATELIMIT_SIGNIN_PER_ACCOUNT"]),
        "code": (config["RATELIMIT_SIGNIN_PER_IP"], config["RATELIMIT_CODE_PER_ACCOUNT"]),
    }[scope]
    keys = [(per_ip, f"{scope}-ip", client_address())]
    if email:
        keys.append((per_account, f"{scope}-account", normalise_email(email)))
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
