"""Test set-up: one app and one schema (built by the migrations) per session;
each test runs inside a transaction that is rolled back at its end.

The database is SQLite by default, or the PostgreSQL named by
TEST_DATABASE_URL. CSRF protection stays on: tests send the token like a
browser does (see ``csrf_token``), and the few that need it off say so.
"""

from __future__ import annotations

import os
import re
import time
from itertools import count

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_login.utils import _create_identifier
from sqlalchemy.orm import scoped_session, sessionmaker

from coalition import create_app
from coalition.accounts.models import Role, User, normalise_email
from coalition.accounts.passwords import hash_password
from coalition.config import normalise_db_url
from coalition.db import utcnow
from coalition.extensions import db, limiter
from tests import clock

pytest_plugins = ["tests.members_factories"]

PASSWORD = "correct horse battery staple"
_HASH_CACHE: dict[str, str] = {}


def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres", "postgresql"))


def reset_postgres(url: str) -> None:
    engine = sa.create_engine(normalise_db_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def app_config(url: str, instance: str, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-the-checks",
        "SQLALCHEMY_DATABASE_URI": normalise_db_url(url),
        "WTF_CSRF_ENABLED": True,
        "MAIL_BACKEND": "log",
        "BASE_URL": "http://localhost",
        "RATELIMIT_STORAGE_URI": "memory://",
        "SERVER_NAME": None,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def db_url(tmp_path_factory):
    url = database_url(tmp_path_factory)
    if is_postgres(url):
        reset_postgres(url)
    return url


class FreshContextClient(FlaskClient):
    """A test client whose every request gets its own app context.

    Flask reuses an app context that is already pushed (the test holds one),
    which would carry ``g`` (the signed-in user, the CSRF token) and the
    database session from one request into the next. Real requests never
    share them, so neither do these.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(db_url, tmp_path_factory):
    instance = str(tmp_path_factory.mktemp("instance"))
    os.environ["COALITION_INSTANCE_PATH"] = instance
    application = create_app(app_config(db_url, instance))
    application.test_client_class = FreshContextClient
    with application.app_context():
        from coalition.migrations import upgrade

        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clock():
    """NOW and TODAY in the test modules are the time this test starts (tests/clock.py)."""
    clock.refresh()


@pytest.fixture(autouse=True)
def _isolated(request, app):
    """Run the test in a transaction rolled back afterwards.

    Tests marked ``committing`` (live servers, threads, real concurrency)
    commit for real and have every table emptied afterwards instead.
    """
    limiter.reset()
    if request.node.get_closest_marker("committing"):
        with app.app_context():
            yield
            db.session.remove()
            empty_all_tables()
        return
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=original.registry.scopefunc if hasattr(original, "registry") else None,
        )
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


def empty_all_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# -- Factories ------------------------------------------------------------------

_seq = count(1)


def password_hash_for(password: str) -> str:
    # argon2id at 64 MiB is deliberately slow; hash each test password once.
    if password not in _HASH_CACHE:
        _HASH_CACHE[password] = hash_password(password)
    return _HASH_CACHE[password]


@pytest.fixture
def make_user():
    def make(
        *roles: Role | str,
        email: str | None = None,
        name: str | None = None,
        password: str = PASSWORD,
        confirmed: bool = True,
        active: bool = True,
        two_factor: bool = False,
        language: str = "en",
    ) -> User:
        n = next(_seq)
        user = User(
            email=normalise_email(email or f"person{n}@example.org"),
            name=name or f"Person {n}",
            password_hash=password_hash_for(password) if password else None,
            email_confirmed_at=utcnow() if confirmed else None,
            active=active,
            language=language,
            timezone="UTC",
        )
        user.set_roles([Role(r) for r in roles] or [Role.APPLICANT])
        if two_factor:
            import pyotp

            user.totp_secret = pyotp.random_base32()
            user.totp_enabled_at = utcnow()
        db.session.add(user)
        db.session.commit()
        return user

    return make


# -- Requests as a browser sends them ------------------------------------------

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_INPUT = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token(client, path: str = "/") -> str:
    """The CSRF token a page would give this client's session."""
    response = client.get(path)
    match = CSRF_META.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def post(client, path: str, data: dict | None = None, *, token_from: str = "/", **kwargs):
    """POST a form with a valid CSRF token, as a browser would."""
    payload = dict(data or {})
    payload.setdefault("csrf_token", csrf_token(client, token_from))
    return client.post(path, data=payload, **kwargs)


def sign_in_as(client, user: User, *, two_factor_done: bool = True) -> None:
    """Put ``user`` in the client's session directly (fast; the sign-in flow has its own tests)."""
    app = client.application
    with app.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    with client.session_transaction() as session:
        session.clear()
        session["_user_id"] = user.session_token
        session["_fresh"] = True
        session["_id"] = identifier
        session["auth_at"] = int(time.time())


@pytest.fixture
def login(client):
    def do(user: User) -> User:
        sign_in_as(client, user)
        return user

    return do


def outbox(template: str | None = None, recipient: str | None = None):
    from coalition.mail.models import OutboxMessage

    query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
    if template:
        query = query.where(OutboxMessage.template == template)
    if recipient:
        query = query.where(OutboxMessage.recipient == normalise_email(recipient))
    return db.session.scalars(query).all()


LINK = re.compile(r"http://localhost(/[^\s\"<]+)")


def link_in(message) -> str:
    """The path of the (first) link in an email's text."""
    match = LINK.search(message.body_text)
    assert match, message.body_text
    return match.group(1)
