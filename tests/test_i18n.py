"""Five languages (issue 14): every page in each of them with the right ``lang`` and
``dir``, the first visit's Accept-Language, the saved choice, emails in the
recipient's language, WTForms' messages, country names, and catalogs read once
per process.

What depends on the translators' catalogs (no English left on a French or
Arabic page) is in ``tests/test_catalogs.py``.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel import support
from flask_babel import force_locale
from jinja2 import ChoiceLoader, DictLoader

from coalition import i18n, mail
from coalition.config import LANGUAGES, RTL_LANGUAGES
from coalition.countries import country_choices, country_name
from coalition.extensions import db
from coalition.i18n import current_language
from tests.access_table import ACCESS, ANONYMOUS, PEOPLE, url_values
from tests.conftest import post, sign_in_as
from tests.test_access import build_world, path_for, refusal

HTML_TAG = re.compile(r"<html\b[^>]*>")
EMAIL_TEMPLATES = sorted(p.stem for p in Path("templates/emails").glob("*.html"))


@contextmanager
def request_in(app, language: str | None = None, **kwargs):
    """A request context of its own (with its own ``g``, where Flask-Babel keeps
    the locale), as a real request has; the test already holds an app context."""
    headers = {"Accept-Language": language} if language else {}
    with app.app_context(), app.test_request_context(headers=headers, **kwargs):
        yield


def html_tag(response) -> str:
    match = HTML_TAG.search(response.get_data(as_text=True))
    assert match, "no <html> element"
    return match.group(0)


def direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"


def get_routes() -> list[tuple[str, dict]]:
    return sorted((endpoint, entry) for endpoint, entry in ACCESS.items() if "GET" in entry)


def reader_of(entry: dict) -> str:
    """Who reads the page in the test: a visitor where the page is public (the
    language then comes from Accept-Language), else the first person allowed."""
    allowed = entry["GET"]
    if ANONYMOUS in allowed:
        return ANONYMOUS
    return next(person for person in PEOPLE if person in allowed)


# -- Every page, in each language ------------------------------------------------------


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_get_page_answers_in_each_language_with_lang_and_dir(app, make_user, language):
    world = build_world(make_user)
    for user in world.users.values():
        user.language = language  # a signed-in person's saved language decides
    db.session.commit()
    expected = f'<html lang="{language}" dir="{direction(language)}">'
    checked = 0
    for endpoint, entry in get_routes():
        person = reader_of(entry)
        client = app.test_client()
        headers = {"Accept-Language": f"{language};q=1.0, en;q=0.5"}
        if person != ANONYMOUS:
            sign_in_as(client, world.users[person])
            headers = {"Accept-Language": "en"}  # the account's language wins
        path = path_for(endpoint, url_values(entry, world))
        response = client.get(path, headers=headers)
        why = refusal(response)
        assert why is None, f"{person} GET {path} in {language}: {why}"
        if response.status_code == 200 and response.mimetype == "text/html":
            assert html_tag(response) == expected, f"GET {path} in {language}"
            checked += 1
    assert checked >= 40  # the walk really saw the pages


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_error_pages_carry_lang_and_dir(client, language):
    response = client.get("/no-such-page", headers={"Accept-Language": language})
    assert response.status_code == 404
    assert html_tag(response) == f'<html lang="{language}" dir="{direction(language)}">'


# -- Choosing a language --------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("fr-FR,fr;q=0.9,en;q=0.5", "fr"), ("ar-EG", "ar"), ("pt-MZ", "pt"), ("es", "es"),
     ("de-DE", "en"), ("", "en")],
)  # fmt: skip
def test_a_first_visit_follows_accept_language(client, accept, expected):
    response = client.get("/", headers={"Accept-Language": accept} if accept else {})
    assert html_tag(response) == f'<html lang="{expected}" dir="{direction(expected)}">'


def test_the_selector_works_without_javascript_and_outranks_accept_language(client):
    response = post(client, "/language", {"language": "ar", "next": "/calls"})
    assert (response.status_code, response.location) == (302, "/calls")
    page = client.get("/calls", headers={"Accept-Language": "fr"})
    assert html_tag(page) == '<html lang="ar" dir="rtl">'


def test_a_signed_in_choice_is_saved_on_the_account(client, make_user):
    user = make_user(language="en")
    sign_in_as(client, user)
    response = post(client, "/language", {"language": "pt", "next": "/"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.language == "pt"
    # Another browser (a new session) gets the saved language, whatever it asks for.
    other = client.application.test_client()
    sign_in_as(other, user)
    page = other.get("/account/", headers={"Accept-Language": "es"})
    assert html_tag(page) == '<html lang="pt" dir="ltr">'


def test_each_language_is_named_in_itself_with_lang_and_dir(client):
    text = client.get("/").get_data(as_text=True)
    for code, name in LANGUAGES.items():
        option = f'<option value="{code}" lang="{code}" dir="{direction(code)}"'
        assert option in text
        assert re.search(re.escape(option) + r"[^>]*>" + re.escape(name) + "</option>", text)


# -- Right to left ------------------------------------------------------------------------


def test_the_bdi_filter_isolates_and_escapes():
    assert str(i18n.bdi("Media Lab <b>")) == "<bdi>Media Lab &lt;b&gt;</bdi>"
    assert str(i18n.bdi(None)) == ""


def test_public_directory_names_are_in_bdi(client):
    from coalition.members.models import MemberStatus
    from tests.test_members_export import make_member

    make_member("Open Data Kenya", status=MemberStatus.ACTIVE, acronym="ODK")
    text = client.get("/directory", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert "<bdi>Open Data Kenya</bdi>" in text
    assert "<bdi>ODK</bdi>" in text


def test_no_physical_left_or_right_in_the_stylesheet():
    css = Path("coalition/static/style.css").read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    assert not re.findall(r"[\w-]*\b(?:left|right)\b[\w-]*", css)


def test_the_audit_arrow_points_from_old_to_new_in_both_directions(app):
    template = app.jinja_env.from_string("{{ '←' if text_direction() == 'rtl' else '→' }}")
    for language, arrow in (("en", "→"), ("ar", "←")):
        with request_in(app, language):
            assert template.render(text_direction=i18n.text_direction) == arrow


# -- Emails --------------------------------------------------------------------------------


def email_context(template: str, app) -> dict:
    """A value for every variable an email template uses."""
    from jinja2 import meta

    source = Path(f"templates/emails/{template}.html").read_text()
    names = meta.find_undeclared_variables(app.jinja_env.parse(source))
    numbers = {"count", "hours", "minutes", "days", "total", "overdue", "tranches", "reports"}
    context = {}
    for name in names:
        if name in numbers:
            context[name] = 3
        elif name == "rounds":
            context[name] = [
                {
                    "title": "Round “A”",
                    "count": 2,
                    "tranches": 1,
                    "reports": 1,
                    "link": "https://x.example/r/1",
                }
            ]
        elif name == "roles":
            context[name] = ["Reviewer"]
        else:
            context[name] = f"{name} value"
    return context


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("template", EMAIL_TEMPLATES)
def test_each_email_renders_in_each_language(app, template, language):
    with request_in(app, "en"):
        subject, text, html = mail.render_email(template, language, **email_context(template, app))
        assert current_language() == "en"  # the page's language is back
    assert subject and text.strip() and html
    assert html.startswith(f'<div lang="{language}" dir="{direction(language)}">')
    assert html.endswith("</div>")


def test_an_email_is_written_in_the_recipients_language_not_the_senders(app, monkeypatch):
    probe = "{% block subject %}{{ current_language() }}{% endblock %}" \
            "{% block text %}{{ code|country_name }}{% endblock %}" \
            "{% block html %}<p>{{ text_direction() }}</p>{% endblock %}"  # fmt: skip
    loader = app.jinja_env.loader
    monkeypatch.setattr(
        app.jinja_env, "loader", ChoiceLoader([DictLoader({"emails/probe.html": probe}), loader])
    )
    app.jinja_env.cache.clear()
    with request_in(app, "ar"):
        assert current_language() == "ar"
        message = mail.queue_email(
            key="probe:1", recipient="m@example.org", template="probe", language="fr", code="CI"
        )
        assert current_language() == "ar"
    assert (message.subject, message.body_text.strip()) == ("fr", "C\u00f4te d\u2019Ivoire")
    assert message.body_html == '<div lang="fr" dir="ltr"><p>ltr</p></div>'
    app.jinja_env.cache.clear()


# -- Forms and names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "required"),
    [("en", "This field is required."), ("fr", "Ce champ est requis."),
     ("es", "Este campo es obligatorio."), ("pt", "Campo obrigatório."),
     ("ar", "هذا الحقل مطلوب.")],
)  # fmt: skip
def test_wtforms_own_messages_are_in_the_readers_language(app, language, required):
    Probe = probe_form()

    with request_in(app, language, method="POST"):
        app.preprocess_request()
        form = Probe(data={})
        assert not form.validate()
        assert form.text.errors == [required]


def test_country_names_follow_the_reader_and_are_cached_per_language(app):
    with request_in(app, "fr"):
        assert country_name("DE") == "Allemagne"
        assert country_choices() is country_choices()
    with request_in(app, "ar"):
        assert country_name("DE") == "ألمانيا"
    with request_in(app):
        assert country_name("DE") == "Germany"
    assert country_name("SN", "es") == "Senegal"
    assert country_name("CI", "pt") == "Costa do Marfim"


# -- Catalogs load once per process ------------------------------------------------------


def probe_form():
    from flask_wtf import FlaskForm
    from wtforms import StringField
    from wtforms.validators import InputRequired

    class Probe(FlaskForm):
        class Meta:
            csrf = False

        text = StringField(validators=[InputRequired()])

    return Probe


def test_catalogs_load_once_per_process(app, client, monkeypatch):
    """Flask-Babel's catalogs and WTForms' own are read from disk once per language,
    not once per request (a page or a form error)."""
    loads = []
    real = support.Translations.load

    def counting(*args, **kwargs):
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(support.Translations, "load", counting)
    probe = probe_form()

    def requests():
        for language in LANGUAGES:
            assert client.get("/sign-in", headers={"Accept-Language": language}).status_code == 200
            with request_in(app, language, method="POST"):
                app.preprocess_request()
                form = probe(data={})
                assert not form.validate() and form.text.errors

    requests()  # may load what earlier tests of this process did not
    loads.clear()
    requests()
    requests()
    assert loads == []


def test_forced_locale_switches_the_catalog_within_a_request(app):
    """The per-request catalog cache (i18n._catalog) is keyed by locale: an email
    rendered in French inside an Arabic request reads French."""
    with request_in(app, "ar"):
        first = i18n._catalog()
        with force_locale("fr"):
            assert str(i18n.get_locale()) == "fr"
            assert i18n._catalog() is not first
        assert i18n._catalog() is first


class Marked:
    """A catalog that marks every string it translates: «text»."""

    def ugettext(self, string):
        return f"«{string}»"

    def ungettext(self, singular, plural, n):
        return f"«{singular if n == 1 else plural}»"

    gettext, ngettext = ugettext, ungettext


def test_choice_labels_are_translated_per_request_not_at_import(app, monkeypatch):
    """Enum labels in a form's choices were read once, when the module loaded (in
    English, forever): they are read for each form, in the reader's language."""
    import flask_babel

    from coalition.grants.application_forms import ApplicationForm, AttachmentForm
    from coalition.members.staff_forms import MemberForm

    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: Marked())
    with request_in(app, "fr"):
        labels = {
            "registration": [c[1] for c in ApplicationForm().org_registration.iter_choices()],
            "attachment kind": [c[1] for c in AttachmentForm().kind.iter_choices()],
            "member kind": [c[1] for c in MemberForm().kind.iter_choices()],
            "organisation type": [c[1] for c in MemberForm().org_type.iter_choices()],
            "focus areas": [c[1] for c in MemberForm().focus_areas.iter_choices()],
        }
    for field_name, found in labels.items():
        unmarked = [label for label in found if not str(label).startswith("«")]
        assert not unmarked, f"{field_name}: {unmarked}"


def test_plural_headers_keep_translations_made_under_cldr_rules(tmp_path):
    """A catalog translated with CLDR's three forms (one, exact millions, other) gets the
    agreed two-form rule, each form keeping the words said for the same numbers."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("plural_headers", "bin/plural_headers.py")
    plural_headers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plural_headers)
    cldr = {
        "fr": "nplurals=3; plural=(n == 0 || n == 1) ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2;",
        "pt": "nplurals=3; plural=(n == 0 || n == 1) ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2;",
    }
    for language, rule in cldr.items():
        path = tmp_path / language / "LC_MESSAGES" / "messages.po"
        path.parent.mkdir(parents=True)
        path.write_text(
            'msgid ""\nmsgstr ""\n'
            f'"Language: {language}\\n"\n"Plural-Forms: {rule}\\n"\n'
            '"Content-Type: text/plain; charset=utf-8\\n"\n\n'
            'msgid "%(num)d file"\nmsgid_plural "%(num)d files"\n'
            'msgstr[0] "ONE"\nmsgstr[1] "MILLIONS"\nmsgstr[2] "OTHER"\n',
            encoding="utf-8",
        )
        assert plural_headers.fix(path)
        text = path.read_text(encoding="utf-8")
        assert f'"Plural-Forms: {plural_headers.PLURAL_FORMS[language]}\\n"' in text
        assert 'msgstr[0] "ONE"\nmsgstr[1] "OTHER"\n' in text
        assert "msgstr[2]" not in text


@pytest.mark.parametrize(
    ("account_language", "member_languages", "expected"),
    [("pt", ["fr"], "pt"), (None, ["de", "es"], "es"), (None, [], "en")],
)
def test_a_joining_decision_reaches_the_contact_in_their_language(
    app, make_user, account_language, member_languages, expected
):
    """The recipient's saved language (an account at that address), not the convenor's
    Arabic page, nor only the member's first language."""
    from coalition.mail.models import OutboxMessage
    from coalition.members import operations as ops
    from coalition.members.models import MemberStatus
    from tests.test_members_public import add_member

    convenor = make_user("convenor", two_factor=True, language="ar")
    if account_language:
        make_user(email="lina@applicant.example.org", language=account_language)
    member = add_member(
        "Joining Org",
        status=MemberStatus.APPLIED,
        contact_name="Lina Haddad",
        contact_email="lina@applicant.example.org",
    )
    member.languages = member_languages
    # The test's own app context (and session): the page is in Arabic.
    with app.test_request_context(headers={"Accept-Language": "ar"}):
        assert current_language() == "ar"
        ops.decide_application(member, approve=True, actor=convenor, reason=None)
    db.session.flush()
    [message] = db.session.scalars(
        sa.select(OutboxMessage).filter_by(template="membership_approved")
    ).all()
    assert message.language == expected
    assert message.body_html.startswith(f'<div lang="{expected}"')


def test_names_in_html_emails_are_isolated_and_escaped(app):
    with request_in(app, "en"):
        _subject, text, html = mail.render_email("membership_approved", "ar", name="Ada <b>L</b>")
    assert "<bdi>Ada &lt;b&gt;L&lt;/b&gt;</bdi>" in html
    assert "<bdi>" not in text and "Ada <b>L</b>" in text  # plain text stays plain
