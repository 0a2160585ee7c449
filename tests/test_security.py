"""Sessions, redirects, headers, logs, production guard and SQLite settings
(S7 to S11, S19 to S21, S33), and the request-size limit."""

from __future__ import annotations

import json
import logging
import time

import pytest
import sqlalchemy as sa
import time_machine
from flask import url_for

from coalition import create_app
from coalition.accounts.models import Role
from coalition.config import ConfigError, check_production, load_config
from coalition.extensions import db
from coalition.logs import JSONFormatter
from tests.conftest import PASSWORD, post


def sign_in(client, email, password=PASSWORD, path="/sign-in"):
    return post(client, path, {"email": email, "password": password}, token_from="/sign-in")


# -- S7 redirects ----------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=y",
        "\t//evil.example",
    ],
)
def test_next_never_leaves_the_site(client, make_user, target):
    user = make_user()
    from urllib.parse import quote

    response = sign_in(client, user.email, path="/sign-in?next=" + quote(target, safe=""))
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "evil" not in location


def test_next_to_a_local_page_is_followed(client, make_user):
    user = make_user()
    response = sign_in(client, user.email, path="/sign-in?next=/account/two-factor")
    assert response.headers["Location"] == "/account/two-factor"


# -- S8 cookies --------------------------------------------------------------------


def test_session_cookie_flags(client, make_user):
    user = make_user()
    response = sign_in(client, user.email)
    [cookie] = [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("coalition_session=")
    ]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development serves plain HTTP on loopback


def test_cookies_are_secure_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("COALITION_ENV", "production")
    config = load_config(str(tmp_path))
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"


# -- S9 logout replay, S10 fixation -------------------------------------------------


def _session_cookie(client) -> str:
    return client.get_cookie("coalition_session").value


def test_a_captured_session_cookie_dies_with_sign_out(client, app, make_user):
    user = make_user()
    sign_in(client, user.email)
    captured = _session_cookie(client)
    assert client.get("/account/").status_code == 200
    post(client, "/sign-out", token_from="/account/")
    assert client.get("/account/").status_code == 302

    attacker = app.test_client()
    attacker.set_cookie("coalition_session", captured)
    response = attacker.get("/account/")
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def test_a_captured_remember_cookie_dies_with_sign_out(client, app, make_user):
    user = make_user()
    post(
        client,
        "/sign-in",
        {"email": user.email, "password": PASSWORD, "remember": "y"},
        token_from="/sign-in",
    )
    remember = client.get_cookie("coalition_remember").value
    post(client, "/sign-out", token_from="/account/")
    attacker = app.test_client()
    attacker.set_cookie("coalition_remember", remember)
    assert attacker.get("/account/").status_code == 302


def test_session_is_new_after_sign_in(client, app, make_user):
    user = make_user()
    client.get("/sign-in")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    before = _session_cookie(client)
    sign_in(client, user.email)
    after = _session_cookie(client)
    assert before != after
    with client.session_transaction() as session:
        assert "planted" not in session
    # The pre-sign-in cookie gives no access.
    attacker = app.test_client()
    attacker.set_cookie("coalition_session", before)
    assert attacker.get("/account/").status_code == 302


def test_session_from_another_browser_is_refused(client, app, make_user):
    """Strong session protection: a cookie replayed from another address or browser ends."""
    user = make_user()
    sign_in(client, user.email)
    captured = _session_cookie(client)
    attacker = app.test_client()
    attacker.set_cookie("coalition_session", captured)
    response = attacker.get(
        "/account/", environ_base={"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Other/1.0"}
    )
    assert response.status_code == 302


# -- S11 freshness ------------------------------------------------------------------


def test_role_change_asks_for_the_password_when_sign_in_is_old(client, app, make_user, login):
    login(make_user(Role.CONVENOR, two_factor=True))
    person = make_user(Role.APPLICANT)
    later = time.time() + app.config["REAUTH_AFTER_SECONDS"] + 5
    with time_machine.travel(later, tick=False):
        response = post(
            client,
            f"/admin/users/{person.id}/roles",
            {"roles": ["reviewer"]},
            token_from=f"/admin/users/{person.id}",
            headers={"Referer": f"http://localhost/admin/users/{person.id}"},
        )
        assert "/reauthenticate" in response.headers["Location"]
        db.session.refresh(person)
        assert person.roles == {Role.APPLICANT}

        response = post(
            client,
            response.headers["Location"],
            {"password": "wrong password!"},
            token_from="/reauthenticate",
        )
        assert "This is not your password." in response.get_data(as_text=True)
        response = post(
            client,
            f"/reauthenticate?next=/admin/users/{person.id}",
            {"password": PASSWORD},
            token_from="/reauthenticate",
        )
        assert response.headers["Location"] == f"/admin/users/{person.id}"
        post(
            client,
            f"/admin/users/{person.id}/roles",
            {"roles": ["reviewer"]},
            token_from=f"/admin/users/{person.id}",
        )
    db.session.refresh(person)
    assert person.roles == {Role.REVIEWER}


def test_invite_page_asks_for_the_password_when_sign_in_is_old(client, app, make_user, login):
    login(make_user(Role.CONVENOR, two_factor=True))
    later = time.time() + app.config["REAUTH_AFTER_SECONDS"] + 5
    with time_machine.travel(later, tick=False):
        response = client.get("/admin/users/invite")
    assert response.headers["Location"].startswith("/reauthenticate?next=")


# Every export of personal data, and every action that changes who is protected or
# writes a whole file into the register, asks for the password again when the
# sign-in is old. One row per action: (what, the form's page, the POST, done?).
# Each is tried twice: with an old sign-in it is sent to /reauthenticate and does
# nothing; with a fresh one it is done (so the row really names the action).


def _audited(action: str):
    from coalition.audit.models import AuditEntry

    return lambda world: db.session.scalar(sa.select(AuditEntry).filter_by(action=action))


def _import_committed(world) -> bool:
    from coalition import jobs

    return any(
        job.params.get("mode") == "commit" for job in db.session.scalars(sa.select(jobs.Job))
    )


def _marked_at_risk(world) -> bool:
    db.session.refresh(world["member"])
    return world["member"].at_risk


FRESH_SIGN_IN_ACTIONS = {
    "members export csv": (
        lambda w: "/members/export",
        lambda w: ("/members/export.csv", {}),
        _audited("members.exported"),
    ),
    "members export xlsx": (
        lambda w: "/members/export",
        lambda w: ("/members/export.xlsx", {}),
        _audited("members.exported"),
    ),
    "member personal data": (
        lambda w: f"/members/{w['expert'].id}",
        lambda w: (f"/members/{w['expert'].id}/personal-data.json", {}),
        _audited("member.personal_data_exported"),
    ),
    "round applications export csv": (
        lambda w: f"/grants/rounds/{w['round'].id}/applications",
        lambda w: (f"/grants/rounds/{w['round'].id}/applications.csv", {}),
        _audited("applications.exported"),
    ),
    "round applications export xlsx": (
        lambda w: f"/grants/rounds/{w['round'].id}/applications",
        lambda w: (f"/grants/rounds/{w['round'].id}/applications.xlsx", {}),
        _audited("applications.exported"),
    ),
    "grants export csv": (
        lambda w: "/grants/awards",
        lambda w: ("/grants/awards.csv", {}),
        _audited("awards.exported"),
    ),
    "grants export xlsx": (
        lambda w: "/grants/awards",
        lambda w: ("/grants/awards.xlsx", {}),
        _audited("awards.exported"),
    ),
    "member import commit": (
        lambda w: f"/members/import/{w['import_job'].id}",
        lambda w: (f"/members/import/{w['import_job'].id}/commit", {}),
        _import_committed,
    ),
    "member at-risk flag": (
        lambda w: f"/members/{w['member'].id}",
        lambda w: (
            f"/members/{w['member'].id}/at-risk",
            {"at_risk": "1", "version": str(w["member"].version)},
        ),
        _marked_at_risk,
    ),
    "erase an expert": (
        lambda w: f"/members/{w['expert'].id}",
        lambda w: (f"/members/{w['expert'].id}/erase", {}),
        _audited("member.erased"),
    ),
    "erase a contact": (
        lambda w: f"/members/{w['member'].id}",
        lambda w: (
            f"/members/{w['member'].id}/contacts/{w['member'].contacts[0].id}/erase",
            {},
        ),
        _audited("member.contact_erased"),
    ),
}


@pytest.fixture
def fresh_world(make_user, make_member):
    from datetime import timedelta

    from coalition import jobs
    from coalition.db import utcnow
    from coalition.grants.models import Application, ApplicationStatus, Fund, Round, RoundPhase
    from coalition.members.importing import JOB_KIND
    from coalition.members.models import MemberKind

    convenor = make_user(Role.CONVENOR, two_factor=True)
    now = utcnow()
    round_ = Round(
        fund=Fund(name="Fund", currency="USD", total_budget=10**9),
        title="Round",
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=30),
        closes_at=now - timedelta(days=1),
        budget=10**8,
        min_grant=1,
        max_grant=10**7,
    )
    db.session.add(
        Application(
            round=round_,
            applicant=make_user(Role.APPLICANT),
            title="Kenyan watch",
            status=ApplicationStatus.SUBMITTED,
            org_name="Kenyan watch org",
            org_country="KE",
            submitted_at=now,
        )
    )
    db.session.add(round_)
    job = jobs.enqueue(
        JOB_KIND,
        created_by=convenor,
        params={"filename": "members.csv", "sheet": None, "mode": "dry_run"},
        payload=b"name,country\nFresh Sign-in Collective,KE\n",
    )
    db.session.commit()
    assert jobs.run_pending() == 1
    return {
        "convenor": convenor,
        "member": make_member(name="Flagged Later"),
        "expert": make_member(kind=MemberKind.EXPERT, org_type=None, name="Dr Old Session"),
        "round": round_,
        "import_job": job,
    }


@pytest.mark.parametrize("action", list(FRESH_SIGN_IN_ACTIONS))
def test_s11_sensitive_actions_ask_for_the_password_when_sign_in_is_old(
    client, app, fresh_world, action
):
    from tests.conftest import csrf_token, sign_in_as

    form_page, request_of, done = FRESH_SIGN_IN_ACTIONS[action]
    sign_in_as(client, fresh_world["convenor"])
    page = form_page(fresh_world)
    path, data = request_of(fresh_world)
    token = csrf_token(client, page)  # the page, opened while the sign-in was new
    later = time.time() + app.config["REAUTH_AFTER_SECONDS"] + 5
    with time_machine.travel(later, tick=False):
        stale = client.post(
            path,
            data={**data, "csrf_token": token},
            headers={"Referer": f"http://localhost{page}"},
        )
    assert stale.status_code == 302, stale.status_code
    assert stale.headers["Location"] == f"/reauthenticate?next={page}"
    assert not done(fresh_world), "done with an old sign-in"

    sign_in_as(client, fresh_world["convenor"])  # a fresh sign-in
    fresh = post(client, path, data, token_from=page)
    assert fresh.status_code in (200, 302), fresh.status_code
    assert "/reauthenticate" not in fresh.headers.get("Location", "")
    assert done(fresh_world), "not done with a fresh sign-in"


# -- S19 production guard --------------------------------------------------------------


GOOD = {
    "PRODUCTION": True,
    "SECRET_KEY": "q4R-z8vLw2_Nc7xTb1mKp9sHd3fJg6yE0aUo5iVnWrXe",
    "DEBUG": False,
    "WTF_CSRF_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
    "SESSION_COOKIE_SECURE": True,
    "MAIL_BACKEND": "smtp",
    "BASE_URL": "https://coalition.example.org",
}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"SECRET_KEY": "changeme"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"DEBUG": True}, "DEBUG"),
        ({"WTF_CSRF_ENABLED": False}, "CSRF"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "memory"),
        ({"SESSION_COOKIE_SECURE": False}, "SESSION_COOKIE_SECURE"),
        ({"MAIL_BACKEND": "log"}, "MAIL_BACKEND"),
        ({"BASE_URL": ""}, "BASE_URL"),
    ],
)
def test_production_refuses_unsafe_settings(change, reason):
    check_production(GOOD)  # the good one starts
    with pytest.raises(ConfigError, match=reason):
        check_production({**GOOD, **change})


def test_production_app_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("COALITION_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("COALITION_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


# -- S20 headers -----------------------------------------------------------------------


def _assert_security_headers(response):
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]


@pytest.mark.parametrize("path", ["/", "/sign-in", "/does-not-exist", "/healthz", "style.css"])
def test_headers_on_pages_errors_and_files(app, client, path):
    if not path.startswith("/"):  # a static file, under its hashed URL
        with app.test_request_context():
            path = url_for("static", filename=path)
    response = client.get(path)
    assert response.status_code == 200 or path == "/does-not-exist"
    _assert_security_headers(response)


def test_private_pages_are_not_cached(client, make_user, login):
    login(make_user())
    response = client.get("/account/")
    assert response.headers["Cache-Control"] == "no-store"
    _assert_security_headers(response)


def test_hsts_only_in_production(app, client, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/").headers
    monkeypatch.setitem(app.config, "PRODUCTION", True)
    response = client.get("/sign-in")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_error_pages_say_what_to_do(client):
    response = client.get("/nowhere")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Page not found" in page and "Go to the home page" in page


def test_csrf_failure_page(client):
    response = client.post("/sign-in", data={"email": "a@example.org", "password": "x"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_oversized_body_is_refused_with_413(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/sign-in", data={"email": "x" * (limit + 10)})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


# -- S21 logs ------------------------------------------------------------------------------


def test_failed_sign_in_is_logged_without_the_password(client, make_user, caplog):
    user = make_user()
    secret = "my-Secret-Pa55word\nFAKE LOG LINE"
    with caplog.at_level(logging.INFO):
        sign_in(client, user.email, password=secret)
    lines = [JSONFormatter().format(r) for r in caplog.records]
    failed = [json.loads(line) for line in lines if "sign-in failed" in line]
    assert failed and failed[0]["ip"] == "127.0.0.1" and failed[0]["time"].endswith("+00:00")
    assert all("my-Secret-Pa55word" not in line for line in lines)
    assert all("\n" not in line for line in lines)


def test_request_log_has_no_token_or_query(client, caplog):
    with caplog.at_level(logging.INFO):
        client.get("/password/reset/SECRET-TOKEN-VALUE?also=SECRET-QUERY")
    lines = [JSONFormatter().format(r) for r in caplog.records]
    request_lines = [json.loads(line) for line in lines if '"request"' in line]
    assert request_lines[-1]["rule"] == "/password/reset/<token>"
    assert not any("SECRET-TOKEN-VALUE" in line or "SECRET-QUERY" in line for line in lines)


def test_a_signed_in_request_loads_its_user_once_and_logs_who(client, make_user, login, caplog):
    """After the commit point the user is expired: neither the log line nor the
    cache header may load it again (two queries on every page)."""
    user = login(make_user())
    statements = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        with caplog.at_level(logging.INFO):
            response = client.get("/account/")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    user_loads = [s for s in statements if s.lstrip().startswith("SELECT") and "FROM users" in s]
    assert len(user_loads) == 1, user_loads
    lines = [json.loads(JSONFormatter().format(r)) for r in caplog.records]
    [logged] = [line for line in lines if line.get("message") == "request"]
    assert logged["user_id"] == user.id


def test_user_input_line_breaks_are_escaped():
    record = logging.LogRecord("x", logging.INFO, "f", 1, "msg", (), None)
    record.fields = {"email": "a@b.c\ninjected: yes"}
    line = JSONFormatter().format(record)
    assert "\n" not in line and "\\n" in line


# -- S33 SQLite ------------------------------------------------------------------------------


def test_sqlite_connection_settings(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    # The test's own connection: another would wait for its write lock.
    conn = db.session.connection()
    assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# -- Health check ----------------------------------------------------------------------------


def test_healthz_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["database"] == "up"


def test_healthz_down(client, monkeypatch):
    def unreachable(*args, **kwargs):
        raise sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(db.session, "execute", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["database"] == "down"


# -- Languages ------------------------------------------------------------------------------


def test_language_from_accept_language_and_rtl(client):
    page = client.get("/", headers={"Accept-Language": "ar,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in page
    page = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).get_data(as_text=True)
    assert '<html lang="fr" dir="ltr">' in page


def test_visitor_switches_language(client):
    response = post(client, "/language", {"language": "pt", "next": "/sign-in"})
    assert response.headers["Location"] == "/sign-in"
    assert '<html lang="pt"' in client.get("/").get_data(as_text=True)


def test_user_setting_wins_over_the_browser(client, make_user, login):
    login(make_user(language="es"))
    page = client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="es"' in page


# -- Audit log browsing ------------------------------------------------------------------------


def test_audit_log_lists_and_filters(client, make_user, login):
    from coalition.audit.models import AuditEntry

    staff = login(make_user(Role.CONVENOR, two_factor=True))
    person = make_user()
    post(client, f"/admin/users/{person.id}/deactivate", token_from=f"/admin/users/{person.id}")
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="user.deactivated"))
    assert entry.actor_id == staff.id and entry.changes == {"active": [True, False]}
    assert entry.ip_address == "127.0.0.1"
    page = client.get("/admin/audit/?action=user.deactivated").get_data(as_text=True)
    assert "user.deactivated" in page and staff.name in page
    page = client.get("/admin/audit/?action=user.nothing").get_data(as_text=True)
    assert "Nothing recorded." in page
    page = client.get(f"/admin/audit/?object_type=User&object_id={person.id}").get_data(
        as_text=True
    )
    assert "user.deactivated" in page


# -- Convenor pages: people ------------------------------------------------------------------


def test_people_list_searches_and_filters(client, make_user, login):
    login(make_user(Role.CONVENOR, two_factor=True, name="Staff Person"))
    make_user(Role.REVIEWER, name="Zainab Reviewer", email="zainab@example.org")
    make_user(Role.APPLICANT, name="Tomas Applicant", active=False)

    def listed(**args):
        return client.get("/admin/users/", query_string=args).get_data(as_text=True)

    assert "Zainab Reviewer" in listed(q="ZAINAB") and "Tomas" not in listed(q="zainab")
    assert "Zainab Reviewer" in listed(q="zainab@example")
    assert "Zainab Reviewer" in listed(role="reviewer") and "Tomas" not in listed(role="reviewer")
    assert "Tomas Applicant" in listed(status="inactive")
    assert "Zainab" not in listed(status="inactive")
