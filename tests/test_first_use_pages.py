"""First use of the landing pages: the open calls one click from the home page,
and no page promising a feature that does not exist yet."""

from __future__ import annotations

import html
import re

import pytest

from coalition.accounts.models import Role
from tests.conftest import sign_in_as

LINK = re.compile(r'<a [^>]*href="([^"]+)"')


def links(page: str) -> set[str]:
    return {html.unescape(href) for href in LINK.findall(page)}


def test_the_open_calls_are_one_click_from_the_public_home_page(client):
    page = client.get("/").get_data(as_text=True)
    assert "/calls" in links(page)
    # In the navigation too, on every page a visitor lands on.
    nav = page.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]
    assert "/calls" in links(nav)
    assert "/calls" in links(client.get("/directory").get_data(as_text=True))


@pytest.mark.parametrize("role", [Role.APPLICANT, Role.MEMBER_CONTACT, Role.CONVENOR])
def test_the_open_calls_are_one_click_from_the_signed_in_home_page(client, make_user, role):
    sign_in_as(client, make_user(role, two_factor=True))
    assert "/calls" in links(client.get("/").get_data(as_text=True))


# A feature is there when a route of its own is. Until then no page speaks of it.
FEATURES = {
    "vote": re.compile(r"\bvot(e|es|ing)\b", re.I),
    "award": re.compile(r"\bawards?\b", re.I),
    "review": re.compile(r"\breviews?\b|\bassign", re.I),
    "report": re.compile(r"\breports?\b", re.I),
}
LANDING_PAGES = ["/", "/grants/", "/steering/", "/applications/", "/members/"]


def _text(page: str) -> str:
    body = page.split("<main", 1)[1].split("</main>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.mark.parametrize(
    "roles",
    [
        (),
        (Role.APPLICANT,),
        (Role.REVIEWER,),
        (Role.MEMBER_CONTACT,),
        (Role.STEERING,),
        (Role.CONVENOR,),
    ],
    ids=lambda roles: "-".join(r.value for r in roles) or "visitor",
)
def test_landing_pages_promise_only_what_exists(app, client, make_user, roles):
    endpoints = " ".join(rule.endpoint for rule in app.url_map.iter_rules())
    missing = {name: words for name, words in FEATURES.items() if name not in endpoints}
    if roles:
        sign_in_as(client, make_user(*roles, two_factor=True))
    for path in LANDING_PAGES:
        response = client.get(path)
        if response.status_code != 200:
            continue
        text = _text(response.get_data(as_text=True))
        for name, words in missing.items():
            found = words.search(text)
            assert not found, f"{path} speaks of {name} ({found[0]!r}), which has no page yet"
