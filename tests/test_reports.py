"""Steering reports (issue 13): the membership report, the PDF pipeline, the pages,
the job, the schedule and the command (S22, S27-S29)."""

from __future__ import annotations

import io
import re
import subprocess
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pikepdf
import pytest
import sqlalchemy as sa
from markupsafe import escape
from weasyprint.urls import URLFetchingError

from coalition import demo, jobs
from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.members import operations as member_ops
from coalition.members.models import MemberStatus
from coalition.steering.reports import operations
from coalition.steering.reports.fetcher import StaticOnlyFetcher, data_url
from coalition.steering.reports.kinds import ReportRequest, kind_names
from coalition.steering.reports.models import GeneratedReport
from coalition.steering.reports.rendering import (
    RenderTimeout,
    build_html,
    render_pdf,
    write_pdf,
)
from tests.clock import MONTH_START, TODAY
from tests.conftest import outbox, post, sign_in_as

HOSTILE = '<img src="file:///etc/passwd">'


def pdf_text(data: bytes) -> str:
    """The PDF's text as poppler's pdftotext reads it."""
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8")


def structure(node, found: list) -> list:
    """Every element of the structure tree, depth first."""
    if isinstance(node, pikepdf.Array):
        for child in node:
            structure(child, found)
    elif isinstance(node, pikepdf.Dictionary):
        if "/S" in node:
            found.append(node)
        if "/K" in node:
            structure(node.K, found)
    return found


def _in_language(text: str, language: str) -> str:
    """``text`` as the catalog of ``language`` has it (the report's own title)."""
    from flask_babel import force_locale, gettext

    with force_locale(language):
        return gettext(text)


def check_accessible(
    data: bytes,
    language: str,
    *,
    title: str = "Membership report",
    figures: int = 7,
    bookmarks: int = 8,
) -> None:
    """Tagged PDF/UA: structure tree, language, marked, a title shown, bookmarks, every
    chart a figure (an SVG) with its alternative text, table headers marked, no raster
    image, every font embedded, no attachment."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        root = pdf.Root
        assert "/StructTreeRoot" in root
        assert str(root.Lang) == language
        assert bool(root.MarkInfo.Marked) is True
        assert "/EmbeddedFiles" not in root.get("/Names", {})
        assert str(pdf.docinfo.Title).startswith(_in_language(title, language))
        assert bool(root.ViewerPreferences.DisplayDocTitle) is True
        assert int(root.Outlines.Count) >= bookmarks  # a bookmark per section
        elements = structure(root.StructTreeRoot.K, [])
        drawn = [e for e in elements if e.S == "/Figure"]
        # The membership report: the chart over time and a bar chart per breakdown.
        assert len(drawn) == figures
        assert all(str(f.get("/Alt", "")).strip() for f in drawn)
        assert any(e.S == "/TH" for e in elements)
        assert any(e.S == "/THead" for e in elements)
        fonts = 0
        for page in pdf.pages:
            assert not _images(page.Resources), "a raster image: charts are vector"
            for font in (page.Resources.get("/Font") or {}).values():
                fonts += 1
                descendants = font.get("/DescendantFonts")
                descriptor = (descendants[0] if descendants else font).get("/FontDescriptor")
                assert descriptor is not None, "a font without a descriptor (not embedded)"
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            for annotation in page.get("/Annots") or []:
                assert annotation.get("/Subtype") != "/FileAttachment"
        assert fonts


def _images(resources, depth: int = 0) -> bool:
    """Whether ``resources`` (a page's, or a form's within it) draw a raster image."""
    for xobject in ((resources or {}).get("/XObject") or {}).values():
        if xobject.get("/Subtype") == "/Image":
            return True
        if depth < 4 and _images(xobject.get("/Resources"), depth + 1):
            return True
    return False


def page_texts(data: bytes, pages: int) -> list[str]:
    """Each page's text (poppler's pdftotext), spaces and line breaks made single spaces."""
    texts = []
    for number in range(1, pages + 1):
        done = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", "-f", str(number), "-l", str(number), "-", "-"],
            input=data,
            capture_output=True,
            check=True,
        )
        texts.append(" ".join(done.stdout.decode("utf-8").split()))
    return texts


def request(**values) -> ReportRequest:
    base = {"kind": "membership", "start": MONTH_START, "end": TODAY, "requested_by": "Tester"}
    base.update(values)
    return ReportRequest(**base)


@pytest.fixture
def steering(make_user):
    return make_user(Role.STEERING, two_factor=True, name="Steering Person")


@pytest.fixture
def convenor(make_user):
    return make_user(Role.CONVENOR, two_factor=True, name="Convenor Person")


@pytest.fixture
def register(make_member):
    """Six members joined this month (one at risk, one with an Arabic name), one lapsed."""
    joined = []
    for i in range(4):
        joined.append(make_member(name=f"Joined Organisation {i}", joined_on=MONTH_START))
    make_member(name="Hidden Risk Collective", joined_on=MONTH_START, at_risk=True)
    make_member(name="جمعية الشفافية الرقمية", country="TN", joined_on=MONTH_START)
    lapsing = make_member(name="Lapsing Network", joined_on=date(2020, 1, 1))
    member_ops.change_status(lapsing, MemberStatus.LAPSED, actor=None, reason="No confirmation")
    db.session.commit()
    return joined


# -- The membership report ------------------------------------------------------------


def test_membership_report_names_no_member_at_risk_and_hides_small_counts(register):
    html = build_html(request())

    assert "Joined Organisation 0" in html and "Lapsing Network" in html
    assert "Hidden Risk Collective" not in html
    assert "Members at risk are counted here but not named (fewer than 5)" in html
    assert "fewer than 5" in html  # one lapsed member: a count under 5 is not printed
    assert "Confidential" not in html


def test_confidential_variant_names_members_at_risk_and_says_confidential(register):
    html = build_html(request(confidential=True))

    assert "Hidden Risk Collective" in html
    assert "Confidential — steering group" in html  # the cover and the running header


def test_membership_report_pdf_is_accessible_and_reads_in_english(register):
    html = build_html(request())
    rendered = render_pdf(html)

    check_accessible(rendered.pdf, "en")
    text = pdf_text(rendered.pdf)
    for words in (
        "Membership report",
        "Contents",
        "Members who joined",
        "Joined Organisation 0",
        f"Page 2 of {rendered.pages}",
        "Active members by focus area",
        "Tester",
    ):
        assert words in text, words
    assert "جمعية الشفافية الرقمية" in text  # a name in Arabic script, in an English report
    assert "Hidden Risk Collective" not in text


def test_arabic_report_is_right_to_left_with_arabic_script(register):
    html = build_html(request(language="ar"))
    assert '<html lang="ar" dir="rtl">' in html
    rendered = render_pdf(html)

    check_accessible(rendered.pdf, "ar")
    text = pdf_text(rendered.pdf)
    assert "جمعية الشفافية الرقمية" in text
    # Dates in Arabic (Babel's month names), strings not yet translated in English.
    month = {11: "نوفمبر", 12: "ديسمبر"}.get(TODAY.month)
    if month:
        assert month in text
    assert "Joined Organisation 0" in text


def test_long_tables_repeat_their_header_row_on_every_page(make_member):
    for i in range(70):
        make_member(name=f"Newcomer Organisation {i:02d}", joined_on=MONTH_START, commit=False)
    db.session.commit()
    rendered = render_pdf(build_html(request()))
    pages_with_header = 0
    for number in range(1, rendered.pages + 1):
        done = subprocess.run(
            ["pdftotext", "-f", str(number), "-l", str(number), "-", "-"],
            input=rendered.pdf,
            capture_output=True,
            check=True,
        )
        text = done.stdout.decode()
        if "Newcomer Organisation" in text:
            assert "Joined on" in text, f"page {number} continues the table without its header"
            pages_with_header += 1
    assert pages_with_header >= 2


def test_french_report_dates_and_countries_in_french(register):
    html = build_html(request(language="fr"))
    assert '<html lang="fr" dir="ltr">' in html
    assert "Tunisie" in html  # pycountry's French country names
    months = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ]
    assert months[TODAY.month - 1] in html
    # In the PDF: the French words with their accents, and an Arabic name as written.
    text = pdf_text(render_pdf(html).pdf)
    assert _in_language("Membership report", "fr") in text
    assert months[TODAY.month - 1] in text and "Tunisie" in text
    assert "é" in text
    assert "جمعية الشفافية الرقمية" in text


@pytest.mark.parametrize("language", ["es", "pt"])
def test_spanish_and_portuguese_reports_in_their_language(register, language):
    html = build_html(request(language=language))
    assert f'<html lang="{language}" dir="ltr">' in html
    title = _in_language("Membership report", language)
    assert title != "Membership report" and f"<h1>{title}</h1>" in html
    assert _in_language("Contents", language) in html


def test_a_language_the_interface_lacks_gives_an_english_report(register):
    html = build_html(request(language="de"))
    assert '<html lang="en" dir="ltr">' in html and "<h1>Membership report</h1>" in html


def test_cover_gives_the_time_in_the_readers_time_zone_and_who_asked(register):
    moment = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)  # 00:30 the next day in Nairobi
    nairobi = build_html(
        request(timezone="Africa/Nairobi", requested_by="Amina Diallo"), now=moment
    )
    cover = nairobi[nairobi.index('<section class="cover"') : nairobi.index("</section>")]
    assert "March 11, 2026" in cover and "12:30" in cover and "Amina Diallo" in cover
    utc = build_html(request(timezone="UTC"), now=moment)
    cover = utc[utc.index('<section class="cover"') : utc.index("</section>")]
    assert "March 10, 2026" in cover and "9:30" in cover
    # By the scheduler: the cover says so.
    scheduled = build_html(request(requested_by=None), now=moment)
    assert "the scheduler" in scheduled[: scheduled.index("</section>")]


def test_a_report_asked_on_the_web_is_in_the_askers_time_zone(client, steering):
    steering.timezone = "Africa/Nairobi"
    db.session.commit()
    sign_in_as(client, steering)
    assert ask(client).status_code == 302
    report = db.session.scalars(sa.select(GeneratedReport)).one()
    assert operations.request_of(report).timezone == "Africa/Nairobi"
    assert operations.request_of(report).requested_by == "Steering Person"


def test_running_header_on_every_page_of_a_confidential_report_only(register, make_member):
    for i in range(60):  # enough members for several pages
        make_member(name=f"Newcomer Organisation {i:02d}", joined_on=MONTH_START, commit=False)
    db.session.commit()
    header = "Confidential — steering group"
    rendered = render_pdf(build_html(request(confidential=True)))
    texts = page_texts(rendered.pdf, rendered.pages)
    assert rendered.pages >= 4
    assert all(header in text for text in texts), [
        i for i, t in enumerate(texts) if header not in t
    ]
    rendered = render_pdf(build_html(request()))
    assert not any(header in text for text in page_texts(rendered.pdf, rendered.pages))


def test_arabic_page_numbers_read_page_x_of_y(register):
    rendered = render_pdf(build_html(request(language="ar")))
    texts = page_texts(rendered.pdf, rendered.pages)
    strip = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")
    for number, text in enumerate(texts[1:], start=2):
        # The digits as numbers, in order (poppler may drop the space beside a digit run).
        assert re.search(f"الصفحة\\s*{number}\\s*من\\s*{rendered.pages}", strip.sub("", text))


def test_html_of_the_report_takes_the_same_number_of_queries_whatever_the_register(
    app, make_member
):
    def queries_for_build() -> int:
        counted = []

        def count(*_args):
            counted.append(1)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            build_html(request(confidential=True))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return len(counted)

    make_member(joined_on=MONTH_START)
    few = queries_for_build()
    for i in range(15):
        make_member(joined_on=MONTH_START, country=["KE", "SN", "BR", "TN", "IN"][i % 5])
    assert queries_for_build() == few


# -- Safe rendering (S27, S28, S29) ---------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


@pytest.fixture
def loopback_server():
    _Recorder.hits = []
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fetcher(app):
    return StaticOnlyFetcher(app.static_folder, "http://localhost")


def test_s27_fetcher_serves_the_apps_own_static_files(fetcher):
    response = fetcher("http://localhost/static/report.css")
    assert b"@page" in response.read()
    assert response.content_type == "text/css"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost.evil.example/static/report.css",
        "http://localhost@evil.example/static/report.css",
        "http://evil.example/static/report.css",
        "https://localhost/static/report.css",
        "http://localhost/static/../../../../etc/passwd",
        "http://localhost/static/%2e%2e/%2e%2e/config.py",
        "http://localhost/members/",
        "data:text/html;base64,PGgxPmhpPC9oMT4=",
        "data:image/svg+xml;base64,PHN2Zy8+",
    ],
)
def test_s27_fetcher_refuses_everything_else(fetcher, url):
    with pytest.raises(ValueError):
        fetcher(url)


def test_s27_fetcher_gives_back_only_the_data_urls_the_app_made(app):
    made = data_url("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    fetcher = StaticOnlyFetcher(app.static_folder, "http://localhost", data_urls=[made])
    assert fetcher(made).read().startswith(b"<svg")
    with pytest.raises(ValueError):
        fetcher(data_url("image/svg+xml", b"<svg/>"))


def test_s27_fetcher_refuses_loopback_and_the_server_hears_nothing(app, fetcher, loopback_server):
    with pytest.raises(ValueError):
        fetcher(f"{loopback_server}/secret")
    html = (
        '<html lang="en"><head><title>t</title>'
        f'<link rel="stylesheet" href="{loopback_server}/a.css">'
        f'</head><body><p>x</p><img alt="x" src="{loopback_server}/b.png">'
        f'<a rel="attachment" href="{loopback_server}/c.txt">c</a>'
        '<img alt="y" src="file:///etc/passwd"></body></html>'
    )
    rendered = render_pdf(html, fetcher=fetcher, base="http://localhost/")
    time.sleep(0.2)
    assert _Recorder.hits == []
    with pikepdf.open(io.BytesIO(rendered.pdf)) as pdf:
        assert "/EmbeddedFiles" not in pdf.Root.get("/Names", {})
    with pytest.raises(URLFetchingError):
        from weasyprint.urls import fetch

        with fetch(fetcher, f"{loopback_server}/d"):
            pass
    assert _Recorder.hits == []


def test_s28_hostile_member_name_prints_as_text(make_member):
    make_member(name=HOSTILE, joined_on=MONTH_START)
    make_member(name='<link rel="attachment" href="file:///etc/passwd">', joined_on=MONTH_START)
    make_member(name="@import url(http://169.254.169.254/x);", joined_on=MONTH_START)
    html = build_html(request())

    assert HOSTILE not in html
    assert str(escape(HOSTILE)) in html
    rendered = render_pdf(html)
    text = pdf_text(rendered.pdf)
    assert 'file:///etc/passwd">' in text
    assert "root:x:0:0" not in text
    with pikepdf.open(io.BytesIO(rendered.pdf)) as pdf:
        assert "/EmbeddedFiles" not in pdf.Root.get("/Names", {})


def test_s29_a_pathological_document_stops_at_the_time_limit_and_the_caller_survives(app):
    rows = "".join(f"<tr><td>{i}</td><td>{'long text ' * 30}</td></tr>" for i in range(6000))
    html = f'<html lang="en"><head><title>t</title></head><body><table>{rows}</table></body></html>'
    started = time.monotonic()
    with pytest.raises(RenderTimeout):
        render_pdf(html, seconds=1)
    assert time.monotonic() - started < 10
    # This process carries on and renders the next report.
    small = render_pdf('<html lang="en"><head><title>t</title></head><body><p>ok</p></body></html>')
    assert small.pages == 1


def test_render_in_child_gives_the_same_pdf_pages_as_weasyprint_itself(app, register, fetcher):
    html = build_html(request())
    direct = write_pdf(html, fetcher, "http://localhost/")
    with pikepdf.open(io.BytesIO(direct)) as pdf:
        assert len(pdf.pages) == render_pdf(html).pages


# -- Asking for a report on the web, the job, the download ------------------------------------


def ask(client, **data):
    form = {
        "kind": "membership",
        "start": str(MONTH_START),
        "end": str(TODAY),
        "language": "en",
    }
    form.update(data)
    return post(client, "/steering/reports/", form, token_from="/steering/reports/")


def test_steering_member_asks_waits_and_downloads(client, steering, register):
    sign_in_as(client, steering)
    response = ask(client)
    assert response.status_code == 302
    report = db.session.scalars(sa.select(GeneratedReport)).one()
    assert response.headers["Location"].endswith(f"/steering/reports/{report.id}")

    page = client.get(f"/steering/reports/{report.id}")
    assert page.headers["Refresh"] == "3"
    assert "Waiting for its turn" in page.get_data(as_text=True)

    assert jobs.run_pending() == 1
    db.session.expire_all()
    report = db.session.get(GeneratedReport, report.id)
    assert report.ready and report.page_count > 2 and report.pending_key is None
    path = operations.file_path(report)
    assert path.stat().st_mode & 0o777 == 0o600

    page = client.get(f"/steering/reports/{report.id}")
    assert "Refresh" not in page.headers
    assert "Download the PDF" in page.get_data(as_text=True)
    listing = client.get("/steering/reports/").get_data(as_text=True)
    assert "Steering Person" in listing and "pages" in listing

    download = client.get(f"/steering/reports/{report.id}/download")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.mimetype == "application/pdf"
    assert download.data[:5] == b"%PDF-"
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(
                AuditEntry.action == "report.downloaded", AuditEntry.object_id == str(report.id)
            )
        )
        == 1
    )


def test_the_list_and_the_page_give_the_period_in_the_readers_language(client, make_user):
    """A French reader reads "1 nov. 2026 - 30 nov. 2026" (an en dash), not ISO dates."""
    dash = "\u2013"
    reader = make_user(Role.STEERING, two_factor=True, language="fr")
    report, _new = operations.request_report(
        request(start=date(2026, 11, 1), end=date(2026, 11, 30)), person=reader
    )
    db.session.commit()
    sign_in_as(client, reader)
    for url in ("/steering/reports/", f"/steering/reports/{report.id}"):
        page = client.get(url).get_data(as_text=True)
        assert f"1 nov. 2026 {dash} 30 nov. 2026" in page, url
        assert f"2026-11-01 {dash}" not in page, url  # (the form's date field keeps ISO)


def test_the_same_report_asked_twice_at_once_runs_once(client, steering):
    sign_in_as(client, steering)
    first = ask(client)
    second = ask(client)
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeneratedReport)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(jobs.Job)) == 1
    page = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "You asked for this report already" in page


def test_period_ending_before_it_starts_is_refused_and_nothing_is_queued(client, steering):
    sign_in_as(client, steering)
    response = ask(client, start=str(TODAY), end=str(TODAY - timedelta(days=3)))
    assert response.status_code == 400
    assert "The period ends before it starts" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeneratedReport)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(jobs.Job)) == 0


def test_unknown_language_falls_back_to_english_and_says_so(client, steering):
    sign_in_as(client, steering)
    response = ask(client, language="xx")
    assert response.status_code == 302
    report = db.session.scalars(sa.select(GeneratedReport)).one()
    assert report.language == "en"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "not one of ours: the report is in English" in page


def test_steering_member_cannot_ask_for_or_open_the_confidential_variant(
    client, steering, convenor
):
    sign_in_as(client, steering)
    response = ask(client, confidential="y")
    assert response.status_code == 400
    assert "Only convenor staff" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeneratedReport)) == 0

    report, _new = operations.request_report(request(confidential=True), person=convenor)
    db.session.commit()
    assert client.get(f"/steering/reports/{report.id}").status_code == 404
    assert client.get(f"/steering/reports/{report.id}/download").status_code == 404
    assert "Confidential" not in client.get("/steering/reports/").get_data(as_text=True)


def test_convenor_deletes_a_report_and_its_file(client, convenor, steering):
    report, _new = operations.request_report(request(), person=steering)
    db.session.commit()
    jobs.run_pending()
    db.session.expire_all()
    report = db.session.get(GeneratedReport, report.id)
    path = operations.file_path(report)
    assert path.is_file()
    report_id = report.id

    sign_in_as(client, steering)
    denied = post(client, f"/steering/reports/{report.id}/delete", token_from="/steering/reports/")
    assert denied.status_code == 404
    sign_in_as(client, convenor)
    done = post(client, f"/steering/reports/{report_id}/delete", token_from="/steering/reports/")
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(GeneratedReport, report_id) is None
    assert not path.exists()


def test_old_reports_are_removed_with_their_files(app, steering):
    report, _new = operations.request_report(request(), person=steering)
    db.session.commit()
    jobs.run_pending()
    db.session.expire_all()
    report = db.session.get(GeneratedReport, report.id)
    path = operations.file_path(report)
    days = app.config["REPORTS_KEEP_DAYS"]

    assert operations.remove_old_reports(now=utcnow() + timedelta(days=days - 1)) == 0
    assert operations.remove_old_reports(now=utcnow() + timedelta(days=days + 1)) == 1
    assert not path.exists()


def test_a_failed_render_leaves_the_report_free_to_ask_again(app, steering, monkeypatch):
    from coalition.steering.reports import operations as ops_module

    def broken(_html):
        raise RenderTimeout("too long")

    monkeypatch.setattr(ops_module, "render_pdf", broken)
    report, _new = operations.request_report(request(), person=steering)
    db.session.commit()
    jobs.run_pending()
    db.session.expire_all()
    report = db.session.get(GeneratedReport, report.id)
    assert report.job.status == jobs.JobStatus.FAILED
    assert report.pending_key is None and not report.ready
    again, new = operations.request_report(request(), person=steering)
    assert new and again.id != report.id


# -- The monthly report -------------------------------------------------------------------------


def test_monthly_report_goes_to_each_steering_member_once_in_their_language(make_user, register):
    english = make_user(Role.STEERING, two_factor=True, language="en")
    french = make_user(Role.STEERING, two_factor=True, language="fr")
    make_user(Role.APPLICANT)

    assert operations.send_monthly_reports() == 2
    db.session.commit()
    jobs.run_pending()
    reports = db.session.scalars(
        sa.select(GeneratedReport).order_by(GeneratedReport.language)
    ).all()
    assert [(r.language, r.ready, r.requested_by_id) for r in reports] == [
        ("en", True, None),
        ("fr", True, None),
    ]
    start, end = operations.previous_month(TODAY)
    assert (reports[0].period_start, reports[0].period_end) == (start, end)
    mails = outbox("monthly_membership_report")
    assert sorted(m.recipient for m in mails) == sorted([english.email, french.email])
    for message in mails:
        assert "/steering/reports/" in message.body_text
        assert "%PDF" not in message.body_text

    # The second run in the month sends nothing.
    assert operations.send_monthly_reports() == 0
    db.session.commit()
    assert jobs.run_pending() == 0
    assert len(outbox("monthly_membership_report")) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeneratedReport)) == 2


def test_monthly_report_is_a_scheduler_job():
    from coalition.scheduler import build_scheduler

    class App:
        config = {
            "OUTBOX_POLL_SECONDS": 10,
            "JOBS_POLL_SECONDS": 3,
            "SUBMISSION_DIGEST_HOUR": 6,
            "BACKUP_HOUR": 1,
        }

    ids = {job.id for job in build_scheduler(App()).get_jobs()}
    assert {"send_monthly_reports", "remove_old_reports"} <= ids


# -- The command -------------------------------------------------------------------------------


def test_cli_build_help_lists_the_registered_kinds(runner):
    result = runner.invoke(args=["reports", "build", "--help"])
    assert result.exit_code == 0
    assert "membership" in result.output and "--confidential" in result.output
    assert "portfolio" in result.output
    assert "--round" in result.output and "--application" in result.output
    assert kind_names() == ["dossier", "membership", "portfolio", "round"]


def test_cli_build_writes_the_pdf_and_says_pages_and_time(runner, register, tmp_path):
    out = tmp_path / "report.pdf"
    result = runner.invoke(
        args=[
            "reports",
            "build",
            "membership",
            "--from",
            str(MONTH_START),
            "--to",
            str(TODAY),
            "--lang",
            "fr",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "pages in" in result.output
    assert out.read_bytes()[:5] == b"%PDF-"


def test_cli_build_refuses_a_period_ending_before_it_starts(runner, tmp_path):
    out = tmp_path / "report.pdf"
    result = runner.invoke(
        args=[
            "reports",
            "build",
            "membership",
            "--from",
            "2026-05-01",
            "--to",
            "2026-04-01",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code != 0
    assert "ends before it starts" in result.output
    assert not out.exists()


def test_missing_report_fonts_are_named_with_their_package(app, monkeypatch):
    from coalition.steering.reports import rendering

    monkeypatch.setattr(rendering, "missing_fonts", lambda: ("Noto Naskh Arabic",))
    with pytest.raises(rendering.ReportError) as caught:
        render_pdf('<html lang="en"><head><title>t</title></head><body>x</body></html>')
    assert "fonts-noto-core" in caught.value.message


def test_the_reports_fonts_are_installed():
    from coalition.steering.reports.rendering import missing_fonts

    assert missing_fonts() == ()


DEMO_REPORTS = [
    ("membership", "en"),
    ("membership", "fr"),
    ("portfolio", "en"),
    ("portfolio", "fr"),
    ("round", "en"),
    ("round", "ar"),
    ("dossier", "en"),
    ("dossier", "ar"),
]
DEMO_TITLES = {
    "membership": "Membership report",
    "portfolio": "Fund portfolio report",
    "round": "Round report",
    "dossier": "Application dossier",
}


def test_demo_holds_a_report_of_each_kind_in_english_and_in_french_or_arabic(runner):
    """``make run``'s demo: eight reports queued for the scheduler (not drawn while
    the demo is seeded); the job runner then makes every one, in its language."""
    from coalition.grants.models import Application, ApplicationStatus
    from coalition.steering.models import Vote

    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    reports = db.session.scalars(sa.select(GeneratedReport).order_by(GeneratedReport.id)).all()
    assert [(r.kind, r.language) for r in reports] == DEMO_REPORTS
    assert all(r.job is not None and r.job.status == jobs.JobStatus.QUEUED for r in reports)
    # The round report is about the round with the steering vote; the dossier about an
    # application decided in it.
    voted = db.session.scalar(sa.select(Vote.round_id).order_by(Vote.id).limit(1))
    round_report = next(r for r in reports if r.kind == "round")
    assert round_report.options["round_id"] == voted
    dossier = db.session.get(
        Application, next(r for r in reports if r.kind == "dossier").options["application_id"]
    )
    assert dossier.round_id == voted
    assert dossier.status in (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED)

    assert jobs.run_pending() == len(DEMO_REPORTS)
    for report in reports:
        db.session.refresh(report)
        assert report.ready and report.page_count >= 2, (report.kind, report.language)
        data = operations.file_path(report).read_bytes()
        assert len(data) == report.size_bytes
        with pikepdf.open(io.BytesIO(data)) as pdf:
            assert str(pdf.Root.Lang) == report.language
            title = _in_language(DEMO_TITLES[report.kind], report.language)
            assert str(pdf.docinfo.Title).startswith(title), (report.kind, report.language)
        text = pdf_text(data)
        if report.language == "ar":
            assert re.search("[\u0600-\u06ff]{4}", text), report.kind
        assert report.requested_by.email == f"convenor@{demo.DEMO_DOMAIN}"
    # Seeding again adds nothing.
    assert runner.invoke(args=["seed-demo", "--if-empty"]).exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeneratedReport)) == 8


@pytest.mark.committing
def test_the_same_report_asked_at_the_same_moment_is_made_once(app, make_user):
    person = make_user(Role.STEERING, two_factor=True)
    person_id = person.id
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: list = []

    def attempt():
        with app.app_context():
            from coalition.accounts.models import User

            asker = db.session.get(User, person_id)
            db.session.commit()
            barrier.wait()
            try:
                report, new = operations.request_report(request(), person=asker)
                db.session.commit()
                outcomes.append((report.id, new))
            except Exception as exc:  # a lock error would be a failure of the design
                db.session.rollback()
                outcomes.append(f"error: {exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len({o[0] for o in outcomes if isinstance(o, tuple)}) == 1, outcomes
    assert sorted(new for _id, new in outcomes) == [False, True], outcomes
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeneratedReport)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(jobs.Job)) == 1


def chart_html(html: str, table_id: str) -> str:
    """One of the report's bar charts (the table with its bars), cut out of its HTML."""
    start = html.index(f'<table class="bars" id="{table_id}">')
    return html[start : html.index("</table>", start) + len("</table>")]


def svg_charts(html: str) -> dict[str, str]:
    """The report's SVG charts by their id (taken from their title's id)."""
    found = {}
    for svg in re.findall(r"<svg\b.*?</svg>", html, re.S):
        chart_id = re.search(r'<title id="([^"]+)-title">', svg).group(1)
        found[chart_id] = svg
    return found


def assert_alternative_text(svg: str) -> None:
    """An SVG chart as the membership figures draw it: an image labelled by its title
    (the PDF's alternative text) and description."""
    chart_id = re.search(r'<title id="([^"]+)-title">', svg).group(1)
    assert 'role="img"' in svg
    assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in svg
    assert re.search(r'<title id="[^"]+">[^<]+</title>', svg)
    assert re.search(r'<desc id="[^"]+">[^<]+</desc>', svg)


def test_every_chart_of_the_membership_report_is_svg_with_alternative_text(register):
    html = build_html(request())
    charts = svg_charts(html)
    sections = ("status", "kind", "type", "region", "country", "focus")
    assert set(charts) == {"chart-over-time", *(f"chart-{key}" for key in sections)}
    for svg in charts.values():
        assert_alternative_text(svg)
    assert "<img" not in html
    # The bar charts draw bars alone: their labels and values are their table's text.
    for key in sections:
        assert "<text" not in charts[f"chart-{key}"]
        table = chart_html(html, f"chart-{key}-table")
        assert charts[f"chart-{key}"] in table
    status = chart_html(html, "chart-status-table")
    assert re.search(r'<th scope="row"><bdi>Active</bdi></th><td class="num"><bdi>5</bdi>', status)
    assert "<desc" in status and "Active: 5" in charts["chart-status"]


def test_arabic_chart_labels_print_as_words_and_the_bars_are_mirrored(register, make_member):
    """WeasyPrint draws SVG text letter by letter (no shaping, no bidi): a bar chart's
    labels are its table's text beside the SVG of its bars, so the Arabic labels print as
    words, read right to left, and the bars start on the right."""
    make_member(name="Kenyan Network", country="KE", joined_on=MONTH_START)
    html = build_html(request(language="ar"))
    charts = svg_charts(html)
    for key in ("country", "status"):
        assert "<text" not in charts[f"chart-{key}"]
        assert 'direction="rtl"' in charts[f"chart-{key}"]
        # Mirrored: every bar ends on the chart's right edge (180 wide, 2 of margin).
        for x, width in re.findall(
            r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', charts[f"chart-{key}"]
        ):
            assert float(x) + float(width) == pytest.approx(180)
    chart = chart_html(html, "chart-country-table")
    # Only the chart, in an Arabic page: what it prints is the chart's own text.
    page = (
        '<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>t</title>'
        f'<link rel="stylesheet" href="/static/report.css"></head><body>{chart}</body></html>'
    )
    rendered = render_pdf(page).pdf
    text = pdf_text(rendered)
    # pdftotext marks right-to-left runs with embedding controls: left out here.
    text = re.sub("[\u202a-\u202e\u2066-\u2069]", "", text)
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
    for country in ("تونس", "كينيا"):  # Tunisia, Kenya: each a word of its row
        assert any(line.endswith(country) for line in lines), (country, lines)
    with pikepdf.open(io.BytesIO(rendered)) as pdf:
        assert not _images(pdf.pages[0].Resources)
    # The chart over time names its months in digits in an Arabic report: no Arabic
    # script in SVG text, where it would print broken.
    over_time = charts["chart-over-time"]
    labels = re.sub(r"<title.*?</title>|<desc.*?</desc>", "", over_time, flags=re.S)
    assert not re.search(r"[\u0600-\u06ff]", labels), labels[:300]
    assert re.search(r">\d\d/\d{4}<", labels)


def test_render_from_one_of_the_schedulers_threads(app):
    """The scheduler runs jobs in a thread pool: the child forked from such a thread
    must hand its PDF back (Python's exit handlers would end it with status 1)."""
    from concurrent.futures import ThreadPoolExecutor

    html = '<html lang="en"><head><title>t</title></head><body><p>ok</p></body></html>'

    def work():
        with app.app_context():
            return render_pdf(html).pages

    with ThreadPoolExecutor(2) as pool:
        assert pool.submit(work).result(timeout=60) == 1
