"""docs/security.md names, for every rule from S1 to S33, tests that exist.

The page is read as a reader sees it: a heading ``### S<n> ...`` per rule, and under it
the tests, written ``tests/<file>.py::<function>``. The test functions of the tests tree
are read by parsing each file (no import, no collection).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "docs" / "security.md"
RULES = range(1, 34)
HEADING = re.compile(r"^### S(\d+)\b", re.M)
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def sections(text: str) -> dict[int, str]:
    """S-number -> the text under its heading, up to the next heading of any level."""
    found: dict[int, str] = {}
    for match in HEADING.finditer(text):
        number = int(match.group(1))
        assert number not in found, f"S{number} appears twice in {MAP.name}"
        rest = text[match.end() :]
        following = re.search(r"^#{1,3} ", rest, re.M)
        found[number] = rest[: following.start()] if following else rest
    return found


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """The names of the test functions a file defines (module level or in a class)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def missing_tests(text: str) -> list[str]:
    problems = []
    for number, body in sorted(sections(text).items()):
        for file, name in NAMED.findall(body):
            path = ROOT / file
            if not path.is_file():
                problems.append(f"S{number}: {file} does not exist")
            elif name not in defined_tests(path):
                problems.append(f"S{number}: {file} has no test named {name}")
    return problems


def test_every_rule_from_s1_to_s33_names_at_least_one_test():
    found = sections(MAP.read_text(encoding="utf-8"))
    assert sorted(found) == list(RULES), f"rules in {MAP.name}: {sorted(found)}"
    untested = [f"S{n}" for n in RULES if not NAMED.findall(found[n])]
    assert not untested, f"no test named for {untested}"


def test_every_named_test_exists_in_the_tests_tree():
    assert missing_tests(MAP.read_text(encoding="utf-8")) == []


def test_the_map_check_catches_a_missing_rule_and_a_renamed_test():
    """The two checks above can fail: a rule without a test, a test that is gone."""
    page = MAP.read_text(encoding="utf-8")
    without_s33 = re.sub(r"### S33 .*?(?=^## |\Z)", "", page, flags=re.M | re.S)
    assert 33 not in sections(without_s33)
    renamed = page.replace(
        "::test_sqlite_connection_settings`", "::test_sqlite_connection_settings_gone`"
    )
    assert missing_tests(renamed) == [
        "S33: tests/test_security.py has no test named test_sqlite_connection_settings_gone"
    ]
    emptied = re.sub(r"(### S29 [^\n]*\n).*?(?=^#)", r"\1\nNo test.\n\n", page, flags=re.M | re.S)
    assert not NAMED.findall(sections(emptied)[29])
