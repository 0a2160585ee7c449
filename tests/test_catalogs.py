"""The translators' catalogs (issue 14): complete, nothing fuzzy, every placeholder
kept, no HTML added, the agreed plural rules; and pages with no English left.

The checks are functions of a catalog, tried first on small catalogs built here
(so that each check is shown to fail on what it must catch), then on the four
real ones in ``translations/``.
"""

from __future__ import annotations

import gettext
import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG_LANGUAGES = ("fr", "ar", "es", "pt")
PLURAL_FORMS = {
    "fr": "nplurals=2; plural=(n > 1);",
    "es": "nplurals=2; plural=(n != 1);",
    "pt": "nplurals=2; plural=(n != 1);",
    "ar": (
        "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : "
        "n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);"
    ),
}
# The keywords `make translations` gives pybabel (see the Makefile): Babel's own and _l.
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%[sdif]|\{\w*\}")
TAG = re.compile(r"</?([a-zA-Z][\w-]*)")


def catalog_path(language: str) -> Path:
    return ROOT / "translations" / language / "LC_MESSAGES" / "messages.po"


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=path.parent.parent.name)


@cache
def extracted() -> frozenset[str]:
    """Every msgid in the code and templates, as `make translations` extracts them."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(keyed(message[0] if isinstance(message, tuple) else message, context))
    return frozenset(found)


# -- The checks ----------------------------------------------------------------------------


def entries(catalog: Catalog, *, fuzzy: bool = True):
    """The catalog's messages; without the fuzzy ones (which nobody reads: they are
    not compiled) when ``fuzzy`` is False."""
    return [m for m in catalog if m.id and (fuzzy or not m.fuzzy)]


def msgid(message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def forms(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple | list) else [message.string]


def keyed(identifier: str, context: str | None) -> str:
    """A message as gettext keys it: its context (if any), EOT, then its msgid."""
    return f"{context}\x04{identifier}" if context else identifier


def missing_messages(catalog: Catalog, wanted: frozenset[str]) -> list[str]:
    have = {keyed(msgid(m), m.context) for m in entries(catalog)}
    return sorted(wanted - have)


def unfinished_messages(catalog: Catalog) -> list[str]:
    """Entries fuzzy or empty in any form (a plural entry is read with as many forms
    as its catalog's rule has: one left out reads as empty)."""
    found = []
    for message in entries(catalog):
        strings = forms(message)
        if message.fuzzy:
            found.append(f"fuzzy: {msgid(message)!r}")
        elif not all(s.strip() for s in strings):
            found.append(f"empty: {msgid(message)!r}")
    return found


COUNT = re.compile(r"^%\(num\)")


def single_number_forms(catalog: Catalog) -> set[int]:
    """The plural forms that one number alone takes (Arabic: 0, 1 and 2), where a word
    may say the number ("طلبان", two applications) instead of the count."""
    plural = catalog_plural(catalog)
    taken: dict[int, int] = {}
    for n in range(1000):
        taken[plural(n)] = taken.get(plural(n), 0) + 1
    return {form for form, times in taken.items() if times == 1}


def catalog_plural(catalog: Catalog):
    return gettext.c2py(catalog.plural_expr)


def placeholder_problems(catalog: Catalog) -> list[str]:
    """Placeholders lost or added, in any form. The count of a plural entry
    (``%(num)d``) may be left out only where a word can say it: in a form one
    number alone takes, or in the form of 1 when the English singular leaves it out."""
    found = []
    single = single_number_forms(catalog)
    form_of_one = catalog_plural(catalog)(1)
    for message in entries(catalog, fuzzy=False):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = sorted({p for text in ids for p in PLACEHOLDER.findall(text)})
        in_singular = set(PLACEHOLDER.findall(ids[0]))
        for index, text in enumerate(forms(message)):
            if not text:
                continue
            have = set(PLACEHOLDER.findall(text))
            lost = [p for p in wanted if p not in have]
            if message.pluralizable:
                wordable = index in single or (
                    index == form_of_one
                    and not ({p for p in wanted if COUNT.match(p)} & in_singular)
                )
                if wordable:
                    lost = [p for p in lost if not COUNT.match(p)]
            added = sorted(have - set(wanted))
            if lost or added:
                found.append(f"{msgid(message)!r} [form {index}]: lost {lost}, added {added}")
    return found


def added_html(catalog: Catalog) -> list[str]:
    found = []
    for message in entries(catalog, fuzzy=False):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        allowed = {t.lower() for text in ids for t in TAG.findall(text)}
        for text in forms(message):
            extra = {t.lower() for t in TAG.findall(text or "")} - allowed
            if extra:
                found.append(f"{msgid(message)!r}: adds {sorted(extra)}")
    return found


def plural_header(catalog: Catalog) -> str:
    return dict(catalog.mime_headers).get("Plural-Forms", "")


# -- The checks, on small catalogs built here ---------------------------------------------------


def tiny_catalog(tmp_path: Path, language: str, messages: list[tuple]) -> Catalog:
    """A catalog written with `write_po` and read back, as the real ones are."""
    catalog = Catalog(locale=language)
    catalog.mime_headers = [*catalog.mime_headers, ("Plural-Forms", PLURAL_FORMS[language])]
    for entry in messages:
        identifier, string, *flags = entry
        catalog.add(identifier, string, flags=flags)
    path = tmp_path / language / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as f:
        write_po(f, catalog)
    return read_catalog(path)


def test_the_checks_catch_what_they_must(tmp_path):
    catalog = tiny_catalog(
        tmp_path,
        "ar",
        [
            ("Hello %(name)s,", "مرحبًا %(name)s،"),
            ("Saved.", ""),
            ("Old text", "نص", "fuzzy"),
            ("Read <b>this</b>", "اقرأ <b>هذا</b><script>"),
            ("Hi %(name)s", "مرحبًا"),
            ("{n} rows", "{count} صفوف"),
            (("%(num)d file", "%(num)d files"), ("a", *["%(num)d"] * 5)),
            (("%(num)d day", "%(num)d days"), ("لا أيام", "يوم", "يومان", *["%(num)d"] * 3)),
            (("%(num)d year", "%(num)d years"), ("لا", "سنة", "سنتان", "سنوات", *["%(num)d"] * 2)),
            (("%(num)d week", "%(num)d weeks"), ("%(num)d", "%(num)d")),
        ],
    )  # fmt: skip
    assert plural_header(catalog) == PLURAL_FORMS["ar"]
    assert missing_messages(catalog, frozenset({"Hello %(name)s,", "Not there"})) == ["Not there"]
    assert unfinished_messages(catalog) == [
        "empty: 'Saved.'",
        "fuzzy: 'Old text'",
        "empty: '%(num)d week'",
    ]
    assert placeholder_problems(catalog) == [
        "'Hi %(name)s' [form 0]: lost ['%(name)s'], added []",
        "'{n} rows' [form 0]: lost ['{n}'], added ['{count}']",
        "'%(num)d year' [form 3]: lost ['%(num)d'], added []",
    ]
    assert added_html(catalog) == ["'Read <b>this</b>': adds ['script']"]


def test_a_complete_catalog_passes_the_checks(tmp_path):
    catalog = tiny_catalog(
        tmp_path,
        "fr",
        [
            ("Hello %(name)s,", "Bonjour %(name)s,"),
            ("Read <b>this</b>", "Lisez <b>ceci</b>"),
            (("%(num)d file", "%(num)d files"), ("%(num)d fichier", "%(num)d fichiers")),
            (
                ("You started one:", "You started %(num)d:"),
                ("Vous en avez commencé une :", "%(num)d :"),
            ),
        ],
    )
    assert missing_messages(catalog, frozenset({"Hello %(name)s,"})) == []
    assert unfinished_messages(catalog) == []
    assert placeholder_problems(catalog) == []
    assert added_html(catalog) == []


def test_extraction_finds_the_code_templates_and_emails():
    found = extracted()
    assert "Skip to main content" in found  # templates/base.html
    assert "Page not found" in found  # coalition/core.py, marked with _l
    assert "Welcome to the coalition" in found  # templates/emails/
    assert "Sub-Saharan Africa" in found  # an enum label


# -- The real catalogs -------------------------------------------------------------------


@pytest.mark.parametrize("language", CATALOG_LANGUAGES)
def test_catalog_has_the_agreed_plural_rule(language):
    catalog = read_catalog(catalog_path(language))
    assert plural_header(catalog) == PLURAL_FORMS[language]
    assert catalog.num_plurals == int(PLURAL_FORMS[language].split(";")[0].split("=")[1])


@pytest.mark.parametrize("language", CATALOG_LANGUAGES)
def test_catalog_holds_every_extracted_message(language):
    missing = missing_messages(read_catalog(catalog_path(language)), extracted())
    assert not missing, f"run `make translations` and translate: {missing[:20]}"


@pytest.mark.parametrize("language", CATALOG_LANGUAGES)
def test_catalog_has_no_empty_or_fuzzy_entry(language):
    found = unfinished_messages(read_catalog(catalog_path(language)))
    assert not found, "\n".join(found[:30])


@pytest.mark.parametrize("language", CATALOG_LANGUAGES)
def test_every_placeholder_is_kept_in_every_form(language):
    found = placeholder_problems(read_catalog(catalog_path(language)))
    assert not found, "\n".join(found[:30])


@pytest.mark.parametrize("language", CATALOG_LANGUAGES)
def test_no_translation_adds_html(language):
    found = added_html(read_catalog(catalog_path(language)))
    assert not found, "\n".join(found[:30])
