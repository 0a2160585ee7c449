"""Issue 9, "First use, on a phone": the conventions every template keeps so that
pages work at 320 px (the browser tests in tests/browser/test_phone.py look at them)."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from coalition.accounts.models import Role
from coalition.countries import Region
from coalition.fields import CountriesField
from tests.conftest import post

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STYLESHEET = Path(__file__).resolve().parent.parent / "coalition" / "static" / "style.css"


class Tables(HTMLParser):
    """Each table of a template: its attributes, its scroll wrapper's, its columns and cells."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self.open: list[dict] = []
        self.last_div: dict | None = None
        self.in_thead = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div":
            self.last_div = attrs
        elif tag == "table":
            table = {"attrs": attrs, "wrapper": self.last_div or {}, "columns": 0, "cells": []}
            self.tables.append(table)
            self.open.append(table)
        elif tag == "thead":
            self.in_thead = True
        elif self.open and tag == "th" and self.in_thead and attrs.get("scope") == "col":
            self.open[-1]["columns"] += 1
        elif self.open and tag == "td":
            self.open[-1]["cells"].append(attrs)

    def handle_endtag(self, tag):
        if tag == "thead":
            self.in_thead = False
        elif tag == "table" and self.open:
            self.open.pop()
        elif tag != "div":
            return
        self.last_div = None if tag == "table" else self.last_div


def list_tables():
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        if '{% extends "reports/base.html" %}' in text:
            continue  # a PDF report's page, laid out by WeasyPrint, not a phone
        parser = Tables()
        parser.feed(text)
        for number, table in enumerate(parser.tables):
            if table["columns"] >= 3:
                yield pytest.param(table, id=f"{path.relative_to(TEMPLATES)}#{number}")


@pytest.mark.parametrize("table", list(list_tables()))
def test_6_every_list_table_becomes_labelled_cards_on_a_phone(table):
    """A table of three columns or more is a list: ``class="cards"``, every cell labelled
    with its column (a cell spanning the whole row says something of its own), and its
    sideways-scrolling wrapper reachable by keyboard, with a name."""
    assert "cards" in table["attrs"].get("class", "").split()
    for cell in table["cells"]:
        if "colspan" in cell:
            continue
        assert cell.get("data-label"), cell
    wrapper = table["wrapper"]
    assert "table-wrap" in wrapper.get("class", "")
    assert wrapper.get("tabindex") == "0"
    assert wrapper.get("role") == "region"
    assert wrapper.get("aria-label") or wrapper.get("aria-labelledby")


def test_6_there_are_list_tables_to_check():
    assert len(list(list_tables())) >= 14


def test_6_the_stylesheet_stacks_cards_and_labels_them_from_the_markup():
    css = STYLESHEET.read_text(encoding="utf-8")
    query = css[css.index("@media (max-width: 40rem)") :]
    assert "table.cards" in query
    assert "td[data-label]::before { content: attr(data-label);" in query
    # Right to left works by logical properties only.
    for physical in ("margin-left", "margin-right", "padding-left", "padding-right", "left:"):
        assert physical not in css


# -- Item 9: long multi-selects of countries become checkboxes grouped by region --------------


def country_boxes(page: str, name: str) -> list[str]:
    return re.findall(rf'<input type="checkbox" id="{name}-(\w+)" name="{name}"', page)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/join", "work_countries"),
        ("/members/new", "work_countries"),
        ("/grants/funds/new", "countries"),
    ],
)
def test_9_country_lists_are_checkboxes_grouped_by_region(client, make_user, login, path, name):
    login(make_user(Role.CONVENOR, two_factor=True))
    page = unescape(client.get(path).get_data(as_text=True))
    assert f'name="{name}" multiple' not in page and "Ctrl" not in page
    boxes = country_boxes(page, name)
    assert {"KE", "SN", "BR", "FR"} <= set(boxes) and len(boxes) > 240
    # One <details> per region, closed while nothing in it is ticked; a filter box
    # (static/enhance.js) is labelled in the reader's language.
    group = page[page.index(f'<div class="country-groups" id="{name}"') :]
    assert group.count("<details>") == len(Region)
    assert "<summary>Sub-Saharan Africa</summary>" in group
    assert 'data-filter-label="Find a country"' in group


def test_9_a_ticked_country_opens_its_region_and_the_list_is_kept_on_error(client):
    page = post(
        client, "/join", {"work_countries": ["KE", "QQ"], "name": ""}, token_from="/join"
    ).get_data(as_text=True)
    group = page[page.index('<div class="country-groups" id="work_countries"') :]
    assert group.count("<details open>") == 1
    assert 'id="work_countries-KE" name="work_countries" value="KE" checked>' in group
    assert "Choose countries" in page  # the unknown code is refused


def test_9_the_staff_form_refuses_a_country_outside_the_list(client, make_user, login):
    login(make_user(Role.CONVENOR, two_factor=True))
    page = post(
        client,
        "/members/new",
        {"kind": "organisation", "name": "Lab", "country": "KE", "work_countries": ["ZZ"]},
        token_from="/members/new",
    ).get_data(as_text=True)
    assert "ZZ is not one of the countries you can choose." in unescape(page)


def test_9_the_field_draws_one_list_when_every_country_is_in_one_region(app):
    from wtforms import Form
    from wtforms.fields.choices import SelectChoice

    class One(Form):
        countries = CountriesField(
            "Countries", choices=[SelectChoice("KE", "Kenya"), SelectChoice("SN", "Senegal")]
        )

    with app.test_request_context():
        form = One(data={"countries": ["SN"]})
        html = str(form.countries())
    assert "<details" not in html
    assert html.count('<input type="checkbox"') == 2
    assert '<input type="checkbox" id="countries-SN" name="countries" value="SN" checked>' in html
    assert '<label for="countries-KE">Kenya</label>' in html
