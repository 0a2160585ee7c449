"""What the load run found, kept fixed.

On SQLite, form posts answered 503 ("database unavailable") while the
scheduler delivered a burst of emails: each message read its fields back
after the claim's commit, which began a transaction (BEGIN IMMEDIATE, as
every transaction outside a page view does) and so held the database's write
lock for the whole SMTP conversation. Back-to-back sends kept it, and the web
workers' writes waited past the busy timeout. With an SMTP server that is slow
or away (up to SMTP_TIMEOUT per attempt) every form post would fail. The claim's
commit now keeps the message loaded, and sending touches no database.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from coalition.extensions import db
from coalition.mail import deliver_due
from tests.conftest import is_postgres
from tests.test_mail import queue_confirm, smtp_port  # noqa: F401  (the fixture)


class HeldHandler:
    """An SMTP server that keeps each message until told to let it go."""

    def __init__(self):
        self.arrived = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.arrived.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        return "250 Message accepted for delivery"


@pytest.mark.committing
def test_an_email_with_the_smtp_server_leaves_the_database_free_to_write(app, smtp_port):  # noqa: F811
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if is_postgres(url):
        pytest.skip("PostgreSQL locks rows, not the database: a write never waits on a send")
    from aiosmtpd.controller import Controller

    handler = HeldHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    queue_confirm()
    db.session.commit()
    counts = {}

    def deliver():
        with app.app_context():
            counts.update(deliver_due())
            db.session.remove()

    sender = threading.Thread(target=deliver)
    sender.start()
    try:
        assert handler.arrived.wait(10), "the email never reached the SMTP server"
        # The message is with the SMTP server: a form post elsewhere takes the write lock.
        other = sqlite3.connect(url.split("///", 1)[1], timeout=1, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()
    finally:
        handler.release.set()
        sender.join(15)
        controller.stop()
    assert counts == {"sent": 1, "retry": 0, "failed": 0}
