"""No English left in the French and Arabic versions of a sample of pages (issue 14).

Each page is read in English and in the other language; a piece of visible text
(a text node, a label for assistive technology, a placeholder) that reads the
same in both, holds an English word, and is not the people's own data (in
``<bdi>``: names, titles, addresses), a number, a date or an address, was left
untranslated. Needs the translators' catalogs (see ``tests/test_catalogs.py``).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from coalition.config import LANGUAGES
from coalition.countries import country_choices
from coalition.extensions import db
from tests.conftest import sign_in_as
from tests.test_access import build_world

PUBLIC_PAGES = ["/", "/calls", "/directory", "/directory/figures", "/join", "/sign-in", "/sign-up"]
SIGNED_IN_PAGES = [
    ("convenor", "/members/"),
    ("convenor", "/members/figures"),
    ("convenor", "/grants/"),
    ("convenor", "/admin/users/"),
    ("applicant", "/applications/"),
    ("applicant", "/account/"),
]
# Read the same in English and in French, and right in French.
SAME_IN_FRENCH = frozenset(
    {"Type", "Total", "Organisation", "Expert", "Contact", "Contacts", "Budget", "Description",
     "Date", "Notes", "Minutes", "Page", "Pages", "Message", "Profession", "Actions", "Question",
     "Questions", "Documents", "Statut", "Région", "Note", "Sessions", "Code", "Options", "Article",
     "Articles", "Non", "Validation", "Suspension", "Confirmation", "Date limite", "Information",
     "Rapports", "Source", "ONG", "Technologie", "Europe", "Local", "National", "Global",
     "Expertes"}
)  # fmt: skip
# Addresses, and time zones' names (Africa/Abidjan), which are identifiers.
ADDRESS = re.compile(r"@|https?://|\.(org|com|net|example)\b|^[A-Z][A-Za-z_]+/[A-Za-z_/+\-]+$")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
ATTRIBUTES = ("aria-label", "placeholder", "title", "alt")


class Visible(HTMLParser):
    """The visible text nodes of a page, and the people's own data (inside <bdi>)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.data: set[str] = set()
        self._skip = 0
        self._bdi = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "bdi":
            self._bdi += 1
        for name, value in attrs:
            if name in ATTRIBUTES and value:
                self.texts.append(" ".join(value.split()))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        if tag == "bdi":
            self._bdi -= 1

    def handle_data(self, data):
        text = " ".join(data.split())
        if not text or self._skip:
            return
        (self.data.add if self._bdi else self.texts.append)(text)


def visible(html: str) -> Visible:
    parser = Visible()
    parser.feed(html)
    return parser


def untranslated(english_html: str, other_html: str, language: str, known: set[str]) -> set[str]:
    english, other = visible(english_html), visible(other_html)
    data = english.data | other.data | known | {"Coalition", "UTC", *LANGUAGES.values()}
    left = set()
    for text in set(other.texts) & set(english.texts):
        if text in data or ADDRESS.search(text) or not ENGLISH_WORD.search(text):
            continue
        if any(text == d or text.strip("()") == d for d in data):
            continue
        if language == "fr" and text in SAME_IN_FRENCH:
            continue
        left.add(text)
    return left


def known_data(world, language: str) -> set[str]:
    """What the people wrote, shown as it is in every language, and the countries'
    names in ``language`` (many read as in English: Angola, Kenya)."""
    found = {name for _code, name in country_choices(language)}
    found |= {u.name for u in world.users.values()} | {u.email for u in world.users.values()}
    for obj in world.objects.values():
        for attr in ("name", "title", "partner", "acronym"):
            value = getattr(obj, attr, None)
            if isinstance(value, str):
                found.add(value)
    # Every application's and round's title, as its author wrote it (the world's
    # areas add more than they name in ``world.objects``).
    import sqlalchemy as sa

    from coalition.extensions import db
    from coalition.grants.models import Application, Round

    for column in (Application.title, Round.title):
        found |= {t for t in db.session.scalars(sa.select(column)) if t}
    return found


def test_the_check_finds_english_left_and_spares_names():
    english = (
        '<h1>Members</h1><p><bdi>Open Data Kenya</bdi></p><p>12 / 30</p><p aria-label="Pages">x</p>'
    )
    french = (
        '<h1>Members</h1><p><bdi>Open Data Kenya</bdi></p><p>12 / 30</p><p aria-label="Pages">x</p>'
    )
    assert untranslated(english, french, "fr", set()) == {"Members"}
    assert untranslated(english, french, "ar", set()) == {"Members", "Pages"}


@pytest.mark.parametrize("language", ["fr", "ar"])
def test_no_english_left_on_a_sample_of_pages(app, make_user, language):
    world = build_world(make_user)
    known = known_data(world, language)
    left: dict[str, set[str]] = {}
    for path in PUBLIC_PAGES:
        client = app.test_client()
        english = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
        other = client.get(path, headers={"Accept-Language": language}).get_data(as_text=True)
        found = untranslated(english, other, language, known)
        if found:
            left[path] = found
    for person, path in SIGNED_IN_PAGES:
        user = world.users[person]
        pages = {}
        for shown_in in ("en", language):
            user.language = shown_in
            db.session.commit()
            client = app.test_client()
            sign_in_as(client, user)
            response = client.get(path)
            assert response.status_code == 200, f"{person} GET {path}: {response.status_code}"
            pages[shown_in] = response.get_data(as_text=True)
        found = untranslated(pages["en"], pages[language], language, known)
        if found:
            left[path] = found
    assert not left, "\n".join(f"{path}: {sorted(texts)}" for path, texts in left.items())
