"""Email through an outbox: queue in the request's transaction, send later.

``queue_email`` renders a message in the recipient's language and adds it to
the outbox; the scheduler's ``deliver_due`` sends what is due over SMTP,
retrying with back-off. A message is identified by its key, so queuing the
same key twice queues it once, and a message is sent at most once: one
interrupted while being handed to the server is marked failed, never sent
again (see ``deliver_due``).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from markupsafe import escape
from sqlalchemy.exc import IntegrityError

from coalition.config import RTL_LANGUAGES
from coalition.db import utcnow
from coalition.extensions import db
from coalition.i18n import forget_cached_labels
from coalition.mail.models import OutboxMessage, OutboxStatus
from coalition.text import one_line

log = logging.getLogger("coalition.mail")

# Minutes to wait after the 1st, 2nd, ... failed attempt.
BACKOFF_MINUTES = (1, 5, 15, 60, 180, 360, 720)


def _flattened(value):
    """Every string in an email's context on one line (lists and dicts included).

    Forms refuse line breaks in names (``coalition.text.SingleLine``); this
    holds for older rows too, so that no value can start a line of its own in
    the plain text, where it would read like the coalition's own words.
    """
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, list | tuple):
        return [_flattened(v) for v in value]
    if isinstance(value, dict):
        return {k: _flattened(v) for k, v in value.items()}
    return value


def render_email(template: str, language: str, **context) -> tuple[str, str, str]:
    """(subject, text, html) of ``templates/emails/<template>.html`` in ``language``.

    Values are flattened to one line each (see ``_flattened``).
    """
    context = {k: _flattened(v) for k, v in context.items()}
    env = current_app.jinja_env
    tmpl = env.get_template(f"emails/{template}.html")
    with force_locale(language):
        forget_cached_labels()  # labels of the page's language must not leak in
        ctx = dict(context)
        current_app.update_template_context(ctx)
        context_obj = tmpl.new_context(ctx)
        parts = {}
        for block in ("subject", "text", "html"):
            parts[block] = "".join(tmpl.blocks[block](context_obj)).strip()
    forget_cached_labels()
    subject = " ".join(parts["subject"].split())
    # The HTML body says its language and direction (an Arabic email reads right to left).
    direction = "rtl" if language in RTL_LANGUAGES else "ltr"
    html = f'<div lang="{escape(language)}" dir="{direction}">{parts["html"]}</div>'
    return subject, parts["text"] + "\n", html


def queue_email(
    *, key: str, recipient: str, template: str, language: str = "en", **context
) -> OutboxMessage:
    """Add a message to the outbox, once per ``key``. Never queues the same key twice."""
    existing = db.session.scalar(sa.select(OutboxMessage).filter_by(key=key))
    if existing is not None:
        return existing
    subject, text, html = render_email(template, language, **context)
    message = OutboxMessage(
        key=key,
        recipient=recipient,
        language=language,
        template=template,
        subject=subject,
        body_text=text,
        body_html=html,
    )
    try:
        with db.session.begin_nested():
            db.session.add(message)
    except IntegrityError:
        # Another transaction queued the same key first.
        return db.session.scalar(sa.select(OutboxMessage).filter_by(key=key))
    return message


def _build(message: OutboxMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = message.recipient
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip("> "))
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    # After set_content(), which replaces every Content-* header.
    email["Content-Language"] = message.language
    return email


def _smtp_send(email: EmailMessage, config: dict) -> None:
    host, port = config["SMTP_HOST"], config["SMTP_PORT"]
    timeout = config["SMTP_TIMEOUT"]
    security = config["SMTP_SECURITY"]
    context = ssl.create_default_context()
    if security == "tls":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    with smtp:
        if security == "starttls":
            smtp.starttls(context=context)
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"] or "")
        smtp.send_message(email)


def send(message: OutboxMessage) -> None:
    """Hand one message to the configured backend; raises on failure."""
    config = current_app.config
    backend = config["MAIL_BACKEND"]
    if backend == "log":
        log.info(
            "email (not sent: MAIL_BACKEND=log)",
            extra={
                "fields": {
                    "to": message.recipient,
                    "subject": message.subject,
                    "template": message.template,
                    "body": message.body_text,
                }
            },
        )
        return
    if backend == "smtp":
        _smtp_send(_build(message, config["MAIL_FROM"]), config)
        return
    raise RuntimeError(f"unknown MAIL_BACKEND {backend!r}")


INTERRUPTED_WHILE_SENDING = (
    "interrupted while being handed to the SMTP server: it may have arrived, so it is not "
    "sent again"
)


def _commit_keeping_loaded() -> None:
    """Commit, and keep the loaded rows as they are: sending then reads the message
    without the database. Reading it back would begin a transaction, which outside a
    page view takes SQLite's write lock (BEGIN IMMEDIATE) and would hold it for the
    whole SMTP conversation, every form post waiting on the mail server."""
    session = db.session()
    before = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = before


def deliver_due(now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Send the messages that are due, each at most once.

    Each message is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` on
    PostgreSQL (on SQLite the write lock serialises senders), so two
    schedulers never send the same message. Before it goes to the server, the
    claim is committed with ``sent_at`` set while the status stays queued (in
    flight); success marks it sent, failure clears ``sent_at`` and backs off.
    A process killed between the two leaves it in flight: it is never picked
    again, and ``fail_interrupted_sends`` (at the scheduler's start) marks it
    failed, since it may have arrived. Returns counts by outcome.
    """
    now = now or utcnow()
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for _ in range(limit):
        message = db.session.scalar(
            sa.select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.QUEUED,
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.sent_at.is_(None),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if message is None:
            db.session.rollback()  # end the (empty) read transaction
            break
        message.attempts += 1
        message.sent_at = utcnow()  # in flight
        _commit_keeping_loaded()
        try:
            send(message)
        except Exception as exc:
            message.sent_at = None
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.attempts >= max_attempts:
                message.status = OutboxStatus.FAILED
                counts["failed"] += 1
                log.error(
                    "email given up",
                    extra={"fields": {"outbox_id": message.id, "error": message.last_error}},
                )
            else:
                delay = BACKOFF_MINUTES[min(message.attempts, len(BACKOFF_MINUTES)) - 1]
                message.next_attempt_at = now + timedelta(minutes=delay)
                counts["retry"] += 1
                log.warning(
                    "email not sent, will retry",
                    extra={
                        "fields": {
                            "outbox_id": message.id,
                            "attempt": message.attempts,
                            "error": message.last_error,
                        }
                    },
                )
        else:
            message.status = OutboxStatus.SENT
            message.sent_at = utcnow()
            message.last_error = None
            counts["sent"] += 1
        db.session.commit()
    return counts


def fail_interrupted_sends() -> int:
    """Messages left in flight by a sender that died are marked failed, never sent twice.

    Called when the scheduler starts, holding the installation's scheduler
    lock (no other sender runs). Returns how many.
    """
    stuck = db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.sent_at.is_not(None))
        .with_for_update()
    ).all()
    for message in stuck:
        message.status = OutboxStatus.FAILED
        message.last_error = INTERRUPTED_WHILE_SENDING
        log.error(
            "email interrupted while sending",
            extra={"fields": {"outbox_id": message.id, "key": message.key}},
        )
    db.session.commit()
    return len(stuck)
