"""The fund portfolio report (issue 13): its figures against the awards pages' own,
what each variant shows, its PDF (tagged, English and Arabic), its fixed number of
queries, and who may ask for it and read it."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import awards as ops
from coalition.grants import grantee_reports as report_ops
from coalition.grants.award_models import Award
from coalition.grants.models import Fund, Round
from coalition.grants.money import format_money
from coalition.members.figures import number
from coalition.policy import can
from coalition.steering.reports import operations
from coalition.steering.reports.kinds import ReportRequest, get_kind
from coalition.steering.reports.models import GeneratedReport
from coalition.steering.reports.portfolio import STATES, gather
from coalition.steering.reports.portfolio_demo import seed_portfolio_in_bulk
from coalition.steering.reports.rendering import build_html, render_pdf
from tests.access_table import ANONYMOUS, CONVENOR, PEOPLE, STEERING_GROUP
from tests.awards_factories import TODAY, approved, award, file_and_submit, pay_all
from tests.clock import MONTH_START
from tests.conftest import post, sign_in_as
from tests.reviews_factories import make_round
from tests.test_reports import (
    assert_alternative_text,
    chart_html,
    check_accessible,
    pdf_text,
    svg_charts,
)


def request(**values) -> ReportRequest:
    base = {"kind": "portfolio", "start": MONTH_START, "end": TODAY, "requested_by": "Tester"}
    base.update(values)
    return ReportRequest(**base)


@pytest.fixture
def portfolio(app):
    """One round by the real operations: a grant paid in full with its interim report
    accepted, a grant with its first tranche paid, a grant cancelled after one
    tranche; an Arabic-named grantee; a second, empty round."""
    round_ = make_round(budget=5_000_000)
    round_.title = "الجولة الأولى"  # an Arabic round title, for the chart rows
    empty = make_round(budget=1_000_000)
    own_fund, empty.fund = empty.fund, round_.fund
    db.session.flush()
    db.session.delete(own_fund)
    a = award(
        approved(round_, amount=2_000_000, org_name="جمعية الشفافية الرقمية", org_country="TN")
    )
    b = award(approved(round_, amount=800_000, org_name="Lagos Media Network", org_country="NG"))
    c = award(approved(round_, amount=600_000, org_name="Dakar Data Lab", org_country="SN"))
    pay_all(a)
    file_and_submit(a.reports[0])
    report_ops.accept(a.reports[0], actor=None)
    ops.mark_paid(b.tranches[0], actor=None, paid_on=TODAY, reference="TX-B-ONE")
    ops.mark_paid(c.tranches[0], actor=None, paid_on=TODAY, reference="TX-C-ONE")
    ops.cancel(c, actor=None, reason="The organisation closed.")
    db.session.commit()
    return round_.fund


# -- The figures ------------------------------------------------------------------------------


def test_portfolio_figures_equal_the_awards_figures(portfolio):
    seed_portfolio_in_bulk(40)  # a second fund, with every kind of grant
    db.session.commit()
    context = gather(request())

    funds = {part.name: part for part in context["funds"]}
    assert len(funds) == 2
    overdue = 0
    for fund in db.session.scalars(sa.select(Fund)):
        part = funds[fund.name]
        web = ops.fund_figures(fund)
        assert part.figures == web
        assert part.round_figures == ops.round_figures(fund)
        assert part.total.awarded == format_money(web.awarded, fund.currency)
        assert part.total.still_to_pay == format_money(web.still_to_pay, fund.currency)
        assert part.total.left_to_award == format_money(web.left_to_award, fund.currency)
        overdue += web.reports_overdue
    # Every overdue report the figures count is listed by name, under its grant.
    assert len(context["reports_overdue"]) == overdue > 0
    listed = sum(1 for a in context["attention"] for need in a.needs if ": overdue (" in need)
    assert listed == overdue
    # The grants counted per round and state are the grants the figures count, in the
    # states the grants pages give them (Award.state_on, the list's filters).
    today = ops.today_utc()
    for fund in db.session.scalars(sa.select(Fund)):
        part = funds[fund.name]
        by_state = Counter(
            (grant.round_id, grant.state_on(today))
            for grant in db.session.scalars(
                sa.select(Award).join(Award.round).where(Round.fund_id == fund.id)
            )
        )
        for row, figures in zip(part.states, part.round_figures, strict=True):
            assert row.total == number(figures.grants), row.label
            assert row.counts == [number(by_state[(figures.round_id, s)]) for s in STATES]
        assert part.states_total.total == number(part.figures.grants)

    # By hand, for the first fund: a (2,000,000 paid), b (400,000 of 800,000 paid),
    # c cancelled after 300,000: it counts for what was paid.
    part = funds[portfolio.name]
    assert (part.figures.awarded, part.figures.paid) == (3_100_000, 2_700_000)
    assert part.figures.still_to_pay == 400_000
    assert part.figures.grants == 3
    assert [r.grants for r in part.round_figures] == [3, 0]


def test_grants_counted_by_state_and_reports_accepted_by_round(portfolio):
    context = gather(request())
    (part,) = context["funds"]
    first, second = part.states
    # a (paid in full, final report still due) and b are active, c cancelled.
    assert (first.counts, first.total) == (["2", "0", "0", "1"], "3")
    assert (second.counts, second.total) == (["0", "0", "0", "0"], "0")
    assert part.states_total.counts == ["2", "0", "0", "1"]
    # a's interim report, accepted today: counted in its round, by kind.
    assert context["reports_accepted"] == 1
    assert [(row.label, row.counts, row.total) for row in part.accepted] == [
        ("الجولة الأولى", ["1", "0"], "1")
    ]
    # Nothing is late today: no grant needs attention.
    assert context["attention"] == []
    paid = {(t.grantee, t.country, t.amount) for t in context["tranches_paid"]}
    assert ("Lagos Media Network", "Nigeria", format_money(400_000, "USD")) in paid


def test_a_grant_with_a_late_report_and_a_late_tranche_needs_attention(portfolio, monkeypatch):
    later = TODAY + timedelta(days=130)  # b's interim report (at 120 days) and tranche late
    monkeypatch.setattr(ops, "today_utc", lambda: later)
    context = gather(request(start=later.replace(day=1), end=later))
    (line,) = context["attention"]
    assert (line.grantee, line.country) == ("Lagos Media Network", "Nigeria")
    assert line.paid_of_amount == (
        f"{format_money(400_000, 'USD')} of {format_money(800_000, 'USD')}"
    )
    assert len(line.needs) == 2
    assert line.needs[0].startswith("Interim report due on ") and line.needs[0].endswith(
        ": overdue (Due)"
    )
    assert line.needs[1].startswith(f"Tranche of {format_money(400_000, 'USD')} planned on ")
    assert line.needs[1].endswith(": late")
    (part,) = context["funds"]
    assert part.states[0].counts == ["1", "1", "0", "1"]  # b is now "report overdue"


# -- The two variants ---------------------------------------------------------------------------


def test_steering_variant_has_no_payment_reference_and_is_confidential(portfolio):
    html = build_html(request())
    assert "TX-B-ONE" not in html and ">Payment reference</th>" not in html
    assert "Payment references are left out" in html
    assert "Confidential — steering group" in html  # the cover, and the running header
    assert "@top-center" in html


def test_staff_variant_lists_the_payment_references(portfolio):
    html = build_html(request(confidential=True))
    assert "TX-B-ONE" in html and "TX-C-ONE" in html
    assert ">Payment reference</th>" in html
    assert "Confidential — steering group" in html


# -- The PDF ----------------------------------------------------------------------------------


def test_portfolio_pdf_is_accessible_and_reads_in_english(portfolio):
    rendered = render_pdf(build_html(request()))
    # Two charts, each an SVG with its alternative text: the fund's money and its rounds.
    check_accessible(rendered.pdf, "en", title="Fund portfolio report", figures=2, bookmarks=5)
    text = pdf_text(rendered.pdf)
    for words in (
        "Fund portfolio report",
        "Contents",
        "Confidential — steering group",
        f"Page 2 of {rendered.pages}",
        "Left to award",
        "Grants per round and state",
        "Grants that need attention",
        "Lagos Media Network",
        "Tranches paid in the period",
        "Reports accepted in the period",
        format_money(3_100_000, "USD"),
        "جمعية الشفافية الرقمية",
    ):
        assert words in text, words


def test_portfolio_pdf_in_arabic_has_its_chart_rows_as_words(portfolio):
    html = build_html(request(language="ar"))
    assert '<html lang="ar" dir="rtl">' in html
    rendered = render_pdf(html)
    check_accessible(rendered.pdf, "ar", title="Fund portfolio report", figures=2, bookmarks=5)
    text = re.sub("[\u202a-\u202e\u2066-\u2069]", "", pdf_text(rendered.pdf))
    assert "جمعية الشفافية الرقمية" in text
    assert "تونس" in text  # the grantee's country, in Arabic
    # The chart of the rounds, alone: the Arabic round title prints as words, in order,
    # and the SVG beside it draws bars only, from the right.
    assert "<text" not in svg_charts(html)["chart-fund-1-rounds"]
    assert 'direction="rtl"' in svg_charts(html)["chart-fund-1-rounds"]
    chart = chart_html(html, "chart-fund-1-rounds-table")
    page = (
        '<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>t</title>'
        f'<link rel="stylesheet" href="/static/report.css"></head><body>{chart}</body></html>'
    )
    alone = re.sub("[\u202a-\u202e\u2066-\u2069]", "", pdf_text(render_pdf(page).pdf))
    lines = [" ".join(line.split()) for line in alone.splitlines() if line.strip()]
    assert any(line.endswith("الجولة الأولى") for line in lines), lines


def test_every_chart_of_the_portfolio_is_svg_with_alternative_text_beside_its_figures(
    portfolio,
):
    """Each fund's two bar charts are SVG (bars alone) with a title and a description,
    set in the table of the figures they draw (the PDF has no raster image: the PDF tests'
    ``check_accessible``)."""
    html = build_html(request())
    charts = svg_charts(html)
    assert set(charts) == {"chart-fund-1-money", "chart-fund-1-rounds"}
    for chart_id, svg in charts.items():
        assert_alternative_text(svg)
        assert "<text" not in svg
        assert svg in chart_html(html, f"{chart_id}-table")
    assert "<img" not in html
    money = chart_html(html, "chart-fund-1-money-table")
    f = gather(request())["funds"][0].figures
    for label, value in (("Budget", f.budget), ("Awarded", f.awarded), ("Paid", f.paid)):
        assert (
            f'<th scope="row"><bdi>{label}</bdi></th>'
            f'<td class="num"><bdi>{format_money(value, "USD")}</bdi></td>'
        ) in money
    # Bars in proportion: the budget full length, the amount awarded its share of it.
    widths = [
        float(w)
        for w in re.findall(
            r'<rect x="0" y="[\d.]+" width="([\d.]+)"', charts["chart-fund-1-money"]
        )
    ]
    assert widths[0] == 178
    assert widths[1] == pytest.approx(178 * f.awarded / f.budget, abs=0.06)


def test_the_attention_table_repeats_its_header_row_on_every_page(app):
    seed_portfolio_in_bulk(400)
    db.session.commit()
    import subprocess

    context = gather(request())
    assert 100 < len(context["attention"]) < 400  # the grants on track are only counted
    rendered = render_pdf(build_html(request()))
    pages = 0
    for number_ in range(1, rendered.pages + 1):
        text = subprocess.run(
            ["pdftotext", "-f", str(number_), "-l", str(number_), "-", "-"],
            input=rendered.pdf,
            capture_output=True,
            check=True,
        ).stdout.decode()
        text = " ".join(text.split())  # a heading may wrap in its narrow column
        if "Tranche of " in text or "report due on " in text:  # a row of the attention table
            assert "Grantee" in text and "What is due" in text, f"page {number_}"
            pages += 1
    assert pages >= 2


def _queries(fn) -> int:
    counted = []

    def count(*_args):
        counted.append(1)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(counted)


def test_html_of_the_portfolio_takes_the_same_number_of_queries_for_10_and_200_grants(app):

    fund = seed_portfolio_in_bulk(10, rounds=2)
    db.session.commit()
    build_html(request(confidential=True))  # what a running job has loaded once
    few = _queries(lambda: build_html(request(confidential=True)))
    seed_portfolio_in_bulk(190, rounds=2, fund=fund)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Award)) == 200
    assert _queries(lambda: build_html(request(confidential=True))) == few
    # The funds, the figures of the one fund, the grants, tranches and reports.
    assert few <= 8, few


# -- Who may ask for it and read it -------------------------------------------------------------


def test_the_portfolio_rule_follows_the_money_figures(make_user):
    for roles, allowed in (
        ((Role.CONVENOR,), True),
        ((Role.STEERING,), True),
        ((Role.APPLICANT,), False),
        ((Role.REVIEWER,), False),
        ((Role.MEMBER_CONTACT,), False),
    ):
        user = make_user(*roles, two_factor=True)
        assert can(user, "reports.portfolio") is allowed, roles
        assert can(user, "reports.portfolio") == can(user, "awards.figures")
    assert get_kind("portfolio").is_confidential(request())


@pytest.fixture
def world(make_user):
    from tests.test_access import build_world

    return build_world(make_user)


def _stored(world, *, confidential: bool) -> int:
    from coalition.db import utcnow

    report, _new = operations.request_report(
        request(confidential=confidential), person=world.users[CONVENOR]
    )
    report.file_name = operations.store_pdf(b"%PDF-1.7\n%%EOF\n")
    report.size_bytes, report.page_count = 15, 1
    report.generated_at, report.pending_key = utcnow(), None
    db.session.commit()
    return report.id


@pytest.mark.parametrize("person", sorted(PEOPLE))
def test_who_may_ask_for_and_read_the_portfolio(client, world, person):
    """The route x person table for this kind: steering group and staff ask for it and
    read it; the staff variant (payment references) is the staff's only; the others
    are refused, and find neither report."""
    ordinary = _stored(world, confidential=False)
    staff = _stored(world, confidential=True)
    if person != ANONYMOUS:
        sign_in_as(client, world.users[person])
    form = {"kind": "portfolio", "start": str(MONTH_START), "end": str(TODAY), "language": "en"}
    if person == ANONYMOUS:
        assert client.post("/steering/reports/", data=form).status_code in (400, 401)
    else:
        asked = post(client, "/steering/reports/", form, token_from="/steering/")
        if person in STEERING_GROUP:
            assert asked.status_code == 302, asked.status_code
        else:
            assert asked.status_code == 403
    for report_id, readers in ((ordinary, STEERING_GROUP), (staff, {CONVENOR})):
        for path in (f"/steering/reports/{report_id}", f"/steering/reports/{report_id}/download"):
            answer = client.get(path)
            if person == ANONYMOUS:
                assert answer.status_code == 302
            elif person in readers:
                assert answer.status_code == 200, (path, answer.status_code)
            else:
                assert answer.status_code == 404, (path, answer.status_code)


def test_steering_member_asks_for_the_portfolio_and_it_is_made(client, make_user, portfolio):
    from coalition import jobs

    steering = make_user(Role.STEERING, two_factor=True, name="Steering Person")
    sign_in_as(client, steering)
    form = {"kind": "portfolio", "start": str(MONTH_START), "end": str(TODAY), "language": "en"}
    asked = post(client, "/steering/reports/", form, token_from="/steering/reports/")
    assert asked.status_code == 302
    assert jobs.run_pending() == 1
    report = db.session.scalars(sa.select(GeneratedReport)).one()
    db.session.refresh(report)
    assert report.ready and not report.confidential and report.page_count >= 4
    page = client.get(f"/steering/reports/{report.id}").get_data(as_text=True)
    assert "Steering group (without payment references)" in page
    download = client.get(f"/steering/reports/{report.id}/download")
    assert b"TX-B-ONE" not in download.data
    assert "TX-B-ONE" not in pdf_text(download.data)
    # ...and not the staff variant.
    asked = post(
        client, "/steering/reports/", {**form, "confidential": "y"}, token_from="/steering/reports/"
    )
    assert asked.status_code == 400


def test_figures_day_is_the_awards_pages_day(portfolio, monkeypatch):
    later = TODAY + timedelta(days=130)  # the interim reports (due at 120 days) are late
    monkeypatch.setattr(ops, "today_utc", lambda: later)
    context = gather(request())
    (part,) = context["funds"]
    assert part.figures == ops.fund_figures(portfolio, later)
    assert part.figures.reports_overdue == len(context["reports_overdue"]) == 1
    assert [a.grantee for a in context["attention"]] == ["Lagos Media Network"]
