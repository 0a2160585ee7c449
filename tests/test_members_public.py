"""The public side of the registry: the directory (S16) and the joining form.

The directory is walked with every filter, sort, several pages and hostile
parameters, and no response may hold anything of a member that is not
public, nor any private field of one that is. The joining form is tried end
to end, with its honeypot, its rate limit and each kind of bad input.
"""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from itertools import count

import pytest
import sqlalchemy as sa
from limits import parse

from coalition.audit.models import AuditEntry
from coalition.countries import Region
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import operations as ops
from coalition.members.forms import CONSENT_WORDING, MOTIVATION_PREFIX
from coalition.members.models import (
    FocusArea,
    Member,
    MemberKind,
    MemberStatus,
    OrgType,
)
from coalition.members.public import PER_PAGE
from tests.conftest import csrf_token, outbox, post

_seq = count(1)


def add_member(
    name: str,
    *,
    status: MemberStatus = MemberStatus.ACTIVE,
    consent: bool = True,
    at_risk: bool = False,
    kind: MemberKind = MemberKind.ORGANISATION,
    org_type: OrgType | None = OrgType.NGO,
    country: str = "KE",
    focus=(FocusArea.DISINFORMATION,),
    work_countries=(),
    contact_name: str | None = None,
    contact_email: str | None = None,
    notes: str | None = None,
    website: str | None = None,
    acronym: str | None = None,
    steering_from: date | None = None,
    commit: bool = False,
) -> Member:
    n = next(_seq)
    member = ops.create_member(
        actor=None,
        values={
            "kind": kind,
            "name": name,
            "acronym": acronym,
            "org_type": org_type,
            "country": country,
            "website": website,
            "notes": notes,
            "consent_public": consent,
            "consent_wording": "We agree." if consent else None,
            "at_risk": at_risk,
            "steering_from": steering_from,
        },
        focus_areas=focus,
        work_countries=work_countries,
        contacts=[
            {
                "name": contact_name or f"Contact Person {n}",
                "email": contact_email or f"person{n}@contacts.example.org",
                "role": "Director",
            }
        ],
        status=status,
    )
    if commit:
        db.session.commit()
    return member


def body(response) -> str:
    return response.get_data(as_text=True)


def listed_names(response) -> list[str]:
    """The names in the directory table (the row headers), in order."""
    return [
        unescape(re.sub(r"<[^>]+>.*", "", re.sub(r"</?bdi>", "", cell), flags=re.S)).strip()
        for cell in re.findall(r'<th scope="row">(.*?)</th>', body(response), flags=re.S)
    ]


# -- The directory: nothing that is not public, anywhere ------------------------------

# Markers of things the public must never see. Each is unique, so finding one
# in a page can only mean a leak.
STEERING_DAY = date(2003, 7, 19)


@pytest.fixture
def registry():
    """Public members (more than a page of them) and members that must stay hidden."""
    public = []
    for n in range(PER_PAGE + 7):
        public.append(
            add_member(
                f"Public Org {n:03d}",
                acronym=f"PO{n:03d}",
                country=("KE", "SN", "BR")[n % 3],
                kind=MemberKind.EXPERT if n % 5 == 0 else MemberKind.ORGANISATION,
                org_type=None if n % 5 == 0 else (OrgType.NGO, OrgType.MEDIA)[n % 2],
                focus=[(FocusArea.HATE_SPEECH, FocusArea.AD_TECH)[n % 2]],
                contact_name=f"Secretcontact Name{n:03d}",
                contact_email=f"secretmail{n:03d}@private.example.org",
                notes=f"NOTEMARKER{n:03d} internal staff note",
                website=f"https://public{n:03d}.example.org",
                # Where they work is not public either: nobody public is based here.
                work_countries=["ZW"],
                steering_from=STEERING_DAY if n < 3 else None,
            )
        )
    hidden = {}
    for status in MemberStatus:
        if status is MemberStatus.ACTIVE:
            continue
        hidden[f"HIDDENSTATUS{status.value.upper()}"] = add_member(
            f"HIDDENSTATUS{status.value.upper()} Org",
            status=status,
            country="KE",
            focus=[FocusArea.HATE_SPEECH],
            contact_name=f"Hiddencontact {status.value}",
            contact_email=f"hidden-{status.value}@private.example.org",
        )
    # At risk: active and consenting, but the flag overrides the consent.
    hidden["HIDDENATRISK"] = add_member(
        "HIDDENATRISK Defenders",
        at_risk=True,
        country="BY",  # Belarus: nobody public is based there
        acronym="HIDRISK",
        contact_name="Hiddencontact Atrisk",
        contact_email="hidden-atrisk@private.example.org",
    )
    hidden["HIDDENNOCONSENT"] = add_member(
        "HIDDENNOCONSENT Collective",
        consent=False,
        country="KE",
        contact_name="Hiddencontact Noconsent",
        contact_email="hidden-noconsent@private.example.org",
    )
    erased = add_member(
        "HIDDENERASED Expert",
        kind=MemberKind.EXPERT,
        org_type=None,
        country="KE",
        contact_name="Hiddencontact Erased",
        contact_email="hidden-erased@private.example.org",
    )
    ops.erase_member(erased, actor=None)
    erased.consent_public = True  # even consenting again, erased stays out
    hidden["HIDDENERASED"] = erased
    db.session.commit()
    return public, hidden


def private_markers(hidden) -> list[str]:
    markers = [
        # Hidden members, by name, acronym, contact and the erased one's placeholder name.
        *hidden,
        "HIDRISK",
        "Hiddencontact",
        "Erased expert",
        "Belarus",
        # Private fields of public members.
        "Secretcontact",
        "secretmail",
        "private.example.org",
        "NOTEMARKER",
        "Zimbabwe",
        "Director",
        STEERING_DAY.isoformat(),
        "19 Jul 2003",
        "July 19, 2003",
        "Steering",
        "steering",
        # Status and consent words.
        "Applied",
        "Suspended",
        "Lapsed",
        "Withdrawn",
        "Rejected",
        "at risk",
        "consent",
        "We agree.",
    ]
    return markers


def directory_requests(public) -> list[dict[str, str]]:
    requests = [{}]
    requests += [{"kind": k.value} for k in MemberKind]
    requests += [{"type": t.value} for t in OrgType]
    requests += [{"country": c} for c in ("KE", "SN", "BR", "BY", "ZW", "Belarus", "zz")]
    requests += [{"region": r.value} for r in Region]
    requests += [{"focus": f.value} for f in FocusArea]
    requests += [{"sort": s} for s in ("name", "-name", "country", "status", "joined", "updated")]
    requests += [{"page": p} for p in ("1", "2", "3", "-1", "0", "abc", "999999", str(10**30))]
    requests += [{"sort": "-name", "page": "2"}, {"kind": "organisation", "page": "2"}]
    searches = [
        "HIDDENSTATUSAPPLIED",
        "HIDDENATRISK",
        "HIDRISK",
        "HIDDENNOCONSENT",
        "Erased",
        "Hiddencontact",
        "Secretcontact Name001",
        "secretmail001@private.example.org",
        "private.example.org",
        "NOTEMARKER001",
        "Director",
        "' OR 1=1 --",
        "%",
        "_",
        "\\",
        '"><script>alert(1)</script>',
        "Public Org 001",
        "PO002",
    ]
    requests += [{"q": q} for q in searches]
    requests += [
        {"status": "applied"},
        {"status": "suspended", "q": "HIDDEN"},
        {"steering": "1"},
        {"at_risk": "1"},
        {"consent": "0"},
        {"per_page": "1000"},
        {"sort": "status", "status": "rejected", "page": "1"},
    ]
    return requests


ECHOES = [
    # Where a page repeats the visitor's own query: the language form's return
    # address, the search box, and the links to other pages.
    r'<input type="hidden" name="next" value="[^"]*">',
    r'<input id="q" name="q" type="search" value="[^"]*"',
    r'href="/directory\?[^"]*"',
]


def without_echoes(page: str) -> str:
    for pattern in ECHOES:
        page = re.sub(pattern, "", page)
    return page


def test_directory_never_shows_what_is_not_public(client, registry):
    public, hidden = registry
    markers = private_markers(hidden)
    seen_names: set[str] = set()
    for args in directory_requests(public):
        response = client.get("/directory", query_string=args)
        assert response.status_code == 200, args
        page = without_echoes(body(response))
        leaked = [m for m in markers if m in page]
        assert not leaked, f"/directory {args} shows {leaked}"
        assert "<script>alert(1)</script>" not in page
        seen_names.update(listed_names(response))
    # The walk did see the public members (so a leak would have been found).
    assert {m.name for m in public} <= seen_names
    assert not any(name.startswith("HIDDEN") for name in seen_names)


def test_searching_private_fields_finds_nothing(client, registry):
    public, _hidden = registry
    target = public[1]
    assert "secretcontact name001" in target.search_text  # staff search would find it
    for q in ("Secretcontact Name001", "secretmail001@private.example.org", "NOTEMARKER001"):
        response = client.get("/directory", query_string={"q": q})
        assert listed_names(response) == [], q
        assert "No member matches this search." in body(response)
    # The public fields are searchable.
    assert listed_names(client.get("/directory?q=Public+Org+001")) == ["Public Org 001"]
    assert listed_names(client.get("/directory?q=po001")) == ["Public Org 001"]


def test_directory_pages_hold_fifty_members_each(client, registry):
    public, _hidden = registry
    first = listed_names(client.get("/directory"))
    second = listed_names(client.get("/directory?page=2"))
    assert len(first) == PER_PAGE
    assert len(second) == len(public) - PER_PAGE
    assert first + second == sorted(m.name for m in public)
    assert 'rel="next" href="/directory?page=2"' in body(client.get("/directory"))
    # Past the end, and absurd numbers, show the last page; below 1, the first.
    assert listed_names(client.get("/directory?page=999999")) == second
    assert listed_names(client.get(f"/directory?page={10**30}")) == second
    assert listed_names(client.get("/directory?page=-1")) == first


def test_directory_filters_and_sorts(client):
    add_member("Alpha Media", org_type=OrgType.MEDIA, country="SN", focus=[FocusArea.AD_TECH])
    add_member(
        "Beta Expert",
        kind=MemberKind.EXPERT,
        org_type=None,
        country="BR",
        focus=[FocusArea.ONLINE_GBV],
    )
    add_member("Gamma NGO", org_type=OrgType.NGO, country="KE", work_countries=["SN"])
    db.session.commit()

    def names(**args):
        return listed_names(client.get("/directory", query_string=args))

    assert names() == ["Alpha Media", "Beta Expert", "Gamma NGO"]
    assert names(sort="-name") == ["Gamma NGO", "Beta Expert", "Alpha Media"]
    assert names(sort="country") == ["Beta Expert", "Gamma NGO", "Alpha Media"]  # BR, KE, SN
    assert names(kind="expert") == ["Beta Expert"]
    assert names(type="media") == ["Alpha Media"]
    assert names(focus="online_gbv") == ["Beta Expert"]
    assert names(region="latin_america") == ["Beta Expert"]
    assert names(region="sub_saharan_africa") == ["Alpha Media", "Gamma NGO"]
    assert names(country="Senegal") == ["Alpha Media"]
    # Where a member works is not public: the country filter is the home country only.
    assert names(country="SN") == ["Alpha Media"]
    assert names(kind="organisation", region="sub_saharan_africa", focus="ad_tech") == [
        "Alpha Media"
    ]
    assert names(q="gamma") == ["Gamma NGO"]
    # The country list offers the countries public members are based in, no more.
    page = body(client.get("/directory"))
    options = re.findall(r'<option value="([A-Z]{2})"', page)
    assert options == ["BR", "KE", "SN"]


def test_directory_shows_only_public_fields(client):
    member = add_member(
        "Réseau des Vérificateurs",
        acronym="RDV",
        org_type=OrgType.FACT_CHECKING,
        country="SN",
        focus=[FocusArea.DISINFORMATION, FocusArea.ELECTION_INTEGRITY],
        website="https://www.rdv.example.org/about",
        notes="Internal: grant dispute",
        work_countries=["ML"],
        contact_name="Awa Ndiaye",
        contact_email="awa@rdv.example.org",
    )
    member.joined_on = date(2021, 3, 4)
    db.session.commit()
    page = body(client.get("/directory"))
    row = re.search(r"<tr>\s*<th scope=\"row\">.*?</tr>", page, flags=re.S).group(0)
    text = unescape(re.sub(r"<[^>]+>", " ", row))
    for shown in (
        "Réseau des Vérificateurs",
        "RDV",
        "Organisation",
        "Fact-checking",
        "Senegal",
        "Disinformation",
        "Election integrity",
        "rdv.example.org",
    ):
        assert shown in text
    for private in ("Awa", "awa@", "grant dispute", "Mali", "2021", "Active", "Director"):
        assert private not in page
    # A name is text, not a link to a member page; the website is a nofollow link.
    assert '<a href="https://www.rdv.example.org/about" rel="nofollow noopener">' in row
    assert row.count("<a ") == 1
    assert f"/members/{member.id}" not in page


def test_a_website_that_is_not_http_is_never_a_link(client):
    add_member("Odd Website Org", website="javascript:alert(document.cookie)")
    add_member("Plain Website Org", website="http://plain.example.org")
    db.session.commit()
    page = body(client.get("/directory"))
    assert "javascript:" not in page
    assert '<a href="http://plain.example.org" rel="nofollow noopener">' in page


def count_queries(client, path: str) -> int:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert response.status_code == 200
    return len(statements)


def test_directory_query_count_does_not_grow_with_members(client):
    for n in range(3):
        add_member(f"Few {n}", focus=[FocusArea.AD_TECH, FocusArea.HATE_SPEECH])
    db.session.commit()
    few = count_queries(client, "/directory")
    for n in range(40):
        add_member(
            f"Many {n}",
            focus=[FocusArea.AD_TECH, FocusArea.DIGITAL_RIGHTS],
            country=("KE", "GH", "TN")[n % 3],
            work_countries=["UG"],
        )
    db.session.commit()
    many = count_queries(client, "/directory")
    assert len(listed_names(client.get("/directory"))) == 43
    assert many == few, f"{few} queries for 3 members, {many} for 43"
    assert many <= 5


# -- Joining ---------------------------------------------------------------------------

GOOD_APPLICATION = {
    "kind": "organisation",
    "name": "Observatoire Numérique du Sahel",
    "acronym": "ONS",
    "org_type": "research",
    "country": "ML",
    "work_countries": ["BF", "NE"],
    "focus_areas": ["election_integrity", "hate_speech"],
    "languages": ["fr", "en"],
    "website": "https://ons.example.org",
    "contact_name": "Aminata Traoré",
    "contact_email": "Aminata@ONS.example.org",
    "contact_role": "Coordinator",
    "motivation": "We monitor election-time hate speech on platforms in the Sahel.",
    "consent_public": "y",
    "website_confirm": "",
}


def join(client, **changes):
    data = {**GOOD_APPLICATION, **changes}
    data = {k: v for k, v in data.items() if v is not None}
    return post(client, "/join", data, token_from="/join")


def members_named(name: str) -> list[Member]:
    return db.session.scalars(sa.select(Member).where(Member.name == name)).all()


def test_join_page_has_the_form_the_consent_and_a_hidden_honeypot(client):
    page = body(client.get("/join"))
    assert "<h1>Join the coalition</h1>" in page
    # The consent is unticked, and its exact wording is beside it.
    consent = re.search(r"<input[^>]*name=\"consent_public\"[^>]*>", page).group(0)
    assert "checked" not in consent
    assert str(CONSENT_WORDING) in unescape(page)
    # The honeypot: hidden from people and from assistive technology, out of the tab order.
    trap = re.search(
        r'<div class="visually-hidden" aria-hidden="true">(.*?)</div>', page, flags=re.S
    ).group(1)
    assert "Leave this empty" in trap
    field = re.search(r"<input[^>]*name=\"website_confirm\"[^>]*>", trap).group(0)
    assert 'tabindex="-1"' in field and 'autocomplete="off"' in field
    # Every country is offered for the home country.
    assert '<option value="ML">Mali</option>' in page


def test_join_creates_an_applied_member_and_tells_the_applicant(client):
    before = utcnow()
    response = join(client)
    assert response.status_code == 302
    assert response.location == "/join/thanks"
    thanks = client.get(response.location)
    assert "Thank you for applying" in body(thanks)
    assert GOOD_APPLICATION["name"] not in body(thanks)

    [member] = members_named(GOOD_APPLICATION["name"])
    assert member.status == MemberStatus.APPLIED
    assert (member.kind, member.org_type, member.acronym) == (
        MemberKind.ORGANISATION,
        OrgType.RESEARCH,
        "ONS",
    )
    assert (member.country, member.region) == ("ML", Region.SUB_SAHARAN_AFRICA)
    assert member.work_countries == ["BF", "NE"]
    assert member.focus_areas == [FocusArea.HATE_SPEECH, FocusArea.ELECTION_INTEGRITY]
    assert member.languages == ["en", "fr"]  # the form's language first: we write in it
    assert member.website == "https://ons.example.org"
    assert member.notes == MOTIVATION_PREFIX + GOOD_APPLICATION["motivation"]
    # Consent: the wording shown, word for word, and when.
    assert member.consent_public is True
    assert member.consent_wording == str(CONSENT_WORDING)
    assert before <= member.consent_at <= utcnow()
    [contact] = member.contacts
    assert (contact.name, contact.email, contact.role, contact.is_primary) == (
        "Aminata Traoré",
        "aminata@ons.example.org",
        "Coordinator",
        True,
    )
    assert contact.user_id is None
    [change] = member.status_changes
    assert (change.from_status, change.to_status, change.actor_id) == (
        None,
        MemberStatus.APPLIED,
        None,
    )
    entry = db.session.scalar(
        sa.select(AuditEntry).filter_by(action="member.applied", object_id=str(member.id))
    )
    assert entry is not None and entry.actor_id is None

    [message] = outbox("membership_application_received")
    assert message.recipient == "aminata@ons.example.org"
    assert message.key == f"member_applied:{member.id}"
    assert message.language == "en"
    email = f"{message.subject}\n{message.body_text}\n{message.body_html}"
    for detail in (
        "Aminata Traoré",  # anyone may type any address: the receipt repeats nothing typed
        "Observatoire",
        "ONS",
        "Mali",
        "ons.example.org",
        "hate speech",
        "Coordinator",
        "Sahel",
        "Burkina",
    ):
        assert detail not in email, detail
    # An application is not public.
    assert "Observatoire" not in body(client.get("/directory"))


def test_join_without_consent_keeps_no_consent(client):
    response = join(client, consent_public=None)
    assert response.status_code == 302
    [member] = members_named(GOOD_APPLICATION["name"])
    assert (member.consent_public, member.consent_at, member.consent_wording) == (
        False,
        None,
        None,
    )


def test_join_as_an_expert_ignores_an_organisation_type(client):
    response = join(client, kind="expert", name="Dr Kofi Mensah", org_type="media", acronym="")
    assert response.status_code == 302
    [member] = members_named("Dr Kofi Mensah")
    assert member.kind == MemberKind.EXPERT
    assert member.org_type is None
    assert member.acronym is None


def test_join_adds_https_to_a_bare_website(client):
    join(client, website="ons.example.org/about")
    [member] = members_named(GOOD_APPLICATION["name"])
    assert member.website == "https://ons.example.org/about"
    assert member.web_domain == "ons.example.org"


def test_join_email_is_in_the_language_the_form_was_filled_in(client):
    with client.session_transaction() as session:
        session["language"] = "fr"
    join(client, languages=["fr", "ar"])
    [member] = members_named(GOOD_APPLICATION["name"])
    assert member.languages == ["fr", "ar"]
    [message] = outbox("membership_application_received")
    assert message.language == "fr"


def test_join_email_falls_back_to_a_language_ticked(client):
    # The form in English, but only Portuguese ticked: write in Portuguese.
    join(client, languages=["pt"])
    [message] = outbox("membership_application_received")
    assert message.language == "pt"


def test_a_filled_honeypot_looks_like_success_but_keeps_nothing(client):
    members_before = db.session.scalar(sa.select(sa.func.count(Member.id)))
    real = join(client, name="A real applicant")
    trapped = join(client, name="A spam bot", website_confirm="http://spam.example")
    assert (trapped.status_code, trapped.location) == (real.status_code, real.location)
    assert body(client.get(trapped.location)) == body(client.get(real.location))
    assert members_named("A spam bot") == []
    assert len(members_named("A real applicant")) == 1
    assert db.session.scalar(sa.select(sa.func.count(Member.id))) == members_before + 1
    assert len(outbox("membership_application_received")) == 1
    # Even an otherwise broken form is answered as a success.
    broken = join(client, name="", country="", website_confirm="x")
    assert (broken.status_code, broken.location) == (302, "/join/thanks")


def test_join_is_rate_limited_per_address(app, client):
    limit = parse(app.config["RATELIMIT_FORMS_PER_IP"]).amount
    token_page = client.get("/join")
    assert token_page.status_code == 200
    for n in range(limit):
        response = join(client, name=f"Applicant {n}", contact_email=f"a{n}@example.org")
        assert response.status_code == 302, n
    refused = join(client, name="One too many")
    assert refused.status_code == 429
    assert "Too many attempts" in body(refused)
    assert members_named("One too many") == []
    assert len(outbox("membership_application_received")) == limit
    # Reading the form is not limited.
    assert client.get("/join").status_code == 200
    # Another address still may apply.
    other = client.post(
        "/join",
        data={**GOOD_APPLICATION, "name": "Elsewhere", "csrf_token": csrf_token(client, "/join")},
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert other.status_code == 302


LONG = "x" * 301

BAD_INPUT = [
    pytest.param({"name": ""}, "name", "Enter the name.", id="missing-name"),
    pytest.param({"name": "   "}, "name", "Enter the name.", id="blank-name"),
    pytest.param({"country": ""}, "country", "Choose the country", id="no-country"),
    pytest.param({"country": "XX"}, "country", "Choose a country from the list.", id="bad-country"),
    pytest.param(
        {"contact_email": "not-an-email"},
        "contact_email",
        "Enter an email address like name@example.org.",
        id="bad-email",
    ),
    pytest.param({"contact_email": ""}, "contact_email", "Enter an email", id="no-email"),
    pytest.param({"contact_name": ""}, "contact_name", "Enter your name.", id="no-contact"),
    pytest.param(
        {"website": "ftp://files.example.org"}, "website", "https://", id="website-not-http"
    ),
    pytest.param(
        {"website": "javascript:alert(1)"}, "website", "https://", id="website-javascript"
    ),
    pytest.param({"name": LONG}, "name", "300", id="long-name"),
    pytest.param({"acronym": "A" * 41}, "acronym", "40", id="long-acronym"),
    pytest.param({"contact_role": "r" * 121}, "contact_role", "120", id="long-role"),
    pytest.param({"motivation": "m" * 2001}, "motivation", "2000", id="long-motivation"),
    pytest.param({"website": "https://" + "w" * 300 + ".org"}, "website", "300", id="long-website"),
    pytest.param({"kind": "robot"}, "kind", "Choose from the list.", id="bad-kind"),
    pytest.param({"org_type": "cult"}, "org_type", "Choose a type", id="bad-type"),
    pytest.param(
        {"work_countries": ["KE", "QQ"]}, "work_countries", "Choose countries", id="bad-work"
    ),
    pytest.param({"focus_areas": ["astrology"]}, "focus_areas", "Choose from", id="bad-focus"),
    pytest.param({"languages": ["tlh"]}, "languages", "Choose from", id="bad-language"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_INPUT)
def test_join_bad_input_is_explained_beside_the_field_and_nothing_is_lost(
    client, changes, field, message
):
    response = join(client, **changes)
    assert response.status_code == 200
    page = unescape(body(response))
    error = re.search(rf'<p class="error-text" id="{field}-error">(.*?)</p>', page, flags=re.S)
    assert error, f"no error beside {field}"
    assert message in error.group(1)
    assert "Please correct the following" in page
    # Nothing created, nothing sent.
    assert db.session.scalar(sa.select(sa.func.count(Member.id))) == 0
    assert outbox("membership_application_received") == []
    # What was typed is still there.
    for kept in ("contact_role", "motivation", "contact_name", "acronym"):
        value = changes.get(kept, GOOD_APPLICATION[kept])
        if value:
            assert value in page, kept
    if "languages" not in changes:
        assert is_checked(page, "languages", "fr") and is_checked(page, "languages", "en")
        assert not is_checked(page, "languages", "ar")
    assert is_checked(page, "consent_public", "y")


def is_checked(page: str, name: str, value: str) -> bool:
    for tag in re.findall(rf'<input[^>]*name="{name}"[^>]*>', page):
        if f'value="{value}"' in tag:
            return " checked" in tag
    raise AssertionError(f"no {name}={value} input")


# -- The decision emails (sent by the staff's decision) say as little as they must ------


@pytest.mark.parametrize("approve", [True, False])
def test_decision_emails_hold_no_details(make_user, approve):
    convenor = make_user("convenor", two_factor=True)
    member = add_member(
        "Confidential Applicant Org",
        status=MemberStatus.APPLIED,
        contact_name="Lina Haddad",
        contact_email="lina@applicant.example.org",
        notes="Joining application: our secret plans",
    )
    ops.decide_application(member, approve=approve, actor=convenor, reason="REASON-MARKER")
    db.session.commit()
    template = "membership_approved" if approve else "membership_rejected"
    [message] = outbox(template)
    assert message.recipient == "lina@applicant.example.org"
    email = f"{message.subject}\n{message.body_text}\n{message.body_html}"
    # A rejection goes to an address nobody confirmed: it repeats no name typed there.
    assert ("Lina Haddad" in message.body_text) is approve
    assert ("approved" in message.body_text) is approve
    for detail in ("REASON-MARKER", "secret plans", "Confidential Applicant Org"):
        assert detail not in email
