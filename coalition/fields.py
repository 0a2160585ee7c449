"""Form fields the areas share.

``CountriesField`` replaces a multiple ``<select>`` of countries: on a phone a
250-row list box that needs Ctrl to pick a second country cannot be used. It
draws checkboxes grouped by region, each region a ``<details>`` (open where a
country is ticked), which work without JavaScript; ``static/enhance.js`` adds a
box that filters the list as one types.
"""

from __future__ import annotations

from functools import cache

import wtforms.widgets
import wtforms.widgets.core
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from wtforms import SelectField as _SelectField
from wtforms import SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import Select

from coalition.countries import Region, country_choices, region_of
from coalition.i18n import current_language

# WTForms' own, kept for the test that holds the two to the same output.
wtforms_html_params = wtforms.widgets.core.html_params


def html_params(**kwargs) -> Markup:
    """WTForms' ``html_params``, the same output without a ``Markup.format`` for each
    attribute (a form page writes some 250 attributes; WTForms' way is an eighth
    of the application form's time on the server). Attributes sorted by name,
    ``True`` written bare, ``False`` left out, values escaped, quotes too."""
    params = []
    for key, value in sorted(kwargs.items()):
        key = escape(wtforms.widgets.core.clean_key(key))
        if value is True:
            params.append(key)
        elif value is not False:
            params.append(f'{key}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    # Every key and value above went through escape().
    return Markup(" ".join(params))  # noqa: S704


# Every WTForms widget draws with it: the widgets that look it up in their module,
# those that keep it on their class (Input and its kind), and labels, which take
# it from the package.
wtforms.widgets.core.html_params = html_params
wtforms.widgets.html_params = html_params
for _widget in vars(wtforms.widgets.core).values():
    if isinstance(_widget, type) and "html_params" in vars(_widget):
        _widget.html_params = staticmethod(html_params)


class CountryChecks:
    """The checkboxes of a ``CountriesField``, drawn in one go (a Jinja loop over 250
    countries costs more than the rest of the page)."""

    def __call__(self, field, **kwargs) -> Markup:
        groups: dict[Region, list[str]] = {}
        for choice in field.iter_choices():
            value, label, selected = choice[0], choice[1], choice[2]
            code = escape(value)
            box_id = escape(f"{field.id}-{value}")
            checked = " checked" if selected else ""
            groups.setdefault(region_of(value) or Region.ASIA_PACIFIC, []).append(
                f'<li><input type="checkbox" id="{box_id}" name="{escape(field.name)}" '
                f'value="{code}"{checked}> <label for="{box_id}">{escape(label)}</label></li>'
            )
        find = _("Find a country")  # outside the f-string, where extraction sees it
        parts = [
            f'<div class="country-groups" id="{escape(field.id)}" '
            f'data-filter-label="{escape(find)}">'
        ]
        if len(groups) == 1:
            [items] = groups.values()
            parts.append('<ul class="checks">' + "".join(items) + "</ul>")
        else:
            for region in Region:
                items = groups.get(region)
                if not items:
                    continue
                opened = " open" if any(" checked>" in item for item in items) else ""
                parts.append(
                    f"<details{opened}><summary>{escape(region.label)}</summary>"
                    f'<ul class="checks">{"".join(items)}</ul></details>'
                )
        parts.append("</div>")
        # Every value and label above went through escape().
        return Markup("".join(parts))  # noqa: S704


class CountriesField(SelectMultipleField):
    """Several countries, as checkboxes grouped by region. Its choices are the countries
    that may be chosen; any other code sent is refused (unless ``validate_choice=False``,
    for forms that check the codes with a validator of their own)."""

    widget = CountryChecks()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault(
            "invalid_choice_message", _l("%(value)s is not one of the countries you can choose.")
        )
        super().__init__(label, validators, **kwargs)


class QuickSelect(Select):
    """WTForms' select, each plain option written directly: the same HTML, without
    ``html_params`` for every one of 250 countries (a third of the application form's
    time on the server)."""

    @classmethod
    def render_option(cls, choice, **kwargs):
        if choice.render_kw or kwargs:
            return Select.render_option(choice, **kwargs)
        value = choice.value
        if isinstance(value, bool):
            value = str(value)
        label = escape(choice.label or choice.value)
        selected = " selected" if choice.selected else ""
        # As html_params writes it: attributes sorted, values escaped.
        return f'<option{selected} value="{escape(value)}">{label}</option>'


class SelectField(_SelectField):
    """The app's select (``QuickSelect``)."""

    widget = QuickSelect()


class CountrySelect(Select):
    """The select of every country: the options are one string per language and blank
    label, built once; only the chosen option is marked for each form. The same HTML
    as ``QuickSelect`` (two of these are most of the application form's work)."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for key in dir(flags):
            if key in self.validation_attrs and key not in kwargs:
                kwargs[key] = getattr(flags, key)
        options = _country_options(current_language(), str(field.blank_label))
        if isinstance(field.data, str):
            code = escape(field.data)
            options = options.replace(
                f'<option value="{code}">', f'<option selected value="{code}">', 1
            )
        # The options were escaped when built; the attributes by html_params.
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{options}</select>")  # noqa: S704


@cache
def _country_options(language: str, blank: str) -> str:
    return f'<option value="">{escape(blank)}</option>' + "".join(
        f'<option value="{escape(code)}">{escape(name)}</option>'
        for code, name in country_choices(language)
    )


class CountrySelectField(SelectField):
    """One country of all of them, with a blank first choice (``blank_label``)."""

    widget = CountrySelect()

    def __init__(self, label=None, validators=None, *, blank_label=None, **kwargs):
        self.blank_label = blank_label or _l("Choose a country")
        kwargs.setdefault(
            "choices",
            lambda: [SelectChoice("", self.blank_label), *country_choices()],
        )
        super().__init__(label, validators, **kwargs)
