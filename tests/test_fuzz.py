"""Fuzzing every form and every page of the route table (finding 7, issue 15).

For each route of ``tests/access_table.ACCESS``, as a person allowed to use
it (the convenor when they may, else the applicant, a member contact, ...):

* a POST route gets its form's fields, **hidden fields included**, with a valid
  CSRF token; the fields are read from the forms that the person's pages post
  to it. Each is kept as the page gave it, replaced, left out or sent twice,
  and fields the form does not have are added (``user_id``, ``status``, ...).
  The body is written byte by byte, so values may be bytes that are not UTF-8,
  raw or percent-encoded;
* a GET page gets generated values in its query parameters: every parameter
  the application reads, and those of the page's own filter forms;
* a route to someone's own object (``"denied": 404`` in the table) is sent,
  by its owner, to a second owner's object (the ``foreign`` fixture): it must
  refuse and write nothing.

Values come from hypothesis: huge strings, NUL and control characters, text
of several scripts, numbers at and past the limits (negative, ``NaN``,
exponents, thousands separators, other digits), dates that do not exist
(``0000-00-00``, ``2027-02-30``), and the ids of the second owner's objects.

Every answer must be under 500, carry no traceback (page or log), and log no
error. A refusal (``refused``) must leave every row of every table as it was
(``fingerprint``), but for its own audit record of a failed sign-in.

Profiles: ``FUZZ_EXAMPLES`` cases per route when set (``make fuzz`` sets
1,000); otherwise the CI profile of ``CI_EXAMPLES``, per database. Above 20
cases hypothesis also shrinks a failure. Beside the random search, every
field and every query parameter also gets the finding's own values, every time.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException

from coalition.extensions import db, limiter
from tests.access_table import (
    ACCESS,
    ANONYMOUS,
    APPLICANT,
    ASSIGNED_REVIEWER,
    CONVENOR,
    MEMBER_CONTACT,
    OTHER_APPLICANT,
    OTHER_MEMBER_CONTACT,
    STEERING,
    UNASSIGNED_REVIEWER,
    World,
    url_values,
)
from tests.conftest import csrf_token, sign_in_as
from tests.test_access import collected_routes, path_for, world  # noqa: F401 - the fixture

# The CI profile (``make test``, on both databases in ``.ci/run``): cases per route when
# FUZZ_EXAMPLES is not set. Measured in the README's "Fuzzing"; PostgreSQL's requests
# cost more, and CI runs the suite on both.
CI_EXAMPLES = {"sqlite": 30, "postgresql": 10}


def examples() -> int:
    if os.environ.get("FUZZ_EXAMPLES"):
        return int(os.environ["FUZZ_EXAMPLES"])
    url = os.environ.get("TEST_DATABASE_URL", "")
    return CI_EXAMPLES["postgresql" if url.startswith("postgresql") else "sqlite"]


EXAMPLES = examples()
PREFERRED = (CONVENOR, APPLICANT, MEMBER_CONTACT, STEERING)

# Every query parameter the application reads (grep request.args and from_args).
QUERY_NAMES = (
    "page",
    "q",
    "sort",
    "status",
    "kind",
    "type",
    "country",
    "region",
    "focus",
    "steering",
    "min",
    "max",
    "screening",
    "fund",
    "role",
    "action",
    "object_type",
    "object_id",
    "actor",
    "from",
    "to",
    "show",
    "refresh",
    "next",
)

HOSTILE = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "1e309",
    "NaN",
    "Infinity",
    "²",
    "٣",
    "99999999999999999999999999",
    str(2**63),
    "+1",
    "1_000",
    "abc",
    "\x00",
    "a\x00b",
    "\u202e",
    "\r\n",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "a" * 3000,
    "https://evil.example",
    "//evil.example",
    "javascript:alert(1)",
    "2026-02-30",
    "9999-12-31",
    "9999-12-31T23:59",
    "0001-01-01",
    "x@y",
    "on",
    # Numbers at and beyond the limits of 32- and 64-bit columns, negative, exponents,
    # thousands separators of several languages, other digits.
    "2147483647",
    "2147483648",
    "-2147483649",
    str(2**63 - 1),
    str(-(2**63) - 1),
    "-0",
    "-99999999999",
    "1e3",
    "1E-7",
    "-Infinity",
    "nan",
    "1,000",
    "1 000",
    "1\u202f000",
    "1.000,50",
    "1'000",
    "١٢٣",
    "0x1F",
    # Dates that do not exist.
    "0000-00-00",
    "2027-02-30",
    "2026-13-01",
    "2026-00-10",
    "99999-01-01",
    "2026-1-1",
    "2026-03-01T25:61",
    "24:00",
    # Control characters, and text of several scripts at once.
    "\x01\x02\x1b[31m\x7f",
    "\t\v\f\x1c\x1d\x1e",
    "\u0085\u2028\u2029\ufeff\u200b",
    "Ali علي 李 Ωμέγα Дмитрий हिंदी 🙂",
    "paypal.com \u0440\u0430\u0443\u0440\u0430l.com",  # Cyrillic look-alikes
    "\u202eevil\u202c.pdf",
    # Huge strings: the body stays under MAX_CONTENT_LENGTH, the column's limit does not.
    "x" * 100_000,
    "é" * 40_000,
    "\x00" * 1_000,
]
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=40),
    st.integers().map(str),
    st.floats().map(str),
)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # Shrinking a failure costs hundreds of requests: only when searching hard.
    phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if EXAMPLES > 20 else []),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def person_for(entry: dict, method: str) -> str:
    allowed = entry[method]
    for person in PREFERRED:
        if person in allowed:
            return person
    others = sorted(p for p in allowed if p != ANONYMOUS)
    return others[0] if others else ANONYMOUS


def cases(method: str):
    return [
        pytest.param(endpoint, id=endpoint)
        for endpoint, m in collected_routes()
        if m == method and ACCESS[endpoint].get(method)
    ]


# -- The forms a person's pages post ------------------------------------------------------


class FormReader(HTMLParser):
    """The forms of a page: method, action, enctype and fields (name, type, value)."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "method": (attrs.get("method") or "get").lower(),
                    "action": attrs.get("action") or "",
                    "multipart": "multipart" in (attrs.get("enctype") or ""),
                    "fields": [],
                }
            )
            return
        if not self.forms or not attrs.get("name"):
            return
        fields = self.forms[-1]["fields"]
        if tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset"):
                fields.append((attrs["name"], "submit", attrs.get("value") or "1"))
            elif kind not in ("checkbox", "radio") or "checked" in attrs:
                fields.append((attrs["name"], kind, attrs.get("value") or ""))
            else:
                fields.append((attrs["name"], kind, attrs.get("value") or "on"))
        elif tag in ("textarea", "select"):
            fields.append((attrs["name"], tag, ""))
        elif tag == "button":
            fields.append((attrs["name"], "submit", attrs.get("value") or "1"))


_FORMS: dict[str, dict[str, list[dict]]] = {}


def forms_of(app, client, given_world: World, person: str) -> dict[str, list[dict]]:
    """endpoint -> the forms (method, fields) that ``person``'s pages send to it. Once per
    person: field names do not depend on the world's ids."""
    if person in _FORMS:
        return _FORMS[person]
    found: dict[str, list[dict]] = {}
    seen: set[tuple] = set()
    adapter = app.url_map.bind("localhost")
    for endpoint, entry in ACCESS.items():
        if person not in entry.get("GET", ()):
            continue
        path = path_for(endpoint, url_values(entry, given_world))
        response = client.get(path)
        if response.status_code != 200 or "html" not in (response.mimetype or ""):
            continue
        reader = FormReader()
        reader.feed(response.get_data(as_text=True))
        for form in reader.forms:
            target = urlsplit(form["action"] or path).path
            try:
                matched, _args = adapter.match(target, method=form["method"].upper())
            except HTTPException:
                continue
            shape = (form["method"], target, tuple(name for name, _k, _v in form["fields"]))
            if shape not in seen:  # the navigation's forms are on every page: once is enough
                seen.add(shape)
                found.setdefault(matched, []).append(form)
    _FORMS[person] = found
    return found


# -- Sending -------------------------------------------------------------------------------


def as_person(client, given_world: World, person: str) -> None:
    if person == ANONYMOUS:
        client.delete_cookie(client.application.config["SESSION_COOKIE_NAME"])
        return
    user = given_world.users[person]
    db.session.refresh(user)  # a request may have rotated its session token
    sign_in_as(client, user)


def check(response, caplog, what: str) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    textual = (response.mimetype or "").startswith("text")
    body = response.get_data(as_text=True) if textual else ""
    assert response.status_code < 500, f"{what}: {response.status_code}"
    assert "Traceback" not in body, what
    assert "Traceback" not in caplog.text, what
    assert not errors, f"{what}: logged {[r.getMessage() for r in errors]}"


@pytest.mark.parametrize("endpoint", cases("GET"))
@FUZZ
@given(data=st.data())
def test_fuzz_query_parameters_of_every_page(app, client, world, caplog, endpoint, data):  # noqa: F811
    entry = ACCESS[endpoint]
    person = person_for(entry, "GET")
    as_person(client, world, person)
    path = path_for(endpoint, url_values(entry, world))
    names = set(QUERY_NAMES)
    for form in forms_of(app, client, world, person).get(endpoint, []):
        if form["method"] == "get":
            names.update(name for name, _kind, _value in form["fields"])
    chosen = data.draw(st.lists(st.sampled_from(sorted(names)), max_size=6, unique=True))
    query = [(name, data.draw(VALUES, label=name)) for name in chosen]
    limiter.reset()
    caplog.clear()
    response = client.get(f"{path}?{urlencode(query)}")
    check(response, caplog, f"GET {path} {query!r}")


# -- The second owner's objects --------------------------------------------------------------


@pytest.fixture
def foreign(world) -> World:  # noqa: F811
    """A second owner's objects beside ``world``'s: the other applicant's draft (with an
    attachment), submitted and awarded applications, grant, report and report file, the
    unassigned reviewer's review, and the other member contact's member. The fuzzer puts
    their ids in fields and URLs where a person's own ids belong."""
    from datetime import timedelta

    from coalition.db import utcnow
    from coalition.grants import files
    from coalition.grants.models import (
        Application,
        ApplicationStatus,
        Attachment,
        AttachmentKind,
        Fund,
        Round,
        RoundPhase,
    )
    from tests.test_access import add_award, add_reviews

    users = dict(world.users)
    users[APPLICANT] = world.users[OTHER_APPLICANT]
    users[ASSIGNED_REVIEWER] = world.users[UNASSIGNED_REVIEWER]
    users[MEMBER_CONTACT] = world.users[OTHER_MEMBER_CONTACT]
    shadow = World(users=users)
    now = utcnow()
    common = {
        "fund": Fund(name="Foreign Fund", partner="P", currency="USD", total_budget=10_000_000),
        "budget": 5_000_000,
        "min_grant": 100_000,
        "max_grant": 2_000_000,
        "description": "Another round.",
    }
    open_round = Round(
        title="Their open round",
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=30),
        **common,
    )
    other = users[APPLICANT]
    draft = Application(round=open_round, applicant=other, title="Their draft")
    stored = files.store(b"name,amount\nthem,1\n", original_name="t.csv", current_total=0)
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
        round=open_round, applicant=other, title="Theirs", status=ApplicationStatus.SUBMITTED
    )
    # Rejected, so that its owner could appeal it: nobody else can.
    rejected = Application(
        round=open_round,
        applicant=other,
        title="Their rejected one",
        status=ApplicationStatus.REJECTED,
        submitted_at=now - timedelta(days=1),
    )
    db.session.add_all([open_round, draft, submitted, rejected])
    db.session.commit()
    shadow.objects.update(
        fund=common["fund"],
        open_round=open_round,
        draft_application=draft,
        draft_attachment=attachment,
        submitted_application=submitted,
        rejected_application=rejected,
    )
    add_reviews(shadow, common)
    add_award(shadow)
    shadow.objects["member"] = world.objects["other_member"]
    return shadow


def foreign_ids(shadow: World) -> list[str]:
    ids = {str(o.id) for o in shadow.objects.values() if isinstance(getattr(o, "id", None), int)}
    ids |= {str(shadow.users[p].id) for p in (APPLICANT, ASSIGNED_REVIEWER, MEMBER_CONTACT)}
    return sorted(ids, key=int)


# -- What a refused submission must leave alone -------------------------------------------------


# A refusal may record itself, and only that: a failed sign-in (or second factor, or
# re-authentication) is kept in the audit log (S21).
REFUSAL_RECORDS = frozenset({"user.sign_in_failed"})


def fingerprint() -> dict[str, object]:
    """Every table's rows, hashed, and the audit log's rows (the fuzz world holds a few
    hundred rows: every column of every row is cheaper to compare than to argue about
    which ones a refusal may touch)."""
    from coalition.audit.models import AuditEntry

    state: dict[str, object] = {
        table.name: hash(
            tuple(sorted(repr(tuple(row)) for row in db.session.execute(sa.select(table))))
        )
        for table in db.metadata.sorted_tables
        if table.name != AuditEntry.__tablename__
    }
    audit = AuditEntry.__table__
    state[audit.name] = [
        (row.id, row.action, repr(tuple(row)))
        for row in db.session.execute(sa.select(audit).order_by(audit.c.id))
    ]
    return state


def changed_tables(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """The tables a refusal changed: any row of any table, or an audit row other than the
    refusal's own record."""
    from coalition.audit.models import AuditEntry

    name = AuditEntry.__tablename__
    changed = sorted(t for t in before if t != name and before[t] != after.get(t))
    old, new = before[name], after[name]
    added = {action for _id, action, _row in new[len(old) :]}
    if new[: len(old)] != old or added - REFUSAL_RECORDS:
        changed.append(f"{name} {sorted(added)}")
    return changed


REFUSAL_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 429})


def refused(response, client) -> str | None:
    """Why the answer is a refusal, else None (the submission was taken). A refusal is an
    error status, the form shown again with errors beside its fields (or only an error
    message), or a redirect that carries only an error message (``flash(..., "error")``).

    Not a refusal: the application form's Submit with something missing. It saves the
    draft first, by design (nothing typed is lost), and lists what the submission still
    needs ("Not submitted yet") without marking a field invalid."""
    status = response.status_code
    if status in REFUSAL_STATUSES:
        return f"answered {status}"
    if status == 200 and response.mimetype == "text/html":
        page = response.get_data(as_text=True)
        if 'class="error-text"' in page or 'aria-invalid="true"' in page:
            return "showed the form again with errors beside its fields"
        if "flash-error" in page and "flash-success" not in page:
            return "showed the page again with an error"
    if 300 <= status < 400:
        with client.session_transaction() as session:
            categories = {category for category, _message in session.get("_flashes", [])}
        if categories == {"error"}:
            return "sent the person back with an error"
    return None


# -- Bodies, byte by byte (invalid UTF-8 cannot be said with str) ----------------------------

# Bytes that are not UTF-8: a lone continuation byte, Latin-1, a truncated sequence, an
# encoded surrogate, an overlong slash, a code point above U+10FFFF.
BAD_UTF8 = [
    b"\xff\xfe",
    b"caf\xe9",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    b"a\x80b",
]
UNRESERVED = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")


def as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def form_escape(raw: bytes, keep_high: bool) -> bytes:
    """Percent-encoding; with ``keep_high`` bytes above 0x7f go raw into the body."""
    out = bytearray()
    for byte in raw:
        if byte in UNRESERVED or (keep_high and byte >= 0x80):
            out.append(byte)
        else:
            out += b"%%%02X" % byte
    return bytes(out)


def encode(fields: list[tuple[str, object]], multipart: bool, keep_high: bool) -> tuple[bytes, str]:
    """The request body and its content type. A field's value is text, bytes, or
    ``(content, filename)`` for a file."""
    if not multipart:
        pairs = []
        for name, value in fields:
            if isinstance(value, tuple):  # a file where no file is expected: send its bytes
                value = value[0]
            pairs.append(
                form_escape(as_bytes(name), keep_high)
                + b"="
                + form_escape(as_bytes(value), keep_high)
            )
        return b"&".join(pairs), "application/x-www-form-urlencoded"
    boundary = "fuzz-" + secrets.token_hex(12)
    body = bytearray()
    for name, value in fields:
        body += f"--{boundary}\r\n".encode()
        if isinstance(value, tuple):
            content, filename = value
            body += (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'.encode()
            )
            body += b"Content-Type: application/pdf\r\n\r\n" + content + b"\r\n"
        else:
            body += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            body += as_bytes(value) + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


# Fields a form does not have, that a forger would add: ids of someone else's objects,
# a status, a role, an amount.
EXTRA_NAMES = (
    "id",
    "user_id",
    "applicant_id",
    "member_id",
    "application_id",
    "round_id",
    "review_id",
    "reviewer_id",
    "vote_id",
    "voter_id",
    "award_id",
    "attachment_id",
    "contact_id",
    "status",
    "phase",
    "role",
    "roles",
    "amount",
    "version",
)
FIELD_FATES = st.sampled_from(["keep", "keep", "replace", "replace", "replace", "missing", "twice"])


def draw_fields(data, form: dict, foreign: list[str]) -> list[tuple[str, object]]:
    """The form's fields, each kept as the page gave it, replaced, left out or sent twice,
    plus fields the form does not have."""
    values = st.one_of(
        VALUES, st.sampled_from(foreign), st.sampled_from(BAD_UTF8), st.binary(max_size=24)
    )
    fields: list[tuple[str, object]] = []
    for name, kind, value in form["fields"]:
        if name == "csrf_token":
            continue
        fate = data.draw(FIELD_FATES, label=f"fate of {name}")
        if fate == "missing":
            continue
        if kind == "file":
            content = data.draw(st.binary(max_size=64) | st.sampled_from(BAD_UTF8), label=name)
            sent = (
                content,
                data.draw(st.sampled_from(["upload.pdf", "../../x.pdf", "عربي.pdf", "a\x00.pdf"])),
            )
            if fate == "replace":
                sent = data.draw(values, label=name)
        else:
            sent = value if fate == "keep" else data.draw(values, label=name)
        fields.append((name, sent))
        if fate == "twice":
            fields.append((name, data.draw(values, label=f"{name} again")))
    for extra in data.draw(
        st.lists(st.sampled_from(EXTRA_NAMES), max_size=3, unique=True), label="extra"
    ):
        fields.append((extra, data.draw(values, label=extra)))
    return data.draw(st.permutations(fields), label="order") if data.draw(st.booleans()) else fields


def post_fuzzed(client, caplog, path: str, form: dict, fields: list, data) -> None:
    """POST ``fields`` (with a valid CSRF token) and check the answer: under 500, no traceback
    on the page or in the log, and, when it refuses, not one row of the database changed."""
    keep_high = data.draw(st.booleans(), label="raw bytes in the body")
    body, content_type = encode(
        [*fields, ("csrf_token", csrf_token(client))], form["multipart"], keep_high
    )
    limiter.reset()
    before = fingerprint()
    caplog.clear()
    response = client.post(path, data=body, content_type=content_type)
    what = f"POST {path} {body[:600]!r}"
    check(response, caplog, what)
    why = refused(response, client)
    if why:
        changed = changed_tables(before, fingerprint())
        assert not changed, f"{what}: {why}, yet {changed} changed"


@pytest.mark.parametrize("endpoint", cases("POST"))
@FUZZ
@given(data=st.data())
def test_fuzz_fields_of_every_form(app, client, world, foreign, caplog, endpoint, data):  # noqa: F811
    entry = ACCESS[endpoint]
    person = person_for(entry, "POST")
    as_person(client, world, person)
    path = path_for(endpoint, url_values(entry, world))
    forms = [
        f for f in forms_of(app, client, world, person).get(endpoint, []) if f["method"] == "post"
    ]
    form = data.draw(st.sampled_from(forms)) if forms else {"fields": [], "multipart": False}
    post_fuzzed(client, caplog, path, form, draw_fields(data, form, foreign_ids(foreign)), data)


# -- Other people's objects ----------------------------------------------------------------------

# People who own objects of their own: with another owner's ids they must be refused.
OWNERS = (APPLICANT, MEMBER_CONTACT, ASSIGNED_REVIEWER)
# 404 (the object's existence is private), 403, or 400 for a request refused before any
# object is looked at (a NUL character anywhere in the form: inputs.refuse_nul_characters).
OWNED_REFUSALS = frozenset({400, 403, 404})


def owned_cases():
    found = []
    for endpoint, method in collected_routes():
        entry = ACCESS[endpoint]
        if method in ("GET", "POST") and entry.get("denied") == 404:
            owner = next((p for p in OWNERS if p in entry.get(method, ())), None)
            if owner:
                found.append(
                    pytest.param(endpoint, method, owner, id=f"{endpoint}:{method}:{owner}")
                )
    return found


@pytest.mark.parametrize(("endpoint", "method", "owner"), owned_cases())
@FUZZ
@given(data=st.data())
def test_fuzz_other_peoples_objects_are_refused_and_untouched(
    app,
    client,
    world,  # noqa: F811
    foreign,
    caplog,
    endpoint,
    method,
    owner,
    data,
):
    """The owner's own form, fuzzed, sent to the same route with the second owner's ids in
    the URL: 404 (or 403), nothing written."""
    entry = ACCESS[endpoint]
    as_person(client, world, owner)
    path = path_for(endpoint, url_values(entry, foreign))
    assert path != path_for(endpoint, url_values(entry, world)), "the same object twice"
    if method == "GET":
        before = fingerprint()
        caplog.clear()
        response = client.get(path)
        check(response, caplog, f"GET {path}")
        assert response.status_code in OWNED_REFUSALS, f"{owner} GET {path}: {response.status_code}"
        assert not changed_tables(before, fingerprint())
        # The same person reaches their own object: the refusal is about the owner.
        own = client.get(path_for(endpoint, url_values(entry, world)))
        assert own.status_code not in OWNED_REFUSALS, f"{owner} GET own: {own.status_code}"
        return
    own_path = path_for(endpoint, url_values(entry, world))
    forms = [
        f for f in forms_of(app, client, world, owner).get(endpoint, []) if f["method"] == "post"
    ]
    form = data.draw(st.sampled_from(forms)) if forms else {"fields": [], "multipart": False}
    fields = draw_fields(data, form, foreign_ids(foreign))
    body, content_type = encode(
        [*fields, ("csrf_token", csrf_token(client))], form["multipart"], False
    )
    limiter.reset()
    before = fingerprint()
    caplog.clear()
    response = client.post(path, data=body, content_type=content_type)
    check(response, caplog, f"POST {path} (own: {own_path})")
    assert response.status_code in OWNED_REFUSALS, (
        f"{owner} POST {path}: {response.status_code} {body[:600]!r} "
        f"{response.get_data(as_text=True)[-1500:]}"
    )
    assert not changed_tables(before, fingerprint()), f"{owner} POST {path} wrote"


# The finding's own values in every field and parameter at once, whatever hypothesis draws.
NUMBERS = ["²", "NaN", "1.5", "99999999999999999999999999", "a\x00b"]


def post_form(client, path: str, form: dict, number: str, only: str | None = None):
    """Post ``form`` with ``number`` in every field, or only in the field named ``only``
    (the others as the page gave them)."""
    payload: dict[str, list] = {}
    for name, kind, value in form["fields"]:
        if name == "csrf_token":
            continue
        sent = number if only is None or name == only else value
        if kind == "file":
            payload.setdefault(name, []).append((io.BytesIO(sent.encode()), "x.pdf"))
        else:
            payload.setdefault(name, []).append(sent)
    payload["csrf_token"] = [csrf_token(client)]
    return client.post(
        path, data=payload, content_type="multipart/form-data" if form["multipart"] else None
    )


@pytest.mark.parametrize("endpoint", cases("POST"))
def test_hostile_numbers_in_every_field_of_every_form(app, client, world, caplog, endpoint):  # noqa: F811
    entry = ACCESS[endpoint]
    person = person_for(entry, "POST")
    as_person(client, world, person)
    path = path_for(endpoint, url_values(entry, world))
    forms = [
        f for f in forms_of(app, client, world, person).get(endpoint, []) if f["method"] == "post"
    ]
    for form in forms or [{"fields": [], "multipart": False}]:
        hidden = [name for name, kind, _v in form["fields"] if kind == "hidden"]
        for number in NUMBERS:
            # Every field at once, then each hidden field alone (a version, an id).
            for only in [None, *(name for name in hidden if name != "csrf_token")]:
                as_person(client, world, person)
                limiter.reset()
                caplog.clear()
                response = post_form(client, path, form, number, only)
                check(response, caplog, f"POST {path}: {only or 'every field'} = {number!r}")


@pytest.mark.parametrize("endpoint", cases("GET"))
def test_hostile_numbers_in_every_query_parameter(app, client, world, caplog, endpoint):  # noqa: F811
    entry = ACCESS[endpoint]
    person = person_for(entry, "GET")
    as_person(client, world, person)
    path = path_for(endpoint, url_values(entry, world))
    for number in NUMBERS:
        limiter.reset()
        caplog.clear()
        response = client.get(f"{path}?{urlencode(dict.fromkeys(QUERY_NAMES, number))}")
        check(response, caplog, f"GET {path} with {number!r}")


def test_the_fuzzer_finds_the_forms(app, client, world):  # noqa: F811
    """The fuzzer reaches the create and edit forms, hidden fields and all."""
    as_person(client, world, CONVENOR)
    forms = forms_of(app, client, world, CONVENOR)
    for endpoint in ("members.new", "members.edit", "grants.new_fund", "grants.edit_round"):
        assert endpoint in forms, endpoint
    hidden = {name for form in forms["members.edit"] for name, kind, _v in form["fields"]}
    assert {"version", "once", "csrf_token"} <= hidden
    as_person(client, world, APPLICANT)
    applicant_forms = forms_of(app, client, world, APPLICANT)
    assert "applications.edit" in applicant_forms and "applications.start" in applicant_forms
