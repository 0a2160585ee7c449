"""Two-factor sign-in (S6): forced enrolment for staff and steering, codes that
work once, recovery codes, and the staff reset."""

from __future__ import annotations

import re
import time

import pyotp
import sqlalchemy as sa
import time_machine

from coalition.accounts.models import Role, User
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from tests.conftest import PASSWORD, outbox, post


def sign_in(client, email, password=PASSWORD):
    return post(client, "/sign-in", {"email": email, "password": password}, token_from="/sign-in")


def code_for(secret: str, at: float | None = None) -> str:
    return pyotp.TOTP(secret).at(at if at is not None else time.time())


def start_enrolment(client) -> str:
    """Press "Show the code to scan"; the page that follows (a GET) shows it."""
    response = post(
        client, "/account/two-factor/setup", {"start": "1"}, token_from="/account/two-factor/setup"
    )
    assert response.status_code == 302
    return client.get("/account/two-factor/setup").get_data(as_text=True)


def enrol(client) -> tuple[str, list[str]]:
    page = start_enrolment(client)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    assert "<svg" in page  # the QR code is drawn here, as SVG
    response = post(
        client,
        "/account/two-factor/setup",
        {"code": code_for(secret)},
        token_from="/account/two-factor/setup",
    )
    assert response.status_code == 200
    codes = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", response.get_data(as_text=True))
    return secret, codes


def test_convenor_must_enrol_before_reaching_anything(client, make_user):
    user = make_user(Role.CONVENOR)
    response = sign_in(client, user.email)
    assert response.headers["Location"].endswith("/account/two-factor/setup")
    for path in ("/", "/admin/users/", "/members/", "/steering/", "/account/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].endswith("/account/two-factor/setup"), path

    _secret, codes = enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/admin/users/").status_code == 200
    db.session.refresh(user)
    assert user.two_factor_enabled
    assert db.session.scalar(sa.select(AuditEntry).filter_by(action="user.two_factor_enabled"))


def test_steering_must_enrol_too(client, make_user):
    user = make_user(Role.STEERING)
    sign_in(client, user.email)
    assert client.get("/steering/").headers["Location"].endswith("/account/two-factor/setup")


def test_applicant_is_not_forced(client, make_user):
    user = make_user(Role.APPLICANT)
    assert sign_in(client, user.email).headers["Location"] == "/"
    assert client.get("/grants/").status_code == 200


def test_wrong_code_at_enrolment_keeps_it_off(client, make_user):
    user = make_user(Role.CONVENOR)
    sign_in(client, user.email)
    start_enrolment(client)
    response = post(
        client,
        "/account/two-factor/setup",
        {"code": "000000"},
        token_from="/account/two-factor/setup",
    )
    assert "That code is not right" in response.get_data(as_text=True)
    db.session.refresh(user)
    assert not user.two_factor_enabled


def test_sign_in_with_code_then_replay_is_refused(client, app, make_user):
    user = make_user(Role.CONVENOR, two_factor=True)
    now = time.time()
    with time_machine.travel(now, tick=False):
        response = sign_in(client, user.email)
        assert response.headers["Location"].endswith("/sign-in/code")
        # Half-way through: no access yet.
        assert client.get("/admin/users/").status_code == 302
        code = code_for(user.totp_secret, now)
        response = post(client, "/sign-in/code", {"code": code}, token_from="/sign-in/code")
        assert response.status_code == 302
        assert client.get("/admin/users/").status_code == 200

        # The same code, captured by someone else, does not work again.
        thief = app.test_client()
        sign_in(thief, user.email)
        response = post(thief, "/sign-in/code", {"code": code}, token_from="/sign-in/code")
        assert "already used" in response.get_data(as_text=True)
        assert thief.get("/admin/users/").status_code == 302


def test_wrong_code_is_refused_and_audited(client, make_user):
    user = make_user(Role.STEERING, two_factor=True)
    sign_in(client, user.email)
    response = post(client, "/sign-in/code", {"code": "123456"}, token_from="/sign-in/code")
    assert response.status_code == 200
    assert client.get("/steering/").status_code == 302
    entry = db.session.scalar(
        sa.select(AuditEntry).filter_by(action="user.sign_in_failed", object_id=str(user.id))
    )
    assert entry.details["reason"] == "bad second factor"


def test_recovery_code_works_once(client, app, make_user):
    user = make_user(Role.CONVENOR)
    sign_in(client, user.email)
    _secret, codes = enrol(client)
    post(client, "/sign-out", token_from="/")

    sign_in(client, user.email)
    response = post(
        client,
        "/sign-in/recovery",
        {"recovery_code": codes[3].upper()},
        token_from="/sign-in/recovery",
    )
    assert response.status_code == 302
    page = client.get("/admin/users/")
    assert page.status_code == 200
    assert "You have 9 left" in page.get_data(as_text=True)

    other = app.test_client()
    sign_in(other, user.email)
    response = post(
        other, "/sign-in/recovery", {"recovery_code": codes[3]}, token_from="/sign-in/recovery"
    )
    assert "not right or was used" in response.get_data(as_text=True)
    assert other.get("/admin/users/").status_code == 302


def test_pending_second_factor_expires(client, make_user):
    user = make_user(Role.CONVENOR, two_factor=True)
    sign_in(client, user.email)
    token_page = "/"
    with time_machine.travel(time.time() + 601, tick=False):
        response = post(
            client, "/sign-in/code", {"code": code_for(user.totp_secret)}, token_from=token_page
        )
    assert response.headers["Location"].endswith("/sign-in")


def test_staff_reset_of_second_factor_is_audited(client, make_user, login):
    staff = login(make_user(Role.CONVENOR, two_factor=True))
    person = make_user(Role.STEERING, two_factor=True)
    response = post(
        client, f"/admin/users/{person.id}/reset-two-factor", token_from=f"/admin/users/{person.id}"
    )
    assert response.status_code == 302
    db.session.refresh(person)
    assert not person.two_factor_enabled
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="user.two_factor_reset"))
    assert entry.actor_id == staff.id and entry.object_id == str(person.id)
    assert outbox("two_factor_reset", person.email)


def test_optional_two_factor_for_applicants_can_be_turned_off(client, make_user):
    user = make_user(Role.APPLICANT)
    sign_in(client, user.email)
    enrol(client)
    db.session.refresh(user)
    assert user.two_factor_enabled
    post(
        client,
        "/account/two-factor/disable",
        {"password": PASSWORD},
        token_from="/account/two-factor",
    )
    db.session.refresh(user)
    assert not user.two_factor_enabled


def test_staff_cannot_turn_two_factor_off(client, make_user):
    user = make_user(Role.CONVENOR)
    sign_in(client, user.email)
    enrol(client)
    post(
        client,
        "/account/two-factor/disable",
        {"password": PASSWORD},
        token_from="/account/two-factor",
    )
    db.session.refresh(user)
    assert user.two_factor_enabled


def test_remember_me_is_refused_to_staff(client, make_user):
    user = make_user(Role.CONVENOR, two_factor=True)
    post(
        client,
        "/sign-in",
        {"email": user.email, "password": PASSWORD, "remember": "y"},
        token_from="/sign-in",
    )
    response = post(
        client, "/sign-in/code", {"code": code_for(user.totp_secret)}, token_from="/sign-in/code"
    )
    assert response.status_code == 302
    assert not any("coalition_remember" in c for c in response.headers.getlist("Set-Cookie"))


def test_remember_me_for_an_applicant_who_asks(client, make_user):
    user = make_user(Role.APPLICANT)
    response = post(
        client,
        "/sign-in",
        {"email": user.email, "password": PASSWORD, "remember": "y"},
        token_from="/sign-in",
    )
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("coalition_remember=") and "HttpOnly" in c for c in cookies)
    user2 = make_user(Role.APPLICANT)
    other = client.application.test_client()
    response = post(
        other, "/sign-in", {"email": user2.email, "password": PASSWORD}, token_from="/sign-in"
    )
    assert not any("coalition_remember" in c for c in response.headers.getlist("Set-Cookie"))


def test_role_change_forces_enrolment_at_next_request(client, app, make_user, login):
    login(make_user(Role.CONVENOR, two_factor=True))
    person = make_user(Role.APPLICANT)
    theirs = app.test_client()
    sign_in(theirs, person.email)
    assert theirs.get("/grants/").status_code == 200
    post(
        client,
        f"/admin/users/{person.id}/roles",
        {"roles": ["applicant", "steering"]},
        token_from=f"/admin/users/{person.id}",
    )
    db.session.refresh(person)
    assert person.roles == {Role.APPLICANT, Role.STEERING}
    # Their session ended with the role change; signing in again leads to enrolment.
    assert theirs.get("/grants/").status_code == 302
    response = sign_in(theirs, person.email)
    assert response.headers["Location"].endswith("/account/two-factor/setup")
    assert db.session.scalar(sa.select(User).filter_by(id=person.id)).requires_two_factor
