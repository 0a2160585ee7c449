"""Member figures: exact counts for staff, thresholded and rounded counts for the
public (never an at-risk or non-consenting member: S16), members over time,
and the demo members the figures are first seen with."""

from __future__ import annotations

import html
import itertools
import random
import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from coalition import audit, caching
from coalition.accounts.models import Role, User
from coalition.demo import DEMO_DOMAIN
from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members import stats
from coalition.members.demo import plan_members, seed_members
from coalition.members.models import (
    Member,
    MemberContact,
    MemberKind,
    MemberStatus,
    MemberStatusChange,
    OrgType,
)
from coalition.members.queries import public_condition

SVG = "{http://www.w3.org/2000/svg}"
ROW = re.compile(r'<tr><th scope="row">(.*?)</th><td>(.*?)</td></tr>')
_names = iter(range(1, 1_000_000))


def add_member(
    country: str,
    *,
    status: MemberStatus = MemberStatus.ACTIVE,
    consent: bool = True,
    at_risk: bool = False,
    kind: MemberKind = MemberKind.ORGANISATION,
    org_type: OrgType | None = OrgType.NGO,
    name: str | None = None,
) -> Member:
    n = next(_names)
    return ops.create_member(
        actor=None,
        values={
            "kind": kind,
            "name": name or f"Figures Test Member {n}",
            "org_type": org_type if kind == MemberKind.ORGANISATION else None,
            "country": country,
            "consent_public": consent,
            "at_risk": at_risk,
        },
        contacts=[{"name": f"Contact {n}", "email": f"contact{n}@figures.example.org"}],
        status=status,
    )


def section(page: str, key: str) -> str:
    match = re.search(rf'<section aria-labelledby="{key}-heading">(.*?)</section>', page, re.S)
    assert match, f"no {key} section"
    return match.group(1)


def table(page: str, key: str) -> dict[str, str]:
    """The table of a figures section, as {label: the count as shown}."""
    return {html.unescape(a): html.unescape(b) for a, b in ROW.findall(section(page, key))}


def table_order(page: str, key: str) -> list[str]:
    return [html.unescape(a) for a, _b in ROW.findall(section(page, key))]


def chart(page: str, key: str) -> ET.Element:
    """The SVG chart of a section, parsed (it must be well-formed XML)."""
    match = re.search(r"<svg .*?</svg>", section(page, key), re.S)
    assert match, f"no chart in the {key} section"
    return ET.fromstring(match.group(0))  # noqa: S314 - the app's own markup


def bars(svg: ET.Element) -> dict[str, dict]:
    """Each bar of a bar chart: its text, and its rectangle's attributes (None: no bar)."""
    found = {}
    for group in svg.iter(f"{SVG}g"):
        label, value = (t.text for t in group.findall(f"{SVG}text"))
        rect = group.find(f"{SVG}rect")
        found[label] = {"text": value, "rect": None if rect is None else rect.attrib}
    return found


def page_of(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture(autouse=True)
def _fresh_figures():
    """Each test's data is rolled back, so ids (and the cache's fingerprint) come round again."""
    stats.forget_cached()
    yield
    stats.forget_cached()


@contextmanager
def counting_queries():
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


# -- Staff figures: exact ---------------------------------------------------------------


@pytest.fixture
def register():
    """Twelve members: seven active (six organisations, one expert), one in each other status."""
    for _ in range(3):
        add_member("KE", org_type=OrgType.NGO)
    add_member("KE", kind=MemberKind.EXPERT)
    add_member("KE", status=MemberStatus.LAPSED)
    add_member("GH", org_type=OrgType.MEDIA)
    add_member("GH", org_type=OrgType.MEDIA, at_risk=True, consent=False)
    add_member("GH", status=MemberStatus.SUSPENDED)
    add_member("BR", org_type=OrgType.RESEARCH)
    add_member("BR", status=MemberStatus.APPLIED)
    add_member("BR", status=MemberStatus.REJECTED)
    add_member("BR", status=MemberStatus.WITHDRAWN)
    db.session.commit()


def test_staff_figures_count_every_member_exactly(client, login, make_user, register):
    login(make_user(Role.CONVENOR, two_factor=True))
    page = page_of(client, "/members/figures")

    assert "12 members on the register, 7 of them active." in page
    assert "counts active members only" in page
    assert table(page, "status") == {
        "Applied": "1",
        "Active": "7",
        "Rejected": "1",
        "Suspended": "1",
        "Lapsed": "1",
        "Withdrawn": "1",
    }
    assert table(page, "kind") == {"Organisation": "6", "Expert": "1"}
    types = table(page, "type")
    assert (types["NGO"], types["Media / journalism"], types["Research / academic"]) == (
        "3",
        "2",
        "1",
    )
    assert types["No type (individual experts)"] == "1"
    assert types["Legal"] == "0"
    regions = table(page, "region")
    assert regions["Sub-Saharan Africa"] == "6"
    assert regions["Latin America & Caribbean"] == "1"
    assert regions["Europe"] == "0"
    # Countries: active members only, largest first.
    assert table_order(page, "country") == ["Kenya", "Ghana", "Brazil"]
    assert table(page, "country") == {"Kenya": "4", "Ghana": "2", "Brazil": "1"}
    assert "Based in 3 countries, working in 3 countries in all." in page

    # The chart draws the same numbers: bar lengths in proportion, no bar for zero.
    status_bars = bars(chart(page, "status"))
    assert {k: v["text"] for k, v in status_bars.items()} == table(page, "status")
    active = float(status_bars["Active"]["rect"]["width"])
    applied = float(status_bars["Applied"]["rect"]["width"])
    assert applied == pytest.approx(active / 7, abs=0.1)
    assert bars(chart(page, "type"))["Legal"]["rect"] is None

    # Members over time: everyone here became active just now.
    over_time = re.search(
        r'<section aria-labelledby="over-time-heading">(.*?)</section>', page, re.S
    )
    months = ROW.findall(over_time.group(1))
    assert len(months) == stats.MONTHS
    assert months[-1][1] == "7"
    assert months[0][1] == "0"


def test_steering_reads_the_staff_figures_a_member_contact_does_not(client, make_user, register):
    from tests.conftest import sign_in_as

    sign_in_as(client, make_user(Role.STEERING, two_factor=True))
    assert "7 of them active" in page_of(client, "/members/figures")
    sign_in_as(client, make_user(Role.MEMBER_CONTACT))
    assert client.get("/members/figures").status_code == 403


def test_figures_pages_cost_the_same_queries_for_any_number_of_members(client, login, make_user):
    login(make_user(Role.CONVENOR, two_factor=True))
    counts = []
    for size in (3, 40):
        while db.session.scalar(sa.select(sa.func.count()).select_from(Member)) < size:
            member = add_member(random.choice(["KE", "GH", "BR", "IN", "FR"]))
            member.work_countries = ["UG", "TZ"]
            ops.change_status(member, MemberStatus.SUSPENDED, actor=None, reason=None)
            ops.change_status(member, MemberStatus.ACTIVE, actor=None, reason=None)
        db.session.commit()
        found = []
        for path in ("/members/figures", "/directory/figures"):
            stats.forget_cached()
            with counting_queries() as statements:
                page_of(client, path)
            found.append(len(statements))
            found.append(sum("members" in s for s in statements))
        counts.append(found)
    assert counts[0] == counts[1], counts
    # Four queries on the members, whatever their number: the register's fingerprint,
    # the breakdowns, the countries covered, and members over time.
    assert counts[0][1] == counts[0][3] == 4, counts


def test_figures_are_kept_until_the_register_changes(client, make_user, monkeypatch):
    members = [add_member("KE") for _ in range(5)]
    db.session.commit()
    assert table(page_of(client, "/directory/figures"), "country") == {"Kenya": "5"}
    with counting_queries() as statements:
        assert table(page_of(client, "/directory/figures"), "country") == {"Kenya": "5"}
    assert sum("members" in s for s in statements) == 0  # the audit log's quick check only

    # Something else changes (an audited change, not to a member): the exact check
    # reads the register's fingerprint, finds it as it was, and counts nothing again.
    audit.record("application.saved", object_type="Application", object_id="1")
    db.session.commit()
    with counting_queries() as statements:
        assert table(page_of(client, "/directory/figures"), "country") == {"Kenya": "5"}
    assert sum("members" in s for s in statements) == 1  # the fingerprint only

    # Staff mark a member at risk: the public figures drop it at once.
    convenor = make_user(Role.CONVENOR, two_factor=True)
    ops.update_member(members[0], actor=convenor, version=None, values={"at_risk": True})
    db.session.commit()
    assert table(page_of(client, "/directory/figures"), "country") == {"Kenya": "fewer than 5"}

    # A change behind the operations' back (no audit row) shows once the kept figures expire.
    add_member("GH")
    db.session.commit()
    assert "Ghana" in table(page_of(client, "/directory/figures"), "country")
    db.session.execute(sa.update(Member).where(Member.country == "GH").values(country="SN"))
    db.session.commit()
    later = caching.time.monotonic() + stats.CACHE_SECONDS + 1
    assert "Senegal" not in page_of(client, "/directory/figures")
    monkeypatch.setattr(caching.time, "monotonic", lambda: later)
    countries = table(page_of(client, "/directory/figures"), "country")
    assert countries["Senegal"] == "fewer than 5"
    assert "Ghana" not in countries


def test_figures_are_counted_afresh_when_keeping_is_off(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "FIGURES_CACHE_SECONDS", 0)
    add_member("KE")
    db.session.commit()
    page_of(client, "/directory/figures")
    with counting_queries() as statements:
        page_of(client, "/directory/figures")
    assert sum("members" in s for s in statements) == 3


# -- Public figures: no small count, no private member ------------------------------------


@pytest.fixture
def public_register():
    for country, n in (("KE", 5), ("GH", 3), ("SN", 7), ("NG", 8)):
        for _ in range(n):
            add_member(country)
    # Counted nowhere in public: not consenting, at risk (whatever the consent), not active.
    add_member("NG", consent=False)
    add_member("NG", consent=False)
    add_member("NG", at_risk=True)
    add_member("NG", status=MemberStatus.LAPSED)
    db.session.commit()


def test_public_figures_hide_small_counts_and_round_the_rest(client, public_register):
    page = page_of(client, "/directory/figures")

    # 23 public members: rounded to 25. 5 and 7 read 5, 8 reads 10, 3 is hidden.
    assert "Members listed publicly: 25." in page
    assert table(page, "country") == {
        "Nigeria": "10",
        "Kenya": "5",
        "Senegal": "5",
        "Ghana": "fewer than 5",
    }
    # Ordered by the published count, then by name: never by the exact count (Senegal's 7
    # would come before Kenya's 5).
    assert table_order(page, "country") == ["Nigeria", "Kenya", "Senegal", "Ghana"]
    assert table(page, "kind") == {"Organisation": "25"}
    assert table(page, "region") == {"Sub-Saharan Africa": "25"}

    country_bars = bars(chart(page, "country"))
    assert country_bars["Ghana"]["text"] == "fewer than 5"
    assert country_bars["Ghana"]["rect"]["fill"] == "url(#chart-country-hatch)"
    # Kenya (5) and Senegal (7) are drawn alike: the length tells nothing more than the text.
    assert country_bars["Kenya"]["rect"]["width"] == country_bars["Senegal"]["rect"]["width"]
    nigeria = float(country_bars["Nigeria"]["rect"]["width"])
    assert float(country_bars["Kenya"]["rect"]["width"]) == pytest.approx(nigeria / 2, abs=0.1)


def test_public_figures_never_show_an_exact_small_or_unrounded_count(client, public_register):
    page = page_of(client, "/directory/figures")
    published = {"5", "10", "25", "fewer than 5"}
    cells = {html.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", page)}
    assert cells <= published, cells - published

    exact = {"3", "7", "8", "23", "2", "1"}
    for svg_text in re.findall(r"<svg .*?</svg>", page, re.S):
        svg = ET.fromstring(svg_text)  # noqa: S314 - the app's own markup
        texts = {t.text for t in svg.iter(f"{SVG}text")}
        assert not texts & exact, texts & exact
        description = svg.find(f"{SVG}desc").text
        assert "Ghana: fewer than 5" in description or "Ghana" not in description
        assert not re.search(r": (3|7|8|23)\b", description), description
        # A hidden bar is drawn at one fixed length, whatever it hides.
        hidden = {r.get("width") for r in svg.iter(f"{SVG}rect") if "hatch" in r.get("fill", "")}
        assert len(hidden) <= 1


def test_hidden_bar_length_does_not_depend_on_the_hidden_count(client):
    for _ in range(4):
        add_member("GH")
    add_member("ML")
    for _ in range(10):
        add_member("KE")
    db.session.commit()
    country_bars = bars(chart(page_of(client, "/directory/figures"), "country"))
    assert country_bars["Ghana"]["text"] == country_bars["Mali"]["text"] == "fewer than 5"
    ghana, mali = country_bars["Ghana"]["rect"], country_bars["Mali"]["rect"]
    assert (ghana["width"], ghana["fill"]) == (mali["width"], mali["fill"])
    assert ghana["fill"] == "url(#chart-country-hatch)"


def test_public_figures_never_count_at_risk_or_non_consenting_members(client, login, make_user):
    # The only member in Chad is at risk (though it consented); the only one in Mali did
    # not consent; the only one in Burkina Faso is lapsed.
    add_member("TD", at_risk=True, name="Sahel Lantern Collective")
    add_member("ML", consent=False)
    add_member("BF", status=MemberStatus.LAPSED)
    # Uganda: one public member beside one at risk.
    add_member("UG")
    add_member("UG", at_risk=True)
    for _ in range(6):
        add_member("KE")
    db.session.commit()

    page = page_of(client, "/directory/figures")
    for hidden in ("Chad", "Mali", "Burkina Faso", "Sahel Lantern Collective"):
        assert hidden not in page
    assert table(page, "country") == {"Kenya": "5", "Uganda": "fewer than 5"}
    uganda = bars(chart(page, "country"))["Uganda"]
    assert uganda["text"] == "fewer than 5"
    assert uganda["rect"]["fill"] == "url(#chart-country-hatch)"
    # The staff see them all.
    login(make_user(Role.CONVENOR, two_factor=True))
    staff = table(page_of(client, "/members/figures"), "country")
    assert staff == {"Kenya": "6", "Uganda": "2", "Chad": "1", "Mali": "1"}


def test_public_counts_come_from_the_public_condition_only():
    add_member("KE")
    add_member("KE", at_risk=True)
    add_member("KE", consent=False)
    erased = add_member("KE", kind=MemberKind.EXPERT)
    db.session.flush()
    erased.erased_at = erased.created_at
    figures = stats.public_figures()
    assert figures.members.total == 1
    assert figures.members.by_country == {"KE": 1}
    assert figures.over_time[-1].count == 1
    assert stats.staff_figures().active.total == 4  # erased members still count for staff


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, None), (1, None), (4, None), (5, 5), (7, 5), (8, 10), (12, 10), (13, 15), (23, 25)],
)
def test_published_counts(count, shown):
    assert stats.published(count) == shown


def test_public_order_ignores_the_exact_counts():
    counts = {"ML": 4, "GH": 1, "SN": 7, "KE": 5, "NG": 8}
    # Exact order: NG, SN, KE, ML, GH. Published: NG 10; KE, SN 5; GH, ML hidden.
    assert stats.public_order(counts, lambda c: c) == ["NG", "KE", "SN", "GH", "ML"]


# -- Members over time ----------------------------------------------------------------------

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def with_history(steps, *, joined_on=None, consent=False) -> Member:
    """A member that went through ``steps`` [(status, when), ...], as the operations record it."""
    (first, _when), *rest = steps
    member = ops.create_member(
        actor=None,
        values={
            "kind": MemberKind.ORGANISATION,
            "name": f"History {next(_names)}",
            "country": "KE",
            "joined_on": joined_on,
            "consent_public": consent,
        },
        status=first,
    )
    for status, _when in rest:
        ops.change_status(member, status, actor=None, reason=None)
    for row, (_status, when) in zip(member.status_changes, steps, strict=True):
        row.created_at = when
    member.joined_on = joined_on
    db.session.flush()
    return member


def test_members_over_time_follows_joining_dates_and_status_history():
    A, P = MemberStatus.ACTIVE, MemberStatus.APPLIED
    # A: recorded as active on 10 March (an import) but joined in 2020.
    with_history([(A, at(2026, 3, 10, 9))], joined_on=date(2020, 1, 1), consent=True)
    # B: applied in January, joined on 10 February.
    with_history([(P, at(2026, 1, 20)), (A, at(2026, 2, 10))], joined_on=date(2026, 2, 10),
                 consent=True)  # fmt: skip
    # C: suspended at the very end of January, active again mid-February.
    with_history(
        [
            (P, at(2025, 5, 1)),
            (A, at(2025, 6, 1)),
            (MemberStatus.SUSPENDED, at(2026, 1, 31, 23)),
            (A, at(2026, 2, 15)),
        ],
        joined_on=date(2025, 6, 1),
    )
    # D: active since 1 November (no joining date: its record's date counts), lapsed at
    # the first instant of February: still active at the end of January.
    with_history([(A, at(2025, 11, 1, 10)), (MemberStatus.LAPSED, at(2026, 2, 1))])
    # E: joined and withdrew before the first month shown.
    with_history(
        [(P, at(2025, 9, 1)), (A, at(2025, 10, 1)), (MemberStatus.WITHDRAWN, at(2025, 11, 15))],
        joined_on=date(2025, 10, 1),
    )
    # F applied, G was rejected: never active.
    with_history([(P, at(2026, 3, 1))])
    with_history([(P, at(2025, 12, 1)), (MemberStatus.REJECTED, at(2025, 12, 20))])
    # H joins on 20 March, after "now"; J was recorded an hour after now.
    with_history([(A, at(2026, 3, 14))], joined_on=date(2026, 3, 20))
    with_history([(A, at(2026, 3, 15, 13))])
    # I joined on 5 March; K joined today.
    with_history([(P, at(2026, 2, 20)), (A, at(2026, 3, 5, 8))], joined_on=date(2026, 3, 5))
    with_history([(A, at(2026, 3, 15, 11))], joined_on=date(2026, 3, 15))

    with counting_queries() as statements:
        months = stats.active_over_time(now=NOW, months=4)
    assert len(statements) == 1
    assert [m.month for m in months] == [
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    #          Dec: A C D   Jan: A D   Feb: A B C   Mar: A B C I K
    assert [m.count for m in months] == [3, 2, 3, 5]
    # Only the members the public may see (A and B consented).
    public = stats.active_over_time(public_condition(), now=NOW, months=4)
    assert [m.count for m in public] == [1, 1, 2, 2]


def test_month_starts_cross_the_year():
    assert stats.month_starts(at(2026, 2, 28), 3) == [
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


# -- Demo members ---------------------------------------------------------------------------


def test_demo_members():
    started = time.perf_counter()
    members = seed_members(random.Random(7))
    db.session.commit()
    elapsed = time.perf_counter() - started
    assert elapsed < 3, f"seeding took {elapsed:.1f}s"

    assert 240 <= len(members) <= 260
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == len(members)
    assert len({m.country for m in members}) >= 50
    statuses = Counter(m.status for m in members)
    assert set(statuses) == set(MemberStatus)
    assert statuses[MemberStatus.ACTIVE] > len(members) / 2
    kinds = Counter(m.kind for m in members)
    assert kinds[MemberKind.EXPERT] >= 20 and kinds[MemberKind.ORGANISATION] >= 150
    assert any(m.at_risk for m in members) and any(not m.at_risk for m in members)
    assert any(m.consent_public for m in members) and any(not m.consent_public for m in members)
    assert sum(m.is_steering() for m in members) >= 8
    assert all(m.contacts and m.primary_contact.email for m in members)
    domains = (".example.org", ".example.net", ".test")
    for m in members:
        for contact in m.contacts:
            assert contact.email.endswith(domains), contact.email
        assert m.website is None or re.match(r"https://[^/]*example\.(org|net)$", m.website)
    # Joining dates spread over about six years, so "members over time" has a shape.
    joined = sorted(m.joined_on for m in members if m.joined_on)
    assert (joined[-1] - joined[0]).days > 5 * 365
    # Every history is a walk along the lifecycle ending in the member's status.
    rows = db.session.scalars(
        sa.select(MemberStatusChange).order_by(
            MemberStatusChange.member_id, MemberStatusChange.created_at
        )
    ).all()
    by_member: dict[int, list[MemberStatusChange]] = {}
    for row in rows:
        by_member.setdefault(row.member_id, []).append(row)
    for m in members:
        history = by_member[m.id]
        assert history[0].from_status is None
        for before, after in itertools.pairwise(history):
            assert after.from_status == before.to_status
            assert after.created_at > before.created_at
        assert history[-1].to_status == m.status
        assert history[-1].created_at <= datetime.now(UTC)
        if m.status == MemberStatus.ACTIVE:
            # A yearly confirmation that brought the member back is its latest.
            assert m.last_confirmed_at >= history[-1].created_at or (
                history[-1].reason != "Membership confirmed"
            )
    over_time = stats.staff_figures().over_time
    assert over_time[-1].count == statuses[MemberStatus.ACTIVE]
    assert over_time[0].count < over_time[-1].count


def test_demo_members_are_the_same_for_the_same_seed():
    def summary(seed):
        return [
            (p.values["name"], p.values["country"], p.status, p.contacts[0]["email"], p.history)
            for p in plan_members(random.Random(seed), now=NOW)
        ]

    assert summary(3) == summary(3)
    assert summary(3) != summary(4)


def test_seed_demo_command_loads_members_and_links_the_contact_account(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) >= 240
    contact = db.session.scalar(sa.select(User).where(User.email == f"contact@{DEMO_DOMAIN}"))
    linked = db.session.scalars(
        sa.select(MemberContact).where(MemberContact.user_id == contact.id)
    ).all()
    assert len(linked) == 1
    assert linked[0].member.kind == MemberKind.ORGANISATION
    assert linked[0].member.is_public
    assert ops.members_of_contact(contact) == [linked[0].member]
    # Seeding again adds no members.
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Member))
    runner.invoke(args=["seed-demo"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == before
