"""Failures injected (issue 15, part 3): the SMTP server goes away with 50 emails in the
outbox, in the middle of a delivery run, and comes back.

The server is a real aiosmtpd on loopback (``tests/test_mail.py``); the app sends to it
through its SMTP backend. What must hold: the emails that were not handed over wait in
the queue, each is retried with a growing back-off (never before its time), and once the
server is back every one of the 50 reaches it exactly once.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from coalition.db import utcnow
from coalition.extensions import db
from coalition.mail import deliver_due
from coalition.mail.models import OutboxMessage, OutboxStatus
from tests.test_mail import queue_confirm, smtp_port, smtp_server  # noqa: F401 - the fixture

QUEUED = 50
BEFORE_THE_OUTAGE = 20


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_smtp_down_with_50_queued_backs_off_then_delivers_each_exactly_once(app, smtp_port):  # noqa: F811
    recipients = [f"person{n}@demo.example.org" for n in range(QUEUED)]
    for n, recipient in enumerate(recipients):
        queue_confirm(key=f"confirm:outage:{n}", recipient=recipient)
    db.session.commit()
    now = utcnow()

    # The server is up for the first part of the run, then stops.
    with smtp_server(smtp_port) as first:
        assert deliver_due(now=now, limit=BEFORE_THE_OUTAGE)["sent"] == BEFORE_THE_OUTAGE
    delivered = list(first.envelopes)

    # Down: every remaining message is tried once, fails and is put off; none is lost.
    assert deliver_due(now=now) == {"sent": 0, "retry": QUEUED - BEFORE_THE_OUTAGE, "failed": 0}
    waiting = [r for r in rows() if r.status == OutboxStatus.QUEUED]
    assert len(waiting) == QUEUED - BEFORE_THE_OUTAGE
    assert all(r.attempts == 1 and r.sent_at is None and r.last_error for r in waiting)
    assert all(r.next_attempt_at > now for r in waiting)
    first_retry = min(r.next_attempt_at for r in waiting)

    # Still down at the first retry: the back-off grows (the second wait is longer).
    assert deliver_due(now=first_retry) == {"sent": 0, "retry": len(waiting), "failed": 0}
    waiting = [r for r in rows() if r.status == OutboxStatus.QUEUED]
    assert all(r.attempts == 2 for r in waiting)
    second_retry = min(r.next_attempt_at for r in waiting)
    assert second_retry - first_retry > first_retry - now

    # Back up: nothing goes before its time, then every waiting message goes, once.
    with smtp_server(smtp_port) as second:
        assert deliver_due(now=second_retry - timedelta(seconds=1))["sent"] == 0
        assert second.envelopes == []
        counts = deliver_due(now=second_retry + timedelta(seconds=1))
        assert counts == {"sent": QUEUED - BEFORE_THE_OUTAGE, "retry": 0, "failed": 0}
        # Later runs find nothing left to send.
        assert deliver_due(now=second_retry + timedelta(days=2))["sent"] == 0
        delivered += second.envelopes

    received = Counter(rcpt for envelope in delivered for rcpt in envelope.rcpt_tos)
    assert received == Counter(recipients)  # all 50, each exactly once
    final = rows()
    assert [r.status for r in final] == [OutboxStatus.SENT] * QUEUED
    assert all(r.sent_at is not None and r.last_error is None for r in final)
    assert sorted(r.attempts for r in final) == [1] * BEFORE_THE_OUTAGE + [3] * (
        QUEUED - BEFORE_THE_OUTAGE
    )
