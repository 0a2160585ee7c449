"""The option lists the filter forms draw in one go."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from coalition.members.models import MemberStatus
from coalition.templating import options


def test_options_escape_and_mark_the_chosen_one(app):
    html = str(options([("KE", "Kenya"), ("X<", 'Say "hi" & go')], "X<"))
    assert html == (
        '<option value="KE">Kenya</option>'
        '<option value="X&lt;" selected>Say &#34;hi&#34; &amp; go</option>'
    )


def test_options_of_labelled_enums(app):
    with app.test_request_context():
        html = str(options([MemberStatus.ACTIVE, MemberStatus.LAPSED], MemberStatus.LAPSED))
    assert '<option value="active">Active</option>' in html
    assert '<option value="lapsed" selected>Lapsed</option>' in html
    assert "selected" not in str(options([MemberStatus.ACTIVE], None))


def test_kept_option_lists_mark_each_choice_afresh(app):
    countries = [("KE", "Kenya"), ("SN", "Senegal"), ("GH", "Ghana")]
    assert str(options(countries, "SN")).count(" selected") == 1
    assert '<option value="SN" selected>' in str(options(countries, "SN"))
    assert '<option value="GH" selected>' in str(options(countries, "GH"))
    assert " selected" not in str(options(countries, "ZZ"))
    assert " selected" not in str(options(countries))


def test_quick_select_writes_what_wtforms_select_writes(app):
    """The app's select (every country, written directly) gives WTForms' own HTML: the
    chosen option marked, values and labels escaped, a choice's own attributes kept."""
    from wtforms import Form
    from wtforms import SelectField as PlainSelectField
    from wtforms.fields.choices import SelectChoice

    from coalition.countries import country_choices
    from coalition.fields import SelectField

    choices = [
        SelectChoice("", "Choose a country"),
        *(SelectChoice(code, name) for code, name in country_choices("en")),
        SelectChoice('x"<y>', "Tom & <Jerry>"),
        SelectChoice("kept", "With attributes", render_kw={"disabled": True}),
    ]

    class Quick(Form):
        country = SelectField(choices=choices)

    class Plain(Form):
        country = PlainSelectField(choices=choices)

    for value in ("", "KE", 'x"<y>', "kept"):
        quick, plain = Quick(data={"country": value}), Plain(data={"country": value})
        assert str(quick.country(class_="wide")) == str(plain.country(class_="wide")), value
    written = str(Quick(data={"country": "KE"}).country())
    assert '<option selected value="KE">Kenya</option>' in written
    assert "Tom &amp; &lt;Jerry&gt;" in written and 'value="x&#34;&lt;y&gt;"' in written


def test_country_select_writes_what_wtforms_select_writes(app):
    """The country select draws its options from one string per language; the HTML is
    WTForms' own for the same choices: the chosen country marked, none for an unknown
    code, the blank choice first, in the reader's language."""
    from flask_babel import force_locale
    from wtforms import Form
    from wtforms import SelectField as PlainSelectField
    from wtforms.fields.choices import SelectChoice

    from coalition.countries import country_choices
    from coalition.fields import CountrySelectField

    class Quick(Form):
        country = CountrySelectField("Country", default="")

    class Plain(Form):
        country = PlainSelectField(
            "Country",
            default="",
            choices=lambda: [SelectChoice("", "Choose a country"), *country_choices()],
        )

    with app.test_request_context():
        for language in ("en", "ar"):
            with force_locale(language):
                for value in ("", "KE", "TN", "ZZ", '"><script>'):
                    quick = Quick(data={"country": value}).country(required=True)
                    plain = Plain(data={"country": value}).country(required=True)
                    if language == "en":
                        assert str(quick) == str(plain), value
                    else:  # the blank label is translated on our side only
                        assert (
                            str(quick).split("</option>", 1)[1]
                            == str(plain).split("</option>", 1)[1]
                        ), value
                written = str(Quick(data={"country": "TN"}).country())
                assert written.count(" selected") == 1
                assert ("تونس" in written) == (language == "ar")


_KEYS = st.one_of(
    st.sampled_from(["class_", "for_", "id", "name", "value", "data_filter_label", "aria_label"]),
    st.text(min_size=1, max_size=12),
)
_VALUES = st.one_of(
    st.booleans(),
    st.integers(),
    st.none(),
    st.text(max_size=40),
    st.text(max_size=40).map(Markup),
    st.sampled_from(['"quoted"', "<b>", "a & b", "'", "&quot;"]).map(Markup),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=8))
def test_html_params_writes_what_wtforms_writes(attributes):
    """The app's ``html_params`` (every widget draws with it) gives WTForms' own output,
    attribute for attribute: sorted, booleans bare or left out, text and markup
    escaped, quotes in markup too."""
    from coalition.fields import html_params, wtforms_html_params

    ours, theirs = html_params(**attributes), wtforms_html_params(**attributes)
    assert isinstance(ours, Markup)
    assert str(ours) == str(theirs)


def test_every_wtforms_widget_draws_with_the_apps_html_params(app):
    """Inputs keep ``html_params`` on their class, selects and text areas look it up in
    their module, labels in the package: each finds the app's."""
    import wtforms.widgets
    import wtforms.widgets.core

    import coalition.fields

    assert wtforms.widgets.core.html_params is coalition.fields.html_params
    assert wtforms.widgets.html_params is coalition.fields.html_params
    for widget in (wtforms.widgets.core.Input, wtforms.widgets.core.SubmitInput):
        assert widget.html_params is coalition.fields.html_params
