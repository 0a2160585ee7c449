"""Access control, walked over the whole URL map (S12, S17, S18; S13 as objects arrive).

* ``test_route_access``: every rule of ``app.url_map`` x every method x every
  person of ``tests/access_table.PEOPLE``, compared with the one table
  ``tests/access_table.ACCESS`` (the model is Indico's
  ``receipts/controllers/access_test.py``). To add a route, read the
  docstring of ``tests/access_table.py``.
* ``test_access_table_matches_url_map``: the table and the URL map hold the
  same endpoints and methods, both ways.
* Convenor pages refuse everyone else; an error inside a permission check
  refuses and shows nothing (S17); unsafe methods without a CSRF token are
  refused and change nothing, and GETs change nothing (S18); a deactivated
  account is out at its next request.

S13 (other people's objects answer 404) has no object to try yet: when an area
adds one, give it to its owner in the ``world`` fixture, point the route's
``"url"`` at it and set ``"denied": 404`` in the table.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import current_app, url_for
from flask_login import AnonymousUserMixin

from coalition import create_app, policy
from coalition.accounts import tokens
from coalition.accounts.models import TWO_FACTOR_ROLES, TokenPurpose
from coalition.accounts.operations import set_active
from coalition.extensions import db
from tests.access_table import (
    ACCESS,
    ANONYMOUS,
    APPLICANT,
    ASSIGNED_REVIEWER,
    CONVENOR,
    ENTRY_KEYS,
    HTTP_METHODS,
    MEMBER_CONTACT,
    OTHER_APPLICANT,
    PEOPLE,
    STEERING,
    World,
    methods_of,
    url_values,
)
from tests.conftest import app_config, csrf_token, sign_in_as

IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
SAFE_METHODS = frozenset({"GET"})
CSRF_PAGE = "This form has expired"


# -- The routes, read from the application itself ----------------------------------


def routes_of(app) -> list[tuple[str, str]]:
    """(endpoint, method) for every rule but ``static``, HEAD and OPTIONS aside."""
    return sorted(
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - IGNORED_METHODS
    )


@cache
def collected_routes() -> tuple[tuple[str, str], ...]:
    """The routes of a freshly built application, to parametrise the tests at collection.

    ``test_collected_routes_are_the_apps`` checks they are the session app's.
    """
    return tuple(routes_of(create_app(app_config("sqlite://", ""))))


def cases(people, *, methods=None):
    return [
        pytest.param(endpoint, method, person, id=f"{endpoint}:{method}:{person}")
        for endpoint, method in collected_routes()
        if methods is None or method in methods
        for person in people
    ]


# -- The people -----------------------------------------------------------------------


@pytest.fixture
def world(make_user) -> World:
    return build_world(make_user)


def build_world(make_user) -> World:
    """One account per person of ``PEOPLE``, with their objects (committed).

    Later areas add their objects here, in ``World.objects`` (the applicant's
    application, the assigned reviewer's assignment, the conflict of the
    conflicted steering member, each member contact's member, ...).
    ``tests/browser/test_every_page.py`` builds the same world.
    """
    users = {}
    for name, roles in PEOPLE.items():
        if roles is None:
            continue
        users[name] = make_user(
            *roles,
            email=f"{name.replace('_', '-')}@access.example.org",
            name=f"{name.replace('_', ' ').title()} Tester",
            two_factor=bool(set(roles) & TWO_FACTOR_ROLES),
        )
    world = World(users=users)
    add_members(world)
    add_grants(world)
    from tests.access_parts.steering_votes import add_steering_votes

    add_steering_votes(world)
    add_award(world)
    return world


def add_award(world: World) -> None:
    """The applicant's approved application, awarded: a grant with two tranches, an
    interim report (with a file) and a final one. The other applicant has none."""
    from datetime import timedelta

    from coalition.grants import awards, files
    from coalition.grants.award_models import ReportAttachment, ReportKind
    from coalition.grants.models import Application, ApplicationStatus, BudgetLine

    today = awards.today_utc()
    application = Application(
        round=world.objects["open_round"],
        applicant=world.users["applicant"],
        title="Awarded",
        org_name="Applicant's group",
        org_country="KE",
        requested_amount=1_000_000,
        status=ApplicationStatus.IN_VOTE,
    )
    application.budget_lines.append(
        BudgetLine(position=0, category="Staff", description="Monitors", amount=1_000_000)
    )
    db.session.add(application)
    db.session.flush()
    application.move_to(ApplicationStatus.APPROVED)
    grant = awards.make_award(
        application,
        actor=None,
        amount=1_000_000,
        starts_on=today,
        ends_on=today + timedelta(days=365),
        payee="organisation",
        tranches=[
            awards.TrancheInput(today, 500_000),
            awards.TrancheInput(today + timedelta(days=180), 500_000, after_report=0),
        ],
        reports=[
            awards.ReportInput(ReportKind.INTERIM, today + timedelta(days=150)),
            awards.ReportInput(ReportKind.FINAL, today + timedelta(days=400)),
        ],
    )
    report = grant.reports[0]
    stored = files.store(b"item,spent\nfield work,100\n", original_name="r.csv", current_total=0)
    attachment = ReportAttachment(
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
    )
    report.attachments.append(attachment)
    world.objects["awarded_application"] = application
    world.objects["award"] = grant
    world.objects["award_tranche"] = grant.tranches[0]
    world.objects["grantee_report"] = report
    world.objects["report_attachment"] = attachment
    db.session.commit()


def add_grants(world: World) -> None:
    """A fund with an open round and a draft round."""
    from datetime import timedelta

    from coalition.db import utcnow
    from coalition.grants.models import Fund, Round, RoundPhase

    fund = Fund(name="Access Fund", partner="Partner", currency="USD", total_budget=10_000_000)
    fund.eligible_countries = ["KE", "NG", "SN"]
    now = utcnow()
    common = {
        "fund": fund,
        "budget": 5_000_000,
        "min_grant": 100_000,
        "max_grant": 2_000_000,
        "description": "A round.",
    }
    world.objects["fund"] = fund
    world.objects["open_round"] = Round(
        title="Open round",
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
        **common,
    )
    world.objects["draft_round"] = Round(
        title="Draft round",
        phase=RoundPhase.DRAFT,
        opens_at=now + timedelta(days=10),
        closes_at=now + timedelta(days=40),
        **common,
    )
    db.session.add_all([fund, world.objects["open_round"], world.objects["draft_round"]])
    db.session.flush()
    from coalition.grants import files
    from coalition.grants.models import Application, ApplicationStatus, Attachment, AttachmentKind

    draft = Application(
        round=world.objects["open_round"], applicant=world.users["applicant"], title="Draft"
    )
    stored = files.store(b"name,amount\nfield work,100\n", original_name="b.csv", current_total=0)
    attachment = Attachment(
        kind=AttachmentKind.BUDGET,
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
    )
    draft.attachments.append(attachment)
    submitted = Application(
        round=world.objects["open_round"],
        applicant=world.users["applicant"],
        title="Submitted",
        status=ApplicationStatus.SUBMITTED,
    )
    db.session.add_all([draft, submitted])
    world.objects["draft_application"] = draft
    world.objects["draft_attachment"] = attachment
    world.objects["submitted_application"] = submitted
    db.session.commit()
    add_reviews(world, common)


def add_reviews(world: World, common: dict) -> None:
    """A round in review with one eligible application (with an attachment): the
    assigned reviewer's review (no conflict declared), the steering member's "no
    conflict" and the conflicted steering member's conflict on it."""
    from datetime import timedelta

    from coalition.db import utcnow
    from coalition.grants import files
    from coalition.grants.models import (
        Application,
        ApplicationStatus,
        Attachment,
        AttachmentKind,
        Criterion,
        Round,
        RoundPhase,
    )
    from coalition.grants.review_models import (
        ConflictDeclaration,
        ConflictKind,
        Review,
        ReviewStatus,
    )

    now = utcnow()
    round_ = Round(
        title="Round in review",
        phase=RoundPhase.IN_REVIEW,
        opens_at=now - timedelta(days=40),
        closes_at=now - timedelta(days=10),
        review_deadline=now + timedelta(days=10),
        **common,
    )
    round_.criteria.append(Criterion(position=0, name="Relevance", weight=1))
    eligible = Application(
        round=round_,
        applicant=world.users["applicant"],
        title="Eligible",
        org_name="Applicant Org",
        status=ApplicationStatus.ELIGIBLE,
        requested_amount=500_000,
        submitted_at=now - timedelta(days=12),
    )
    stored = files.store(b"name,amount\nfield work,100\n", original_name="e.csv", current_total=0)
    attachment = Attachment(
        kind=AttachmentKind.BUDGET,
        original_name=stored.original_name,
        stored_name=stored.stored_name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
    )
    eligible.attachments.append(attachment)
    reviewer = world.users["assigned_reviewer"]
    review = Review(application=eligible, reviewer=reviewer, status=ReviewStatus.IN_PROGRESS)
    declarations = [
        ConflictDeclaration(user=reviewer, application=eligible, kind=ConflictKind.NONE),
        ConflictDeclaration(
            user=world.users["steering"], application=eligible, kind=ConflictKind.NONE
        ),
        ConflictDeclaration(
            user=world.users["conflicted_steering"],
            application=eligible,
            kind=ConflictKind.CONFLICT,
            description="Board member of the applicant.",
        ),
    ]
    db.session.add_all([round_, eligible, review, *declarations])
    world.objects["review_round"] = round_
    world.objects["eligible_application"] = eligible
    world.objects["review_attachment"] = attachment
    world.objects["assigned_review"] = review
    db.session.commit()


def add_members(world: World) -> None:
    """Each member contact's own member, and a joining application."""
    from coalition.members.models import MemberContact, MemberKind, MemberStatus, OrgType
    from coalition.members.operations import create_member

    def member(name, status, contact_person=None):
        created = create_member(
            actor=None,
            values={
                "kind": MemberKind.ORGANISATION,
                "name": name,
                "org_type": OrgType.NGO,
                "country": "KE",
                "consent_public": True,
            },
            contacts=[{"name": f"{name} contact", "email": f"{name.lower()}@example.org"}],
            status=status,
        )
        if contact_person:
            created.contacts.append(
                MemberContact(
                    name=world.users[contact_person].name,
                    email=world.users[contact_person].email,
                    user_id=world.users[contact_person].id,
                )
            )
        return created

    world.objects["member"] = member("Ours", MemberStatus.ACTIVE, "member_contact")
    world.objects["other_member"] = member("Theirs", MemberStatus.ACTIVE, "other_member_contact")
    world.objects["applied_member"] = member("Joining", MemberStatus.APPLIED)
    db.session.commit()


# -- Requests and answers ---------------------------------------------------------------


def path_for(endpoint: str, values: dict) -> str:
    with current_app.test_request_context():
        return url_for(endpoint, **values)


def entry_values(endpoint: str, world: World) -> dict:
    return url_values(ACCESS.get(endpoint, {}), world)


def send(client, world: World, person: str, method: str, path: str):
    """``method path`` as ``person``; unsafe methods carry a valid CSRF token."""
    if person != ANONYMOUS:
        sign_in_as(client, world.users[person])
    data = None
    if method not in SAFE_METHODS:
        # After signing in: the token is bound to the session.
        data = {"csrf_token": csrf_token(client)}
    return client.open(path, method=method, data=data)


def sign_in_next(response) -> str | None:
    """The ``next`` of a redirect to the sign-in page, or None when it is not one."""
    if response.status_code not in (301, 302, 303, 307, 308):
        return None
    parts = urlsplit(response.location)
    if parts.path != "/sign-in":
        return None
    return parse_qs(parts.query).get("next", [None])[0]


def refusal(response) -> str | None:
    """Why an answer refuses the request (or proves the test broken), else None."""
    status = response.status_code
    if status in (401, 403, 404, 405):
        return f"answered {status}"
    if sign_in_next(response) is not None:
        return f"sent to sign in ({response.location})"
    if status in (301, 302, 303, 307, 308) and urlsplit(response.location).path == (
        "/account/two-factor/setup"
    ):
        return "sent to two-factor enrolment"
    if status == 400 and CSRF_PAGE in response.get_data(as_text=True):
        return "refused by the CSRF check: the test sent a bad token"
    if status >= 500:
        return f"server error {status}"
    return None


# Reading sensitive data is itself recorded (S22): these audit rows are the one
# thing a GET may add. A download of an applicant's file by staff or steering, or
# of a generated report, stays a plain link: the row records a file that was really
# sent to that person's browser. Exports, which gather many people's data, are POSTs (S18).
ACCESS_RECORDS = frozenset(
    {
        "application.attachment_downloaded",
        "grant_report.attachment_downloaded",
        "report.downloaded",
    }
)


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, to show that nothing changed."""
    from coalition.audit.models import AuditEntry

    db.session.flush()
    rows = {}
    for table in db.metadata.sorted_tables:
        query = table.select()
        if table.name == AuditEntry.__tablename__:
            query = query.where(table.c.action.not_in(ACCESS_RECORDS))
        rows[table.name] = sorted((tuple(r) for r in db.session.execute(query)), key=repr)
    return rows


# -- S12: the route x person table ----------------------------------------------------


def test_collected_routes_are_the_apps(app):
    assert list(collected_routes()) == routes_of(app)


def test_access_table_matches_url_map(app):
    in_app: dict[str, set[str]] = {}
    for endpoint, method in routes_of(app):
        in_app.setdefault(endpoint, set()).add(method)
    missing = sorted(set(in_app) - set(ACCESS))
    assert not missing, f"routes in app.url_map but not in tests/access_table.py: {missing}"
    stale = sorted(set(ACCESS) - set(in_app))
    assert not stale, f"endpoints in tests/access_table.py that the app does not have: {stale}"
    for endpoint, entry in ACCESS.items():
        assert methods_of(entry) == in_app[endpoint], f"methods of {endpoint}"
        assert methods_of(entry) <= HTTP_METHODS, f"unknown key in {endpoint}"
        assert set(entry) <= ENTRY_KEYS | HTTP_METHODS, f"unknown key in {endpoint}"
        for method in methods_of(entry):
            unknown = set(entry[method]) - set(PEOPLE)
            assert not unknown, f"{endpoint} {method}: unknown people {unknown}"
        assert entry.get("denied", 403) in (403, 404), f"denied status of {endpoint}"


@pytest.mark.parametrize(("endpoint", "method", "person"), cases(PEOPLE))
def test_route_access(client, world, endpoint, method, person):
    entry = ACCESS.get(endpoint)
    assert entry is not None, f"{endpoint} is not in tests/access_table.py: add it"
    assert method in entry, f"{endpoint} accepts {method}, but the table does not say who may"
    path = path_for(endpoint, url_values(entry, world))
    response = send(client, world, person, method, path)

    if person in entry[method]:
        why = refusal(response)
        assert why is None, f"{person} may {method} {path}, but was refused: {why}"
    elif person == ANONYMOUS:
        if method == "GET":
            assert response.status_code == 302, f"{method} {path}: {response.status_code}"
            assert sign_in_next(response) == path, response.location
        else:
            # A form post is never sent back through sign-in (it would return as a GET).
            assert response.status_code == 401, f"{method} {path}: {response.status_code}"
    else:
        assert response.status_code == entry.get("denied", 403)


# -- Convenor pages: everyone else gets 403 ---------------------------------------------


def admin_requests(app, world: World) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        values = entry_values(rule.endpoint, world) or dict.fromkeys(
            rule.arguments, world.users[OTHER_APPLICANT].id
        )
        path = path_for(rule.endpoint, values)
        found.extend((method, path) for method in sorted(rule.methods - IGNORED_METHODS))
    return found


@pytest.mark.parametrize("person", [APPLICANT, ASSIGNED_REVIEWER, MEMBER_CONTACT, STEERING])
def test_admin_pages_refuse_everyone_but_the_convenor(app, client, world, person):
    sign_in_as(client, world.users[person])
    token = csrf_token(client)
    requests = admin_requests(app, world)
    assert len(requests) >= 10, requests  # the convenor pages are really there
    answers = {
        f"{method} {path}": client.open(
            path, method=method, data=None if method == "GET" else {"csrf_token": token}
        ).status_code
        for method, path in requests
    }
    assert answers == dict.fromkeys(answers, 403)


def test_admin_pages_open_to_the_convenor(app, client, world):
    sign_in_as(client, world.users[CONVENOR])
    token = csrf_token(client)
    answers = {
        f"{method} {path}": client.open(
            path, method=method, data=None if method == "GET" else {"csrf_token": token}
        ).status_code
        for method, path in admin_requests(app, world)
    }
    assert not {k: v for k, v in answers.items() if v >= 400}, answers


# -- S17: an error in a permission check refuses and shows nothing ------------------------


def _broken_rule(user, obj):
    raise RuntimeError("the permission check broke")


def test_error_in_permission_check_refuses_and_shows_nothing(client, world, monkeypatch):
    convenor = world.users[CONVENOR]
    sign_in_as(client, convenor)
    before = client.get("/admin/users/")
    assert before.status_code == 200
    assert world.users[APPLICANT].email in before.get_data(as_text=True)

    monkeypatch.setitem(policy._RULES, "admin.users", _broken_rule)
    response = client.get("/admin/users/")
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    for person in world.users.values():
        assert person.email not in body
        assert person.name not in body
    assert policy.can(convenor, "admin.users") is False
    # The navigation asks the same rule: it hides the link rather than fail.
    home = client.get("/")
    assert home.status_code == 200
    assert 'href="/admin/users/"' not in home.get_data(as_text=True)


def test_navigation_shows_convenor_links_when_the_rule_works(client, world):
    sign_in_as(client, world.users[CONVENOR])
    assert 'href="/admin/users/"' in client.get("/").get_data(as_text=True)


def test_unknown_permission_is_refused(world):
    convenor = world.users[CONVENOR]
    assert policy.can(convenor, "admin.audit") is True
    assert policy.can(convenor, "admin.no_such_permission") is False
    assert policy.can(convenor, "") is False


def test_anonymous_and_none_hold_no_permission(world):
    assert policy.can(None, "grants.area") is False
    assert policy.can(AnonymousUserMixin(), "grants.area") is False
    assert policy.can(world.users[APPLICANT], "grants.area") is True


# -- S18: CSRF on every unsafe method; GETs change nothing -------------------------------

UNSAFE_SENDERS = [ANONYMOUS, CONVENOR, "convenor_with_foreign_token"]


@pytest.mark.parametrize(
    ("endpoint", "method", "sender"),
    cases(UNSAFE_SENDERS, methods=HTTP_METHODS - SAFE_METHODS),
)
def test_unsafe_method_without_valid_csrf_token_is_refused(
    app, client, world, endpoint, method, sender
):
    path = path_for(endpoint, entry_values(endpoint, world))
    if sender != ANONYMOUS:
        sign_in_as(client, world.users[CONVENOR])
    csrf_token(client)  # the session holds a token, as after any page view
    data = {}
    if sender == "convenor_with_foreign_token":
        data["csrf_token"] = csrf_token(app.test_client())
    before = snapshot()

    response = client.open(path, method=method, data=data)

    assert response.status_code == 400
    assert CSRF_PAGE in response.get_data(as_text=True)
    assert snapshot() == before
    if sender != ANONYMOUS:
        assert client.get("/account/").status_code == 200, "the convenor was signed out"


# Token links opened with a live token, so that a GET that used it up would show.
LIVE_TOKENS = {
    "accounts.confirm_email": TokenPurpose.CONFIRM,
    "accounts.reset_password": TokenPurpose.RESET,
    "accounts.accept_invitation": TokenPurpose.INVITE,
    "accounts.confirm_new_email": TokenPurpose.EMAIL_CHANGE,
}


@pytest.mark.parametrize(
    ("endpoint", "method", "person"),
    cases([ANONYMOUS, APPLICANT, CONVENOR], methods=SAFE_METHODS),
)
def test_get_changes_nothing(client, world, endpoint, method, person):
    values = entry_values(endpoint, world)
    purpose = LIVE_TOKENS.get(endpoint)
    if purpose is not None:
        new_email = "new@access.example.org" if purpose == TokenPurpose.EMAIL_CHANGE else None
        values["token"] = tokens.issue(world.users[OTHER_APPLICANT], purpose, new_email=new_email)
    path = path_for(endpoint, values)
    if person != ANONYMOUS:
        sign_in_as(client, world.users[person])
    before = snapshot()

    response = client.open(path, method=method)

    assert response.status_code < 500
    if purpose is not None:
        assert response.status_code == 200, "the live token was refused"
    assert snapshot() == before


def test_sign_out_by_get_is_refused_and_keeps_the_session(client, world):
    user = world.users[APPLICANT]
    session_token = user.session_token
    sign_in_as(client, user)

    assert client.get("/sign-out").status_code == 405
    assert client.get("/account/").status_code == 200
    db.session.refresh(user)
    assert user.session_token == session_token

    # The POST with its token does sign out: the GET above really was refused.
    response = client.post("/sign-out", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert sign_in_next(client.get("/account/")) == "/account/"


# -- A deactivated account is out at its next request -----------------------------------


def _deactivate_via_operation(world: World, user) -> None:
    set_active(world.users[CONVENOR], user, False)


def _deactivate_flag_only(world: World, user) -> None:
    # The session id does not rotate: only the user loader's `active` check stops it.
    user.active = False


@pytest.mark.parametrize(
    "deactivate",
    [
        pytest.param(_deactivate_via_operation, id="set_active"),
        pytest.param(_deactivate_flag_only, id="flag-only"),
    ],
)
def test_deactivated_user_is_signed_out(client, world, deactivate):
    user = world.users[APPLICANT]
    sign_in_as(client, user)
    assert client.get("/account/").status_code == 200

    deactivate(world, user)
    db.session.commit()

    response = client.get("/account/")
    assert response.status_code == 302
    assert sign_in_next(response) == "/account/"
    assert policy.can(user, "grants.area") is False
