"""Accounts end to end through the test client: sign-up, confirmation,
sign-in and out, passwords, tokens, email change and invitations (S1, S2, S4, S5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from werkzeug.security import generate_password_hash

from coalition.accounts.models import Role, User, UserToken
from coalition.accounts.passwords import password_problem, verify_password
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.jobs import run_pending
from tests.conftest import PASSWORD, link_in, outbox, post

NEW_PASSWORD = "a quite different passphrase"


def user_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User))


def sign_up(client, **fields):
    data = {
        "name": "Fatou Ndiaye",
        "email": "fatou@example.sn",
        "password": PASSWORD,
        "confirm": PASSWORD,
        "language": "fr",
        "timezone": "Africa/Dakar",
    }
    data.update(fields)
    response = post(client, "/sign-up", data, token_from="/sign-up")
    run_pending()  # the scheduler's part: the account is made in the background
    return response


def forgot(client, email, **kwargs):
    """Ask for a reset link, and run the background job that sends it."""
    response = post(client, "/password/forgot", {"email": email}, **kwargs)
    run_pending()
    return response


def sign_in(client, email, password=PASSWORD, **extra):
    return post(
        client, "/sign-in", {"email": email, "password": password, **extra}, token_from="/sign-in"
    )


def signed_in(client) -> bool:
    return client.get("/account/").status_code == 200


# -- S1 passwords ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("a" * 5 + "bcdef" + "g", False),  # 11 characters
        ("elevenchars", False),
        ("twelve chars", True),
        ("a 64-character passphrase with spaces, accents é and emoji 🌍🔐 ok!"[:64], True),
        ("x1" * 64 + "y", False),  # 129 characters
        ("qwerty123456", False),  # among the commonest
        ("1q2w3e4r5t6y", False),
        ("aaaaaaaaaaaaaaa", False),
    ],
)
def test_password_policy(password, accepted, app):
    with app.test_request_context():
        assert (password_problem(password) is None) is accepted


def test_sign_up_refuses_short_password_beside_the_field_and_keeps_input(client):
    response = sign_up(client, password="short pass", confirm="short pass")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Use at least 12 characters." in page
    assert 'value="Fatou Ndiaye"' in page and 'value="fatou@example.sn"' in page
    assert 'aria-invalid="true"' in page
    assert user_count() == 0


def test_sign_up_refuses_common_password(client):
    response = sign_up(client, password="qwerty123456", confirm="qwerty123456")
    assert "among the most common" in response.get_data(as_text=True)
    assert user_count() == 0


def test_sign_up_accepts_long_unicode_password(client):
    password = "ma phrase de passe 🌍 avec des espaces et des accents éàü 1234567"[:64]
    assert len(password) == 64
    response = sign_up(client, password=password, confirm=password)
    assert response.status_code == 302
    assert user_count() == 1


def test_sign_up_bad_inputs(client, make_user):
    make_user(email="taken@example.org")
    cases = [
        ({"email": "not an email"}, "Enter an email address like name@example.org."),
        ({"confirm": "something else entirely"}, "The two passwords are not the same."),
        ({"password": "x" * 200, "confirm": "x" * 200}, "Use at most 128 characters."),
    ]
    for fields, message in cases:
        response = sign_up(client, **fields)
        assert response.status_code == 200
        assert message in response.get_data(as_text=True), fields
    assert user_count() == 1


# -- S2 hashing -------------------------------------------------------------------


def test_hash_is_argon2id_with_64_mib(client):
    sign_up(client)
    stored = db.session.scalar(sa.select(User.password_hash))
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 65536


@pytest.mark.parametrize("method", ["scrypt", "pbkdf2:sha256"])
def test_old_hash_is_upgraded_on_sign_in(client, make_user, method):
    user = make_user()
    user.password_hash = generate_password_hash(PASSWORD, method=method)
    db.session.commit()
    assert sign_in(client, user.email).status_code == 302
    db.session.refresh(user)
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, PASSWORD) == (True, False)


# -- Sign-up, confirmation, sign-in, sign-out ---------------------------------------


def test_sign_up_confirm_sign_in_sign_out(client):
    response = sign_up(client)
    assert response.headers["Location"].endswith("/sign-up/check-email")
    user = db.session.scalar(sa.select(User))
    assert user.roles == {Role.APPLICANT}
    assert user.language == "fr" and user.timezone == "Africa/Dakar"
    assert not user.email_confirmed

    # Before confirmation, the right password does not sign in.
    response = sign_in(client, "fatou@example.sn")
    assert "Confirm your email address first" in response.get_data(as_text=True)
    assert not signed_in(client)

    [message] = outbox("confirm_email")
    assert message.recipient == "fatou@example.sn" and message.language == "fr"
    link = link_in(message)
    # Following the link (GET) changes nothing: mail scanners follow links.
    assert client.get(link).status_code == 200
    db.session.refresh(user)
    assert not user.email_confirmed
    response = post(client, link, token_from=link)
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.email_confirmed

    response = sign_in(client, "Fatou@Example.SN ")
    assert response.status_code == 302
    assert signed_in(client)
    db.session.refresh(user)
    assert user.last_sign_in_at is not None

    response = post(client, "/sign-out", token_from="/account/")
    assert response.status_code == 302
    assert not signed_in(client)


def test_confirmation_link_works_once(client):
    sign_up(client)
    link = link_in(outbox("confirm_email")[0])
    assert post(client, link, token_from=link).status_code == 302
    response = post(client, link, token_from="/")
    assert response.status_code == 400
    assert "This link does not work" in response.get_data(as_text=True)


def test_confirmation_link_expires(client, app):
    sign_up(client)
    link = link_in(outbox("confirm_email")[0])
    later = utcnow() + timedelta(hours=app.config["CONFIRM_TOKEN_HOURS"], seconds=1)
    with time_machine.travel(later, tick=False):
        response = client.get(link)
    assert response.status_code == 400
    assert "This link does not work" in response.get_data(as_text=True)


@pytest.mark.parametrize("token", ["forged-token", "x" * 300, "%00", "' OR 1=1 --"])
def test_forged_tokens_are_refused(client, token):
    for path in ("/confirm/", "/password/reset/", "/invitation/", "/account/email/confirm/"):
        response = client.get(path + token)
        assert response.status_code in (400, 404)


def test_tokens_are_stored_hashed(client):
    sign_up(client)
    link = link_in(outbox("confirm_email")[0])
    token = link.rsplit("/", 1)[1]
    stored = db.session.scalar(sa.select(UserToken.token_hash))
    assert token not in stored and len(stored) == 64


def test_resend_confirmation_says_the_same_for_unknown_email(client):
    sign_up(client)
    first = post(client, "/confirm/resend", {"email": "fatou@example.sn"}, follow_redirects=True)
    second = post(client, "/confirm/resend", {"email": "nobody@example.org"}, follow_redirects=True)
    run_pending()
    assert first.status_code == second.status_code == 200
    text = "If an unconfirmed account uses that address"
    assert text in first.get_data(as_text=True) and text in second.get_data(as_text=True)
    assert len(outbox("confirm_email")) == 2  # the sign-up's and the resent one


# -- Password reset (S4, S5) ----------------------------------------------------------


def test_password_reset_flow(client, make_user):
    user = make_user()
    response = forgot(client, user.email.upper())
    assert "a link to choose a new password is on its way" in response.get_data(as_text=True)
    link = link_in(outbox("reset_password")[0])
    response = post(
        client, link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, token_from=link
    )
    assert response.status_code == 302
    assert sign_in(client, user.email, PASSWORD).status_code == 200  # old password refused
    assert sign_in(client, user.email, NEW_PASSWORD).status_code == 302
    # The link worked once.
    assert client.get(link).status_code == 400
    assert outbox("password_changed")


def test_reset_for_unknown_email_looks_like_success(client):
    response = forgot(client, "nobody@example.org")
    assert response.status_code == 200
    assert "a link to choose a new password is on its way" in response.get_data(as_text=True)
    assert outbox() == []


def test_reset_link_expires(client, make_user, app):
    user = make_user()
    forgot(client, user.email)
    link = link_in(outbox("reset_password")[0])
    later = utcnow() + timedelta(minutes=app.config["RESET_TOKEN_MINUTES"], seconds=1)
    with time_machine.travel(later, tick=False):
        response = post(
            client, link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, token_from="/"
        )
    assert response.status_code == 400
    db.session.refresh(user)
    assert verify_password(user.password_hash, PASSWORD)[0]


def test_a_newer_reset_link_kills_the_older_one(client, make_user):
    user = make_user()
    forgot(client, user.email)
    forgot(client, user.email)
    first, second = outbox("reset_password")
    assert client.get(link_in(first)).status_code == 400
    assert client.get(link_in(second)).status_code == 200


def test_password_change_kills_reset_tokens_and_other_sessions(client, app, make_user):
    user = make_user()
    other_device = app.test_client()
    assert sign_in(other_device, user.email).status_code == 302
    forgot(client, user.email)
    reset_link = link_in(outbox("reset_password")[0])

    assert sign_in(client, user.email).status_code == 302
    response = post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        token_from="/account/password",
    )
    assert response.status_code == 302
    assert signed_in(client)  # this session carries on
    assert not signed_in(other_device)  # the other one has ended
    assert client.get(reset_link).status_code == 400


def test_change_password_wrong_current(client, make_user, login):
    user = login(make_user())
    response = post(
        client,
        "/account/password",
        {"current_password": "not my password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        token_from="/account/password",
    )
    assert "This is not your current password." in response.get_data(as_text=True)
    db.session.refresh(user)
    assert verify_password(user.password_hash, PASSWORD)[0]


# -- Email change ----------------------------------------------------------------------


def test_email_change_with_reconfirmation(client, make_user):
    user = make_user(email="old@example.org")
    sign_in(client, "old@example.org")
    response = post(
        client,
        "/account/email",
        {"email": "new@example.org", "password": PASSWORD},
        token_from="/account/email",
    )
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.email == "old@example.org"  # nothing changes before the link is used
    assert outbox("email_change_notice", "old@example.org")
    link = link_in(outbox("confirm_new_email", "new@example.org")[0])
    assert post(client, link, token_from=link).status_code == 302
    db.session.refresh(user)
    assert user.email == "new@example.org"
    assert not signed_in(client)
    assert sign_in(client, "new@example.org").status_code == 302
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="user.email_changed"))
    assert entry.changes == {"email": ["old@example.org", "new@example.org"]}


def test_email_change_to_a_taken_address_is_refused(client, make_user, login):
    make_user(email="taken@example.org")
    login(make_user())
    response = post(
        client,
        "/account/email",
        {"email": "Taken@example.org", "password": PASSWORD},
        token_from="/account/email",
    )
    assert "An account with this email already exists." in response.get_data(as_text=True)
    assert outbox() == []


# -- Invitations -----------------------------------------------------------------------


def test_invitation_flow(client, make_user, login):
    login(make_user(Role.CONVENOR, two_factor=True))
    response = post(
        client,
        "/admin/users/invite",
        {"name": "Ama Owusu", "email": "ama@example.gh", "roles": ["reviewer"], "language": "en"},
        token_from="/admin/users/invite",
    )
    assert response.status_code == 302
    invitee = db.session.scalar(sa.select(User).filter_by(email="ama@example.gh"))
    assert invitee.roles == {Role.REVIEWER} and invitee.password_hash is None
    [message] = outbox("invitation")
    link = link_in(message)

    visitor = client.application.test_client()
    # An invited account cannot sign in before choosing a password.
    assert sign_in(visitor, "ama@example.gh", "").status_code == 200
    response = post(
        visitor, link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, token_from=link
    )
    assert response.status_code == 302
    assert sign_in(visitor, "ama@example.gh", NEW_PASSWORD).status_code == 302
    assert visitor.get(link).status_code == 400  # works once
    assert db.session.scalar(sa.select(AuditEntry).filter_by(action="user.invitation_accepted"))


def test_invitation_with_a_taken_email_is_refused(client, make_user, login):
    login(make_user(Role.CONVENOR, two_factor=True))
    make_user(email="exists@example.org")
    response = post(
        client,
        "/admin/users/invite",
        {
            "name": "Someone",
            "email": "EXISTS@example.org",
            "roles": ["applicant"],
            "language": "en",
        },
        token_from="/admin/users/invite",
    )
    assert "An account with this email already exists." in response.get_data(as_text=True)
    assert outbox() == []


# -- The CLI ------------------------------------------------------------------------------


def test_create_user_command(runner):
    result = runner.invoke(
        args=[
            "create-user",
            "--email",
            "Staff@Example.org",
            "--name",
            "Staff Person",
            "--role",
            "convenor",
            "--role",
            "steering",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).filter_by(email="staff@example.org"))
    assert user.roles == {Role.CONVENOR, Role.STEERING} and user.email_confirmed


def test_create_user_command_refuses_a_weak_password(runner):
    result = runner.invoke(
        args=["create-user", "--email", "a@example.org", "--name", "A", "--role", "applicant"],
        input="short\n",
    )
    assert result.exit_code != 0
    assert "at least 12" in result.output
    assert user_count() == 0


def test_seed_demo_creates_one_account_per_role(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    roles = set()
    for user in db.session.scalars(sa.select(User)):
        roles |= user.roles
    assert roles == set(Role)
    assert "demo-" in result.output
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "nothing loaded" in again.output


def test_reset_requests_for_one_address_are_limited(client, make_user):
    """Nobody can flood a person's mailbox with reset links; unknown addresses behave the same."""
    user = make_user()
    for address in (user.email, "nobody@example.org"):
        for _ in range(3):
            response = forgot(client, address.upper())
            assert response.status_code == 200
        response = forgot(client, address, token_from="/sign-in")
        assert response.status_code == 429
        assert "Try again in" in response.get_data(as_text=True)
    assert len(outbox("reset_password")) == 3  # the fourth request sent nothing


def test_roles_follow_every_change_of_the_rows(make_user):
    """``User.roles`` is kept between checks: swapping one role for another (same
    number of rows), adding a row and reloading from the database all show."""
    from coalition.accounts.models import UserRole

    user = make_user(Role.APPLICANT)
    assert user.roles == {Role.APPLICANT}
    user.set_roles([Role.REVIEWER])
    assert user.roles == {Role.REVIEWER}
    user.role_rows.append(UserRole(role=Role.STEERING))
    assert user.roles == {Role.REVIEWER, Role.STEERING}
    db.session.flush()
    db.session.execute(
        sa.update(UserRole)
        .where(UserRole.user_id == user.id, UserRole.role == Role.REVIEWER)
        .values(role=Role.CONVENOR)
    )
    db.session.expire(user)
    assert user.roles == {Role.CONVENOR, Role.STEERING}
