"""The public calls for proposals: /calls lists open rounds only, /calls/<id>
shows a published round (never a draft), its Markdown made safe, its times
with the zone named."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import time_machine

from coalition.countries import AFRICAN_COUNTRIES
from coalition.extensions import db
from coalition.grants.markdown import render_markdown
from coalition.grants.models import RoundPhase
from tests.clock import NOW
from tests.test_grants_rounds import count_queries, make_fund, make_round


def call_titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/calls/\d+"><bdi>([^<]+)</bdi></a></h2>', html)


def test_calls_list_only_open_rounds(client):
    # The issue: "They list open rounds". Announced (upcoming), closed, draft
    # and later rounds are not listed.
    fund = make_fund()
    day = timedelta(days=1)
    make_round(fund, title="Open, closes later", opens_at=NOW - day, closes_at=NOW + 20 * day)
    make_round(fund, title="Open, closes soon", opens_at=NOW - 5 * day, closes_at=NOW + 2 * day)
    make_round(fund, title="Upcoming", opens_at=NOW + day, closes_at=NOW + 9 * day)
    make_round(fund, title="Closed", opens_at=NOW - 9 * day, closes_at=NOW - day)
    make_round(
        fund,
        title="Draft, dates open",
        phase=RoundPhase.DRAFT,
        opens_at=NOW - day,
        closes_at=NOW + day,
    )
    for phase in (RoundPhase.IN_REVIEW, RoundPhase.DECIDED, RoundPhase.ARCHIVED):
        make_round(fund, title=f"{phase.value} round", phase=phase, opens_at=NOW - 9 * day)
    db.session.commit()

    response = client.get("/calls")
    assert response.status_code == 200
    # Soonest closing first (the newest closing last).
    assert call_titles(response.get_data(as_text=True)) == [
        "Open, closes soon",
        "Open, closes later",
    ]


def test_no_open_call_says_so(client):
    make_round(phase=RoundPhase.DRAFT)
    db.session.commit()
    html = client.get("/calls").get_data(as_text=True)
    assert call_titles(html) == []
    assert "No call for proposals is open at the moment." in html


def test_a_call_says_what_who_how_much_until_when_and_what_is_needed(client):
    fund = make_fund(currency="USD", countries=["KE", "GH", "SN"])
    make_round(
        fund,
        title="Elections 2027",
        opens_at=NOW - timedelta(days=1),
        closes_at=NOW + timedelta(days=10),
        budget=10_000_000,
        min_grant=500_000,
        max_grant=2_500_050,
        required_attachments=["proposal", "registration"],
    )
    db.session.commit()
    html = client.get("/calls").get_data(as_text=True)
    assert "Ghana, Kenya, Senegal" in html
    assert "Grants from $5,000.00 to $25,000.50, out of $100,000.00 in this round" in html
    assert "Full proposal, Registration certificate" in html
    closes = NOW + timedelta(days=10)
    assert f"{closes.day} {closes:%B %Y, %H:%M} UTC" in html


def test_a_fund_for_all_of_africa_says_so_rather_than_listing_every_country(client):
    fund = make_fund(countries=list(AFRICAN_COUNTRIES))
    round_ = make_round(fund, opens_at=NOW - timedelta(days=1), closes_at=NOW + timedelta(days=1))
    db.session.commit()
    for path in ("/calls", f"/calls/{round_.id}"):
        html = client.get(path).get_data(as_text=True)
        assert "Groups working in any African country" in html
        assert "Zimbabwe" not in html


def test_a_draft_round_is_not_found(client, make_user, login):
    draft = make_round(phase=RoundPhase.DRAFT, opens_at=NOW - timedelta(days=1))
    db.session.commit()
    assert client.get(f"/calls/{draft.id}").status_code == 404
    # Not even for staff: the public page of a draft does not exist.
    login(make_user("convenor", two_factor=True))
    assert client.get(f"/calls/{draft.id}").status_code == 404
    assert client.get("/calls/999999").status_code == 404


@pytest.mark.parametrize(
    ("opens", "closes", "phase", "says"),
    [
        (-1, 1, RoundPhase.PUBLISHED, "Open for applications until"),
        (1, 9, RoundPhase.PUBLISHED, "This call is announced: it opens on"),
        (-9, -1, RoundPhase.PUBLISHED, "This call closed on"),
        (-9, -1, RoundPhase.IN_REVIEW, "This call closed on"),
        (-90, -60, RoundPhase.ARCHIVED, "This call closed on"),
    ],
)
def test_a_call_page_shows_its_state(client, opens, closes, phase, says):
    round_ = make_round(
        phase=phase,
        opens_at=NOW + timedelta(days=opens),
        closes_at=NOW + timedelta(days=closes),
    )
    db.session.commit()
    response = client.get(f"/calls/{round_.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert says in html
    # Only an open call invites applications.
    assert ("How to apply" in html) == (says == "Open for applications until")


def test_call_times_are_shown_in_the_viewers_zone_with_the_zone_named(client, make_user, login):
    round_ = make_round(
        opens_at=datetime(2027, 3, 1, 6, 0, tzinfo=UTC),
        closes_at=datetime(2027, 3, 15, 20, 59, tzinfo=UTC),
    )
    db.session.commit()
    with time_machine.travel(datetime(2027, 3, 10, 12, 0, tzinfo=UTC), tick=False):
        anonymous = client.get(f"/calls/{round_.id}").get_data(as_text=True)
        listing = client.get("/calls").get_data(as_text=True)
    assert "Open for applications until 15 March 2027, 20:59 UTC." in anonymous
    assert "15 March 2027, 20:59 UTC" in listing
    assert "Times are shown in UTC." in anonymous

    user = make_user("applicant")
    user.timezone = "Africa/Nairobi"
    db.session.commit()
    login(user)
    html = client.get(f"/calls/{round_.id}").get_data(as_text=True)
    assert "15 March 2027, 23:59 Africa/Nairobi (20:59 UTC)" in html
    assert "1 March 2027, 09:00 Africa/Nairobi (06:00 UTC)" in html


HOSTILE = """# Call

Plain <script>alert(1)</script> text.

<img src=x onerror=alert(2)>

[x](javascript:alert(3)) [site](https://example.org/call) [mail](mailto:grants@example.org)
[data](data:text/html;base64,PHNjcmlwdD4=) [rel](/admin/users/)

<a href="javascript:alert(4)" onclick="alert(5)">raw link</a>

![pic](https://example.org/x.png)

- **bold** and *em* and `code`
"""


class Elements(HTMLParser):
    """Every element of an HTML fragment, as (tag, attributes)."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def test_round_description_markdown_is_neutralised_on_the_call_page(client):
    round_ = make_round(
        description=HOSTILE, opens_at=NOW - timedelta(days=1), closes_at=NOW + timedelta(days=1)
    )
    db.session.commit()
    html = client.get(f"/calls/{round_.id}").get_data(as_text=True)
    about = html.split('id="about-h">About this call</h2>', 1)[1].split("</section>", 1)[0]

    elements = Elements(about).found
    assert {tag for tag, _attrs in elements} <= {"p", "a", "h2", "ul", "li", "strong", "em", "code"}
    for tag, attrs in elements:
        if tag == "a":
            assert set(attrs) <= {"href", "rel"}, attrs
            assert attrs["rel"] == "nofollow noopener"
            assert attrs.get("href", "https:").split(":", 1)[0] in {"https", "mailto"}, attrs
        else:
            assert attrs == {}, (tag, attrs)
    # The hostile parts are shown as text, not run.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in about
    assert "&lt;img src=x onerror=alert(2)&gt;" in about
    assert "[x](javascript:alert(3))" in about
    # What is allowed is kept.
    hrefs = [attrs.get("href") for tag, attrs in elements if tag == "a"]
    # The relative link loses its address; the data: one stays text.
    assert hrefs == ["https://example.org/call", "mailto:grants@example.org", None]
    assert "[data](data:text/html;base64,PHNjcmlwdD4=)" in about
    assert "<h2>Call</h2>" in about
    assert "<li><strong>bold</strong> and <em>em</em> and <code>code</code></li>" in about


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"),
        ("<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>\n"),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>\n"),
        ("[x](JAVASCRIPT:alert(1))", "<p>[x](JAVASCRIPT:alert(1))</p>\n"),
        ("[x](vbscript:msgbox)", "<p>[x](vbscript:msgbox)</p>\n"),
        ("[x](ftp://example.org)", '<p><a rel="nofollow noopener">x</a></p>\n'),
        ("[x](/relative)", '<p><a rel="nofollow noopener">x</a></p>\n'),
        (
            "[x](http://example.org)",
            '<p><a href="http://example.org" rel="nofollow noopener">x</a></p>\n',
        ),
        ("![i](https://example.org/i.png)", "<p></p>\n"),
        ("<b onclick=x>b</b>", "<p>&lt;b onclick=x&gt;b&lt;/b&gt;</p>\n"),
        ("> quote", "<blockquote>\n<p>quote</p>\n</blockquote>\n"),
        ("    code", "<pre><code>code\n</code></pre>\n"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n"),
        ("a  \nb", "<p>a<br>\nb</p>\n"),
        ("# One\n###### Six", "<h2>One</h2>\n<h4>Six</h4>\n"),
        ("", ""),
    ],
)
def test_render_markdown_allow_list(text, html):
    assert str(render_markdown(text)) == html


def test_calls_list_query_count_does_not_grow(client):
    fund = make_fund()
    make_round(fund, opens_at=NOW - timedelta(days=1), closes_at=NOW + timedelta(days=1))
    db.session.commit()
    one = count_queries(client, "/calls")
    for _ in range(5):
        make_round(make_fund(), opens_at=NOW - timedelta(days=1), closes_at=NOW + timedelta(days=3))
    db.session.commit()
    assert count_queries(client, "/calls") == one


def test_an_open_call_lets_a_signed_in_person_start_an_application(client, make_user, login):
    open_ = make_round(opens_at=NOW - timedelta(days=1), closes_at=NOW + timedelta(days=1))
    closed = make_round(opens_at=NOW - timedelta(days=9), closes_at=NOW - timedelta(days=1))
    db.session.commit()
    anonymous = client.get(f"/calls/{open_.id}").get_data(as_text=True)
    assert 'href="/sign-up"' in anonymous
    assert f'action="/applications/start/{open_.id}"' not in anonymous

    login(make_user("applicant"))
    html = client.get(f"/calls/{open_.id}").get_data(as_text=True)
    assert f'<form method="post" action="/applications/start/{open_.id}">' in html
    assert "/applications/start/" not in client.get(f"/calls/{closed.id}").get_data(as_text=True)
