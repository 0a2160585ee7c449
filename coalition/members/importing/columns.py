"""Matching a file's columns to the register's fields.

A column is first known by its name, in English or French ("Pays", "Type de
membre"). Where its values are the words of a field with a fixed list (kind,
organisation type, focus areas), they have the last word:

* two columns that both name one field are told apart by their values; when
  the values cannot tell (or both fit), the first is read, and the dry run says
  the choice was not certain;
* a column whose name says one such field and whose values are another's is
  read as the other;
* a column left over, or with a name nobody uses, is read as the field its
  values belong to when no other column gives that field; when one does, the
  dry run says so. A column whose values are the words of a field is never
  dropped silently.

Every decision taken from the values is a note of the dry run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from coalition.members.importing.values import (
    FOCUS_ALIASES,
    KIND_ALIASES,
    NEUTRALISED,
    ORG_TYPE_ALIASES,
    compare_key,
    learn_translated_words,
    list_parts,
)

# Common names for each column, in English and French (compared through ``compare_key``).
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
_HEADER_INDEX = {compare_key(name): f for f, names in HEADER_NAMES.items() for name in names}
for _field in HEADER_NAMES:
    _HEADER_INDEX.setdefault(compare_key(_field), _field)

# Fields whose values come from a fixed list: a column can be known by its values.
CONTENT_FIELDS = ("kind", "org_type", "focus_areas")
# The share of a column's filled cells that must be words of a field, and how many
# filled cells are looked at.
CONTENT_SHARE = 0.8
CONTENT_SAMPLE = 500


# The exporter's columns (coalition.members.exporter) and the fields they give back:
# an export's headings, in whichever of the five languages, read back.
EXPORT_FIELDS = {
    "kind": "kind",
    "name": "name",
    "acronym": "acronym",
    "type": "org_type",
    "country": "country",
    "country_code": "country",
    "focus_areas": "focus_areas",
    "work_countries": "work_countries",
    "languages": "languages",
    "website": "website",
    "contact_name": "contact_name",
    "contact_email": "contact_email",
    "contact_role": "contact_role",
    "joined": "joined_on",
    "public_listing": "consent_public",
    "notes": "notes",
}
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")


@cache
def learn_export_headers() -> None:
    """Add the exporter's headings in every language, and its machine names, to the
    names above. Once per process, in an application context (see
    ``values.learn_translated_words``)."""
    from flask import current_app
    from flask_babel import force_locale

    from coalition.members.exporter import COLUMNS

    learn_translated_words()
    for column in COLUMNS:
        field_name = EXPORT_FIELDS.get(column.key)
        if field_name is None:
            continue
        _HEADER_INDEX.setdefault(compare_key(column.key), field_name)
        for language in current_app.config["LANGUAGES"]:
            with force_locale(language):
                _HEADER_INDEX.setdefault(compare_key(str(column.label)), field_name)


def _all_country_codes(values: Iterable[str]) -> bool:
    filled = [v.strip() for v in values if v and v.strip()]
    return bool(filled) and all(_COUNTRY_CODE.match(v) for v in filled)


def field_of_header(header: str) -> str | None:
    """The field a column name says, if any. "Name *" or "Country (ISO code)": the
    words outside brackets decide."""
    return _HEADER_INDEX.get(compare_key(header)) or _HEADER_INDEX.get(
        compare_key(re.sub(r"\(.*?\)|\[.*?\]|\*", " ", header))
    )


def _is_word_of(name: str, value: str) -> bool:
    if name == "kind":
        return compare_key(value) in KIND_ALIASES
    if name == "org_type":
        return compare_key(value) in ORG_TYPE_ALIASES
    parts = list_parts(value)
    return bool(parts) and all(compare_key(p) in FOCUS_ALIASES for p in parts)


def field_of_values(values: Iterable[str]) -> str | None:
    """The field of fixed words that a column's values belong to, if one clearly fits."""
    filled: list[str] = []
    for value in values:
        text = NEUTRALISED.sub("", str(value).strip())
        if text:
            filled.append(text)
            if len(filled) >= CONTENT_SAMPLE:
                break
    if not filled:
        return None
    best, best_share = None, 0.0
    for name in CONTENT_FIELDS:
        share = sum(1 for v in filled if _is_word_of(name, v)) / len(filled)
        if share > best_share:
            best, best_share = name, share
    return best if best_share >= CONTENT_SHARE else None


@dataclass
class Columns:
    """Which column gives each field, the columns left out, and what was decided from
    the values (each note JSON-ready: a code, the field, the column names)."""

    fields: dict[str, int]
    ignored: list[str]
    notes: list[dict[str, Any]] = field(default_factory=list)


def match_columns(headers: list[str], rows: list[list[str]]) -> Columns:
    """Match the columns to the fields, by name and then by values (see the module)."""
    learn_export_headers()
    content: dict[int, str | None] = {}

    def by_values(index: int) -> str | None:
        if index not in content:
            content[index] = field_of_values(cells[index] for cells in rows if index < len(cells))
        return content[index]

    named: dict[str, list[int]] = {}
    leftover: dict[int, str | None] = {}  # column -> the field its name says, if any
    for index, header in enumerate(headers):
        if not header.strip():
            continue
        name = field_of_header(header.strip())
        if name is None or (name in CONTENT_FIELDS and by_values(index) not in (None, name)):
            leftover[index] = name  # no name known, or its values say another field
        else:
            named.setdefault(name, []).append(index)

    fields: dict[str, int] = {}
    notes: list[dict[str, Any]] = []
    for name, indexes in named.items():
        if len(indexes) == 1:
            fields[name] = indexes[0]
            continue
        if name == "country":
            # A country's name and its ISO code (as an export has them): the code is exact.
            coded = [i for i in indexes if _all_country_codes(c[i] for c in rows if i < len(c))]
            if len(coded) == 1:
                fields[name] = coded[0]
                leftover.update(dict.fromkeys((i for i in indexes if i != coded[0]), None))
                continue
        fitting = [i for i in indexes if name in CONTENT_FIELDS and by_values(i) == name]
        chosen = fitting[0] if len(fitting) == 1 else indexes[0]
        fields[name] = chosen
        others = [i for i in indexes if i != chosen]
        leftover.update(dict.fromkeys(others, name))
        notes.append(
            {
                "code": "chosen_by_values" if len(fitting) == 1 else "ambiguous",
                "field": name,
                "column": headers[chosen].strip(),
                "others": [headers[i].strip() for i in others],
            }
        )

    ignored: list[str] = []
    for index in sorted(leftover):
        header = headers[index].strip()
        guess = by_values(index)
        if guess is None:
            ignored.append(header)
        elif guess not in fields:
            fields[guess] = index
            note = {"code": "read_by_values", "field": guess, "column": header}
            if leftover[index] not in (None, guess):
                note["named"] = leftover[index]
            notes.append(note)
        else:
            ignored.append(header)
            notes.append(
                {
                    "code": "same_values",
                    "field": guess,
                    "column": header,
                    "used": headers[fields[guess]].strip(),
                }
            )
    return Columns(fields=fields, ignored=ignored, notes=notes)
