"""Every GET page of the route table, as each role that may see it, in Chromium:

* no page scrolls sideways on a 320 px phone
  (``document.documentElement.scrollWidth <= innerWidth``);
* axe-core finds no WCAG 2.2 A/AA violation at 390 px.

The pages are those of ``tests/access_table.ACCESS`` with the URL values of
the world ``tests/test_access.py`` builds (its people, their members, rounds,
applications and import job), plus a public member with the longest words
real data brings (``add_long_words``). For each page and each role allowed to GET it,
the first allowed person of that role in ``PEOPLE`` looks at it: one browser,
one context per person, signed in once through the real forms. Answers that
are not HTML pages (``/healthz``, downloads) are left out.

When a page overflows, the report says whether hiding its tables makes it fit
(a list table that should stack on narrow screens) or not (anything else).
"""

from __future__ import annotations

import time
from collections import defaultdict
from urllib.parse import urlsplit

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Error as PlaywrightError

from coalition.accounts.models import TWO_FACTOR_ROLES
from coalition.extensions import db
from tests.access_table import ACCESS, ANONYMOUS, PEOPLE, World, url_values
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import AXE_OPTIONS
from tests.conftest import PASSWORD
from tests.test_access import build_world, path_for

PHONE = {"width": 320, "height": 640}
AXE_PHONE = {"width": 390, "height": 844}

# What overflows the viewport: the outermost elements wider than it (each
# inside a parent that fits), and whether the page fits once its tables are hidden.
OVERFLOW = """
() => {
  const root = document.documentElement;
  const limit = window.innerWidth;
  if (root.scrollWidth <= limit) return null;
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    if (el.classList.length) name += "." + [...el.classList].join(".");
    return `${name} (${Math.round(el.getBoundingClientRect().right)}px)`;
  };
  const wide = (el) => el.getBoundingClientRect().right > limit + 0.5;
  const culprits = [...document.body.querySelectorAll("*")]
    .filter((el) => wide(el) && !(el.parentElement && wide(el.parentElement)))
    .map(describe);
  const tables = [...document.querySelectorAll("table")];
  tables.forEach((t) => { t.style.display = "none"; });
  const withoutTables = root.scrollWidth;
  tables.forEach((t) => { t.style.display = ""; });
  return {
    scrollWidth: root.scrollWidth,
    innerWidth: limit,
    culprits: culprits.slice(0, 8),
    tablesOnly: tables.length > 0 && withoutTables <= limit,
  };
}
"""


# A node that is a table, holds one or sits in one (a table's scrolling wrapper too).
IN_TABLE = """
(s) => {
  const el = document.querySelector(s);
  return !!(el && (el.closest("table") || el.querySelector("table")));
}
"""


@pytest.fixture
def world(make_user, make_member) -> World:
    built = build_world(make_user)
    add_long_words(make_member)
    db.session.rollback()  # hold no SQLite lock while the live server writes
    return built


def add_long_words(make_member) -> None:
    """A public member whose words are as long as real ones get: the longest country
    name of the filters' lists, an unbroken name, website and email."""
    from coalition.members.models import FocusArea

    make_member(
        name="Plattformverantwortlichkeitsbeobachtungsstellenvereinigung",
        acronym="PVBSV",
        country="SH",  # Saint Helena, Ascension and Tristan da Cunha
        website="https://plattformverantwortlichkeitsbeobachtungsstelle.example.org/",
        consent_public=True,
        focus_areas=tuple(FocusArea),
        contacts=[
            {
                "name": "Wanjiru Kamau-Oyelaran-Abdelrahman",
                "email": "plattformverantwortlichkeit.beobachtungsstelle@example.org",
            }
        ],
    )


def pages_by_person(world: World) -> dict[str, list[tuple[str, str]]]:
    """(endpoint, path) of every GET page, under the person who will look at it."""
    plan: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for endpoint, entry in sorted(ACCESS.items()):
        if "GET" not in entry:
            continue
        path = path_for(endpoint, url_values(entry, world))
        roles_seen = set()
        for person, roles in PEOPLE.items():
            if person in entry["GET"] and roles not in roles_seen:
                roles_seen.add(roles)
                plan[person].append((endpoint, path))
    db.session.commit()  # URL values may have made objects (the import job)
    return plan


def sign_in_as_person(page, world: World, person: str) -> None:
    user = world.users[person]
    email, secret = user.email, user.totp_secret
    db.session.rollback()  # reading them began a transaction: hold no SQLite lock
    sign_in(page, email, PASSWORD)
    if set(PEOPLE[person]) & TWO_FACTOR_ROLES:
        page.locator("form:has(#code) #code").fill(pyotp.TOTP(secret).now())
        page.locator("form:has(#code) button[type=submit]").click()
        page.wait_for_load_state()
    assert not urlsplit(page.url).path.startswith("/sign-in"), f"{person} did not sign in"


def open_page(page, path: str):
    """The page's HTML response, or None for a download or another type of answer."""
    try:
        response = page.goto(path)
    except PlaywrightError as error:
        if "Download is starting" in str(error):
            return None
        raise
    if response is None or not response.headers.get("content-type", "").startswith("text/html"):
        return None
    if response.headers.get("refresh"):
        # A progress page that reloads itself (an import job): stop the reload,
        # or it could land in the middle of a check.
        page.evaluate("window.stop()")
    return response


def overflow_report(found: dict[str, dict]) -> str:
    lines = []
    for kind, label in (
        (True, "only because of a table (a list table to stack as cards on phones)"),
        (False, "because of something other than a table"),
    ):
        pages = {where: f for where, f in found.items() if f["tablesOnly"] is kind}
        if pages:
            lines.append(f"Wider than {PHONE['width']}px {label}:")
            for where, f in pages.items():
                lines.append(f"  {where}: {f['scrollWidth']}px; {', '.join(f['culprits'])}")
    return "\n".join(lines)


def axe_report(found: dict[str, list[dict]]) -> str:
    lines = []
    for where, violations in found.items():
        lines.append(f"{where}:")
        for v in violations:
            in_table = all(n.get("inTable") for n in v["nodes"])
            lines.append(
                f"  {v['id']} ({v['impact']}){' [in a table]' if in_table else ''}: {v['help']}"
            )
            for node in v["nodes"][:5]:
                lines.append(f"    - {', '.join(map(str, node['target']))}: {node['html'][:140]}")
    return "\n".join(lines)


def mark_table_nodes(page, violations: list[dict]) -> None:
    for violation in violations:
        for node in violation["nodes"]:
            selector = node["target"][0] if node["target"] else None
            node["inTable"] = bool(
                selector and isinstance(selector, str) and page.evaluate(IN_TABLE, selector)
            )


@pytest.mark.browser
@pytest.mark.committing
def test_every_page_fits_a_320px_phone_and_has_no_axe_violation(new_context, world):
    started = time.monotonic()
    plan = pages_by_person(world)
    assert sum(map(len, plan.values())) >= 100, "the route table's pages are really there"
    axe = Axe()
    overflows: dict[str, dict] = {}
    violations: dict[str, list[dict]] = {}
    checked = 0
    for person, visits in plan.items():
        page = new_context(viewport=PHONE).new_page()
        if person != ANONYMOUS:
            sign_in_as_person(page, world, person)
        for endpoint, path in visits:
            if open_page(page, path) is None:
                continue
            checked += 1
            where = f"{endpoint} as {person} ({path})"
            landed = urlsplit(page.url)
            if person != ANONYMOUS and landed.path == "/sign-in" and "next=" in landed.query:
                pytest.fail(f"{where}: sent to sign in; the session was lost ({page.url})")
            overflow = page.evaluate(OVERFLOW)
            if overflow:
                overflows[where] = overflow
            page.set_viewport_size(AXE_PHONE)
            results = axe.run(page, options=AXE_OPTIONS)
            if results.violations_count:
                mark_table_nodes(page, results.response["violations"])
                violations[where] = results.response["violations"]
            page.set_viewport_size(PHONE)
        page.context.close()
    elapsed = time.monotonic() - started
    print(f"{checked} pages checked in {elapsed:.0f} s")  # shown with pytest -s

    assert checked >= 80, f"only {checked} pages were HTML pages"
    problems = []
    if overflows:
        problems.append(overflow_report(overflows))
    if violations:
        problems.append("axe found accessibility violations:\n" + axe_report(violations))
    assert not problems, "\n\n".join(problems)
