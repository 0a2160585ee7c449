"""Regression tests of the outside security test (issue 8), one or more per finding.

* Finding 4: ten simultaneous submissions of one draft (S32): one submission,
  and every loser is shown the application, told it was already submitted.
* Finding 5: the attachment limits under parallel uploads (S23), and the
  per-person quotas (attachment bytes, drafts per round).
* Finding 6: a create form posted again (double click, resend) creates once;
  ten parallel identical posts create one.
* Finding 7: malformed numbers in a request answer a page, never a 500.

The parallel tests use real threads and real commits; they are the point on
PostgreSQL (``TEST_DATABASE_URL``), where requests run side by side. On
SQLite every POST holds the write lock from its start, so they run one after
the other there and check the sequential behaviour.
"""

from __future__ import annotations

import io
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition import form_tokens
from coalition.accounts.models import Role, User
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import applications as ops
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    Attachment,
    Fund,
    Round,
    RoundPhase,
)
from coalition.inputs import MAX_PAGE, VersionField, bounded_int
from coalition.members.models import Member, MemberKind, MemberStatus
from tests import sample_files
from tests.clock import NOW
from tests.conftest import csrf_token, post, sign_in_as
from tests.test_grants_application_pages import form_data
from tests.test_grants_rounds import fund_data, round_data
from tests.test_members_public import GOOD_APPLICATION
from tests.test_members_staff import MEMBER_FORM

THREADS = 10


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


@pytest.fixture
def open_round():
    fund = Fund(name="Issue 8 Fund", partner="Partner", currency="USD", total_budget=50_000_000)
    fund.eligible_countries = ["KE", "SN"]
    round_ = Round(
        fund=fund,
        title="Elections 2027",
        phase=RoundPhase.PUBLISHED,
        opens_at=NOW - timedelta(days=10),
        closes_at=NOW + timedelta(days=10),
        budget=20_000_000,
        min_grant=500_000,
        max_grant=5_000_000,
        required_attachments=["proposal"],
    )
    db.session.add(round_)
    db.session.commit()
    return round_


def in_parallel(calls) -> list:
    """Run each call in its own thread, released together; their results (or exceptions).

    On SQLite, one after the other: every POST takes the write lock at its
    start, so threads would only queue on it (and, ten of them sharing one
    interpreter, past the busy timeout). The test's own transaction ends
    first; the calls must not touch the test's session.
    """
    db.session.commit()
    if db.engine.dialect.name == "sqlite":
        return [call() for call in calls]
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # reported by the test, never swallowed
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a request never answered"
    return results


def clients_of(app, user: User | None, n: int = THREADS):
    """``n`` clients signed in as ``user`` (or anonymous), as separate browsers."""
    found = []
    for _ in range(n):
        client = app.test_client()
        if user is not None:
            sign_in_as(client, user)
        found.append(client)
    return found


def same_session(app, source, n: int = THREADS):
    """``n`` clients sharing ``source``'s session cookie: one browser, many posts."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = source.get_cookie(name)
    found = []
    for _ in range(n):
        client = app.test_client()
        client.set_cookie(name, cookie.value)
        found.append(client)
    return found


def once_token(page: str) -> str:
    match = re.search(r'name="once" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="once" value="([^"]+)"', page
    )
    assert match, "the form carries no one-time token"
    return match.group(1)


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def csv_of(size: int) -> bytes:
    head = b"name,amount\n"
    line = b"field work,100\n"
    return head + line * ((size - len(head)) // len(line))


def uploaded(client, application_id: int, content: bytes, token: str):
    return client.post(
        f"/applications/{application_id}/attachments",
        data={"csrf_token": token, "kind": "budget", "file": (io.BytesIO(content), "b.csv")},
        content_type="multipart/form-data",
    )


# -- Finding 4: the losers of a double submission ------------------------------------------


@pytest.mark.committing
def test_finding4_ten_simultaneous_submissions_give_one_and_every_loser_sees_the_application(
    app, client, make_user, open_round
):
    applicant = make_user(Role.APPLICANT)
    sign_in_as(client, applicant)
    application_id = ops.start(open_round, applicant).id
    db.session.commit()  # and no read after it: on SQLite a read here would hold the write lock
    token = csrf_token(client, f"/applications/{application_id}/edit")
    proposal = client.post(
        f"/applications/{application_id}/attachments",
        data={
            "csrf_token": token,
            "kind": "proposal",
            "file": (io.BytesIO(sample_files.pdf()), "proposal.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert proposal.status_code == 302
    browsers = clients_of(app, applicant)
    payloads = [
        {
            **form_data(browser, application_id),
            "submit": "1",
            "csrf_token": csrf_token(browser, f"/applications/{application_id}/edit"),
        }
        for browser in browsers
    ]

    answers = in_parallel(
        [
            lambda b=browser, p=payload: b.post(f"/applications/{application_id}/edit", data=p)
            for browser, payload in zip(browsers, payloads, strict=True)
        ]
    )

    assert [a.status_code for a in answers] == [302] * THREADS, answers
    assert {a.location for a in answers} == {f"/applications/{application_id}"}
    pages = [
        browser.get(f"/applications/{application_id}").get_data(as_text=True)
        for browser in browsers
    ]
    winners = [p for p in pages if "Your application is submitted" in p]
    losers = [p for p in pages if "This application was already submitted" in p]
    assert (len(winners), len(losers)) == (1, THREADS - 1)
    assert count(AuditEntry, AuditEntry.action == "application.submitted") == 1
    assert db.session.get(Application, application_id).status == ApplicationStatus.SUBMITTED


# -- Finding 5: attachment limits under parallel uploads, and per-person quotas --------------


@pytest.mark.committing
def test_finding5_parallel_uploads_stay_within_the_application_limit(
    app, make_user, open_round, monkeypatch
):
    # The finding at a smaller scale: three 9 KB files against a 25 KB limit.
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 10_000)
    monkeypatch.setitem(app.config, "APPLICATION_MAX_BYTES", 25_000)
    applicant = make_user(Role.APPLICANT)
    application = ops.start(open_round, applicant)
    db.session.commit()
    application_id = application.id
    browsers = clients_of(app, applicant, 3)
    tokens = [csrf_token(b, f"/applications/{application_id}/edit") for b in browsers]
    content = csv_of(9_000)

    answers = in_parallel(
        [
            lambda b=b, t=t: uploaded(b, application_id, content, t)
            for b, t in zip(browsers, tokens, strict=True)
        ]
    )

    assert all(a.status_code < 500 for a in answers), answers
    kept = db.session.scalars(
        sa.select(Attachment.size).where(Attachment.application_id == application_id)
    ).all()
    assert len(kept) == 2 and sum(kept) <= 25_000
    refused = [a for a in answers if a.status_code == 200]
    assert len(refused) == 1
    assert "files would exceed" in refused[0].get_data(as_text=True)


def test_finding5_a_persons_attachments_have_a_quota_shown_beside_the_field(
    app, client, make_user, open_round, monkeypatch
):
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 10_000)
    monkeypatch.setitem(app.config, "USER_ATTACHMENTS_MAX_BYTES", 20_000)
    applicant = make_user(Role.APPLICANT)
    sign_in_as(client, applicant)
    first = ops.start(open_round, applicant)
    second = ops.start(open_round, applicant)
    db.session.commit()
    token = csrf_token(client, f"/applications/{first.id}/edit")
    content = csv_of(9_000)
    assert uploaded(client, first.id, content, token).status_code == 302
    assert uploaded(client, second.id, content, token).status_code == 302

    refused = uploaded(client, second.id, content, token)

    assert refused.status_code == 200
    page = refused.get_data(as_text=True)
    beside = re.search(r'<p class="error-text" id="file-error">(.*?)</p>', page, flags=re.S)
    assert beside and "over all your applications" in beside.group(1)
    assert count(Attachment) == 2


@pytest.mark.committing
def test_finding5_drafts_per_round_hold_under_parallel_starts(
    app, make_user, open_round, monkeypatch
):
    monkeypatch.setitem(app.config, "DRAFTS_PER_ROUND", 5)
    applicant = make_user(Role.APPLICANT)
    applicant_id, call = applicant.id, f"/calls/{open_round.id}"
    start = f"/applications/start/{open_round.id}"
    browsers = clients_of(app, applicant)
    # Ten different forms (tabs), not one form sent ten times.
    payloads = [
        {"csrf_token": csrf_token(b, call), "once": form_tokens.new_token()} for b in browsers
    ]

    answers = in_parallel(
        [lambda b=b, p=p: b.post(start, data=p) for b, p in zip(browsers, payloads, strict=True)]
    )

    assert all(a.status_code == 302 for a in answers), answers
    assert count(Application, Application.applicant_id == applicant_id) == 5
    refused = [a for a in answers if a.location == call]
    assert len(refused) == 5
    page = browsers[answers.index(refused[0])].get(refused[0].location).get_data(as_text=True)
    assert "You already have 5 drafts in this call" in page


# -- Finding 6: a create form sent again creates once ------------------------------------------


def _convenor(make_user):
    return make_user(Role.CONVENOR, two_factor=True)


def _start_form(client, round_id):
    page = client.get(f"/calls/{round_id}").get_data(as_text=True)
    return f"/applications/start/{round_id}", {"once": once_token(page)}


CREATE_FORMS = {
    # name: (who posts, how many rows of what it makes, the form's page and data)
    "member": (
        _convenor,
        lambda: count(Member, Member.name == MEMBER_FORM["name"]),
        lambda client, _round: ("/members/new", dict(MEMBER_FORM)),
    ),
    "join": (
        None,
        lambda: count(Member, Member.status == MemberStatus.APPLIED),
        lambda client, _round: ("/join", dict(GOOD_APPLICATION)),
    ),
    "draft": (
        lambda make_user: make_user(Role.APPLICANT),
        lambda: count(Application),
        lambda client, round_: _start_form(client, round_.id),
    ),
    "fund": (
        _convenor,
        lambda: count(Fund, Fund.name == "Africa Elections Fund"),
        lambda client, _round: ("/grants/funds/new", fund_data()),
    ),
    "round": (
        _convenor,
        lambda: count(Round, Round.title == "Elections 2027 again"),
        lambda client, round_: (
            "/grants/rounds/new",
            round_data(round_.fund, title="Elections 2027 again"),
        ),
    ),
    "invitation": (
        _convenor,
        lambda: count(User, User.email == "ama@example.gh"),
        lambda client, _round: (
            "/admin/users/invite",
            {
                "name": "Ama Owusu",
                "email": "ama@example.gh",
                "roles": ["reviewer"],
                "language": "en",
            },
        ),
    ),
}


def _fill(client, make_user, open_round, name):
    who, _made, form = CREATE_FORMS[name]
    if who is not None:
        sign_in_as(client, who(make_user))
    path, data = form(client, open_round)
    if "once" not in data:
        data["once"] = once_token(client.get(path).get_data(as_text=True))
    token_page = f"/calls/{open_round.id}" if name == "draft" else path
    data["csrf_token"] = csrf_token(client, token_page)
    return path, data


@pytest.mark.parametrize("name", CREATE_FORMS)
def test_finding6_a_create_form_sent_twice_creates_once(client, make_user, open_round, name):
    _who, made, _form = CREATE_FORMS[name]
    before = made()
    path, data = _fill(client, make_user, open_round, name)

    first = client.post(path, data=data)
    again = client.post(path, data=data)

    assert first.status_code == 302, first.get_data(as_text=True)
    assert made() == before + 1
    assert again.status_code == 302 and again.location == first.location
    assert "This form was already sent" in client.get(again.location).get_data(as_text=True)
    # A new form (a new token) creates again, where the rules allow it.
    if name == "member":
        data["once"] = form_tokens.new_token()
        assert client.post(path, data=data).status_code == 302
        assert made() == before + 2


def test_finding6_a_refused_post_leaves_its_token_usable(client, make_user):
    sign_in_as(client, _convenor(make_user))
    page = client.get("/grants/funds/new").get_data(as_text=True)
    data = {**fund_data(currency="XXQ"), "once": once_token(page)}
    data["csrf_token"] = csrf_token(client, "/grants/funds/new")
    refused = client.post("/grants/funds/new", data=data)
    assert refused.status_code == 200  # the form again, with what was typed, and its token
    assert once_token(refused.get_data(as_text=True)) == data["once"]
    assert client.post("/grants/funds/new", data={**data, "currency": "USD"}).status_code == 302
    assert count(Fund, Fund.name == "Africa Elections Fund") == 1


def test_finding6_tokens_are_kept_two_days_then_expire(client, make_user, open_round):
    path, data = _fill(client, make_user, open_round, "fund")
    client.post(path, data=data)
    assert count(form_tokens.UsedFormToken) == 1
    assert form_tokens.expire(utcnow() + timedelta(days=1)) == 0
    assert form_tokens.expire(utcnow() + form_tokens.KEEP_FOR + timedelta(minutes=1)) == 1
    assert count(form_tokens.UsedFormToken) == 0


@pytest.mark.committing
@pytest.mark.parametrize("name", ["member", "join", "draft"])
def test_finding6_ten_parallel_identical_posts_create_one(app, make_user, open_round, name):
    _who, made, _form = CREATE_FORMS[name]
    source = app.test_client()
    path, data = _fill(source, make_user, open_round, name)
    before = made()
    browsers = same_session(app, source)

    answers = in_parallel([lambda b=b: b.post(path, data=data) for b in browsers])

    assert [a.status_code for a in answers] == [302] * THREADS, answers
    assert made() == before + 1
    assert len({a.location for a in answers}) == 1


# -- Finding 7: malformed numbers answer a page, never a 500 -----------------------------------

MALFORMED = ["abc", "1.5", "NaN", "²", "٣", "-1", "0", "99999999999999999999999999", " "]
RELOAD = "This form is out of date or damaged"


@pytest.fixture
def edit_forms(client, make_user, open_round):
    """Each optimistic-locking form as its user opens it: (path, data without the version)."""
    from coalition.members.operations import create_member

    convenor = _convenor(make_user)
    applicant = make_user(Role.APPLICANT)
    member = create_member(
        actor=None,
        values={"kind": MemberKind.ORGANISATION, "name": "Versioned", "country": "KE"},
    )
    draft = ops.start(open_round, applicant)
    db.session.commit()
    sign_in_as(client, applicant)
    application = form_data(client, draft.id)
    return {
        "application": (applicant, f"/applications/{draft.id}/edit", application),
        "member": (convenor, f"/members/{member.id}/edit", {**MEMBER_FORM}),
        "member status": (
            convenor,
            f"/members/{member.id}/status",
            {"status": "suspended", "reason": "Unpaid dues"},
        ),
        "fund": (
            convenor,
            f"/grants/funds/{open_round.fund_id}/edit",
            fund_data(name="Issue 8 Fund", currency="USD"),
        ),
        "round": (
            convenor,
            f"/grants/rounds/{open_round.id}/edit",
            round_data(open_round.fund, title="Renamed"),
        ),
    }


@pytest.mark.parametrize("form", ["application", "member", "member status", "fund", "round"])
@pytest.mark.parametrize("version", MALFORMED)
def test_finding7_a_malformed_version_is_refused_not_a_500(client, edit_forms, form, version):
    person, path, data = edit_forms[form]
    sign_in_as(client, person)
    response = post(client, path, {**data, "version": version})
    assert response.status_code < 500
    text = response.get_data(as_text=True)
    if response.status_code == 302:  # the status form shows its errors on the member's page
        text = client.get(response.location).get_data(as_text=True)
    assert "Traceback" not in text
    assert RELOAD in text


@pytest.mark.parametrize("page", ["99999999999999999999999999", "-5", "1e9", "²", "NaN"])
@pytest.mark.parametrize(
    "path",
    [
        "/admin/users/",
        "/admin/audit/",
        "/grants/rounds/{round_id}/applications",
        "/grants/rounds/{round_id}/screening",
        "/members/",
        "/members/applications",
        "/directory",
    ],
)
def test_finding7_a_huge_or_malformed_page_number_is_not_a_500(
    client, make_user, open_round, path, page
):
    sign_in_as(client, _convenor(make_user))
    response = client.get(path.format(round_id=open_round.id) + f"?page={page}")
    assert response.status_code == 200


def test_finding7_a_far_away_day_in_the_audit_filter_is_not_a_500(client, make_user):
    sign_in_as(client, _convenor(make_user))
    for day in ("9999-12-31", "0001-01-01", "2026-02-30"):
        assert client.get(f"/admin/audit/?from={day}&to={day}").status_code == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        (" 12 ", 12),
        (12, 12),
        ("²", None),
        ("٣", None),
        ("1.5", None),
        ("NaN", None),
        ("+1", None),
        ("1_000", None),
        ("-1", None),
        ("", None),
        (None, None),
        (True, None),
        (1.0, None),
        (str(2**31), None),
        ("9" * 5000, None),
    ],
)
def test_finding7_bounded_int_reads_only_plain_digits_within_bounds(value, expected):
    assert bounded_int(value) == expected


def test_finding7_bounded_int_clamps_when_asked():
    assert bounded_int("9" * 50, minimum=1, maximum=MAX_PAGE, clamp=True) == MAX_PAGE
    assert bounded_int("0", minimum=1, maximum=MAX_PAGE, clamp=True) == 1
    assert bounded_int("x", minimum=1, maximum=9, default=1, clamp=True) == 1


def test_finding7_the_version_field_reads_an_int_or_refuses(app):
    from flask_wtf import FlaskForm
    from werkzeug.datastructures import MultiDict

    class Form(FlaskForm):
        class Meta:
            csrf = False

        version = VersionField(required=True)

    with app.test_request_context():
        assert Form(formdata=MultiDict({"version": "7"})).validate()
        good = Form(formdata=MultiDict({"version": "7"}))
        good.validate()
        assert good.version.data == 7
        for bad in ("²", "abc", "", "0", str(2**40)):
            form = Form(formdata=MultiDict({"version": bad}))
            assert not form.validate(), bad
            assert RELOAD in form.version.errors[0]
        assert 'value="3"' in str(Form(formdata=None, data={"version": 3}).version)


def test_finding6_a_token_is_random_and_hashed(client, make_user, open_round):
    tokens = {form_tokens.new_token() for _ in range(100)}
    assert len(tokens) == 100
    path, data = _fill(client, make_user, open_round, "fund")
    client.post(path, data=data)
    stored = db.session.scalar(sa.select(form_tokens.UsedFormToken.key))
    assert data["once"] not in stored and len(stored) == 64


def test_finding6_an_attachment_sent_twice_is_attached_once(client, make_user, open_round):
    applicant = make_user(Role.APPLICANT)
    sign_in_as(client, applicant)
    draft_id = ops.start(open_round, applicant).id
    db.session.commit()
    page = client.get(f"/applications/{draft_id}/edit").get_data(as_text=True)
    token = once_token(page[page.index('enctype="multipart/form-data"') :])
    csrf = csrf_token(client, f"/applications/{draft_id}/edit")

    def send():
        return client.post(
            f"/applications/{draft_id}/attachments",
            data={
                "csrf_token": csrf,
                "once": token,
                "kind": "proposal",
                "file": (io.BytesIO(sample_files.pdf()), "proposal.pdf"),
            },
            content_type="multipart/form-data",
        )

    first, again = send(), send()
    assert first.status_code == again.status_code == 302
    assert again.location == first.location
    assert count(Attachment, Attachment.application_id == draft_id) == 1


def test_finding6_a_member_list_sent_twice_is_checked_once(client, make_user):
    from coalition import jobs
    from tests.test_members_import import csv_text, row

    sign_in_as(client, _convenor(make_user))
    token = once_token(client.get("/members/import").get_data(as_text=True))
    csrf = csrf_token(client, "/members/import")
    data = csv_text([row()]).encode()

    def send():
        return client.post(
            "/members/import",
            data={"csrf_token": csrf, "once": token, "file": (io.BytesIO(data), "members.csv")},
            content_type="multipart/form-data",
        )

    first, again = send(), send()
    assert first.status_code == again.status_code == 302
    assert again.location == first.location
    assert count(jobs.Job) == 1


def test_finding7_a_nul_character_is_refused_with_400(client, make_user):
    # PostgreSQL cannot store it in text: it failed in the driver, as a 500, wherever it went.
    sign_in_as(client, _convenor(make_user))
    assert client.get("/members/?q=a%00b").status_code == 400
    response = post(client, "/members/new", {**MEMBER_FORM, "name": "a\x00b"})
    assert response.status_code == 400
    assert count(Member) == 0
    assert client.get("/members/?q=ab").status_code == 200


def test_finding6_a_token_is_bound_to_its_form_and_its_person(client, make_user, open_round):
    path, data = _fill(client, make_user, open_round, "member")
    first = client.post(path, data=data)
    assert first.status_code == 302
    # Another convenor who got hold of the token makes their own member, not a visit to ours.
    sign_in_as(client, _convenor(make_user))
    other = client.post(path, data={**data, "csrf_token": csrf_token(client, path)})
    assert other.status_code == 302 and other.location != first.location
    assert count(Member, Member.name == MEMBER_FORM["name"]) == 2
