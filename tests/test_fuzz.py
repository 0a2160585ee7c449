"""Fuzzing every form and every page of the route table: no input makes a 5xx (finding 7).

For each route of ``tests/access_table.ACCESS``, as a person allowed to use
it (the convenor when they may, else the applicant, a member contact, ...):

* a POST route gets its form's fields, **hidden fields included**, each set
  to a generated value or left as the page gave it, with a valid CSRF token;
  the fields are read from the forms that the person's pages post to it;
* a GET page gets generated values in its query parameters: every parameter
  the application reads, and those of the page's own filter forms.

The answer must be under 500, carry no traceback, and log no error. Values
come from hypothesis: hostile numbers (``²``, ``NaN``, ``1e309``, twenty-six
nines), text of every script, markup, control characters, long strings.

A few examples per route keep CI fast (``FUZZ_EXAMPLES``, 3 by default, no
shrinking: under a minute on SQLite); ``FUZZ_EXAMPLES=200`` searches harder
and shrinks what it finds. Beside the random search, every field and every
query parameter also gets the finding's own values, every time.
"""

from __future__ import annotations

import io
import logging
import os
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException

from coalition.extensions import db, limiter
from tests.access_table import (
    ACCESS,
    ANONYMOUS,
    APPLICANT,
    CONVENOR,
    MEMBER_CONTACT,
    STEERING,
    World,
    url_values,
)
from tests.conftest import csrf_token, sign_in_as
from tests.test_access import collected_routes, path_for, world  # noqa: F401 - the fixture

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
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


@pytest.mark.parametrize("endpoint", cases("POST"))
@FUZZ
@given(data=st.data())
def test_fuzz_fields_of_every_form(app, client, world, caplog, endpoint, data):  # noqa: F811
    entry = ACCESS[endpoint]
    person = person_for(entry, "POST")
    as_person(client, world, person)
    path = path_for(endpoint, url_values(entry, world))
    forms = [
        f for f in forms_of(app, client, world, person).get(endpoint, []) if f["method"] == "post"
    ]
    form = data.draw(st.sampled_from(forms)) if forms else {"fields": [], "multipart": False}
    payload: dict[str, list] = {}
    for name, kind, value in form["fields"]:
        if name == "csrf_token":
            continue
        if kind == "file":
            content = data.draw(st.binary(max_size=64) | VALUES.map(str.encode), label=name)
            payload.setdefault(name, []).append((io.BytesIO(content), "upload.pdf"))
            continue
        keep = data.draw(st.booleans(), label=f"keep {name}")
        payload.setdefault(name, []).append(value if keep else data.draw(VALUES, label=name))
    payload["csrf_token"] = [csrf_token(client)]
    limiter.reset()
    caplog.clear()
    response = client.post(
        path,
        data=payload,
        content_type="multipart/form-data" if form["multipart"] else None,
    )
    shown = {k: v for k, v in payload.items() if k != "csrf_token"}
    check(response, caplog, f"POST {path} {shown!r}")


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
