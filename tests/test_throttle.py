"""Sign-in throttling (S3), no account enumeration (S4), and the audit and
log lines of failed sign-ins (S21).

The limits are read from the app's configuration, so the tests follow the
defaults ("20 per 10 minutes" per address, "5 per 15 minutes" per account).
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa
from limits import parse

from coalition.accounts.throttle import address_key
from coalition.audit.models import AuditEntry
from coalition.config import ConfigError, check_production
from coalition.extensions import db, limiter
from coalition.jobs import run_pending
from coalition.logs import JSONFormatter
from tests.conftest import CSRF_META, PASSWORD, app_config, csrf_token, outbox, post

WRONG = "not the password at all"


def per_ip(app) -> int:
    return parse(app.config["RATELIMIT_SIGNIN_PER_IP"]).amount


def per_account(app) -> int:
    return parse(app.config["RATELIMIT_SIGNIN_PER_ACCOUNT"]).amount


def attempt(client, token: str, email: str, password: str, ip: str = "127.0.0.1"):
    """One sign-in POST from ``ip`` (the CSRF token belongs to the session, not the address)."""
    return client.post(
        "/sign-in",
        data={"csrf_token": token, "email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def signed_in(client) -> bool:
    with client.session_transaction() as session:
        return bool(session.get("_user_id"))


def assert_rejected(response):
    """A failed sign-in: the form again, with the one error for every bad attempt."""
    assert response.status_code == 200, response.status_code
    assert "The email or the password is not right." in response.get_data(as_text=True)


def assert_too_many(response):
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    page = response.get_data(as_text=True)
    assert "Too many attempts" in page
    if retry_after >= 120:
        expected = f"Try again in {math.ceil(retry_after / 60)} minutes."
    else:
        expected = f"Try again in {retry_after} seconds."
    assert expected in page, page
    return retry_after


# -- S3: per address ----------------------------------------------------------------


def test_many_bad_sign_ins_from_one_address_answer_429(app, client, make_user):
    user = make_user()
    token = csrf_token(client, "/sign-in")
    limit = per_ip(app)

    for n in range(limit):
        assert_rejected(attempt(client, token, f"nobody{n}@example.org", WRONG, ip="192.0.2.10"))

    response = attempt(client, token, "nobody-more@example.org", WRONG, ip="192.0.2.10")
    retry_after = assert_too_many(response)
    # The window of "20 per 10 minutes" ends within 10 minutes.
    assert retry_after <= 10 * 60

    # Even the right password is refused from that address, before it is checked.
    assert_too_many(attempt(client, token, user.email, PASSWORD, ip="192.0.2.10"))
    assert not signed_in(client)

    # Another address is not affected.
    response = attempt(client, token, user.email, PASSWORD, ip="192.0.2.11")
    assert response.status_code == 302
    assert signed_in(client)


# -- S3: per account ----------------------------------------------------------------


def test_bad_sign_ins_from_many_addresses_lock_the_account(app, client, make_user):
    victim = make_user(email="victim@example.org")
    token = csrf_token(client, "/sign-in")
    limit = per_account(app)

    for n in range(limit):
        assert_rejected(attempt(client, token, victim.email, WRONG, ip=f"10.0.0.{n + 1}"))

    # The next attempt, from yet another address and with the RIGHT password, is refused.
    response = attempt(client, token, victim.email, PASSWORD, ip=f"10.0.0.{limit + 1}")
    assert_too_many(response)
    assert not signed_in(client)


def test_failures_against_other_accounts_never_lock_out_the_victim(app, client, make_user):
    victim = make_user(email="victim@example.org")
    others = [make_user() for _ in range(3)]  # A, B, C
    token = csrf_token(client, "/sign-in")
    limit = per_account(app)

    ip = 0
    for other in others:
        for _ in range(limit):
            ip += 1
            assert_rejected(attempt(client, token, other.email, WRONG, ip=f"10.1.0.{ip}"))
        # Each of those accounts is now locked ...
        ip += 1
        assert attempt(client, token, other.email, PASSWORD, ip=f"10.1.0.{ip}").status_code == 429

    # ... but the victim signs in from a fresh address.
    response = attempt(client, token, victim.email, PASSWORD, ip="10.1.1.1")
    assert response.status_code == 302
    assert signed_in(client)


def test_email_variants_share_one_counter(app, client, make_user):
    victim = make_user(email="victim@example.org")
    token = csrf_token(client, "/sign-in")
    variants = [
        "Victim@Example.org ",
        "victim@example.org",
        "  VICTIM@EXAMPLE.ORG",
        "victim@EXAMPLE.org\t",
        "Victim@example.ORG",
    ]
    limit = per_account(app)
    for n in range(limit):
        variant = variants[n % len(variants)]
        assert_rejected(attempt(client, token, variant, WRONG, ip=f"10.2.0.{n + 1}"))

    for n, variant in enumerate(variants):
        response = attempt(client, token, variant, PASSWORD, ip=f"10.2.1.{n + 1}")
        assert_too_many(response)
    assert not signed_in(client)
    assert victim.email == "victim@example.org"


def test_good_sign_ins_do_not_count(app, make_user):
    user = make_user()
    limit = per_account(app)
    ip = "10.3.0.1"

    # limit - 1 failures, then more good sign-ins than the limit allows failures.
    client = app.test_client()
    token = csrf_token(client, "/sign-in")
    for _ in range(limit - 1):
        assert_rejected(attempt(client, token, user.email, WRONG, ip=ip))
    for _ in range(limit + 1):
        fresh = app.test_client()
        response = attempt(fresh, csrf_token(fresh, "/sign-in"), user.email, PASSWORD, ip=ip)
        assert response.status_code == 302
        assert signed_in(fresh)

    # The last failure the account allows is still a plain failure ...
    assert_rejected(attempt(client, token, user.email, WRONG, ip=ip))
    # ... and only then is the account locked.
    assert_too_many(attempt(client, token, user.email, PASSWORD, ip=ip))


# -- S4: no enumeration -----------------------------------------------------------------


def comparable(page: str, email: str) -> str:
    """The page with its CSRF token (in every place it appears) and the typed email masked."""
    match = CSRF_META.search(page)
    assert match, page
    return page.replace(match.group(1), "TOKEN").replace(email, "EMAIL")


def test_unknown_email_and_wrong_password_get_the_same_answer(app, make_user):
    user = make_user(email="known@example.org")
    answers = []
    for email in (user.email, "unknown@example.org"):
        client = app.test_client()
        response = post(
            client, "/sign-in", {"email": email, "password": WRONG}, token_from="/sign-in"
        )
        answers.append((response.status_code, comparable(response.get_data(as_text=True), email)))

    (known_status, known_page), (unknown_status, unknown_page) = answers
    assert known_status == unknown_status == 200
    assert "The email or the password is not right." in known_page
    assert "TOKEN" in known_page  # the token was replaced, so the pages are comparable
    assert known_page == unknown_page


def test_reset_for_unknown_email_looks_like_success(app, make_user):
    user = make_user(email="known@example.org")
    answers = []
    for email in (user.email, "unknown@example.org"):
        client = app.test_client()
        response = post(client, "/password/forgot", {"email": email}, token_from="/password/forgot")
        run_pending()  # the scheduler sends the link, when there is an account
        page = response.get_data(as_text=True)
        assert email in page
        answers.append((response.status_code, comparable(page, email)))

    (known_status, known_page), (unknown_status, unknown_page) = answers
    assert known_status == unknown_status == 200
    assert "Check your email" in known_page
    assert known_page == unknown_page

    # Only the real account gets an email.
    queued = outbox(template="reset_password")
    assert [m.recipient for m in queued] == ["known@example.org"]
    assert outbox(recipient="unknown@example.org") == []


# -- S21: audit row and log line of each failure ---------------------------------------


def test_every_failed_sign_in_is_audited_with_the_address(app, client, make_user, caplog):
    caplog.set_level(logging.INFO)
    user = make_user(email="audited@example.org")
    token = csrf_token(client, "/sign-in")
    secret = "a-secret-password-that-must-not-leak"

    assert_rejected(attempt(client, token, "Audited@Example.org", secret, ip="203.0.113.5"))
    assert_rejected(attempt(client, token, "ghost@example.org", secret, ip="203.0.113.6"))

    rows = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "user.sign_in_failed")
        .order_by(AuditEntry.id)
    ).all()
    assert len(rows) == 2
    known, unknown = rows
    assert known.ip_address == "203.0.113.5"
    assert known.object_type == "User" and known.object_id == str(user.id)
    assert known.details["email"] == "audited@example.org"
    assert unknown.ip_address == "203.0.113.6"
    assert unknown.object_id is None
    assert unknown.details["email"] == "ghost@example.org"
    for row in rows:
        assert secret not in json.dumps(row.details)
        assert row.created_at is not None

    # The log says who and from where, and never the password.
    failures = [r for r in caplog.records if r.getMessage() == "sign-in failed"]
    assert [r.fields["ip"] for r in failures] == ["203.0.113.5", "203.0.113.6"]
    assert failures[0].fields["user_id"] == user.id
    formatter = JSONFormatter()
    for record in caplog.records:
        assert secret not in formatter.format(record)


# -- S3 in production: the counters live in Redis -----------------------------------


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_db():
    import redis

    url = redis_url()
    connection = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.exceptions.RedisError as exc:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis at {url} is required (REQUIRE_REDIS=1) but unreachable: {exc}")
        pytest.skip(f"Redis at {url} is unreachable: {exc}")
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def redis_app(db_url, redis_db):
    """A second app on the same database whose limits live in Redis.

    ``limiter`` is one module-level object: binding it to this app re-points
    it for every app in the process, so its state is put back afterwards.
    """
    from coalition import create_app

    saved = dict(limiter.__dict__)
    instance = os.environ["COALITION_INSTANCE_PATH"]
    try:
        yield create_app(app_config(db_url, instance, RATELIMIT_STORAGE_URI=redis_url()))
    finally:
        limiter.__dict__.clear()
        limiter.__dict__.update(saved)


def test_account_lock_is_kept_in_redis(redis_app, redis_db, make_user, tmp_path):
    from limits.storage import RedisStorage, storage_from_string
    from limits.strategies import FixedWindowRateLimiter

    assert isinstance(limiter.storage, RedisStorage)
    assert redis_db.keys("*") == []

    victim = make_user(email="redis-victim@example.org")
    client = redis_app.test_client()
    token = csrf_token(client, "/sign-in")
    limit = per_account(redis_app)
    for n in range(limit):
        assert_rejected(attempt(client, token, victim.email, WRONG, ip=f"10.4.0.{n + 1}"))
    assert_too_many(attempt(client, token, victim.email, PASSWORD, ip="10.4.1.1"))

    # The counters are Redis keys, under the storage's prefix.
    keys = sorted(k.decode() for k in redis_db.keys("*"))
    prefix = limiter.storage.key_prefix + ":"
    with redis_app.app_context():
        victim_key = address_key(victim.email)
    assert not any(victim.email in k for k in keys), "counters never name the address"
    account_keys = [k for k in keys if "signin-account" in k and victim_key in k]
    ip_keys = [k for k in keys if "signin-ip" in k]
    assert len(account_keys) == 1, keys
    assert account_keys[0].startswith(prefix)
    assert int(redis_db.get(account_keys[0])) == limit
    assert len(ip_keys) == limit  # one per address used for a failure

    # A limiter with nothing in memory (a fresh storage object) sees the lock.
    fresh = FixedWindowRateLimiter(storage_from_string(redis_url()))
    item = parse(redis_app.config["RATELIMIT_SIGNIN_PER_ACCOUNT"])
    assert not fresh.test(item, "signin-account", victim_key)
    assert fresh.test(item, "signin-account", victim_key[::-1])

    # So does another worker: a separate process with its own app.
    script = textwrap.dedent(
        """
        from werkzeug.exceptions import TooManyRequests
        from coalition import create_app
        from coalition.accounts import throttle

        app = create_app()
        for email in ("Redis-Victim@example.org ", "somebody-else@example.org"):
            with app.test_request_context(environ_base={"REMOTE_ADDR": "10.4.2.1"}):
                try:
                    throttle.check("signin", email)
                except TooManyRequests:
                    print("locked")
                else:
                    print("open")
        """
    )
    env = {
        **os.environ,
        "COALITION_ENV": "development",
        "COALITION_INSTANCE_PATH": str(tmp_path),
        # Every worker of one installation has the same key: counters are keyed by it.
        "SECRET_KEY": redis_app.config["SECRET_KEY"],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite'}",
        "RATELIMIT_STORAGE_URI": redis_url(),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["locked", "open"]


# -- S19: no in-memory counters in production -----------------------------------------


def production_config(**overrides) -> dict:
    config = {
        "PRODUCTION": True,
        "SECRET_KEY": "a-production-secret-key-long-enough-to-pass-the-check",
        "DEBUG": False,
        "WTF_CSRF_ENABLED": True,
        "SESSION_COOKIE_SECURE": True,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
        "BASE_URL": "https://coalition.example.org",
    }
    config.update(overrides)
    return config


def test_production_refuses_in_memory_rate_limit_storage():
    check_production(production_config())  # the same configuration with Redis starts

    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE_URI"):
        check_production(production_config(RATELIMIT_STORAGE_URI="memory://"))

    from coalition import create_app

    with pytest.raises(ConfigError, match="rate limits are kept in memory"):
        create_app(production_config(RATELIMIT_STORAGE_URI="memory://"))
