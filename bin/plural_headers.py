"""Give each catalog the plural rule the project agreed on, and each plural entry
as many forms as that rule has.

``pybabel init`` takes the rule from CLDR, whose count of forms differs between
Babel releases (French and Spanish have three there); the catalog tests
(tests/test_catalogs.py) check these exact rules.
Usage: python bin/plural_headers.py translations/*/LC_MESSAGES/messages.po
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PLURAL_FORMS = {
    "fr": "nplurals=2; plural=(n > 1);",
    "es": "nplurals=2; plural=(n != 1);",
    "pt": "nplurals=2; plural=(n != 1);",
    "ar": (
        "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : "
        "n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);"
    ),
}


def fix(path: Path) -> bool:
    """Rewrite ``path`` with the agreed rule; True when the file changed."""
    language = path.parent.parent.name
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    headers = [(k, v) for k, v in catalog.mime_headers if k.lower() != "plural-forms"]
    headers.append(("Plural-Forms", PLURAL_FORMS[language]))
    catalog.mime_headers = headers  # sets the catalog's count of forms
    forms = catalog.num_plurals
    for message in catalog:
        if message.id and message.pluralizable:
            strings = list(message.string) if isinstance(message.string, tuple | list) else []
            while len(strings) > forms and not strings[-1]:
                strings.pop()  # only empty forms are dropped
            message.string = tuple(strings + [""] * (forms - len(strings)))
    before = path.read_bytes()
    with path.open("wb") as f:
        write_po(f, catalog, width=0, sort_by_file=True, ignore_obsolete=True)
    return path.read_bytes() != before


if __name__ == "__main__":
    for name in sys.argv[1:]:
        if fix(Path(name)):
            print(f"{name}: plural forms set")
