"""Countries (ISO 3166-1 via pycountry), the coalition's regions, and the
one mapping from a country to its region.

Country names in spreadsheets come in many spellings; ``lookup_country``
accepts ISO codes, English names, the common variants, and the French names
(pycountry's own translations), since member lists come in French too.
"""

from __future__ import annotations

import enum
import gettext
import unicodedata
from functools import cache

import pycountry
from babel import Locale, UnknownLocaleError
from flask_babel import lazy_gettext as _l

from coalition.i18n import cached_label, current_language


class Region(enum.StrEnum):
    SUB_SAHARAN_AFRICA = "sub_saharan_africa"
    MENA = "mena"
    LATIN_AMERICA = "latin_america"
    EUROPE = "europe"
    NORTH_AMERICA = "north_america"
    ASIA_PACIFIC = "asia_pacific"

    @property
    def label(self) -> str:
        return cached_label(self, REGION_LABELS[self])


REGION_LABELS = {
    Region.SUB_SAHARAN_AFRICA: _l("Sub-Saharan Africa"),
    Region.MENA: _l("Middle East & North Africa"),
    Region.LATIN_AMERICA: _l("Latin America & Caribbean"),
    Region.EUROPE: _l("Europe"),
    Region.NORTH_AMERICA: _l("North America"),
    Region.ASIA_PACIFIC: _l("Asia & Pacific"),
}

# The one mapping. Broadly the World Bank's regions, with South and Central
# Asia in Asia & Pacific and the Caucasus and Türkiye in Europe. A country
# listed nowhere (Antarctica, remote territories) falls in Asia & Pacific.
_REGION_CODES = {
    Region.SUB_SAHARAN_AFRICA: (
        "AO BF BI BJ BW CD CF CG CI CM CV ER ET GA GH GM GN GQ GW KE KM LR LS MG ML MR "
        "MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TZ UG YT ZA ZM ZW"
    ),
    Region.MENA: "AE BH DJ DZ EG EH IL IQ IR JO KW LB LY MA OM PS QA SA SY TN YE",
    Region.LATIN_AMERICA: (
        "AG AI AR AW BB BL BO BQ BR BS BZ CL CO CR CU CW DM DO EC FK GD GF GP GS GT GY HN "
        "HT JM KN KY LC MF MQ MS MX NI PA PE PR PY SR SV SX TC TT UY VC VE VG VI"
    ),
    Region.NORTH_AMERICA: "BM CA GL PM US",
    Region.EUROPE: (
        "AD AL AM AT AX AZ BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GE GG GI GR HR HU "
        "IE IM IS IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM TR "
        "UA VA XK"
    ),
}
_COUNTRY_REGION = {
    code: region for region, codes in _REGION_CODES.items() for code in codes.split()
}


def region_of(country_code: str | None) -> Region | None:
    if not country_code:
        return None
    return _COUNTRY_REGION.get(country_code.upper(), Region.ASIA_PACIFIC)


def fold(text: str | None) -> str:
    """Lower case, no accents, plain apostrophes: "Côte d\u2019Ivoire" -> "cote d'ivoire"."""
    if not text:
        return ""
    for apostrophe in ("\u2019", "\u2018", "\u0060", "\u00b4", "\u02bc"):
        text = text.replace(apostrophe, "'")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().split())


# Names people write that pycountry does not know, folded.
_VARIANTS = {
    "ivory coast": "CI",
    "cote d'ivoire": "CI",
    "drc": "CD",
    "dr congo": "CD",
    "d.r. congo": "CD",
    "congo-kinshasa": "CD",
    "democratic republic of congo": "CD",
    "democratic republic of the congo": "CD",
    "congo, democratic republic": "CD",
    "congo-brazzaville": "CG",
    "republic of congo": "CG",
    "republic of the congo": "CG",
    "congo": "CG",
    "tanzania": "TZ",
    "swaziland": "SZ",
    "eswatini": "SZ",
    "cape verde": "CV",
    "the gambia": "GM",
    "gambia": "GM",
    "uk": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
    "england": "GB",
    "usa": "US",
    "us": "US",
    "united states": "US",
    "united states of america": "US",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "iran": "IR",
    "syria": "SY",
    "palestine": "PS",
    "state of palestine": "PS",
    "bolivia": "BO",
    "venezuela": "VE",
    "vietnam": "VN",
    "viet nam": "VN",
    "laos": "LA",
    "moldova": "MD",
    "turkey": "TR",
    "turkiye": "TR",
    "czech republic": "CZ",
    "macedonia": "MK",
    "burma": "MM",
    "kosovo": "XK",
    "taiwan": "TW",
    "sao tome and principe": "ST",
    "guinea bissau": "GW",
    "east timor": "TL",
}


@cache
def _name_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                index.setdefault(fold(value), country.alpha_2)
    index.update(_VARIANTS)
    # French names after the English ones: an English name keeps its country.
    french = gettext.translation(
        "iso3166-1", pycountry.LOCALES_DIR, languages=["fr"], fallback=True
    ).gettext
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                index.setdefault(fold(french(value)), country.alpha_2)
    # Then the names this application writes in its other languages (exports in
    # Arabic, Spanish or Portuguese read back).
    for language in ("fr", "ar", "es", "pt"):
        for code, name in _territories(language).items():
            if (
                len(code) == 2
                and code.isalpha()
                and (code == "XK" or pycountry.countries.get(alpha_2=code))
            ):
                index.setdefault(fold(name), code)
    return index


def lookup_country(value: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code for a code or a name, or None when unknown."""
    if not value:
        return None
    text = value.strip()
    if len(text) == 2 and text.isalpha():
        code = text.upper()
        if code == "XK" or pycountry.countries.get(alpha_2=code):
            return code
    if len(text) == 3 and text.isalpha():
        country = pycountry.countries.get(alpha_3=text.upper())
        if country:
            return country.alpha_2
    return _name_index().get(fold(text))


def _language(language: str | None) -> str:
    if language:
        return language
    try:
        return current_language()
    except RuntimeError:  # outside an application context: the command line's English
        return "en"


def country_name(code: str | None, language: str | None = None) -> str:
    """The country's name in ``language`` (by default the reader's), or the code if unknown."""
    if not code:
        return ""
    return _country_name(code, _language(language))


@cache
def _country_name(code: str, language: str) -> str:
    """Cached per language: English from pycountry (the names the register has always
    shown), the others from the CLDR through Babel, English where the CLDR has none."""
    if language != "en":
        name = _territories(language).get(code.upper())
        if name:
            return name
    if code == "XK":
        return "Kosovo"
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


def local_country_name(code: str | None, locale) -> str:
    """A country's name in ``locale``'s language (Babel's CLDR names), else the English one."""
    if not code:
        return ""
    if locale is not None and str(locale).split("_")[0] != "en":
        name = locale.territories.get(code)
        if name:
            return name
    return country_name(code)


@cache
def _territories(language: str) -> dict[str, str]:
    try:
        return dict(Locale.parse(language).territories)
    except (ValueError, UnknownLocaleError):
        return {}


def country_choices(language: str | None = None) -> list[tuple[str, str]]:
    """(code, name) of every country, in the reader's language, by name."""
    return _country_choices(_language(language))


@cache
def _country_choices(language: str) -> list[tuple[str, str]]:
    codes = [c.alpha_2 for c in pycountry.countries] + ["XK"]
    return sorted(
        ((code, _country_name(code, language)) for code in codes), key=lambda c: fold(c[1])
    )


AFRICAN_COUNTRIES = tuple(
    sorted(
        {code for code, region in _COUNTRY_REGION.items() if region is Region.SUB_SAHARAN_AFRICA}
        | {"DZ", "EG", "LY", "MA", "TN", "EH", "DJ"}
    )
)
