"""The README and docs/ stand alone: every relative link resolves to a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and [label]: target, outside code.
INLINE = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")


def relative_links(text: str) -> list[str]:
    text = CODE.sub("", FENCE.sub("", text))
    targets = INLINE.findall(text) + REFERENCE.findall(text)
    return [t for t in targets if not urlsplit(t).scheme and not t.startswith(("#", "//"))]


def test_docs_exist_and_the_readme_links_them():
    assert (ROOT / "docs" / "product.md").is_file()
    assert (ROOT / "docs" / "architecture.md").is_file()
    links = relative_links((ROOT / "README.md").read_text(encoding="utf-8"))
    assert {"docs/product.md", "docs/architecture.md"} <= set(links)


def test_the_link_reader_sees_links_and_skips_code():
    text = "[a](docs/x.md) [b](https://example.org) `[c](no.md)` [d](#top)\n[e]: ../y.md\n"
    assert relative_links(text) == ["docs/x.md", "../y.md"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(document):
    for target in relative_links(document.read_text(encoding="utf-8")):
        path = (document.parent / unquote(target.split("#", 1)[0])).resolve()
        assert path.is_relative_to(ROOT), f"{document.name}: {target} leaves the repository"
        assert path.exists(), f"{document.name}: {target} does not exist"
