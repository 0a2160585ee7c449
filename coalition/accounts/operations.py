"""Account operations: each changes state, writes the audit row and queues
the email, and flushes but never commits (the request or command commits).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from sqlalchemy.exc import IntegrityError

from coalition import audit, jobs
from coalition.accounts import throttle, tokens, twofactor
from coalition.accounts.models import Role, TokenPurpose, User, normalise_email
from coalition.accounts.passwords import dummy_verify, hash_password, verify_password
from coalition.db import utcnow
from coalition.extensions import db
from coalition.mail import queue_email
from coalition.text import one_line
from coalition.urls import external_url

log = logging.getLogger("coalition.accounts")


class AccountError(Exception):
    """A refused account operation; ``field`` names the form field it belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def find_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def email_taken(email: str, *, except_user: User | None = None) -> bool:
    user = find_by_email(email)
    return user is not None and user is not except_user


def greeting_name(user: User, purpose: TokenPurpose | None = None) -> str | None:
    """The name an email greets the person by, or None for a plain "Hello,".

    An unconfirmed account's name was typed by whoever signed up with the
    address, perhaps not its owner: an email to that address never repeats it.
    An invitation's name was written by the convenor staff.
    """
    if user.email_confirmed or purpose == TokenPurpose.INVITE:
        return user.name
    return None


def _email_link(
    user: User,
    purpose: TokenPurpose,
    *,
    template: str,
    endpoint: str,
    recipient: str | None = None,
    new_email: str | None = None,
    language: str | None = None,
    **context,
) -> str:
    """Issue a one-time token and queue the email carrying its link. Returns the token."""
    token = tokens.issue(user, purpose, new_email=new_email)
    queue_email(
        key=f"{template}:{user.id}:{token[:12]}",
        recipient=recipient or user.email,
        template=template,
        language=language or user.language,
        name=greeting_name(user, purpose),
        link=external_url(endpoint, token=token),
        **context,
    )
    return token


def _send_confirmation(user: User) -> None:
    _email_link(
        user,
        TokenPurpose.CONFIRM,
        template="confirm_email",
        endpoint="accounts.confirm_email",
        hours=current_app.config["CONFIRM_TOKEN_HOURS"],
    )


def request_sign_up(*, name: str, email: str, password: str, language: str, timezone: str) -> None:
    """Take a sign-up; the account is made (or its owner told) in the background.

    The request does the same work whatever the address: it hashes the
    password and queues a job, so neither its answer nor its time tells
    whether an account exists (S4). ``_sign_up_job`` decides.
    """
    jobs.enqueue(
        SIGN_UP_JOB,
        created_by=None,
        params={
            "name": name.strip(),
            "email": normalise_email(email),
            "password_hash": hash_password(password),
            "language": language,
            "timezone": timezone,
            "ip": _request_address(),
        },
    )


def sign_up(
    *, name: str, email: str, password_hash: str, language: str, timezone: str, ip: str | None
) -> User | None:
    """Create an applicant account awaiting email confirmation, and send the link.

    When the address already has an account, nothing is created: its owner
    gets an email saying so, with a link to choose a new password. Either
    email counts against the address's limit (RATELIMIT_EMAIL_PER_ADDRESS);
    past it, nothing is sent and nothing is made. Returns the new account.
    """
    existing = find_by_email(email)
    if not throttle.email_allowed(email):
        log.warning("sign-up email not sent: limit for the address reached")
        return None
    if existing is not None:
        _tell_owner_of_sign_up(existing, ip)
        return None
    user = User(
        name=one_line(name),
        email=normalise_email(email),
        password_hash=password_hash,
        password_changed_at=utcnow(),
        language=language,
        timezone=timezone,
    )
    user.set_roles([Role.APPLICANT])
    try:
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        # The same address signed up twice at once: the first one made the
        # account. (Not raised: its message would carry the password hash.)
        return None
    audit.record("user.sign_up", user, actor=user, ip_address=ip)
    _send_confirmation(user)
    return user


def _tell_owner_of_sign_up(user: User, ip: str | None) -> None:
    """Someone signed up with a taken address: tell its owner, with a reset link."""
    if user.active:
        _email_link(
            user,
            TokenPurpose.RESET,
            template="sign_up_attempt",
            endpoint="accounts.reset_password",
            minutes=current_app.config["RESET_TOKEN_MINUTES"],
        )
    audit.record("user.sign_up_attempt", user, actor=None, ip_address=ip)


def resend_confirmation(user: User) -> None:
    if not user.email_confirmed:
        _send_confirmation(user)


def request_confirmation(email: str) -> None:
    """Take a request for a new confirmation link; answered in the background (S4)."""
    jobs.enqueue(RESEND_JOB, created_by=None, params={"email": normalise_email(email)})


def confirm_email(token: str) -> User:
    row = tokens.consume(token, TokenPurpose.CONFIRM)
    user = row.user
    if not user.email_confirmed:
        user.email_confirmed_at = utcnow()
        audit.record("user.email_confirmed", user, actor=user)
    return user


class SignInResult:
    OK = "ok"
    BAD = "bad"
    UNCONFIRMED = "unconfirmed"


def check_credentials(email: str, password: str) -> tuple[str, User | None]:
    """Check an email and password; unknown emails take as long as wrong passwords (S4).

    An older hash is upgraded here (S2). Deactivated accounts and accounts
    without a password (a pending invitation) answer like a wrong password.
    """
    user = find_by_email(email)
    if user is None or not user.password_hash:
        dummy_verify()
        return SignInResult.BAD, None
    ok, needs_rehash = verify_password(user.password_hash, password)
    if not ok or not user.active:
        return SignInResult.BAD, user
    if needs_rehash:
        user.password_hash = hash_password(password)
        audit.record("user.password_rehashed", user, actor=user)
    if not user.email_confirmed:
        return SignInResult.UNCONFIRMED, user
    return SignInResult.OK, user


def record_sign_in(user: User) -> None:
    user.last_sign_in_at = utcnow()
    audit.record("user.sign_in", user, actor=user)


def record_failed_sign_in(email: str, user: User | None, reason: str) -> None:
    audit.record(
        "user.sign_in_failed",
        user,
        actor=None,
        object_type="User",
        details={"email": normalise_email(email)[:254], "reason": reason},
    )


def sign_out(user: User) -> None:
    """End every session of this user: the session id rotates (S9)."""
    user.rotate_session()
    audit.record("user.sign_out", user, actor=user)


def request_password_reset(email: str) -> None:
    """Take a reset request; the link is sent in the background, when the account exists.

    The request only queues a job, the same for every address, so that its
    time says nothing either (S4). ``send_password_reset`` decides.
    """
    jobs.enqueue(
        RESET_JOB,
        created_by=None,
        params={"email": normalise_email(email), "ip": _request_address()},
    )


def send_password_reset(email: str, ip: str | None = None) -> bool:
    """Queue a reset link when an active account has this address. Returns whether it did."""
    user = find_by_email(email)
    if user is None or not user.active:
        return False
    _email_link(
        user,
        TokenPurpose.RESET,
        template="reset_password",
        endpoint="accounts.reset_password",
        minutes=current_app.config["RESET_TOKEN_MINUTES"],
    )
    audit.record("user.reset_requested", user, actor=None, ip_address=ip)
    return True


# -- The background half of the requests above ----------------------------------------

SIGN_UP_JOB = "accounts.sign_up"
RESET_JOB = "accounts.password_reset"
RESEND_JOB = "accounts.resend_confirmation"
ACCOUNT_JOBS = (SIGN_UP_JOB, RESET_JOB, RESEND_JOB)
# Finished account jobs are deleted after this: they only ever held what a form sent.
ACCOUNT_JOBS_KEPT = timedelta(days=1)


def _request_address() -> str | None:
    return request.remote_addr if has_request_context() else None


def _take_params(job: jobs.Job) -> dict:
    """The job's parameters, removed from the row: a typed address or a password
    hash is kept no longer than it takes to act on it."""
    params = dict(job.params or {})
    job.params = {}
    db.session.execute(
        sa.delete(jobs.Job).where(
            jobs.Job.kind.in_(ACCOUNT_JOBS),
            jobs.Job.finished_at.is_not(None),
            jobs.Job.finished_at < utcnow() - ACCOUNT_JOBS_KEPT,
        )
    )
    return params


def _sign_up_job(job: jobs.Job) -> None:
    params = _take_params(job)
    sign_up(
        name=params["name"],
        email=params["email"],
        password_hash=params["password_hash"],
        language=params["language"],
        timezone=params["timezone"],
        ip=params.get("ip"),
    )


def _reset_job(job: jobs.Job) -> None:
    params = _take_params(job)
    send_password_reset(params["email"], params.get("ip"))


def _resend_job(job: jobs.Job) -> None:
    params = _take_params(job)
    user = find_by_email(params["email"])
    if user is not None and user.active:
        resend_confirmation(user)


def job_handlers() -> dict:
    """The account jobs: kind -> handler, for ``coalition.jobs.register``."""
    return {SIGN_UP_JOB: _sign_up_job, RESET_JOB: _reset_job, RESEND_JOB: _resend_job}


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.rotate_session()
    tokens.revoke(user, TokenPurpose.RESET)


def reset_password(token: str, password: str) -> User:
    row = tokens.consume(token, TokenPurpose.RESET)
    user = row.user
    _set_password(user, password)
    # Whoever holds the mailbox proves the address.
    if not user.email_confirmed:
        user.email_confirmed_at = utcnow()
    audit.record("user.password_reset", user, actor=user)
    queue_email(
        key=f"password_changed:{user.id}:{user.session_token[:12]}",
        recipient=user.email,
        template="password_changed",
        language=user.language,
        name=greeting_name(user),
    )
    return user


def change_password(user: User, current: str, new: str) -> None:
    from flask_babel import gettext as _

    ok, _rehash = verify_password(user.password_hash, current)
    if not ok:
        raise AccountError(_("This is not your current password."), "current_password")
    _set_password(user, new)
    audit.record("user.password_changed", user, actor=user)
    queue_email(
        key=f"password_changed:{user.id}:{user.session_token[:12]}",
        recipient=user.email,
        template="password_changed",
        language=user.language,
        name=greeting_name(user),
    )


def request_email_change(user: User, new_email: str, password: str) -> None:
    """Send a confirmation link to the new address; the address changes when it is used."""
    from flask_babel import gettext as _

    ok, _rehash = verify_password(user.password_hash, password)
    if not ok:
        raise AccountError(_("This is not your current password."), "password")
    new_email = normalise_email(new_email)
    if new_email == user.email:
        raise AccountError(_("This is already your email address."), "email")
    if email_taken(new_email):
        raise AccountError(_("An account with this email already exists."), "email")
    token = _email_link(
        user,
        TokenPurpose.EMAIL_CHANGE,
        template="confirm_new_email",
        endpoint="accounts.confirm_new_email",
        recipient=new_email,
        new_email=new_email,
        hours=current_app.config["CONFIRM_TOKEN_HOURS"],
    )
    queue_email(
        key=f"email_change_notice:{user.id}:{token[:12]}",
        recipient=user.email,
        template="email_change_notice",
        language=user.language,
        name=greeting_name(user),
    )
    audit.record("user.email_change_requested", user, details={"new_email": new_email})


def confirm_new_email(token: str) -> User:
    from flask_babel import gettext as _

    row = tokens.consume(token, TokenPurpose.EMAIL_CHANGE)
    user = row.user
    if email_taken(row.new_email, except_user=user):
        raise AccountError(_("An account with this email already exists."))
    changes = {"email": [user.email, row.new_email]}
    user.email = row.new_email
    user.email_confirmed_at = utcnow()
    user.rotate_session()
    audit.record("user.email_changed", user, changes=changes, actor=user)
    return user


def update_profile(user: User, *, name: str, language: str, timezone: str) -> None:
    user.name = name.strip()
    user.language = language
    user.timezone = timezone
    changes = audit.changes_of(user, ["name", "language", "timezone"])
    if changes:
        audit.record("user.profile_updated", user, changes=changes)


def invite(*, inviter: User, email: str, name: str, roles: list[Role], language: str) -> User:
    """Create an account without a password and email a link to set one."""
    from flask_babel import gettext as _

    if email_taken(email):
        raise AccountError(_("An account with this email already exists."), "email")
    user = User(
        name=name.strip(),
        email=normalise_email(email),
        password_hash=None,
        language=language,
        timezone="UTC",
    )
    user.set_roles(roles)
    db.session.add(user)
    db.session.flush()
    _send_invitation(inviter, user, language)
    audit.record(
        "user.invited",
        user,
        actor=inviter,
        changes={"email": [None, user.email], "roles": [[], sorted(r.value for r in roles)]},
    )
    return user


def _send_invitation(inviter: User, user: User, language: str) -> None:
    _email_link(
        user,
        TokenPurpose.INVITE,
        template="invitation",
        endpoint="accounts.accept_invitation",
        language=language,
        inviter=inviter.name,
        roles=[str(r.label) for r in sorted(user.roles)],
        days=current_app.config["INVITE_TOKEN_DAYS"],
    )


def resend_invitation(inviter: User, user: User) -> None:
    from flask_babel import gettext as _

    if user.password_hash:
        raise AccountError(_("This person has already accepted the invitation."))
    _send_invitation(inviter, user, user.language)
    audit.record("user.invitation_resent", user, actor=inviter)


def accept_invitation(token: str, password: str) -> User:
    row = tokens.consume(token, TokenPurpose.INVITE)
    user = row.user
    _set_password(user, password)
    user.email_confirmed_at = user.email_confirmed_at or utcnow()
    audit.record("user.invitation_accepted", user, actor=user)
    return user


def set_roles(actor: User, user: User, roles: list[Role]) -> None:
    """Change a user's roles; their sessions end so the new roles take hold at once."""
    from flask_babel import gettext as _

    before = sorted(r.value for r in user.roles)
    after = sorted(Role(r).value for r in roles)
    if before == after:
        return
    if user is actor and Role.CONVENOR.value in before and Role.CONVENOR.value not in after:
        raise AccountError(_("You cannot take the convenor role from yourself."), "roles")
    user.set_roles(roles)
    user.rotate_session()
    audit.record("user.roles_changed", user, actor=actor, changes={"roles": [before, after]})


def set_active(actor: User, user: User, active: bool) -> None:
    """Deactivate (every session stops at once) or reactivate an account."""
    from flask_babel import gettext as _

    if user is actor and not active:
        raise AccountError(_("You cannot deactivate your own account."))
    if user.active == active:
        return
    user.active = active
    user.rotate_session()
    audit.record(
        "user.activated" if active else "user.deactivated",
        user,
        actor=actor,
        changes={"active": [not active, active]},
    )


def enable_two_factor(user: User, secret: str, code: str) -> list[str]:
    """Turn on TOTP once the user proves their app shows the right code."""
    from flask_babel import gettext as _

    if not twofactor.verify_totp(user, code, secret=secret):
        raise AccountError(
            _("That code is not right. Check your app's clock and try again."), "code"
        )
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    twofactor.end_enrolment(user)
    codes = twofactor.new_recovery_codes(user)
    audit.record("user.two_factor_enabled", user)
    return codes


def disable_two_factor(user: User, password: str) -> None:
    from flask_babel import gettext as _

    if user.requires_two_factor:
        raise AccountError(_("Your role requires two-factor sign-in; it cannot be turned off."))
    ok, _rehash = verify_password(user.password_hash, password)
    if not ok:
        raise AccountError(_("This is not your current password."), "password")
    _clear_two_factor(user)
    audit.record("user.two_factor_disabled", user)


def _clear_two_factor(user: User) -> None:
    twofactor.end_enrolment(user)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.recovery_codes.clear()


def reset_two_factor(actor: User, user: User) -> None:
    """Staff clear a user's second factor (a lost phone). Audited; their sessions end."""
    _clear_two_factor(user)
    user.rotate_session()
    audit.record("user.two_factor_reset", user, actor=actor)
    queue_email(
        key=f"two_factor_reset:{user.id}:{user.session_token[:12]}",
        recipient=user.email,
        template="two_factor_reset",
        language=user.language,
        name=greeting_name(user),
    )


def regenerate_recovery_codes(user: User) -> list[str]:
    codes = twofactor.new_recovery_codes(user)
    audit.record("user.recovery_codes_regenerated", user)
    return codes


def create_user(
    *, email: str, name: str, password: str, roles: list[Role], language: str = "en"
) -> User:
    """Create a confirmed, active account directly (the CLI and demo data)."""
    from flask_babel import gettext as _

    if email_taken(email):
        raise AccountError(_("An account with this email already exists."), "email")
    user = User(
        email=normalise_email(email),
        name=name.strip(),
        password_hash=hash_password(password),
        password_changed_at=utcnow(),
        email_confirmed_at=utcnow(),
        language=language,
        timezone="UTC",
    )
    user.set_roles(roles)
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", user, changes={"roles": [[], sorted(r.value for r in roles)]})
    return user
