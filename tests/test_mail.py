"""The outbox against a real SMTP server (aiosmtpd on loopback), S31.

``queue_email`` writes a row; ``deliver_due`` sends what is due, once, and
retries with back-off when the server is away.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition import mail
from coalition.db import utcnow
from coalition.extensions import db
from coalition.jobs import run_pending
from coalition.mail import deliver_due, queue_email
from coalition.mail.models import OutboxMessage, OutboxStatus
from tests.conftest import outbox, post

# -- An SMTP server that keeps what it receives -------------------------------------


class RecordingHandler:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        return [
            email.message_from_bytes(e.original_content or e.content, policy=email.policy.default)
            for e in self.envelopes
        ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server(port: int):
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp_port(app, monkeypatch):
    """A free loopback port the app sends mail to (nothing listens on it yet)."""
    port = free_port()
    # monkeypatch restores the session-wide app's config after the test.
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    monkeypatch.setitem(app.config, "SMTP_SECURITY", "none")
    monkeypatch.setitem(app.config, "SMTP_USERNAME", None)
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT", 5)
    return port


@pytest.fixture
def smtpd(smtp_port):
    with smtp_server(smtp_port) as handler:
        yield handler


def queue_confirm(key="confirm:test:1", recipient="ada@example.org", language="en", **extra):
    """A confirmation of a new address: an email that greets the person by name."""
    context = {"name": "Ada", "link": "http://localhost/confirm/abc123", "hours": 48}
    context.update(extra)
    return queue_email(
        key=key, recipient=recipient, template="confirm_new_email", language=language, **context
    )


def reload(message: OutboxMessage) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message.id)


# -- Delivery -----------------------------------------------------------------------


def test_deliver_due_sends_one_message_with_text_and_html(app, smtpd):
    message = queue_confirm()
    db.session.commit()
    assert message.status == OutboxStatus.QUEUED
    assert message.attempts == 0

    before = utcnow()
    counts = deliver_due()

    assert counts == {"sent": 1, "retry": 0, "failed": 0}
    assert len(smtpd.envelopes) == 1
    envelope = smtpd.envelopes[0]
    assert envelope.rcpt_tos == ["ada@example.org"]
    assert envelope.mail_from == "no-reply@coalition.invalid"

    received = smtpd.messages()[0]
    assert received["To"] == "ada@example.org"
    assert received["Subject"] == "Confirm your new email address"
    assert received["Message-ID"]
    assert received.is_multipart()
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "Hello Ada," in text
    assert "http://localhost/confirm/abc123" in text
    assert "48 hours" in text
    assert '<a href="http://localhost/confirm/abc123">' in html
    assert "<" not in text  # the text part is not the HTML again

    row = reload(message)
    assert row.status == OutboxStatus.SENT
    assert row.attempts == 1
    assert row.sent_at is not None and row.sent_at >= before - timedelta(seconds=1)
    assert row.last_error is None

    # Nothing is due any more: a second run sends nothing.
    assert deliver_due() == {"sent": 0, "retry": 0, "failed": 0}
    assert len(smtpd.envelopes) == 1


def test_the_same_key_queued_twice_is_one_row_and_one_delivery(app, smtpd):
    first = queue_confirm(key="confirm:dup:1", name="Ada")
    second = queue_confirm(key="confirm:dup:1", name="Somebody Else")
    db.session.commit()

    assert second.id == first.id
    rows = db.session.scalars(sa.select(OutboxMessage).filter_by(key="confirm:dup:1")).all()
    assert len(rows) == 1
    assert "Hello Ada," in rows[0].body_text  # the first one queued is the one kept

    deliver_due()
    deliver_due()
    assert len(smtpd.envelopes) == 1


def test_server_down_backs_off_then_delivers_once(app, smtp_port):
    message = queue_confirm(key="confirm:down:1")
    db.session.commit()
    now = utcnow()

    # Nothing listens on the port: the attempt fails and is put off.
    counts = deliver_due(now=now)
    assert counts == {"sent": 0, "retry": 1, "failed": 0}
    row = reload(message)
    assert row.status == OutboxStatus.QUEUED
    assert row.attempts == 1
    assert row.last_error and "Connection" in row.last_error
    assert row.next_attempt_at > now
    assert row.sent_at is None

    # At the same moment it is not due: no new attempt.
    assert deliver_due(now=now) == {"sent": 0, "retry": 0, "failed": 0}
    assert reload(message).attempts == 1

    with smtp_server(smtp_port) as smtpd:
        # Still not due while the back-off lasts, even with the server up.
        assert deliver_due(now=now) == {"sent": 0, "retry": 0, "failed": 0}
        assert smtpd.envelopes == []

        later = row.next_attempt_at + timedelta(seconds=1)
        assert deliver_due(now=later) == {"sent": 1, "retry": 0, "failed": 0}
        assert deliver_due(now=later + timedelta(hours=1)) == {"sent": 0, "retry": 0, "failed": 0}
        assert len(smtpd.envelopes) == 1
        assert smtpd.envelopes[0].rcpt_tos == ["ada@example.org"]

    row = reload(message)
    assert row.status == OutboxStatus.SENT
    assert row.attempts == 2
    assert row.last_error is None
    assert row.sent_at is not None


def test_back_off_grows_between_attempts(app, smtp_port):
    message = queue_confirm(key="confirm:backoff:1")
    db.session.commit()
    now = utcnow()
    delays = []
    for _ in range(3):
        deliver_due(now=now)
        row = reload(message)
        delays.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert delays[0] > timedelta(0)
    assert delays[0] < delays[1] < delays[2]


def test_gives_up_after_max_attempts_and_never_tries_again(app, smtp_port):
    max_attempts = app.config["MAIL_MAX_ATTEMPTS"]
    assert max_attempts > 1
    message = queue_confirm(key="confirm:fail:1")
    db.session.commit()

    now = utcnow()
    outcomes = []
    for _ in range(max_attempts):
        counts = deliver_due(now=now)
        outcomes.append(counts)
        now = reload(message).next_attempt_at + timedelta(seconds=1)

    assert outcomes[:-1] == [{"sent": 0, "retry": 1, "failed": 0}] * (max_attempts - 1)
    assert outcomes[-1] == {"sent": 0, "retry": 0, "failed": 1}
    row = reload(message)
    assert row.status == OutboxStatus.FAILED
    assert row.attempts == max_attempts
    assert row.last_error
    assert row.sent_at is None

    # Given up means given up: even with the server back, much later.
    with smtp_server(smtp_port) as smtpd:
        assert deliver_due(now=now + timedelta(days=30)) == {"sent": 0, "retry": 0, "failed": 0}
        assert smtpd.envelopes == []
    row = reload(message)
    assert row.status == OutboxStatus.FAILED
    assert row.attempts == max_attempts


# -- Language -----------------------------------------------------------------------


def test_message_is_rendered_in_the_recipients_language(app, smtpd, monkeypatch):
    locales = []
    real_force_locale = mail.force_locale

    def spy(locale):
        locales.append(str(locale))
        return real_force_locale(locale)

    monkeypatch.setattr(mail, "force_locale", spy)
    message = queue_confirm(key="confirm:fr:1", recipient="marie@example.org", language="fr")
    db.session.commit()
    assert locales == ["fr"]
    assert reload(message).language == "fr"

    deliver_due()
    received = smtpd.messages()
    assert len(received) == 1
    assert received[0]["To"] == "marie@example.org"


def test_sent_message_carries_its_language_in_content_language(app, smtpd):
    queue_confirm(key="confirm:fr:2", recipient="marie@example.org", language="fr")
    db.session.commit()

    deliver_due()
    received = smtpd.messages()
    assert len(received) == 1
    assert received[0]["Content-Language"] == "fr"


# -- The development backend -----------------------------------------------------------


def test_log_backend_marks_sent_and_logs_the_subject(app, caplog, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "log")
    caplog.set_level(logging.INFO, logger="coalition.mail")
    message = queue_confirm(key="confirm:log:1", recipient="log@example.org")
    db.session.commit()

    assert deliver_due() == {"sent": 1, "retry": 0, "failed": 0}

    row = reload(message)
    assert row.status == OutboxStatus.SENT
    assert row.attempts == 1
    records = [r for r in caplog.records if r.name == "coalition.mail"]
    assert len(records) == 1
    fields = records[0].fields
    assert fields["subject"] == "Confirm your new email address"
    assert fields["to"] == "log@example.org"
    assert fields["template"] == "confirm_new_email"


def test_unknown_backend_is_an_error_not_a_silent_success(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "carrier-pigeon")
    message = queue_confirm(key="confirm:bad-backend:1")
    db.session.commit()
    assert deliver_due() == {"sent": 0, "retry": 1, "failed": 0}
    row = reload(message)
    assert row.status == OutboxStatus.QUEUED
    assert "carrier-pigeon" in row.last_error


# -- End to end ---------------------------------------------------------------------


def test_sign_up_queues_a_confirmation_that_reaches_the_server(app, client, smtpd):
    response = post(
        client,
        "/sign-up",
        {
            "name": "Grace Hopper",
            "email": "Grace@Example.org",
            "password": "violet tundra marimba sprocket",
            "confirm": "violet tundra marimba sprocket",
            "language": "en",
            "timezone": "UTC",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith("/sign-up/check-email")
    assert outbox() == [], "the request only queues a job"
    run_pending()  # the scheduler's part

    queued = outbox(template="confirm_email", recipient="grace@example.org")
    assert len(queued) == 1
    assert queued[0].status == OutboxStatus.QUEUED

    assert deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    assert len(smtpd.envelopes) == 1
    assert smtpd.envelopes[0].rcpt_tos == ["grace@example.org"]
    received = smtpd.messages()[0]
    text = received.get_body(("plain",)).get_content()
    # The address is not confirmed yet: whoever typed the name may not own it (finding 8).
    assert "Hello," in text and "Grace Hopper" not in text
    assert "http://localhost/confirm/" in text
    html = received.get_body(("html",)).get_content()
    assert 'href="http://localhost/confirm/' in html


def test_15_smtp_stops_with_50_queued_each_is_delivered_exactly_once_when_back(app, smtp_port):
    """Issue 15: the server stops in the middle of sending 50 emails; they wait, retry with
    back-off (a first temporary refusal too), and each arrives once when it is back."""
    messages = [
        queue_confirm(key=f"confirm:outage:{n}", recipient=f"person{n}@example.org")
        for n in range(50)
    ]
    db.session.commit()
    now = utcnow()
    with smtp_server(smtp_port) as first:
        assert deliver_due(now=now, limit=20) == {"sent": 20, "retry": 0, "failed": 0}
    # The server is gone: the other 30 fail fast and wait for their back-off.
    assert deliver_due(now=now) == {"sent": 0, "retry": 30, "failed": 0}
    assert deliver_due(now=now + timedelta(seconds=30)) == {"sent": 0, "retry": 0, "failed": 0}
    waiting = [reload(m) for m in messages[20:]]
    assert {m.status for m in waiting} == {OutboxStatus.QUEUED}
    assert {m.attempts for m in waiting} == {1}
    assert min(m.next_attempt_at for m in waiting) >= now + timedelta(minutes=1)

    class RefusesFiveFirst(RecordingHandler):
        refused = 0

        async def handle_DATA(self, server, session, envelope):
            if self.refused < 5:
                self.refused += 1
                return "451 Requested action aborted: try again later"
            return await super().handle_DATA(server, session, envelope)

    from aiosmtpd.controller import Controller

    handler = RefusesFiveFirst()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        back = now + timedelta(minutes=2)
        assert deliver_due(now=back) == {"sent": 25, "retry": 5, "failed": 0}
        assert deliver_due(now=back) == {"sent": 0, "retry": 0, "failed": 0}  # back-off again
        assert deliver_due(now=back + timedelta(minutes=6)) == {"sent": 5, "retry": 0, "failed": 0}
        assert deliver_due(now=back + timedelta(days=1)) == {"sent": 0, "retry": 0, "failed": 0}
    finally:
        controller.stop()
    received = [rcpt for e in first.envelopes + handler.envelopes for rcpt in e.rcpt_tos]
    assert sorted(received) == sorted(f"person{n}@example.org" for n in range(50))
    assert {reload(m).status for m in messages} == {OutboxStatus.SENT}
