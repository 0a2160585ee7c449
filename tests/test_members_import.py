"""Import of a member list: reading real files, the dry run's report, the all-or-nothing
commit, idempotent re-imports, the background job and its pages, and the CLI."""

from __future__ import annotations

import ast
import codecs
import csv
import io
import os
import re
import threading
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from coalition import jobs
from coalition.accounts.models import User
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import importing
from coalition.members import operations as ops
from coalition.members.importing import ImportFileError, ImportRefused, SheetChoiceNeeded
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberKind,
    MemberStatus,
    OrgType,
)
from tests.conftest import post

# The shared sample, beside the repository (or where COALITION_SAMPLES says).
SAMPLES = (
    os.environ.get("COALITION_SAMPLES")
    or Path(__file__).resolve().parents[2] / "shared" / "samples"
)
SAMPLE = Path(SAMPLES) / "members.csv"
# A day after the sample's last join date (2026-12-16): its lines 2-241 are clean.
SAMPLE_TODAY = date(2026, 12, 31)
HEADER = [
    "kind", "name", "acronym", "type", "country", "focus_areas", "website",
    "contact_name", "contact_email", "joined", "public_listing",
]  # fmt: skip
PLANTED = {242, 243, 244, 245, 246}


def row(name="Réseau Sénégalais des Vérificateurs", country="Senegal", **values):
    base = {
        "kind": "organisation",
        "name": name,
        "acronym": "RSV",
        "type": "Fact-checking",
        "country": country,
        "focus_areas": "disinformation; election integrity",
        "website": "https://www.rsv.example.org",
        "contact_name": "Aïssatou Diop",
        "contact_email": "aissatou@rsv.example.org",
        "joined": "2023-05-04",
        "public_listing": "yes",
    }
    base.update(values)
    return [base[h] for h in HEADER]


def csv_text(rows, header=HEADER, delimiter=",") -> str:
    """A CSV file as a spreadsheet program writes it: quoted where a cell needs it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def read(data: bytes, sheet=None) -> importing.Table:
    return importing.read_table(data, "members.csv", sheet)


def report_of(data: bytes, **options) -> dict:
    return importing.analyse(read(data), **options)


def rows_by_line(report) -> dict[int, dict]:
    return {r["row"]: r for r in report["rows"]}


def xlsx_bytes(sheets: dict[str, list[list]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for cells in rows:
            sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def make_member(**values):
    base = {
        "kind": MemberKind.ORGANISATION,
        "name": "Centre for Digital Rights",
        "org_type": OrgType.NGO,
        "country": "KE",
        "website": "https://www.cdr.example.org/about",
    }
    contacts = values.pop(
        "contacts", [{"name": "Wanjiku Kamau", "email": "wanjiku@cdr.example.org"}]
    )
    focus = values.pop("focus_areas", [FocusArea.DISINFORMATION])
    base.update(values)
    member = ops.create_member(actor=None, values=base, focus_areas=focus, contacts=contacts)
    db.session.commit()
    return member


def member_audit_rows() -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.object_type == "Member")
    )


def member_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Member))


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


@pytest.fixture
def convenor(make_user):
    return make_user("convenor", two_factor=True, name="Convenor Staff")


def pin_today(monkeypatch, day: date) -> None:
    """Make ``day`` the latest date a member may have joined on."""
    monkeypatch.setattr(importing.checking, "latest_today", lambda: day)


@pytest.fixture
def sample_bytes(monkeypatch) -> bytes:
    if not SAMPLE.exists():
        pytest.skip(f"the shared sample is not at {SAMPLE}")
    pin_today(monkeypatch, SAMPLE_TODAY)
    return SAMPLE.read_bytes()


# -- Reading files: encodings, delimiters, blank lines, headers ---------------------------

ACCENTED = "Réseau Sénégalais des Vérificateurs"
CI_CURLY = "Côte d\u2019Ivoire"  # with the typographic apostrophe


@pytest.mark.parametrize(
    ("encode", "encoding"),
    [
        pytest.param(lambda t: t.encode("utf-8"), "UTF-8", id="utf-8"),
        pytest.param(lambda t: codecs.BOM_UTF8 + t.encode("utf-8"), "UTF-8", id="utf-8-bom"),
        pytest.param(lambda t: t.encode("utf-16"), "UTF-16", id="utf-16-bom"),
        pytest.param(
            lambda t: codecs.BOM_UTF16_LE + t.encode("utf-16-le"), "UTF-16", id="utf-16-le-bom"
        ),
        pytest.param(lambda t: t.encode("utf-16-le"), "UTF-16", id="utf-16-le-no-bom"),
        pytest.param(lambda t: t.encode("cp1252"), "Windows-1252", id="cp1252"),
    ],
)
def test_encodings_are_decoded(encode, encoding):
    text = csv_text([row(), row(f"{CI_CURLY} Observatoire", CI_CURLY)])
    table = read(encode(text))
    assert table.encoding == encoding
    assert table.headers == HEADER  # no byte-order mark left on the first header
    report = importing.analyse(table)
    assert [r["name"] for r in report["rows"]] == [ACCENTED, f"{CI_CURLY} Observatoire"]
    assert [r["country"] for r in report["rows"]] == ["SN", "CI"]
    assert all(not r["errors"] for r in report["rows"])


@pytest.mark.parametrize(("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab")])
def test_delimiter_is_sniffed(delimiter, name):
    # Commas inside values must not fool the sniffing of a semicolon or tab file.
    cells = row(name="Media, Rights and Democracy", focus_areas="hate speech")
    table = read(csv_text([cells, row()], delimiter=delimiter).encode())
    assert table.delimiter == delimiter
    assert table.describe()["delimiter"] == name
    report = importing.analyse(table)
    assert [r["name"] for r in report["rows"]] == ["Media, Rights and Democracy", ACCENTED]
    assert not any(r["errors"] for r in report["rows"])


def test_excel_unicode_text_utf16_with_tabs():
    # What Excel writes as "Unicode Text": UTF-16 little-endian with a BOM, tab-separated.
    data = codecs.BOM_UTF16_LE + csv_text([row()], delimiter="\t").encode("utf-16-le")
    table = read(data)
    assert (table.encoding, table.delimiter) == ("UTF-16", "\t")
    assert [r["name"] for r in importing.analyse(table)["rows"]] == [ACCENTED]


def test_countries_of_work_lists():
    header = ["name", "country", "countries of work"]
    cells = ["Regional Network", "KE", "Congo, The Democratic Republic of the; Uganda|TZ"]
    both = ["Second Network", "KE", "Kenya, Uganda"]
    unknown = ["Third Network", "KE", "Kenya; Narnia"]
    plan = importing.plan(read(csv_text([cells, both, unknown], header=header).encode()))
    assert [r.work_countries for r in plan.rows] == [["CD", "UG", "TZ"], ["KE", "UG"], ["KE"]]
    assert plan.rows[2].errors == [
        {"field": "work_countries", "code": "unknown_country", "value": "Narnia"}
    ]


def test_blank_lines_are_skipped_and_line_numbers_are_the_files():
    text = "\r\n\r\n" + ",".join(HEADER) + "\r\n"
    text += ",".join(row("First", "Kenya")) + "\r\n\r\n ,  , \r\n"
    text += ",".join(row("Second", "Ghana", website="", contact_email="")) + "\r\n\r\n"
    table = read(text.encode())
    assert table.header_line == 3
    report = importing.analyse(table)
    assert [(r["row"], r["name"]) for r in report["rows"]] == [(4, "First"), (7, "Second")]


def test_a_quoted_line_break_keeps_the_following_line_numbers_right():
    text = ",".join(HEADER) + "\n"
    text += ",".join(row("First", "Kenya", acronym='"A\nB"')) + "\n"
    text += ",".join(row("Second", "Ghana", website="", contact_email="")) + "\n"
    report = report_of(text.encode())
    assert [(r["row"], r["name"]) for r in report["rows"]] == [(2, "First"), (4, "Second")]


def test_french_headers_and_values():
    header = [
        "Type de membre", "Nom", "Sigle", "Type", "Pays", "Domaines", "Site web", "Contact",
        "Courriel", "Date d'adhésion", "Liste publique",
    ]  # fmt: skip
    cells = [
        "Organisation", "Réseau des Libertés", "RDL", "Réseau", "Sénégal", "désinformation; "
        "discours de haine; droits numériques", "reseau.example.org", "Léa Ndiaye",
        "LEA@reseau.example.org", "03/02/2021", "oui",
    ]  # fmt: skip
    expert = ["Experte", "Awa Sall", "", "", "SN", "intégrité électorale", "", "", "", "", "non"]
    table = read(csv_text([cells, expert], header=header, delimiter=";").encode("cp1252"))
    assert set(table.columns) == {
        "kind", "name", "acronym", "org_type", "country", "focus_areas", "website",
        "contact_name", "contact_email", "joined_on", "consent_public",
    }  # fmt: skip
    report = importing.analyse(table)
    assert [r["errors"] for r in report["rows"]] == [[], []]
    importing.commit(table, None)
    db.session.flush()
    member = db.session.scalar(sa.select(Member).filter_by(name="Réseau des Libertés"))
    assert member.kind == MemberKind.ORGANISATION
    assert member.org_type == OrgType.NETWORK
    assert member.country == "SN"
    assert member.focus_areas == [
        FocusArea.DISINFORMATION,
        FocusArea.HATE_SPEECH,
        FocusArea.DIGITAL_RIGHTS,
    ]
    assert member.joined_on == date(2021, 2, 3)
    assert member.consent_public is True
    assert member.consent_wording == "Imported from the convenors' register"
    assert member.consent_at is not None
    assert [(c.name, c.email, c.is_primary) for c in member.contacts] == [
        ("Léa Ndiaye", "lea@reseau.example.org", True)
    ]
    expert_member = db.session.scalar(sa.select(Member).filter_by(name="Awa Sall"))
    assert expert_member.kind == MemberKind.EXPERT
    assert expert_member.focus_areas == [FocusArea.ELECTION_INTEGRITY]
    assert expert_member.consent_public is False


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("KE", "KE"),
        ("ken", "KE"),
        (CI_CURLY, "CI"),
        ("Côte d'Ivoire", "CI"),
        ("Cote d`Ivoire", "CI"),
        ("Ivory Coast", "CI"),
        ("DRC", "CD"),
        ("Tanzania", "TZ"),
        ("Swaziland", "SZ"),
        ("eswatini", "SZ"),
        # French names, as a member list exported in French gives them.
        ("Tchad", "TD"),
        ("Afrique du Sud", "ZA"),
        ("Maroc", "MA"),
        ("République démocratique du Congo", "CD"),
    ],
)
def test_country_codes_names_and_variants(given, code):
    report = report_of(csv_text([row(country=given)]).encode())
    assert report["rows"][0]["country"] == code
    assert report["rows"][0]["errors"] == []


@pytest.mark.parametrize(
    ("given", "org_type"),
    [
        ("NGO", OrgType.NGO),
        ("ong", OrgType.NGO),
        ("Research/Academic", OrgType.RESEARCH),
        ("Research / academic", OrgType.RESEARCH),
        ("recherche", OrgType.RESEARCH),
        ("MEDIA/JOURNALISM", OrgType.MEDIA),
        ("Fact-checking", OrgType.FACT_CHECKING),
        ("fact_checking", OrgType.FACT_CHECKING),
        ("Investigative", OrgType.INVESTIGATIVE),
        ("Technology", OrgType.TECHNOLOGY),
        ("juridique", OrgType.LEGAL),
        ("Network", OrgType.NETWORK),
    ],
)
def test_organisation_types_in_english_and_french(given, org_type):
    table = read(csv_text([row(type=given)]).encode())
    [parsed] = importing.plan(table).rows
    assert parsed.errors == []
    assert parsed.values["org_type"] == org_type


def test_focus_area_labels_map_to_values():
    given = "Hate speech; AI and deepfakes;online gender-based violence ; AD TECH;privacy"
    [parsed] = importing.plan(read(csv_text([row(focus_areas=given)]).encode())).rows
    assert parsed.focus_areas == [
        FocusArea.HATE_SPEECH,
        FocusArea.AI_DEEPFAKES,
        FocusArea.ONLINE_GBV,
        FocusArea.AD_TECH,
        FocusArea.DATA_PROTECTION,
    ]


def test_xlsx_with_one_sheet():
    data = xlsx_bytes(
        {
            "Members": [
                [],
                ["Name", "Country", "Type", "Joined", "Public listing", "E-mail"],
                ["Lab for Civic Tech", "Ghana", "Technology", date(2022, 1, 31), True, None],
                [None, None, None, None, None, None],
                ["Second", "KE", "NGO", "15/06/2020", "no", "a@b.example.org"],
            ]
        }
    )
    table = read(data)
    assert (table.format, table.sheet, table.header_line) == ("xlsx", "Members", 2)
    report = importing.analyse(table)
    assert [(r["row"], r["name"], r["errors"]) for r in report["rows"]] == [
        (3, "Lab for Civic Tech", []),
        (5, "Second", []),
    ]
    importing.commit(table, None)
    db.session.flush()
    lab = db.session.scalar(sa.select(Member).filter_by(name="Lab for Civic Tech"))
    assert (lab.joined_on, lab.consent_public, lab.org_type) == (
        date(2022, 1, 31),
        True,
        OrgType.TECHNOLOGY,
    )


def test_xlsx_with_several_sheets_asks_which():
    data = xlsx_bytes(
        {
            "Notes": [["whatever"]],
            "Members": [["name", "country"], ["Lab for Civic Tech", "GH"]],
        }
    )
    with pytest.raises(SheetChoiceNeeded) as caught:
        read(data)
    assert caught.value.sheets == ["Notes", "Members"]
    assert "Notes, Members" in caught.value.message
    table = read(data, sheet="Members")
    assert [r["name"] for r in importing.analyse(table)["rows"]] == ["Lab for Civic Tech"]
    with pytest.raises(ImportFileError) as unknown:
        read(data, sheet="Elsewhere")
    assert unknown.value.code == "no_such_sheet"


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def docx_like() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(PNG + bytes(range(256)) * 4, "not_a_table", id="png-named-csv"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\r\n \r\n\r\n", "empty", id="blank-lines-only"),
        pytest.param(codecs.BOM_UTF8, "empty", id="bom-only"),
        pytest.param(b"country,website\nKE,x.example.org\n", "no_name_column", id="no-name"),
        pytest.param(b"name,country\n\n\n", "no_rows", id="header-only"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old_excel", id="xls"),
        pytest.param(docx_like(), "not_a_table", id="docx"),
        pytest.param(b"PK\x03\x04broken zip", "not_a_table", id="broken-zip"),
        pytest.param(b"<!doctype html><html><body>name,country</body></html>", "not_a_table"),
        pytest.param(b"name,country\n" + b"x" * importing.MAX_IMPORT_BYTES, "too_big", id="big"),
    ],
)
def test_files_that_cannot_be_imported(data, code):
    with pytest.raises(ImportFileError) as caught:
        read(data)
    assert caught.value.code == code
    assert caught.value.message  # a sentence for people, not a code


def test_no_name_column_lists_the_columns_found():
    with pytest.raises(ImportFileError) as caught:
        read(b"organisation_title;pays\nX;KE\n")
    assert "organisation_title, pays" in caught.value.message


# -- Columns told apart by their values (issue 8) -------------------------------------------

FRENCH_HEADER = [
    "Nom", "Sigle", "Type de membre", "Catégorie", "Pays", "Domaines", "Site web", "Courriel",
    "Date d'adhésion", "Annuaire public",
]  # fmt: skip
FRENCH_ROWS = [
    ["Observatoire Ivoirien des Médias", "OIM", "Organisation", "Media / journalism",
     "Côte d'Ivoire", "désinformation", "oim.example.org", "contact@oim.example.org",
     "12/03/2021", "oui"],
    ["Réseau Sénégalais des Vérificateurs", "RSV", "Organisation", "Fact-checking", "Sénégal",
     "intégrité électorale", "rsv.example.org", "info@rsv.example.org", "04/05/2023", "oui"],
    ["Centre Béninois de Recherche", "CBR", "Organisation", "Research / academic", "Bénin",
     "", "", "", "01/09/2019", "non"],
    ["Aminata Traoré", "", "Experte", "", "Mali", "discours de haine", "", "", "", "non"],
    ["Association Tchadienne des Droits Numériques", "", "Organisation", "NGO", "Tchad", "",
     "", "", "", "oui"],
]  # fmt: skip
FRENCH_TYPES = {
    "Observatoire Ivoirien des Médias": OrgType.MEDIA,
    "Réseau Sénégalais des Vérificateurs": OrgType.FACT_CHECKING,
    "Centre Béninois de Recherche": OrgType.RESEARCH,
    "Aminata Traoré": None,
    "Association Tchadienne des Droits Numériques": OrgType.NGO,
}


def french_file(swap: bool = False) -> bytes:
    """A French member list as another tool exports it: semicolons, Windows-1252, with
    both a "Type de membre" (kind) and a "Catégorie" (the app's organisation types)."""
    order = list(range(len(FRENCH_HEADER)))
    if swap:
        order[2], order[3] = 3, 2
    header = [FRENCH_HEADER[i] for i in order]
    rows = [[cells[i] for i in order] for cells in FRENCH_ROWS]
    return csv_text(rows, header=header, delimiter=";").encode("cp1252")


@pytest.mark.parametrize("swap", [False, True], ids=["kind first", "category first"])
def test_issue8_type_de_membre_and_categorie_keep_every_organisation_type(swap):
    table = read(french_file(swap))
    assert table.headers[table.columns["kind"]] == "Type de membre"
    assert table.headers[table.columns["org_type"]] == "Catégorie"
    assert table.ignored == []
    report = importing.analyse(table)
    assert [r["errors"] for r in report["rows"]] == [[]] * 5
    # "Catégorie" names the kind in French too; its values say the type.
    assert report["file"]["column_notes"] == [
        {"code": "read_by_values", "field": "org_type", "column": "Catégorie", "named": "kind"}
    ]
    importing.commit(table, None)
    db.session.flush()
    found = dict(db.session.execute(sa.select(Member.name, Member.org_type)).all())
    assert found == FRENCH_TYPES
    expert = db.session.scalar(sa.select(Member).filter_by(name="Aminata Traoré"))
    assert expert.kind == MemberKind.EXPERT


def test_issue8_the_dry_run_page_shows_how_the_columns_were_read(client, login, convenor):
    login(convenor)
    upload(client, french_file(), filename="membres.csv")
    jobs.run_pending()
    body = client.get(f"/members/import/{last_job().id}").get_data(as_text=True)
    for text in (
        "“Catégorie” was read as Type, not as Kind: its values are organisation types.",
        "Import 5 members",
    ):
        assert text in body, text
    assert "Columns not imported" not in body


def test_issue8_two_columns_for_one_field_that_values_cannot_tell_apart_are_reported():
    header = ["name", "country", "email", "courriel"]
    cells = ["Lab", "KE", "a@lab.example.org", "b@lab.example.org"]
    table = read(csv_text([cells], header=header).encode())
    assert table.headers[table.columns["contact_email"]] == "email"
    assert table.ignored == ["courriel"]
    [note] = table.describe()["column_notes"]
    assert note == {
        "code": "ambiguous",
        "field": "contact_email",
        "column": "email",
        "others": ["courriel"],
    }
    assert importing.column_note_message(note) == (
        "“email” and “courriel” could both be Contact email, and their values do not tell "
        "which: “email” was read. Rename the other column if it is the wrong one."
    )


def test_issue8_a_column_of_type_labels_is_read_by_its_values_or_reported():
    header = ["name", "country", "Secteur d'activité"]
    rows = [["Lab", "KE", "Technology"], ["Desk", "GH", "Media / journalism"]]
    table = read(csv_text(rows, header=header).encode())
    assert table.headers[table.columns["org_type"]] == "Secteur d'activité"
    assert [r["errors"] for r in importing.analyse(table)["rows"]] == [[], []]

    # A "Type" column of organisations and experts is the kind, whatever its name says.
    header = ["name", "country", "type"]
    table = read(
        csv_text([["Lab", "KE", "Organisation"], ["Awa", "SN", "Expert"]], header=header).encode()
    )
    assert "org_type" not in table.columns
    assert table.headers[table.columns["kind"]] == "type"

    # When another column gives the field already, the column is left out, and said so.
    header = ["name", "country", "type", "Secteur d'activité"]
    rows = [["Lab", "KE", "NGO", "Technology"]]
    table = read(csv_text(rows, header=header).encode())
    assert table.headers[table.columns["org_type"]] == "type"
    assert table.ignored == ["Secteur d'activité"]
    [note] = table.column_notes
    assert importing.column_note_message(note) == (
        "“Secteur d'activité” was not imported: its values are organisation types, and "
        "“type” already gives Type."
    )


def test_issue8_of_two_columns_named_for_one_field_the_one_whose_values_fit_is_read():
    header = ["name", "country", "Catégorie", "Type de membre"]
    rows = [["Lab", "KE", "A", "Organisation"], ["Awa Sall", "SN", "B", "Expert"]]
    table = read(csv_text(rows, header=header).encode())
    assert table.headers[table.columns["kind"]] == "Type de membre"
    assert table.ignored == ["Catégorie"]
    [note] = table.column_notes
    assert importing.column_note_message(note) == (
        "“Type de membre” and “Catégorie” could both be Kind; “Type de membre” was read as "
        "Kind, since its values are kinds of member (organisation or expert)."
    )


# -- Text lost in a legacy encoding, and join dates in the future (issue 8) -----------------

# The outside test's name: Arabic saved as Windows-1252 comes back as question marks.
LOST_NAME = "?????? ??????? ???? 11"


def test_issue8_arabic_lost_in_a_windows_1252_file_is_an_error_not_a_name():
    arabic = "المرصد العربي للإعلام 11"
    rows = [
        row("Réseau Sénégalais des Vérificateurs", "Sénégal"),
        row(arabic, "Jordan", acronym="", website="", contact_name="", contact_email=""),
        row(LOST_NAME, "Egypt", acronym="", website="", contact_name="", contact_email=""),
    ]
    # What another tool writes: every character Windows-1252 lacks becomes "?".
    data = csv_text(rows).encode("cp1252", errors="replace")
    assert "?" * 6 in data.decode("cp1252")
    table = read(data)
    assert table.encoding == "Windows-1252"
    report = importing.analyse(table)
    lines = rows_by_line(report)
    assert (lines[2]["action"], lines[2]["name"]) == (
        "create",
        "Réseau Sénégalais des Vérificateurs",
    )
    for line in (3, 4):
        assert (lines[line]["action"], lines[line]["skip"]) == ("skip", "errors"), line
        [error] = lines[line]["errors"]
        assert (error["field"], error["code"]) == ("name", "lost_characters")
    assert lines[4]["name"] == LOST_NAME  # shown as the file has it
    assert importing.row_error_message(lines[4]["errors"][0]) == (
        f"Name: “{LOST_NAME}” has lost its letters in the file's encoding (text such as "
        "Arabic saved as Windows-1252 or Latin-1). Save the file again as CSV UTF-8 or as an "
        "Excel workbook (.xlsx), then import it again."
    )
    with pytest.raises(ImportRefused):
        importing.commit(table, None)
    counts = importing.commit(table, None, skip_errors=True)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "skipped": 2}
    assert db.session.scalars(sa.select(Member.name)).all() == [
        "Réseau Sénégalais des Vérificateurs"
    ]


def test_issue8_a_replacement_character_in_any_value_is_an_error():
    data = csv_text([row("Lab", "KE", contact_name="Fat\ufffd\ufffdma Zahra")]).encode()
    [only] = report_of(data)["rows"]
    assert [(e["field"], e["code"]) for e in only["errors"]] == [
        ("contact_name", "lost_characters")
    ]
    assert only["action"] == "skip"


@pytest.mark.parametrize(
    ("value", "lost"),
    [
        (LOST_NAME, True),
        ("??? - ??", True),
        ("«???»", True),
        ("Na\ufffdma", True),
        ("?", False),  # a lone question mark says "unknown", not lost letters
        ("Who? Why? Media Lab", False),
        ("Lab 11", False),
        ("المرصد العربي", False),
    ],
)
def test_issue8_what_counts_as_lost_characters(value, lost):
    assert importing.values.lost_characters(value) is lost


def test_issue8_a_join_date_in_the_future_is_an_error(monkeypatch):
    pin_today(monkeypatch, date(2026, 6, 30))
    rows = [
        row("Today", "KE", website="", contact_email="", joined="2026-06-30"),
        row("Tomorrow", "GH", website="", contact_email="", joined="2026-07-01"),
        row("Next year", "UG", website="", contact_email="", joined="15/01/2027"),
    ]
    lines = rows_by_line(report_of(csv_text(rows).encode()))
    assert (lines[2]["action"], lines[2]["errors"]) == ("create", [])
    for line, value in ((3, "2026-07-01"), (4, "15/01/2027")):
        assert lines[line]["errors"] == [
            {"field": "joined_on", "code": "future_date", "value": value}
        ]
        assert lines[line]["action"] == "skip"
    assert importing.row_error_message(lines[3]["errors"][0]) == (
        "Joined: “2026-07-01” is a date in the future."
    )


def test_issue8_today_is_the_latest_date_on_earth():
    now = utcnow()
    assert now.date() <= importing.checking.latest_today() <= now.date() + timedelta(days=1)


# -- The dry run: errors and duplicates, per row ----------------------------------------


def test_every_error_of_a_row_is_reported():
    bad = row(
        name="",
        kind="company",
        type="bakery",
        country="Wakanda",
        focus_areas="disinformation; knitting",
        website="not a website",
        contact_email="someone@",
        joined="31/02/2024",
        public_listing="maybe",
    )
    report = report_of(csv_text([bad]).encode())
    [only] = report["rows"]
    assert only["action"] == "skip"
    assert {(e["field"], e["code"]) for e in only["errors"]} == {
        ("name", "missing"),
        ("kind", "unknown_kind"),
        ("org_type", "unknown_type"),
        ("country", "unknown_country"),
        ("focus_areas", "unknown_focus"),
        ("website", "bad_website"),
        ("contact_email", "bad_email"),
        ("joined_on", "bad_date"),
        ("consent_public", "bad_consent"),
    }
    messages = [importing.row_error_message(e) for e in only["errors"]]
    assert "Country: unknown country “Wakanda”." in messages
    assert "Contact email: “someone@” is not an email address." in messages


def test_a_row_with_more_cells_than_the_header_is_reported():
    text = "name,country\nOne,KE\nTwo, Inc.,GH\n"
    report = report_of(text.encode())
    lines = rows_by_line(report)
    assert lines[2]["errors"] == []
    assert [e["code"] for e in lines[3]["errors"]] == ["extra_cells", "unknown_country"]
    assert importing.row_error_message(lines[3]["errors"][0]) == (
        "The row has 3 cells where the header has 2: a value may hold an unquoted separator."
    )


def test_an_unclosed_quote_is_reported_on_its_row():
    text = 'name,country\nOne,KE\n"Two,GH\nThree,UG\nFour,TZ\n'
    lines = rows_by_line(report_of(text.encode()))
    assert "open_quote" in [e["code"] for e in lines[3]["errors"]]


def test_the_shared_sample_reports_every_planted_problem(sample_bytes):
    table = read(sample_bytes)
    report = importing.analyse(table)
    lines = rows_by_line(report)
    # The line numbers are the file's: the header is line 1, the last row line 246.
    assert report["file"]["header_line"] == 1
    assert sorted(lines) == list(range(2, 247))
    assert sample_bytes.decode().splitlines()[241].startswith("organisation,LAB FOR CIVIC")
    assert lines[242]["name"] == "LAB FOR CIVIC TECHNOLOGY MAURITANIA 11"

    for line in range(2, 242):
        assert lines[line]["errors"] == [], line
        assert lines[line]["duplicates"] == [], line
        assert lines[line]["action"] == "create", line

    def dups(line):
        return {(d["kind"], d["of"], d["by"]) for d in lines[line]["duplicates"]}

    # 242: line 12 again, in capitals: same name and country, website and email.
    assert dups(242) == {
        ("in file", 12, "name and country"),
        ("in file", 12, "web domain"),
        ("in file", 12, "contact email"),
    }
    assert lines[242]["errors"] == []
    assert (lines[242]["action"], lines[242]["skip"]) == ("skip", "repeat")
    # 243: line 22 by web domain and contact email, under another name.
    assert dups(243) == {("in file", 22, "web domain"), ("in file", 22, "contact email")}
    assert lines[243]["errors"] == []
    assert (lines[243]["action"], lines[243]["skip"]) == ("skip", "duplicate")
    # 244: unknown country "Wakanda", and line 32 by web domain and contact email.
    assert lines[244]["errors"] == [
        {"field": "country", "code": "unknown_country", "value": "Wakanda"}
    ]
    assert dups(244) == {("in file", 32, "web domain"), ("in file", 32, "contact email")}
    # 245: contact email "not-an-email".
    assert lines[245]["errors"] == [
        {"field": "contact_email", "code": "bad_email", "value": "not-an-email"}
    ]
    # 246: blank name, and line 34 by web domain and contact email.
    assert lines[246]["errors"] == [{"field": "name", "code": "missing"}]
    assert dups(246) == {("in file", 34, "web domain"), ("in file", 34, "contact email")}

    assert report["totals"] == {
        "rows": 245,
        "create": 240,
        "update": 0,
        "unchanged": 0,
        "skip": 5,
        "errors": 3,
        "repeats": 1,
        "held_duplicates": 1,
    }
    assert member_count() == 0  # a dry run writes nothing


def test_duplicates_against_the_register():
    existing = make_member(
        name="Centre for Digital Rights", country="KE", website="https://www.cdr.example.org/x"
    )
    rows = [
        # The same member, its name in other case and accents: an update, not a duplicate.
        row("CENTRE FOR DÍGITAL RIGHTS", "Kenya", website="", contact_email=""),
        # The same web domain, without www or scheme.
        row("Another Centre", "KE", website="cdr.example.org", contact_email=""),
        # The same contact email, in capitals.
        row("Third Centre", "UG", website="", contact_email="WANJIKU@cdr.example.org"),
        # The same name in another country: another member.
        row("Centre for Digital Rights", "Uganda", website="", contact_email=""),
    ]
    lines = rows_by_line(report_of(csv_text(rows).encode()))
    assert lines[2]["member"] == {"id": existing.id, "name": "Centre for Digital Rights"}
    assert lines[2]["duplicates"] == []
    assert lines[2]["action"] == "update"
    assert lines[3]["duplicates"] == [
        {
            "kind": "register",
            "of": existing.id,
            "name": "Centre for Digital Rights",
            "by": "web domain",
        }
    ]
    assert (lines[3]["action"], lines[3]["skip"]) == ("skip", "duplicate")
    assert [(d["kind"], d["of"], d["by"]) for d in lines[4]["duplicates"]] == [
        ("register", existing.id, "contact email")
    ]
    assert (lines[5]["action"], lines[5]["duplicates"]) == ("create", [])
    message = importing.duplicate_message(lines[3]["duplicates"][0])
    assert message == (
        f"Likely duplicate of Centre for Digital Rights (member {existing.id}) in the register: "
        "the same web domain."
    )


def test_likely_duplicates_are_created_only_when_asked():
    make_member()
    data = csv_text([row("Another Centre", "KE", website="cdr.example.org")]).encode()
    assert importing.commit(read(data), None) == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": 1,
    }
    assert member_count() == 1
    counts = importing.commit(read(data), None, include_duplicates=True)
    assert counts["created"] == 1
    assert member_count() == 2


def test_dry_run_query_count_does_not_grow_with_rows_or_register():
    def queries_for(n: int) -> int:
        for i in range(n):
            make_member(name=f"Existing {n}-{i}", website=f"https://e{n}-{i}.example.org")
        rows = [
            row(f"Existing {n}-{i}" if i % 2 else f"New {n}-{i}", "KE", website="")
            for i in range(n)
        ]
        table = read(csv_text(rows).encode())
        with counting_queries() as found:
            importing.analyse(table)
        return len(found)

    assert queries_for(3) == queries_for(40)


def test_progress_is_reported_as_rows_are_checked(monkeypatch):
    monkeypatch.setattr(importing.checking, "PROGRESS_EVERY", 10)
    rows = [row(f"Member {i}", "KE", website="", contact_email="") for i in range(35)]
    seen = []
    importing.plan(read(csv_text(rows).encode()), progress=lambda d, t: seen.append((d, t)))
    assert seen == [(0, 35), (10, 35), (20, 35), (30, 35), (35, 35)]


# -- The commit: all or nothing, updates, idempotence -----------------------------------------


def test_an_error_row_without_skip_errors_writes_nothing(convenor):
    data = csv_text([row("Good One", "KE"), row("Bad One", "Wakanda", website="")]).encode()
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    with pytest.raises(ImportRefused) as caught:
        importing.commit(read(data), convenor)
    assert caught.value.rows_with_errors == 1
    db.session.flush()
    assert member_count() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audit_before

    counts = importing.commit(read(data), convenor, skip_errors=True)
    assert counts == {"created": 1, "updated": 0, "unchanged": 0, "skipped": 1}
    created = db.session.scalar(sa.select(Member))
    assert (created.name, created.status) == ("Good One", MemberStatus.ACTIVE)
    entry = db.session.scalar(
        sa.select(AuditEntry).filter_by(action="member.imported", object_id=str(created.id))
    )
    assert entry.actor_id == convenor.id
    assert created.status_changes[0].reason == "Imported from a member list"


def test_a_failure_half_way_leaves_the_register_as_it_was(convenor, monkeypatch):
    rows = [
        row("One", "KE", website="", contact_email="one@example.org"),
        row("Two", "GH", website="", contact_email="two@example.org"),
    ]
    data = csv_text(rows).encode()
    real = ops.create_member
    calls = []

    def create_then_fail(**kwargs):
        calls.append(kwargs["values"]["name"])
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real(**kwargs)

    monkeypatch.setattr(ops, "create_member", create_then_fail)
    job = jobs.enqueue(
        importing.JOB_KIND,
        created_by=convenor,
        params={"filename": "m.csv", "mode": "commit", "skip_errors": False},
        payload=data,
    )
    db.session.commit()
    jobs.run_pending()
    db.session.refresh(job)
    assert job.status == jobs.JobStatus.FAILED
    assert calls == ["One", "Two"]
    assert member_count() == 0  # "One" was written, then rolled back with the rest


def test_reimporting_the_same_file_changes_nothing(sample_bytes, convenor):
    first = importing.commit(read(sample_bytes), convenor, skip_errors=True)
    db.session.commit()
    assert first == {"created": 240, "updated": 0, "unchanged": 0, "skipped": 5}
    members, audit_rows = member_count(), member_audit_rows()
    versions = dict(db.session.execute(sa.select(Member.id, Member.version)).all())

    report = importing.analyse(read(sample_bytes))
    assert {r["action"] for r in report["rows"] if r["row"] < 242} == {"unchanged"}
    second = importing.commit(read(sample_bytes), convenor, skip_errors=True)
    db.session.commit()
    assert second == {"created": 0, "updated": 0, "unchanged": 240, "skipped": 5}
    assert member_count() == members
    assert member_audit_rows() == audit_rows
    assert dict(db.session.execute(sa.select(Member.id, Member.version)).all()) == versions


def test_a_changed_row_updates_its_member_and_blank_cells_change_nothing(convenor):
    member = make_member(acronym="CDR", notes="Keep close")
    changed = row(
        "Centre for Digital Rights",
        "Kenya",
        acronym="",  # blank: the register keeps "CDR"
        website="https://cdr.example.org/new",
        focus_areas="disinformation; digital rights",
        contact_name="Otieno Odhiambo",
        contact_email="otieno@cdr.example.org",
        joined="2020-01-15",
    )
    data = csv_text([changed]).encode()
    lines = rows_by_line(report_of(data))
    assert lines[2]["action"] == "update"
    assert set(lines[2]["changes"]) == {
        "org_type",
        "website",
        "joined_on",
        "consent_public",
        "focus_areas",
        "contacts",
    }
    counts = importing.commit(read(data), convenor)
    db.session.commit()
    assert counts["updated"] == 1
    db.session.refresh(member)
    assert member.acronym == "CDR"
    assert member.notes == "Keep close"
    assert member.org_type == OrgType.FACT_CHECKING
    assert member.website == "https://cdr.example.org/new"
    assert member.focus_areas == [FocusArea.DISINFORMATION, FocusArea.DIGITAL_RIGHTS]
    assert member.consent_wording == "Imported from the convenors' register"
    emails = [(c.email, c.is_primary) for c in member.contacts]
    assert emails == [("wanjiku@cdr.example.org", True), ("otieno@cdr.example.org", False)]
    entry = db.session.scalar(
        sa.select(AuditEntry).filter_by(action="member.updated", object_id=str(member.id))
    )
    assert entry.actor_id == convenor.id
    assert entry.changes["website"] == ["https://www.cdr.example.org/about", changed[6]]
    # And once more: nothing left to change.
    assert rows_by_line(report_of(data))[2]["action"] == "unchanged"


def test_a_known_contact_gets_the_name_and_role_the_file_gives(convenor):
    member = make_member()
    header = ["name", "country", "contact", "email", "role"]
    renamed = ["Centre for Digital Rights", "KE", "Wanjiku K.", "Wanjiku@cdr.example.org", "Chair"]
    importing.commit(read(csv_text([renamed], header=header).encode()), convenor)
    db.session.commit()
    db.session.refresh(member)
    assert [(c.name, c.email, c.role) for c in member.contacts] == [
        ("Wanjiku K.", "wanjiku@cdr.example.org", "Chair")
    ]
    # An email alone names nobody: the register keeps the contact's name.
    email_only = ["Centre for Digital Rights", "KE", "", "wanjiku@cdr.example.org", ""]
    report = report_of(csv_text([email_only], header=header).encode())
    assert report["rows"][0]["action"] == "unchanged"


def test_a_value_beyond_the_named_columns_of_a_sheet_is_not_an_error():
    data = xlsx_bytes({"Members": [["name", "country"], ["Lab", "GH", None, "a stray note"]]})
    report = importing.analyse(read(data))
    assert report["rows"][0]["errors"] == []


def test_an_expert_with_a_type_in_the_file_stays_unchanged_on_reimport():
    data = csv_text([row("Priya Banda", "Iraq", kind="expert", type="Media/journalism")])
    importing.commit(read(data.encode()), None)
    expert = db.session.scalar(sa.select(Member))
    assert (expert.kind, expert.org_type) == (MemberKind.EXPERT, None)
    assert report_of(data.encode())["rows"][0]["action"] == "unchanged"


# -- The background job and the web pages ------------------------------------------------------


def upload(client, data: bytes, filename="members.csv", sheet=None):
    fields = {"file": (io.BytesIO(data), filename)}
    if sheet:
        fields["sheet"] = sheet
    return post(client, "/members/import", fields, token_from="/members/import")


def last_job() -> jobs.Job | None:
    return db.session.scalar(sa.select(jobs.Job).order_by(jobs.Job.id.desc()))


def test_web_import_of_the_sample_from_upload_to_commit(client, login, convenor, sample_bytes):
    login(convenor)
    response = upload(client, sample_bytes)
    assert response.status_code == 302
    job = last_job()
    assert response.location.endswith(f"/members/import/{job.id}")
    assert (job.kind, job.status, job.created_by_id) == ("members.import", "queued", convenor.id)
    assert job.params["mode"] == "dry_run"
    assert job.payload == sample_bytes
    assert member_count() == 0

    waiting = client.get(f"/members/import/{job.id}")
    assert waiting.status_code == 200
    assert waiting.headers["Refresh"] == "2"
    assert "Waiting for its turn" in waiting.get_data(as_text=True)
    assert "Refresh" not in client.get(f"/members/import/{job.id}?refresh=off").headers

    assert jobs.run_pending() == 1
    db.session.refresh(job)
    assert job.status == jobs.JobStatus.DONE
    assert (job.progress_done, job.progress_total) == (245, 245)
    assert member_count() == 0

    page = client.get(f"/members/import/{job.id}")
    assert "Refresh" not in page.headers
    body = page.get_data(as_text=True)
    for text in (
        "Country: unknown country “Wakanda”.",
        "Contact email: “not-an-email” is not an email address.",
        "Name is missing.",
        "Likely duplicate of line 12: the same name and country.",
        "Likely duplicate of line 22: the same web domain.",
        "Likely duplicate of line 34: the same contact email.",
        "Import 240 members",
    ):
        assert text in body, text
    # Problems first: the five planted rows open the table, in file order.
    lines = re.findall(r'<th scope="row">(\d+)</th>', body)
    assert lines[:5] == ["244", "245", "246", "242", "243"]
    assert len(lines) == 100  # a page of rows
    second_page = client.get(f"/members/import/{job.id}?page=3").get_data(as_text=True)
    assert re.findall(r'<th scope="row">(\d+)</th>', second_page)[-1] == "241"
    problems = client.get(f"/members/import/{job.id}?show=problems").get_data(as_text=True)
    assert re.findall(r'<th scope="row">(\d+)</th>', problems) == [
        "244", "245", "246", "242", "243",
    ]  # fmt: skip

    # Errors are not skipped unless the person says so: the error goes beside the box.
    refused = post(
        client, f"/members/import/{job.id}/commit", {}, token_from=f"/members/import/{job.id}"
    )
    assert refused.status_code == 200
    error = re.search(r'id="skip_errors-error">(.*?)</p>', refused.get_data(as_text=True), re.S)
    assert error and "3 rows have errors." in error.group(1)
    assert last_job().id == job.id  # nothing queued

    queued = post(
        client,
        f"/members/import/{job.id}/commit",
        {"skip_errors": "y"},
        token_from=f"/members/import/{job.id}",
    )
    assert queued.status_code == 302
    commit_job = last_job()
    assert commit_job.id != job.id
    assert commit_job.params["mode"] == "commit"
    assert commit_job.params["skip_errors"] is True
    assert commit_job.params["include_duplicates"] is False
    assert commit_job.payload == sample_bytes
    assert member_count() == 0  # queued, not run

    jobs.run_pending()
    db.session.refresh(commit_job)
    assert commit_job.result["counts"] == {
        "created": 240,
        "updated": 0,
        "unchanged": 0,
        "skipped": 5,
    }
    assert member_count() == 240
    summary = db.session.scalar(sa.select(AuditEntry).filter_by(action="members.imported"))
    assert (summary.actor_id, summary.object_type, summary.object_id) == (
        convenor.id,
        "Job",
        str(commit_job.id),
    )
    done = client.get(f"/members/import/{commit_job.id}").get_data(as_text=True)
    assert "Imported: 240 members created, 0 updated, 0 unchanged, 5 rows skipped." in done
    # The reports are kept, and listed.
    listing = client.get("/members/import").get_data(as_text=True)
    assert f"/members/import/{job.id}" in listing
    assert f"/members/import/{commit_job.id}" in listing


def test_a_commit_job_refuses_rows_with_errors_unless_told(convenor):
    data = csv_text([row("Good", "KE"), row("Bad", "Atlantis", website="")]).encode()
    job = jobs.enqueue(
        importing.JOB_KIND,
        created_by=convenor,
        params={"filename": "m.csv", "mode": "commit", "skip_errors": False},
        payload=data,
    )
    db.session.commit()
    jobs.run_pending()
    db.session.refresh(job)
    assert job.status == jobs.JobStatus.DONE
    assert job.result["refused"] == {"rows_with_errors": 1}
    assert "counts" not in job.result
    assert member_count() == 0


def test_a_job_on_an_unusable_file_reports_it(convenor):
    job = jobs.enqueue(
        importing.JOB_KIND, created_by=convenor, params={"filename": "x.csv"}, payload=PNG
    )
    db.session.commit()
    jobs.run_pending()
    db.session.refresh(job)
    assert job.result == {"mode": "dry_run", "file_error": {"code": "not_a_table", "params": {}}}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (PNG, "This file is not a CSV or an XLSX spreadsheet."),
        (b"", "The file is empty."),
        (b"pays,site\nKE,x.org\n", "No column holds the members"),
    ],
)
def test_web_upload_of_an_unusable_file_says_why_and_queues_nothing(
    client, login, convenor, data, message
):
    login(convenor)
    response = upload(client, data, filename="members.csv")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert message in body
    assert 'id="file-error"' in body  # beside the field
    assert last_job() is None


def test_web_upload_of_a_workbook_with_several_sheets_asks_which(client, login, convenor):
    login(convenor)
    data = xlsx_bytes({"Notes": [["x"]], "Register": [["name", "country"], ["Lab", "GH"]]})
    response = upload(client, data, filename="members.xlsx")
    body = response.get_data(as_text=True)
    assert "This workbook has several sheets (Notes, Register)." in body
    assert '<option value="Register">Register</option>' in body
    assert last_job() is None

    chosen = upload(client, data, filename="members.xlsx", sheet="Register")
    assert chosen.status_code == 302
    assert last_job().params["sheet"] == "Register"


def test_a_commit_needs_a_finished_check(client, login, convenor):
    login(convenor)
    upload(client, csv_text([row()]).encode())
    job = last_job()
    response = post(
        client,
        f"/members/import/{job.id}/commit",
        {"skip_errors": "y"},
        token_from=f"/members/import/{job.id}",
    )
    assert response.status_code == 302
    assert last_job().id == job.id


@pytest.mark.parametrize("roles", [("steering",), ("member_contact",), ("applicant",)])
def test_import_jobs_are_hidden_from_everyone_but_staff(client, make_user, convenor, roles):
    job = jobs.enqueue(
        importing.JOB_KIND, created_by=convenor, params={"filename": "m.csv"}, payload=b"name\nX\n"
    )
    db.session.commit()
    jobs.run_pending()
    from tests.conftest import sign_in_as

    sign_in_as(client, make_user(*roles, two_factor="steering" in roles))
    assert client.get(f"/members/import/{job.id}").status_code == 404
    assert client.get("/members/import").status_code == 403


def test_a_job_of_another_kind_is_not_an_import(client, login, convenor, monkeypatch):
    monkeypatch.setitem(jobs._HANDLERS, "reports.build", lambda job: {})
    other = jobs.enqueue("reports.build", created_by=convenor)
    db.session.commit()
    login(convenor)
    assert client.get(f"/members/import/{other.id}").status_code == 404


# -- The check page counts once, and shows an import once done (issue 9 #13) -----------------

ALPHA = {"website": "https://alpha.example.org", "contact_email": "a@alpha.example.org"}
DUPLICATES_FILE = csv_text(
    [
        row("Alpha Lab", "KE", **ALPHA),
        # The same member again: repeated in the file.
        row("ALPHA LAB", "Kenya", **ALPHA),
        # Another name, the same web domain: a likely duplicate, left out unless chosen.
        row("Alpha Group", "GH", website="alpha.example.org/x", contact_email="c@g.example.org"),
        # An error, and the same contact email: counted with the errors.
        row("Delta", "Wakanda", website="", contact_email=ALPHA["contact_email"]),
        row("Echo Desk", "SN", website="", contact_email="e@echo.example.org"),
    ]
).encode()


def facts(body: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", body))


def checked(client, login, convenor, data=DUPLICATES_FILE) -> jobs.Job:
    login(convenor)
    upload(client, data)
    jobs.run_pending()
    return last_job()


def import_check(client, job: jobs.Job, **fields):
    path = f"/members/import/{job.id}"
    return post(client, f"{path}/commit", {"skip_errors": "y", **fields}, token_from=path)


def test_issue9_13_the_summary_and_the_import_box_give_one_count_of_duplicates(
    client, login, convenor
):
    job = checked(client, login, convenor)
    body = client.get(f"/members/import/{job.id}").get_data(as_text=True)
    summary = facts(body)
    assert summary["Likely duplicates, left out"] == "1"
    # Every count of the summary that speaks of duplicates gives that one number.
    assert {v for k, v in summary.items() if "duplicate" in k.lower()} == {"1"}
    assert "1 row looks like a member already in the file or the register" in body
    # And each skipped row under one reason: the counts add up to the rows read.
    assert summary["Rows with errors, skipped"] == "1"
    assert summary["Rows repeated in the file, skipped"] == "1"
    assert summary["Rows read"] == "5"
    assert job.result["report"]["totals"] == {
        "rows": 5,
        "create": 2,
        "update": 0,
        "unchanged": 0,
        "skip": 3,
        "errors": 1,
        "repeats": 1,
        "held_duplicates": 1,
    }
    assert "Import 2 members" in body


def test_issue9_13_an_imported_check_shows_the_import_and_offers_it_no_more(
    client, login, convenor
):
    job = checked(client, login, convenor)
    check_page = f"/members/import/{job.id}"
    commit_url = f"/members/import/{job.id}/commit"
    assert import_check(client, job).status_code == 302
    import_job = last_job()
    assert import_job.id != job.id

    # Queued: the check says so, with no button to start another.
    body = client.get(check_page).get_data(as_text=True)
    assert "This check is being imported" in body
    assert f'href="/members/import/{import_job.id}"' in body
    assert commit_url not in body
    assert "Import 2 members" not in body

    jobs.run_pending()
    body = client.get(check_page).get_data(as_text=True)
    assert "This check has been imported" in body
    assert "Imported: 2 members created, 0 updated, 0 unchanged, 3 rows skipped." in body
    assert "nothing has been written to the register" not in body
    assert commit_url not in body
    assert "Import 2 members" not in body

    # A second commit from a page left open queues nothing, and goes to the import.
    again = import_check(client, job)
    assert again.status_code == 302
    assert again.location.endswith(f"/members/import/{import_job.id}")
    assert last_job().id == import_job.id
    assert member_count() == 2


def test_issue9_13_a_check_whose_import_wrote_nothing_can_be_imported_again(
    client, login, convenor
):
    job = checked(client, login, convenor)
    import_check(client, job)
    failed = last_job()
    failed.status = jobs.JobStatus.FAILED
    failed.error = "RuntimeError: the database went away"
    db.session.commit()
    body = client.get(f"/members/import/{job.id}").get_data(as_text=True)
    assert "Import 2 members" in body
    assert import_check(client, job).status_code == 302
    assert last_job().id != failed.id
    db.session.refresh(job)
    assert job.params["import_job"] == last_job().id


@pytest.mark.committing
def test_issue9_13_two_simultaneous_imports_of_one_check_queue_one(app, make_user):
    convenor = make_user("convenor", two_factor=True)
    check = jobs.enqueue(
        importing.JOB_KIND,
        created_by=convenor,
        params={"filename": "m.csv", "mode": "dry_run"},
        payload=DUPLICATES_FILE,
    )
    db.session.commit()
    jobs.run_pending()
    check_id, convenor_id = check.id, convenor.id
    db.session.remove()

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt():
        with app.app_context():
            target = db.session.get(jobs.Job, check_id)
            actor = db.session.get(User, convenor_id)
            db.session.commit()  # end the read before racing, as two requests would
            barrier.wait()
            try:
                importing.start_import(target, actor, skip_errors=True, include_duplicates=False)
                db.session.commit()
                outcomes.append("queued")
            except importing.AlreadyImported:
                db.session.rollback()
                outcomes.append("refused")
            except Exception as exc:  # a lock error would be a failure of the design
                db.session.rollback()
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["queued", "refused"], outcomes
    commits = db.session.scalars(sa.select(jobs.Job).where(jobs.Job.id != check_id)).all()
    assert [j.params["checked_by_job"] for j in commits] == [check_id]


# -- The job runner and the areas -------------------------------------------------------------


def test_issue8_the_job_runner_imports_no_area_and_the_import_registers_at_start_up(app):
    source = Path(jobs.__file__).read_text()
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not [name for name in imported if name and name.startswith("coalition.members")]
    assert jobs._HANDLERS[importing.JOB_KIND] is importing.run_import_job
    with pytest.raises(ValueError, match="already has a handler"):
        jobs.register(importing.JOB_KIND, lambda job: {})


# -- The command line ------------------------------------------------------------------------


def test_cli_dry_run_prints_the_report_and_writes_nothing(runner, sample_bytes):
    result = runner.invoke(args=["members", "import", str(SAMPLE), "--dry-run"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"^\s+244  Skip: errors .*Country: unknown country “Wakanda”\.", out, re.M)
    assert re.search(r"^\s+245  .*“not-an-email” is not an email address", out, re.M)
    assert re.search(r"^\s+246  .*\(no name\)\s+Name is missing\.", out, re.M)
    assert re.search(r"^\s+242  Skip: repeated .*Likely duplicate of line 12", out, re.M)
    assert re.search(r"^\s+243  Skip: likely duplicate .*line 22", out, re.M)
    assert re.search(r"^\s+3  Create\s+Observatório da Informação Brazil 2$", out, re.M)
    assert "245 rows: 240 to create, 0 to update, 0 unchanged, 5 skipped" in out
    assert "Dry run: nothing was written." in out
    assert member_count() == 0


def test_cli_import_refuses_errors_then_imports_then_changes_nothing(
    runner, sample_bytes, convenor
):
    refused = runner.invoke(args=["members", "import", str(SAMPLE)])
    assert refused.exit_code == 1
    assert "Nothing was imported: 3 rows have errors." in refused.output
    assert member_count() == 0

    done = runner.invoke(
        args=["members", "import", str(SAMPLE), "--skip-errors", "--as", convenor.email]
    )
    assert done.exit_code == 0, done.output
    assert "Imported: 240 created, 0 updated, 0 unchanged, 5 skipped." in done.output
    assert member_count() == 240
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "member.imported", AuditEntry.actor_id == convenor.id)
        )
        == 240
    )

    again = runner.invoke(args=["members", "import", str(SAMPLE), "--skip-errors"])
    assert "Imported: 0 created, 0 updated, 240 unchanged, 5 skipped." in again.output


def test_cli_import_of_an_unusable_file(runner, tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(PNG)
    result = runner.invoke(args=["members", "import", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert "This file is not a CSV or an XLSX spreadsheet." in result.output


def test_contacts_of_created_members(sample_bytes):
    importing.commit(read(sample_bytes), None, skip_errors=True)
    contact = db.session.scalar(
        sa.select(MemberContact).filter_by(email="thandiwe.moyo@centreforinfor1.net")
    )
    assert (contact.name, contact.is_primary, contact.member.name) == (
        "Thandiwe Moyo",
        True,
        "Centre for Information Integrity Ethiopia 1",
    )
