"""Import of a member list (CSV or XLSX): read, check (dry run), commit.

One code path serves the web (a background job) and ``flask members import``:

* ``read_table(data, filename, sheet)`` turns the bytes into a ``Table``: it
  recognises CSV or XLSX by content, decodes the text (UTF-8 with or without
  BOM, UTF-16, Windows-1252), sniffs the delimiter, skips blank lines, keeps
  each row's line number in the file, and matches the headers by their common
  English and French names. A file it cannot use raises ``ImportFileError``.
* ``plan(table)`` checks every row against the file and the register with a
  few bulk queries and in-memory indexes (never a query per row), and
  ``analyse(table)`` returns its report: JSON-ready, one entry per row with
  its action (create, update, unchanged or skip), errors and likely
  duplicates, plus totals.
* ``commit(table_or_plan, actor, skip_errors=...)`` writes through the
  registry's operations (so audit rows and derived fields stay right), all or
  nothing: it refuses before writing anything when a row has errors and the
  caller did not choose to skip them. The caller commits.

A row whose folded name and country match a member of the register updates
it, or leaves it unchanged when nothing differs, which makes re-importing the
same file change nothing. A blank cell leaves the register's value alone.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from coalition import audit, jobs
from coalition.countries import country_name, fold, lookup_country
from coalition.extensions import db
from coalition.members.models import (
    FocusArea,
    Member,
    MemberContact,
    MemberCountryRow,
    MemberFocus,
    MemberKind,
    MemberStatus,
    OrgType,
    web_domain,
)
from coalition.text import one_line

JOB_KIND = "members.import"
# The largest file an import accepts (web and command line alike).
MAX_IMPORT_BYTES = 10 * 1024 * 1024
# What an XLSX may unpack to, and how many sheet rows are read: a small
# compressed file must not be able to fill the memory.
MAX_XLSX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_SHEET_ROWS = 200_000
CONSENT_WORDING = "Imported from the convenors' register"
IMPORT_REASON = "Imported from a member list"
PROGRESS_EVERY = 250

Progress = Callable[[int, int], None]


# -- Errors -------------------------------------------------------------------------


class ImportFileError(Exception):
    """A file the import cannot use. ``code`` and ``params`` keep it JSON-able;
    ``message`` says it in the reader's language."""

    def __init__(self, code: str, **params: Any):
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def message(self) -> str:
        return file_error_message(self.code, self.params)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


class SheetChoiceNeeded(ImportFileError):
    """An XLSX with several sheets: the person chooses which one to import."""

    def __init__(self, sheets: list[str]):
        super().__init__("choose_sheet", sheets=sheets)
        self.sheets = sheets


class ImportRefused(Exception):
    """The commit would have to leave out rows with errors, and nobody chose to."""

    def __init__(self, rows_with_errors: int):
        super().__init__(f"{rows_with_errors} rows have errors")
        self.rows_with_errors = rows_with_errors

    @property
    def message(self) -> str:
        return refusal_message(self.rows_with_errors)


def refusal_message(rows_with_errors: int) -> str:
    return _(
        "Nothing was imported: %(n)d rows have errors. Correct them in the file, or choose "
        "to skip the rows with errors.",
        n=rows_with_errors,
    )


def file_error_message(code: str, params: dict[str, Any]) -> str:
    mib = MAX_IMPORT_BYTES // (1024 * 1024)
    messages = {
        "empty": lambda: _("The file is empty."),
        "too_big": lambda: _(
            "The file is larger than %(mib)d MiB. Split it into smaller files and import "
            "them one after the other.",
            mib=mib,
        ),
        "not_a_table": lambda: _(
            "This file is not a CSV or an XLSX spreadsheet. Save your list from the "
            "spreadsheet program as CSV or as an Excel workbook (.xlsx), then try again."
        ),
        "old_excel": lambda: _(
            "This is an old Excel file (.xls) or a workbook protected by a password. Save it "
            "as an Excel workbook (.xlsx) without a password, or as CSV, then try again."
        ),
        "unreadable_xlsx": lambda: _(
            "This XLSX workbook could not be read: it may be damaged. Open it in your "
            "spreadsheet program, save it again, and retry."
        ),
        "too_many_rows": lambda: _(
            "The sheet has more than %(n)d rows. Split it into smaller files.",
            n=MAX_SHEET_ROWS,
        ),
        "choose_sheet": lambda: _(
            "This workbook has several sheets (%(sheets)s). Choose the sheet to import.",
            sheets=", ".join(params.get("sheets", [])),
        ),
        "no_such_sheet": lambda: _(
            "The workbook has no sheet called %(sheet)s. Its sheets are: %(sheets)s.",
            sheet=params.get("sheet", ""),
            sheets=", ".join(params.get("sheets", [])),
        ),
        "no_name_column": lambda: _(
            "No column holds the members' names. Name the column “name” (or “nom”). The "
            "columns found are: %(headers)s.",
            headers=", ".join(params.get("headers", [])) or "—",
        ),
        "no_rows": lambda: _("The file has column names but no rows of members."),
    }
    render = messages.get(code)
    return render() if render else _("The file could not be read.")


# -- Column names --------------------------------------------------------------------

FIELD_LABELS = {
    "kind": _l("Kind"),
    "name": _l("Name"),
    "acronym": _l("Acronym"),
    "org_type": _l("Type"),
    "country": _l("Country"),
    "work_countries": _l("Countries of work"),
    "focus_areas": _l("Focus areas"),
    "languages": _l("Languages"),
    "website": _l("Website"),
    "contact_name": _l("Contact name"),
    "contact_email": _l("Contact email"),
    "contact_role": _l("Contact role"),
    "joined_on": _l("Joined"),
    "consent_public": _l("Public listing"),
    "notes": _l("Notes"),
    "contacts": _l("Contacts"),
}


def _key(text: Any) -> str:
    """A header or value as compared: folded, punctuation as spaces."""
    text = fold(str(text or ""))
    text = re.sub(r"[^\w']+|_", " ", text).replace("'", " ")
    return " ".join(text.split())


# Common names for each column, in English and French (compared through ``_key``).
HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "kind": (
        "kind", "member kind", "kind of member", "category", "member category",
        "organisation or expert", "organization or expert", "type de membre", "catégorie",
        "catégorie de membre", "nature", "genre",
    ),
    "name": (
        "name", "member", "member name", "organisation", "organization", "organisation name",
        "organization name", "org name", "name of organisation", "name of organization",
        "full name", "nom", "nom du membre", "membre", "nom de l'organisation",
        "nom de l'organisme", "organisme", "raison sociale", "nom complet", "dénomination",
        "structure", "nom de la structure",
    ),
    "acronym": (
        "acronym", "abbreviation", "short name", "initials", "sigle", "acronyme",
        "abréviation", "nom court",
    ),
    "org_type": (
        "type", "organisation type", "organization type", "org type", "type of organisation",
        "type of organization", "sector", "type d'organisation", "type d'organisme",
        "type de structure", "secteur",
    ),
    "country": (
        "country", "home country", "country code", "country iso", "iso country", "iso code",
        "country of registration", "based in", "pays", "pays d'origine", "code pays",
        "pays du siège", "pays de résidence", "pays siège",
    ),
    "work_countries": (
        "countries of work", "countries", "work countries", "countries covered",
        "countries of operation", "pays d'intervention", "pays couverts", "pays d'activité",
        "zones d'intervention",
    ),
    "focus_areas": (
        "focus areas", "focus area", "focus", "areas of focus", "areas of work",
        "thematic areas", "themes", "topics", "issues", "domaines", "domaine",
        "domaines d'intervention", "domaines d'action", "thématiques", "thématique", "thèmes",
        "axes de travail", "champs d'action",
    ),
    "languages": (
        "languages", "language", "working languages", "langues", "langue",
        "langues de travail",
    ),
    "website": (
        "website", "web site", "web", "url", "site", "homepage", "home page", "web address",
        "site web", "site internet", "page web", "adresse web", "site internet",
    ),
    "contact_name": (
        "contact name", "contact", "contact person", "primary contact", "main contact",
        "focal point", "nom du contact", "personne de contact", "contact principal",
        "point focal", "nom contact", "interlocuteur", "responsable",
    ),
    "contact_email": (
        "contact email", "email", "e-mail", "mail", "email address", "e-mail address",
        "contact e-mail", "courriel", "adresse courriel", "adresse électronique",
        "adresse e-mail", "adresse mail", "courriel du contact", "e-mail du contact",
        "email du contact", "mél",
    ),
    "contact_role": (
        "contact role", "role", "position", "job title", "fonction", "poste",
        "rôle du contact", "fonction du contact",
    ),
    "joined_on": (
        "joined", "joined on", "date joined", "join date", "joining date", "member since",
        "membership date", "date of joining", "adhésion", "date d'adhésion",
        "date adhésion", "membre depuis", "date d'entrée", "adhéré le",
    ),
    "consent_public": (
        "public listing", "public", "listed", "list publicly", "publicly listed",
        "public directory", "in public directory", "consent", "consent to public listing",
        "public consent", "publish", "liste publique", "annuaire public", "consentement",
        "publication", "visible", "publier", "inscription à l'annuaire",
        "consentement à la publication",
    ),
    "notes": (
        "notes", "note", "internal notes", "comments", "remarks", "remarques",
        "commentaires", "notes internes", "observations",
    ),
}  # fmt: skip
_HEADER_INDEX = {_key(name): f for f, names in HEADER_NAMES.items() for name in names}
for _field in HEADER_NAMES:
    _HEADER_INDEX.setdefault(_key(_field), _field)


def match_headers(headers: list[str]) -> tuple[dict[str, int], list[str]]:
    """(field -> column index, the headers left unused). The first column for a field wins."""
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, header in enumerate(headers):
        text = header.strip()
        if not text:
            continue
        # "Name *" or "Country (ISO code)": the words outside brackets decide.
        name = _HEADER_INDEX.get(_key(text)) or _HEADER_INDEX.get(
            _key(re.sub(r"\(.*?\)|\[.*?\]|\*", " ", text))
        )
        if name is None or name in columns:
            ignored.append(text)
        else:
            columns[name] = index
    return columns, ignored


# -- Values ---------------------------------------------------------------------------


def _aliases(table: dict[Any, tuple[str, ...]]) -> dict[str, Any]:
    return {_key(alias): value for value, names in table.items() for alias in names}


KIND_ALIASES = _aliases(
    {
        MemberKind.ORGANISATION: (
            "organisation", "organization", "org", "organisations", "organizations", "group",
            "organisme", "structure", "association",
        ),
        MemberKind.EXPERT: (
            "expert", "experts", "individual", "individual expert", "person", "individu",
            "personne", "experte", "expert individuel", "experte individuelle",
            "particulier",
        ),
    }
)  # fmt: skip
ORG_TYPE_ALIASES = _aliases(
    {
        OrgType.NGO: (
            "ngo", "ngos", "non-governmental organisation", "non-governmental organization",
            "civil society", "civil society organisation", "civil society organization", "cso",
            "ong", "organisation non gouvernementale", "société civile", "osc",
        ),
        OrgType.RESEARCH: (
            "research", "academic", "research/academic", "academia", "university",
            "think tank", "research institute", "recherche", "universitaire", "académique",
            "recherche/universitaire", "recherche/académique", "université",
            "institut de recherche",
        ),
        OrgType.MEDIA: (
            "media", "journalism", "media/journalism", "news", "press", "médias", "média",
            "journalisme", "presse", "média/journalisme", "médias/journalisme",
        ),
        OrgType.FACT_CHECKING: (
            "fact-checking", "fact checking", "factchecking", "fact-checker", "fact-checkers",
            "fact check", "verification", "vérification des faits", "vérification",
            "vérificateurs", "vérification de faits",
        ),
        OrgType.INVESTIGATIVE: (
            "investigative", "investigation", "investigations", "investigative journalism",
            "enquête", "enquêtes", "journalisme d'investigation", "investigatif",
        ),
        OrgType.TECHNOLOGY: (
            "technology", "tech", "civic tech", "technologie", "technologies",
            "technologique", "tech civique",
        ),
        OrgType.LEGAL: (
            "legal", "law", "lawyers", "legal aid", "juridique", "droit", "avocats",
            "juristes",
        ),
        OrgType.NETWORK: (
            "network", "coalition", "alliance", "réseau", "réseaux", "federation",
            "fédération",
        ),
    }
)  # fmt: skip
FOCUS_ALIASES = _aliases(
    {
        FocusArea.DISINFORMATION: (
            "disinformation", "misinformation", "mis- and disinformation",
            "information integrity", "désinformation", "mésinformation",
            "fausses informations", "infox",
        ),
        FocusArea.HATE_SPEECH: (
            "hate speech", "hate speech and incitement", "incitement", "hate",
            "discours de haine", "discours haineux", "incitation",
            "discours de haine et incitation",
        ),
        FocusArea.ELECTION_INTEGRITY: (
            "election integrity", "elections", "election", "electoral integrity",
            "intégrité électorale", "intégrité des élections", "élections",
        ),
        FocusArea.PLATFORM_ACCOUNTABILITY: (
            "platform accountability", "accountability", "platform governance",
            "content moderation", "redevabilité des plateformes",
            "responsabilité des plateformes", "responsabilisation des plateformes",
        ),
        FocusArea.AD_TECH: (
            "ad tech", "adtech", "advertising", "online advertising", "political advertising",
            "advertising technology", "publicité", "publicité en ligne",
            "technologies publicitaires", "publicité politique",
        ),
        FocusArea.AI_DEEPFAKES: (
            "ai and deepfakes", "ai", "deepfakes", "deepfake", "artificial intelligence",
            "ai/deepfakes", "ia", "intelligence artificielle", "ia et hypertrucages",
            "hypertrucages",
        ),
        FocusArea.ONLINE_GBV: (
            "online gender-based violence", "ogbv", "tfgbv", "gbv", "gender-based violence",
            "technology-facilitated gender-based violence", "online gbv",
            "violences basées sur le genre en ligne", "violence basée sur le genre en ligne",
            "vbg en ligne", "violences sexistes en ligne", "cyberviolence sexiste",
        ),
        FocusArea.DATA_PROTECTION: (
            "data protection", "privacy", "data privacy", "protection des données",
            "données personnelles", "vie privée", "protection des données personnelles",
        ),
        FocusArea.DIGITAL_RIGHTS: (
            "digital rights", "internet freedom", "online freedoms", "droits numériques",
            "libertés numériques",
        ),
    }
)  # fmt: skip
# The stored values too ("fact_checking", "hate_speech"), as an export of the register may hold.
for _aliases_of, _enum in ((KIND_ALIASES, MemberKind), (ORG_TYPE_ALIASES, OrgType)):
    for _member in _enum:
        _aliases_of.setdefault(_key(_member.value), _member)
for _focus in FocusArea:
    FOCUS_ALIASES.setdefault(_key(_focus.value), _focus)

YES = frozenset(
    _key(v)
    for v in ("yes", "y", "true", "1", "oui", "o", "vrai", "x", "si", "sí", "sim", "listed", "نعم")
)
NO = frozenset(
    _key(v)
    for v in ("no", "n", "false", "0", "non", "faux", "não", "nao", "not listed", "private", "لا")
)
# A cell a spreadsheet export neutralised ('=…) gets its own text back.
_NEUTRALISED = re.compile(r"^'(?=[=+\-@\t\r])")
_DATE_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")
_LIST_SPLIT = re.compile(r"[;|\n]+")
LIMITS = {"name": 300, "acronym": 40, "website": 300, "contact_name": 200, "contact_email": 254}
LIMITS["contact_role"] = 120


def _countries(text: str) -> list[tuple[str, str | None]]:
    """Each country of a list (by ;, | or line), with its code or None when unknown.

    A part that is no country is tried split at its commas too, since some names
    hold one ("Congo, The Democratic Republic of the") and some lists use them.
    """
    found: list[tuple[str, str | None]] = []
    for part in (p.strip() for p in _LIST_SPLIT.split(text)):
        if not part:
            continue
        code = lookup_country(part)
        if code is None and "," in part:
            found.extend((p.strip(), lookup_country(p)) for p in part.split(",") if p.strip())
        else:
            found.append((part, code))
    return found


def parse_date(text: str) -> date | None:
    """An ISO date (2024-03-01) or a day-first one (01/03/2024, 1.3.2024); None if neither."""
    match = _DATE_ISO.match(text)
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3]))
        match = _DATE_DMY.match(text)
        if match:
            return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return None
    return None


def parse_consent(text: str) -> bool | None:
    key = _key(text)
    if key in YES:
        return True
    if key in NO:
        return False
    return None


def valid_email(text: str) -> str | None:
    """The address in lower case, or None when it is not one (syntax only: no DNS)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return None
    return text.lower()


def valid_website(text: str) -> bool:
    value = text if "://" in text else "http://" + text
    scheme = value.split("://", 1)[0].lower()
    domain = web_domain(text)
    if scheme not in ("http", "https") or not domain or " " in text:
        return False
    return "." in domain and all(part for part in domain.split("."))


# -- Reading the file ----------------------------------------------------------------


@dataclass
class Table:
    """A member list as read from a file: header, and rows with their line numbers."""

    filename: str
    format: str  # "csv" or "xlsx"
    headers: list[str]
    header_line: int
    columns: dict[str, int]
    ignored: list[str]
    rows: list[tuple[int, int, list[str]]]  # (first line, last line, cells)
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": {",": "comma", ";": "semicolon", "\t": "tab"}.get(self.delimiter or ""),
            "sheet": self.sheet,
            "header_line": self.header_line,
            "columns": {name: self.headers[index] for name, index in self.columns.items()},
            "ignored": self.ignored,
        }


_BINARY_SIGNATURES = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"%PDF",
    b"\x1f\x8b",
    b"BM",
    b"RIFF",
    b"\x7fELF",
    b"MZ",
    b"{\\rtf",
    b"7z\xbc\xaf",
    b"Rar!",
)


def read_table(data: bytes, filename: str = "", sheet: str | None = None) -> Table:
    """Read a CSV or XLSX member list, recognised by its content. Raises ImportFileError."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError("too_big")
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ImportFileError("empty")
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, filename, sheet)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError("old_excel")
    if data.startswith(_BINARY_SIGNATURES):
        raise ImportFileError("not_a_table")
    text, encoding = _decode(data)
    return _read_csv(text, encoding, filename)


def _decode(data: bytes) -> tuple[str, str]:
    boms = (
        (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
        (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
        (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
    )
    text = None
    for bom, codec, name in boms:
        if data.startswith(bom):
            try:
                text, encoding = data.decode(codec), name
            except UnicodeDecodeError:
                raise ImportFileError("not_a_table")
            break
    if text is None:
        sample = data[:4096]
        if b"\x00" in sample:
            # UTF-16 without a byte-order mark: every other byte of Latin text is zero.
            even, odd = sample[0::2].count(0), sample[1::2].count(0)
            half = len(sample) // 2
            codec = "utf-16-le" if odd > half * 0.3 and even < odd / 4 else None
            if codec is None and even > half * 0.3 and odd < even / 4:
                codec = "utf-16-be"
            if codec is None:
                raise ImportFileError("not_a_table")
            try:
                text, encoding = data.decode(codec), "UTF-16"
            except UnicodeDecodeError:
                raise ImportFileError("not_a_table")
        else:
            try:
                text, encoding = data.decode("utf-8"), "UTF-8"
            except UnicodeDecodeError:
                try:
                    text, encoding = data.decode("cp1252"), "Windows-1252"
                except UnicodeDecodeError:
                    text, encoding = data.decode("latin-1"), "ISO-8859-1"
    text = text.lstrip("\ufeff")
    controls = sum(
        1 for ch in text[:65536] if ch not in "\t\r\n" and unicodedata.category(ch) == "Cc"
    )
    if "\x00" in text or controls > max(2, len(text[:65536]) // 200):
        raise ImportFileError("not_a_table")
    if text.lstrip()[:1] in ("<", "{"):
        # HTML, XML or JSON saved under a .csv name.
        raise ImportFileError("not_a_table")
    return text, encoding


def _sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab: the one that splits the header widest, and the rows alike."""
    sample = text[:65536]
    best, best_score = ",", (False, -1, -1)
    for delimiter in (",", ";", "\t"):
        rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if r]
        rows = [r for r in rows if any(c.strip() for c in r)][:25]
        if not rows:
            continue
        width = len(rows[0])
        alike = sum(1 for r in rows[1:-1] if len(r) == width)
        score = (width > 1, alike, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _blank(cells: list[str]) -> bool:
    return not any(str(c).strip() for c in cells)


def _read_csv(text: str, encoding: str, filename: str) -> Table:
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, int, list[str]]] = []
    last = 0
    try:
        for cells in reader:
            first, last = last + 1, reader.line_num
            if _blank(cells):
                continue
            if headers is None:
                headers, header_line = [c.strip() for c in cells], first
                continue
            rows.append((first, last, cells))
    except csv.Error:
        raise ImportFileError("not_a_table")
    return _table(
        headers, header_line, rows, filename, "csv", encoding=encoding, delimiter=delimiter
    )


def _table(headers, header_line, rows, filename, fmt, **details) -> Table:
    if headers is None:
        raise ImportFileError("empty")
    columns, ignored = match_headers(headers)
    if "name" not in columns:
        raise ImportFileError("no_name_column", headers=[h for h in headers if h][:30])
    if not rows:
        raise ImportFileError("no_rows")
    return Table(
        filename=filename,
        format=fmt,
        headers=headers,
        header_line=header_line,
        columns=columns,
        ignored=ignored,
        rows=rows,
        **details,
    )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx(data: bytes, filename: str, sheet: str | None) -> Table:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ImportFileError("not_a_table")
    if "xl/workbook.xml" not in names:
        # A Word document, an OpenDocument spreadsheet, a plain zip...
        raise ImportFileError("not_a_table")
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ImportFileError("too_big")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise ImportFileError("unreadable_xlsx")
    try:
        sheets = list(workbook.sheetnames)
        if sheet:
            if sheet not in sheets:
                raise ImportFileError("no_such_sheet", sheet=sheet, sheets=sheets)
            name = sheet
        elif len(sheets) == 1:
            name = sheets[0]
        else:
            raise SheetChoiceNeeded(sheets)
        worksheet = workbook[name]
        worksheet.reset_dimensions()  # never trust a declared size: read what is there
        headers: list[str] | None = None
        header_line = 0
        rows: list[tuple[int, int, list[str]]] = []
        try:
            for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
                if number > MAX_SHEET_ROWS:
                    raise ImportFileError("too_many_rows")
                cells = [_cell_text(v) for v in values]
                if _blank(cells):
                    continue
                if headers is None:
                    headers, header_line = [c.strip() for c in cells], number
                    continue
                rows.append((number, number, cells))
        except ImportFileError:
            raise
        except Exception:
            raise ImportFileError("unreadable_xlsx")
    finally:
        workbook.close()
    return _table(headers, header_line, rows, filename, "xlsx", sheet=name)


# -- Checking the rows ------------------------------------------------------------------


@dataclass
class Row:
    """One row of the file, parsed: the values it gives (blank cells give none)."""

    line: int
    name: str = ""
    country_text: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    focus_areas: list[FocusArea] | None = None
    work_countries: list[str] | None = None
    languages: list[str] | None = None
    contact: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    action: str = "create"
    skip: str | None = None  # why a row is skipped: errors, repeat, duplicate
    member_id: int | None = None
    member_name: str | None = None
    changes: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str] | None:
        country = self.values.get("country")
        return (fold(self.name), country) if self.name and country else None

    @property
    def domain(self) -> str | None:
        return web_domain(self.values.get("website"))

    @property
    def email(self) -> str | None:
        return (self.contact or {}).get("email")

    def error(self, field_name: str, code: str, value: str | None = None, **extra) -> None:
        entry = {"field": field_name, "code": code}
        if value is not None:
            entry["value"] = value[:200]
        entry.update(extra)
        self.errors.append(entry)

    def as_report(self) -> dict[str, Any]:
        return {
            "row": self.line,
            "action": self.action,
            "skip": self.skip,
            "name": self.name,
            "country": self.values.get("country") or self.country_text,
            "member": {"id": self.member_id, "name": self.member_name} if self.member_id else None,
            "changes": self.changes,
            "errors": self.errors,
            "duplicates": self.duplicates,
        }


def _text(cells: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(cells):
        return ""
    value = str(cells[index]).replace("\r\n", "\n").strip()
    return _NEUTRALISED.sub("", value)


def parse_row(first: int, last: int, cells: list[str], table: Table) -> Row:
    """Read one row's cells into values, noting every error (never stopping at the first)."""
    columns = table.columns
    get = lambda name: _text(cells, columns, name)  # noqa: E731
    row = Row(line=first)
    extra = cells[len(table.headers) :]
    if table.format == "csv" and any(str(c).strip() for c in extra):
        # In a CSV, more cells than column names means a separator inside a value.
        row.error("", "extra_cells", count=len(cells), expected=len(table.headers))
    if last > first and table.delimiter:
        # A quote left open swallows the lines after it: they look like whole rows.
        for text in cells:
            lines = str(text).split("\n")[1:]
            if any(line.count(table.delimiter) >= len(table.headers) - 1 for line in lines):
                row.error("", "open_quote", last=last)
                break

    # A name is one line (coalition.text): a spreadsheet cell's line breaks become spaces.
    row.name = one_line(get("name"))
    if not row.name:
        row.error("name", "missing")
    elif len(row.name) > LIMITS["name"]:
        row.error("name", "too_long", row.name, limit=LIMITS["name"])
    else:
        row.values["name"] = row.name

    kind_text = get("kind")
    if kind_text:
        kind = KIND_ALIASES.get(_key(kind_text))
        if kind is None:
            row.error("kind", "unknown_kind", kind_text)
        else:
            row.values["kind"] = kind

    for name in ("acronym", "website", "notes"):
        value = one_line(get(name)) if name == "acronym" else get(name)
        if not value:
            continue
        if name in LIMITS and len(value) > LIMITS[name]:
            row.error(name, "too_long", value, limit=LIMITS[name])
        elif name == "website" and not valid_website(value):
            row.error(name, "bad_website", value)
        else:
            row.values[name] = value

    type_text = get("org_type")
    if type_text:
        org_type = ORG_TYPE_ALIASES.get(_key(type_text))
        if org_type is None:
            row.error("org_type", "unknown_type", type_text)
        else:
            row.values["org_type"] = org_type

    row.country_text = get("country")
    if not row.country_text:
        row.error("country", "missing")
    else:
        code = lookup_country(row.country_text)
        if code is None:
            row.error("country", "unknown_country", row.country_text)
        else:
            row.values["country"] = code

    work_text = get("work_countries")
    if work_text:
        codes = []
        for part, code in _countries(work_text):
            if code is None:
                row.error("work_countries", "unknown_country", part)
            elif code not in codes:
                codes.append(code)
        row.work_countries = codes or None

    focus_text = get("focus_areas")
    if focus_text:
        areas: list[FocusArea] = []
        for part in (p.strip() for p in re.split(r"[;|\n,]+", focus_text)):
            if not part:
                continue
            area = FOCUS_ALIASES.get(_key(part))
            if area is None:
                row.error("focus_areas", "unknown_focus", part)
            elif area not in areas:
                areas.append(area)
        row.focus_areas = areas or None

    languages_text = get("languages")
    if languages_text:
        languages = []
        for part in (p.strip() for p in re.split(r"[;|\n,]+", languages_text)):
            if part and part not in languages:
                languages.append(part[:40])
        row.languages = languages or None

    contact_name, contact_email, contact_role = (
        one_line(get("contact_name")),
        get("contact_email"),
        one_line(get("contact_role")),
    )
    email = None
    if contact_email:
        email = valid_email(contact_email) if len(contact_email) <= 254 else None
        if email is None:
            row.error("contact_email", "bad_email", contact_email)
    for name, value in (("contact_name", contact_name), ("contact_role", contact_role)):
        if len(value) > LIMITS[name]:
            row.error(name, "too_long", value, limit=LIMITS[name])
    if email or contact_name:
        row.contact = {
            "name": contact_name[: LIMITS["contact_name"]]
            or (row.name if row.values.get("kind") == MemberKind.EXPERT else "")
            or email,
            "email": email,
            "role": contact_role[: LIMITS["contact_role"]] or None,
            # Only a name the file gives may replace the register's.
            "named": bool(contact_name),
        }

    joined_text = get("joined_on")
    if joined_text:
        joined = parse_date(joined_text)
        if joined is None:
            row.error("joined_on", "bad_date", joined_text)
        else:
            row.values["joined_on"] = joined

    consent_text = get("consent_public")
    if consent_text:
        consent = parse_consent(consent_text)
        if consent is None:
            row.error("consent_public", "bad_consent", consent_text)
        else:
            row.values["consent_public"] = consent
    return row


# -- The register, as the import compares with it -----------------------------------


@dataclass
class Current:
    """What the register holds on one member, as far as an import can change it."""

    id: int
    name: str
    country: str
    kind: MemberKind
    org_type: OrgType | None
    acronym: str | None
    website: str | None
    joined_on: date | None
    consent_public: bool
    notes: str | None
    languages: list[str]
    focus: set[FocusArea] = field(default_factory=set)
    work: set[str] = field(default_factory=set)
    contacts: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, member: Member) -> Current:
        current = cls.of_fields(member)
        current.focus = set(member.focus_areas)
        current.work = set(member.work_countries)
        current.contacts = [_contact_dict(c) for c in member.contacts]
        return current

    @classmethod
    def of_fields(cls, source) -> Current:
        """The plain fields of a Member, or of a row of its columns (lists left empty)."""
        return cls(
            id=source.id,
            name=source.name,
            country=source.country,
            kind=MemberKind(source.kind),
            org_type=OrgType(source.org_type) if source.org_type else None,
            acronym=source.acronym,
            website=source.website,
            joined_on=source.joined_on,
            consent_public=bool(source.consent_public),
            notes=source.notes,
            languages=list(source.languages or []),
        )


def _contact_dict(contact) -> dict[str, Any]:
    """A contact (a MemberContact or a row of its columns) as ``_replace_contacts`` takes it."""
    return {
        "id": contact.id,
        "name": contact.name,
        "email": contact.email,
        "role": contact.role,
        "is_primary": contact.is_primary,
    }


@dataclass
class Register:
    """The register in memory: a few bulk queries, then dictionary look-ups."""

    members: dict[int, Current]
    by_key: dict[tuple[str, str], list[int]]
    by_domain: dict[str, list[int]]
    by_email: dict[str, list[int]]

    @classmethod
    def load(cls) -> Register:
        m = Member
        rows = db.session.execute(
            sa.select(
                m.id, m.name, m.name_key, m.country, m.kind, m.org_type, m.acronym, m.website,
                m.web_domain, m.joined_on, m.consent_public, m.notes, m.languages,
            )
            .where(m.erased_at.is_(None))
            .order_by(m.id)
        ).all()  # fmt: skip
        members: dict[int, Current] = {}
        by_key: dict[tuple[str, str], list[int]] = {}
        by_domain: dict[str, list[int]] = {}
        by_email: dict[str, list[int]] = {}
        for r in rows:
            members[r.id] = Current.of_fields(r)
            by_key.setdefault((r.name_key, r.country), []).append(r.id)
            if r.web_domain:
                by_domain.setdefault(r.web_domain, []).append(r.id)
        for member_id, area in db.session.execute(
            sa.select(MemberFocus.member_id, MemberFocus.focus_area)
        ):
            if member_id in members:
                members[member_id].focus.add(FocusArea(area))
        for member_id, country in db.session.execute(
            sa.select(MemberCountryRow.member_id, MemberCountryRow.country)
        ):
            if member_id in members:
                members[member_id].work.add(country)
        c = MemberContact
        contacts = db.session.execute(
            sa.select(c.member_id, c.id, c.name, c.email, c.role, c.is_primary).order_by(
                c.member_id, c.is_primary.desc(), c.id
            )
        )
        for contact in contacts:
            current = members.get(contact.member_id)
            if current is None:
                continue
            current.contacts.append(_contact_dict(contact))
            if contact.email:
                ids = by_email.setdefault(contact.email.lower(), [])
                if contact.member_id not in ids:
                    ids.append(contact.member_id)
        return cls(members, by_key, by_domain, by_email)


@dataclass
class Change:
    """What writing a row would do to a member of the register."""

    values: dict[str, Any]
    focus_areas: list[FocusArea] | None
    work_countries: list[str] | None
    contacts: list[dict[str, Any]] | None
    fields: list[str]


def changes_for(row: Row, current: Current) -> Change:
    """The fields a row would change on an existing member. A blank cell changes nothing."""
    values: dict[str, Any] = {}
    fields: list[str] = []

    def differ(name: str, new: Any, old: Any) -> None:
        if new is not None and new != old:
            values[name] = new
            fields.append(name)

    given = row.values
    differ("name", given.get("name"), current.name)
    differ("kind", given.get("kind"), current.kind)
    kind = given.get("kind") or current.kind
    if kind == MemberKind.EXPERT:
        if current.org_type is not None:
            values["org_type"] = None
            fields.append("org_type")
    else:
        differ("org_type", given.get("org_type"), current.org_type)
    for name in ("acronym", "website", "notes", "joined_on"):
        differ(name, given.get(name), getattr(current, name))
    consent = given.get("consent_public")
    if consent is not None and consent != current.consent_public:
        values["consent_public"] = consent
        if consent:
            values["consent_wording"] = CONSENT_WORDING
        fields.append("consent_public")
    if row.languages and set(row.languages) != set(current.languages):
        values["languages"] = row.languages
        fields.append("languages")
    focus = None
    if row.focus_areas and set(row.focus_areas) != current.focus:
        focus = row.focus_areas
        fields.append("focus_areas")
    work = None
    if row.work_countries and set(row.work_countries) != current.work:
        work = row.work_countries
        fields.append("work_countries")
    contacts = None
    if row.contact:
        wanted = row.contact
        found = _find_contact(current.contacts, wanted)
        if found is None:
            contacts = [dict(c) for c in current.contacts]
            contacts.append({**wanted, "is_primary": not contacts})
        else:
            edits = {}
            if wanted["named"] and wanted["name"] != found["name"]:
                edits["name"] = wanted["name"]
            if wanted["role"] and wanted["role"] != found["role"]:
                edits["role"] = wanted["role"]
            if edits:
                contacts = [
                    {**c, **edits} if c["id"] == found["id"] else dict(c) for c in current.contacts
                ]
        if contacts is not None:
            fields.append("contacts")
    return Change(values, focus, work, contacts, fields)


def _find_contact(contacts: list[dict[str, Any]], wanted: dict[str, Any]) -> dict | None:
    """The member's contact a row names: by email, or by name when it gives no email."""
    for contact in contacts:
        if wanted.get("email"):
            if (contact.get("email") or "").lower() == wanted["email"]:
                return contact
        elif fold(contact.get("name")) == fold(wanted.get("name")):
            return contact
    return None


# -- The plan and its report -------------------------------------------------------------


@dataclass
class Plan:
    """The checked rows of a table, and what an import of them would do."""

    table: Table
    rows: list[Row]
    include_duplicates: bool

    @property
    def rows_with_errors(self) -> int:
        return sum(1 for r in self.rows if r.errors)

    @property
    def report(self) -> dict[str, Any]:
        rows = [r.as_report() for r in self.rows]
        count = lambda pred: sum(1 for r in self.rows if pred(r))  # noqa: E731
        return {
            "file": self.table.describe(),
            "include_duplicates": self.include_duplicates,
            "totals": {
                "rows": len(self.rows),
                "create": count(lambda r: r.action == "create"),
                "update": count(lambda r: r.action == "update"),
                "unchanged": count(lambda r: r.action == "unchanged"),
                "skip": count(lambda r: r.action == "skip"),
                "errors": count(lambda r: r.errors),
                "duplicates": count(lambda r: r.duplicates),
                "held_duplicates": count(lambda r: r.skip == "duplicate"),
                "repeats": count(lambda r: r.skip == "repeat"),
            },
            "rows": rows,
        }


def plan(
    table: Table, *, include_duplicates: bool = False, progress: Progress | None = None
) -> Plan:
    """Check every row, find likely duplicates and decide each row's action. Writes nothing.

    The register is read with a few bulk queries before the rows are checked,
    so the time grows with the rows, and the number of queries does not.
    """
    total = len(table.rows)
    if progress:
        progress(0, total)
    register = Register.load()
    seen_key: dict[tuple[str, str], int] = {}
    seen_domain: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    rows: list[Row] = []
    for done, (first, last, cells) in enumerate(table.rows, start=1):
        row = parse_row(first, last, cells, table)
        _resolve(row, register, seen_key, seen_domain, seen_email, include_duplicates)
        rows.append(row)
        if progress and done % PROGRESS_EVERY == 0 and done < total:
            progress(done, total)
    if progress:
        progress(total, total)
    return Plan(table=table, rows=rows, include_duplicates=include_duplicates)


def analyse(
    table: Table, progress: Progress | None = None, *, include_duplicates: bool = False
) -> dict[str, Any]:
    """The dry run: the report of what importing the table would do (JSON-ready)."""
    return plan(table, include_duplicates=include_duplicates, progress=progress).report


def _resolve(row, register, seen_key, seen_domain, seen_email, include_duplicates) -> None:
    key, domain, email = row.key, row.domain, row.email
    # Likely duplicates within the file: an earlier row with the same name and
    # country, web domain or contact email.
    repeat_of = seen_key.get(key) if key else None
    if repeat_of is not None:
        row.duplicates.append({"kind": "in file", "of": repeat_of, "by": "name and country"})
    if domain and domain in seen_domain:
        row.duplicates.append({"kind": "in file", "of": seen_domain[domain], "by": "web domain"})
    if email and email in seen_email:
        row.duplicates.append({"kind": "in file", "of": seen_email[email], "by": "contact email"})
    if key:
        seen_key.setdefault(key, row.line)
    if domain:
        seen_domain.setdefault(domain, row.line)
    if email:
        seen_email.setdefault(email, row.line)

    # The same member in the register (an update), and others that look alike.
    matched = register.by_key.get(key, []) if key else []
    target = register.members[matched[0]] if matched else None
    for other in matched[1:]:
        _register_duplicate(row, register, other, "name and country")
    for member_id in register.by_domain.get(domain, []) if domain else []:
        if target is None or member_id != target.id:
            _register_duplicate(row, register, member_id, "web domain")
    for member_id in register.by_email.get(email, []) if email else []:
        if target is None or member_id != target.id:
            _register_duplicate(row, register, member_id, "contact email")
    if target is not None:
        row.member_id, row.member_name = target.id, target.name

    if row.errors:
        row.action, row.skip = "skip", "errors"
    elif repeat_of is not None:
        # The same member twice in one file: the first row stands for it.
        row.action, row.skip = "skip", "repeat"
    elif target is not None:
        row.changes = changes_for(row, target).fields
        row.action = "update" if row.changes else "unchanged"
    elif row.duplicates and not include_duplicates:
        row.action, row.skip = "skip", "duplicate"
    else:
        row.action = "create"


def _register_duplicate(row: Row, register: Register, member_id: int, by: str) -> None:
    row.duplicates.append(
        {"kind": "register", "of": member_id, "name": register.members[member_id].name, "by": by}
    )


# -- The commit ----------------------------------------------------------------------------


def commit(
    source: Table | Plan,
    actor=None,
    skip_errors: bool = False,
    *,
    include_duplicates: bool = False,
    progress: Progress | None = None,
    job_id: int | None = None,
) -> dict[str, int]:
    """Write the rows to the register, all or nothing; the caller commits.

    Refuses (``ImportRefused``) before writing anything when a row has errors
    and ``skip_errors`` is not set. Rows that only look like duplicates are
    written only with ``include_duplicates``. Rows that match a member and
    differ update it; rows that match and do not differ change nothing, so
    importing the same file twice writes nothing the second time. Every
    created or updated member gets its audit row, with ``actor`` as its author.
    """
    if isinstance(source, Plan):
        checked = source
        if checked.include_duplicates != include_duplicates:
            checked = plan(source.table, include_duplicates=include_duplicates)
    else:
        checked = plan(source, include_duplicates=include_duplicates, progress=progress)
    if checked.rows_with_errors and not skip_errors:
        raise ImportRefused(checked.rows_with_errors)

    from coalition.members import operations as ops

    counts = {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    updates = [r for r in checked.rows if r.action == "update"]
    members = _load_members([r.member_id for r in updates])
    for row in checked.rows:
        if row.action == "create":
            values = dict(row.values)
            values.setdefault("kind", MemberKind.ORGANISATION)
            if values["kind"] == MemberKind.EXPERT:
                values.pop("org_type", None)
            if values.get("consent_public"):
                values["consent_wording"] = CONSENT_WORDING
            if row.languages:
                values["languages"] = row.languages
            ops.create_member(
                actor=actor,
                values=values,
                focus_areas=row.focus_areas or (),
                work_countries=row.work_countries or (),
                contacts=[{**row.contact, "is_primary": True}] if row.contact else (),
                status=MemberStatus.ACTIVE,
                reason=IMPORT_REASON,
                action="member.imported",
            )
            counts["created"] += 1
        elif row.action == "update":
            member = members[row.member_id]
            # Compared again with the member as it is now, not as the check saw it.
            change = changes_for(row, Current.of(member))
            if change.fields:
                ops.update_member(
                    member,
                    actor=actor,
                    version=None,
                    values=change.values,
                    focus_areas=change.focus_areas,
                    work_countries=change.work_countries,
                    contacts=change.contacts,
                )
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        elif row.action == "unchanged":
            counts["unchanged"] += 1
        else:
            counts["skipped"] += 1
    db.session.flush()
    audit.record(
        "members.imported",
        actor=actor,
        object_type="Job" if job_id else None,
        object_id=job_id,
        details={"file": checked.table.filename, **counts},
    )
    return counts


def _load_members(ids: list[int | None]) -> dict[int, Member]:
    wanted = sorted({i for i in ids if i is not None})
    found: dict[int, Member] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        query = (
            sa.select(Member)
            .where(Member.id.in_(chunk))
            .options(
                selectinload(Member.contacts),
                selectinload(Member.focus_rows),
                selectinload(Member.country_rows),
            )
        )
        for member in db.session.scalars(query):
            found[member.id] = member
    return found


# -- Messages for people -------------------------------------------------------------------


def row_error_message(error: dict[str, Any]) -> str:
    """One row error, in the reader's language."""
    code, value = error.get("code"), error.get("value", "")
    label = str(FIELD_LABELS.get(error.get("field") or "", ""))
    if code == "missing":
        return _("%(field)s is missing.", field=label)
    if code == "too_long":
        return _(
            "%(field)s is longer than %(limit)d characters.", field=label, limit=error["limit"]
        )
    if code == "unknown_country":
        return _("%(field)s: unknown country “%(value)s”.", field=label, value=value)
    if code == "unknown_kind":
        return _("Kind: “%(value)s” is neither an organisation nor an expert.", value=value)
    if code == "unknown_type":
        return _(
            "Type: unknown organisation type “%(value)s” (use NGO, Research/academic, "
            "Media/journalism, Fact-checking, Investigative, Technology, Legal or Network).",
            value=value,
        )
    if code == "unknown_focus":
        return _("Focus areas: unknown focus area “%(value)s”.", value=value)
    if code == "bad_email":
        return _("Contact email: “%(value)s” is not an email address.", value=value)
    if code == "bad_website":
        return _("Website: “%(value)s” is not a web address.", value=value)
    if code == "bad_date":
        return _("Joined: “%(value)s” is not a date (write 2024-03-31 or 31/03/2024).", value=value)
    if code == "bad_consent":
        return _("Public listing: write yes or no, not “%(value)s”.", value=value)
    if code == "extra_cells":
        return _(
            "The row has %(count)d cells where the header has %(expected)d: a value may hold "
            "an unquoted separator.",
            count=error["count"],
            expected=error["expected"],
        )
    if code == "open_quote":
        return _(
            "A quotation mark is not closed: this row takes in the lines after it, up to "
            "line %(last)d.",
            last=error["last"],
        )
    return _("This row cannot be read.")


def duplicate_message(duplicate: dict[str, Any]) -> str:
    """One likely duplicate, in the reader's language."""
    by = {
        "name and country": _("the same name and country"),
        "web domain": _("the same web domain"),
        "contact email": _("the same contact email"),
    }.get(duplicate.get("by"), duplicate.get("by", ""))
    if duplicate.get("kind") == "in file":
        return _("Likely duplicate of line %(line)d: %(by)s.", line=duplicate["of"], by=by)
    return _(
        "Likely duplicate of %(name)s (member %(id)d) in the register: %(by)s.",
        name=duplicate.get("name", ""),
        id=duplicate["of"],
        by=by,
    )


def action_label(row: dict[str, Any]) -> str:
    action, skip = row.get("action"), row.get("skip")
    if action == "create":
        return _("Create")
    if action == "update":
        return _("Update")
    if action == "unchanged":
        return _("Unchanged")
    if skip == "repeat":
        return _("Skip: repeated in the file")
    if skip == "duplicate":
        return _("Skip: likely duplicate")
    return _("Skip: errors")


def change_labels(row: dict[str, Any]) -> list[str]:
    return [str(FIELD_LABELS.get(name, name)) for name in row.get("changes") or []]


def country_label(row: dict[str, Any]) -> str:
    value = row.get("country") or ""
    return country_name(value) if len(value) == 2 and value.isupper() else value


# -- The background job ----------------------------------------------------------------------


@jobs.handler(JOB_KIND)
def run_import_job(job: jobs.Job) -> dict[str, Any]:
    """A dry run or a commit of an uploaded file, with progress. A commit writes
    everything in the job's final transaction, or nothing."""
    params = dict(job.params or {})
    mode = params.get("mode", "dry_run")
    result: dict[str, Any] = {"mode": mode}
    try:
        table = read_table(job.payload or b"", params.get("filename") or "", params.get("sheet"))
    except ImportFileError as exc:
        result["file_error"] = exc.as_dict()
        return result
    include = bool(params.get("include_duplicates"))
    checked = plan(table, include_duplicates=include, progress=job.report_progress)
    result["report"] = checked.report
    if mode == "commit":
        try:
            result["counts"] = commit(
                checked,
                job.created_by,
                skip_errors=bool(params.get("skip_errors")),
                include_duplicates=include,
                job_id=job.id,
            )
        except ImportRefused as exc:
            result["refused"] = {"rows_with_errors": exc.rows_with_errors}
    return result
