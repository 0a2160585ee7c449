"""Give each catalog the plural rule the project agreed on, and each plural entry
as many forms as that rule has.

``pybabel init`` takes the rule from CLDR, whose count of forms differs between
Babel releases (French, Spanish and Portuguese have three there: one, many for
exact millions, other); the catalog tests (tests/test_catalogs.py) check these
exact rules. A catalog translated under another rule keeps its translations:
each form of the agreed rule takes the form the old rule gave the same numbers.
Usage: python bin/plural_headers.py translations/*/LC_MESSAGES/messages.po
"""

from __future__ import annotations

import gettext
import sys
from collections import Counter
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


SAMPLE = range(0, 1000)


def remap(old_rule: str, new_rule: str) -> list[int] | None:
    """For each form of ``new_rule``, the form of ``old_rule`` that says the same
    numbers (None when the rules are the same, or the old one unreadable)."""

    def plural_of(rule: str):
        return gettext.c2py(rule.split("plural=", 1)[1].strip().rstrip(";"))

    try:
        old, new = plural_of(old_rule), plural_of(new_rule)
    except (ValueError, IndexError, SyntaxError):
        return None
    count = int(new_rule.split("nplurals=", 1)[1].split(";", 1)[0])
    mapping = []
    for form in range(count):
        # The old form most of this form's numbers took (Portuguese's old rule put
        # 0 with 1; the agreed one puts it with 2, 3...).
        taken = Counter(old(n) for n in SAMPLE if new(n) == form)
        mapping.append(taken.most_common(1)[0][0] if taken else form)
    return None if mapping == list(range(count)) else mapping


def fix(path: Path) -> bool:
    """Rewrite ``path`` with the agreed rule; True when the file changed."""
    language = path.parent.parent.name
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    old_rule = dict(catalog.mime_headers).get("Plural-Forms", "")
    mapping = remap(old_rule, PLURAL_FORMS[language]) if old_rule else None
    headers = [(k, v) for k, v in catalog.mime_headers if k.lower() != "plural-forms"]
    headers.append(("Plural-Forms", PLURAL_FORMS[language]))
    catalog.mime_headers = headers  # sets the catalog's count of forms
    forms = catalog.num_plurals
    for message in catalog:
        if message.id and message.pluralizable:
            strings = list(message.string) if isinstance(message.string, tuple | list) else []
            if mapping and any(strings):
                strings = [strings[i] if i < len(strings) else "" for i in mapping]
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
