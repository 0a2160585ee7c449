"""The values of a member list: the words each field takes, in English and French,
and the parsing of dates, consent, email and web addresses.

Every comparison goes through ``compare_key``: folded (no accents, lower case),
punctuation as spaces, so that "Media/journalism", "média / journalisme" and
"media_journalism" meet.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _l

from coalition.countries import fold, lookup_country
from coalition.members.models import FocusArea, MemberKind, OrgType, web_domain

CONSENT_WORDING = "Imported from the convenors' register"

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


def compare_key(text: Any) -> str:
    """A header or value as compared: folded, punctuation as spaces."""
    text = fold(str(text or ""))
    text = re.sub(r"[^\w']+|_", " ", text).replace("'", " ")
    return " ".join(text.split())


def _aliases(table: dict[Any, tuple[str, ...]]) -> dict[str, Any]:
    return {compare_key(alias): value for value, names in table.items() for alias in names}


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
        _aliases_of.setdefault(compare_key(_member.value), _member)
for _focus in FocusArea:
    FOCUS_ALIASES.setdefault(compare_key(_focus.value), _focus)

YES = {
    compare_key(v)
    for v in ("yes", "y", "true", "1", "oui", "o", "vrai", "x", "si", "sí", "sim", "listed", "نعم")
}
NO = {
    compare_key(v)
    for v in ("no", "n", "false", "0", "non", "faux", "não", "nao", "not listed", "private", "لا")
}


@cache
def learn_translated_words() -> None:
    """Add the words this application writes in each of its languages (the labels of
    kinds, types and focus areas, "yes" and "no" of an export in Arabic, Spanish...)
    to the words above, so that any export of the register reads back.

    Once per process, in an application context (the catalogs are Flask-Babel's).
    """
    from flask import current_app
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from coalition.members.models import FOCUS_LABELS, KIND_LABELS, ORG_TYPE_LABELS

    tables = ((KIND_ALIASES, KIND_LABELS), (ORG_TYPE_ALIASES, ORG_TYPE_LABELS))
    for language in current_app.config["LANGUAGES"]:
        with force_locale(language):
            for aliases, labels in (*tables, (FOCUS_ALIASES, FOCUS_LABELS)):
                for member, label in labels.items():
                    aliases.setdefault(compare_key(str(label)), member)
            yes, no = compare_key(_("yes")), compare_key(_("no"))
            if yes not in NO:
                YES.add(yes)
            if no not in YES:
                NO.add(no)


# A cell a spreadsheet export neutralised ('=…) gets its own text back.
NEUTRALISED = re.compile(r"^'(?=[=+\-@\t\r])")
_DATE_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")
_LIST_SPLIT = re.compile(r"[;|\n]+")
LIMITS = {"name": 300, "acronym": 40, "website": 300, "contact_name": 200, "contact_email": 254}
LIMITS["contact_role"] = 120


def countries_of(text: str) -> list[tuple[str, str | None]]:
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


# Focus areas and languages: one cell lists several, by ;, |, line or comma.
LIST_PARTS = re.compile(r"[;|\n,]+")


def list_parts(text: str) -> list[str]:
    return [p.strip() for p in LIST_PARTS.split(text) if p.strip()]


def lost_characters(text: str) -> bool:
    """Whether a value's letters were lost on the way into the file.

    Text saved in an encoding that cannot hold its script (Arabic saved as
    Windows-1252) comes back as question marks, and bytes that no encoding
    could read come back as U+FFFD. A value whose only letters are question
    marks (spaces, digits and punctuation aside) cannot be a name anyone gave.
    """
    if "\ufffd" in text:
        return True
    if text.count("?") < 2:
        return False
    letters = [
        ch
        for ch in text
        if ch == "?" or not (ch.isspace() or ch.isdigit() or unicodedata.category(ch)[0] in "PS")
    ]
    return all(ch == "?" for ch in letters)


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
    key = compare_key(text)
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
