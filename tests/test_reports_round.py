"""The round report and the application dossier (issue 13): their figures against the
web's own functions, their PDFs (tagged, English and Arabic), the blind and recusal
rules, their fixed number of queries, who may ask for them and read them (the route
x role world), the form's choices, the audit of a download and the command."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from coalition import jobs
from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import decisions
from coalition.grants.models import BudgetLine, RoundPhase
from coalition.grants.money import format_money
from coalition.grants.review_models import (
    Recommendation,
    Review,
    ReviewScore,
    ReviewStatus,
)
from coalition.grants.scores import round_ranking
from coalition.policy import can
from coalition.steering import voting
from coalition.steering.models import Choice, Outcome, VoteItem
from coalition.steering.reports import operations
from coalition.steering.reports.dossier import gather as gather_dossier
from coalition.steering.reports.kinds import ReportRequest
from coalition.steering.reports.models import GeneratedReport
from coalition.steering.reports.rendering import build_html, render_pdf
from coalition.steering.reports.round_report import gather as gather_round
from coalition.steering.reports.round_report import score_text
from tests.access_table import (
    ANONYMOUS,
    CONFLICTED_STEERING,
    CONVENOR,
    PEOPLE,
    STEERING,
)
from tests.clock import TODAY
from tests.conftest import post, sign_in_as
from tests.reviews_factories import make_person, make_round
from tests.steering_factories import declare_all_clear, make_vote, vote_as
from tests.test_reports import check_accessible, pdf_text

A, R, X = Choice.APPROVE, Choice.REJECT, Choice.ABSTAIN
ARABIC_ORG = "جمعية الشفافية الرقمية"


def request(kind: str, **values) -> ReportRequest:
    base = {"kind": kind, "start": TODAY, "end": TODAY, "requested_by": "Tester"}
    base.update(values)
    return ReportRequest(**base)


def submitted_review(application, reviewer, scores, recommendation=Recommendation.FUND):
    review = Review(
        application=application,
        reviewer=reviewer,
        status=ReviewStatus.SUBMITTED,
        recommendation=recommendation,
        comment_applicant="Clear plan for the applicant to read.",
        comment_confidential="Confidential remark on the budget.",
        submitted_at=utcnow(),
    )
    for criterion, score in zip(application.round.criteria, scores, strict=False):
        review.scores.append(ReviewScore(criterion=criterion, score=score))
    db.session.add(review)
    db.session.flush()
    return review


def voted_round(*, blind=False, applications=4, close=True, apply=True):
    """A round of ``applications`` (300,000 each, budget 700,000), three seats, a review
    each, the first application's organisation Arabic. Votes: app0 A A A, app1 A A R,
    app2 A R X (a tie), the rest A A -; the third seat's sitter recused from app3."""
    round_ = make_round(budget=700_000)
    round_.blind_review = blind
    vote, apps, seats = make_vote(
        seats=3, applications=applications, round_=round_, amounts=[300_000] * applications
    )
    apps[0].org_name = ARABIC_ORG
    apps[0].org_country = "TN"
    apps[0].budget_lines.append(BudgetLine(category="Travel", description="Trainers", amount=1))
    reviewer = make_person(Role.REVIEWER, name="Reviewer Rania")
    for i, application in enumerate(apps):
        submitted_review(application, reviewer, [5 - (i % 3), 4])
    recused = seats[2].representative
    voting.declare(vote, apps[3], recused, conflict=True, description="Board member")
    table = {0: [A, A, A], 1: [A, A, R], 2: [A, R, X]}
    for index, application in enumerate(apps):
        for seat, choice in zip(seats, table.get(index, [A, A, None]), strict=True):
            if choice is not None and not (index == 3 and seat is seats[2]):
                vote_as(vote, seat, application, choice)
    if close:
        voting.close(vote, now=vote.closes_at)
    if close and apply:
        decisions.apply_result(
            vote,
            actor=make_person(Role.CONVENOR),
            overrides={apps[2].id: ("rejected", "Out of the fund's scope.")},
        )
    db.session.commit()
    return round_, vote, apps, seats, recused


# -- The figures --------------------------------------------------------------------------


def test_round_report_figures_equal_the_overview_and_the_result(app):
    round_, vote, _apps, _seats, recused = voted_round()
    context = gather_round(request("round", options={"round_id": round_.id}))

    web = round_ranking(round_)
    assert [line.rank for line in context["ranking"]] == [row.rank for row in web.rows]
    assert [line.mean for line in context["ranking"]] == [score_text(r.mean) for r in web.rows]
    assert [line.above_line for line in context["ranking"]] == [r.within_budget for r in web.rows]
    assert context["allocated"] == format_money(web.allocated, "USD")
    left = decisions.budget_left(round_)
    assert context["budget_left"] == left
    assert context["left"] == format_money(left, "USD")
    assert context["awarded"] == format_money(round_.budget - left, "USD")

    items = db.session.scalars(
        sa.select(VoteItem).where(VoteItem.vote_id == vote.id).order_by(VoteItem.rank)
    ).all()
    assert [r.outcome for r in context["results"]] == [i.outcome.label for i in items]
    assert [r.rule for r in context["results"]] == [i.rule.label for i in items]
    tie = context["results"][2]
    assert items[2].outcome == Outcome.NO_DECISION
    assert tie.overridden and tie.override_reason == "Out of the fund's scope."
    assert not context["results"][0].overridden
    assert [r.eligible for r in context["results"]] == ["3", "3", "3", "2"]
    assert [person for _seat, person, _app in context["recusals"]] == [recused.name]
    assert dict(context["statuses"])  # by status
    assert len(context["roll"]) == 3


def test_dossier_figures_equal_the_ranking_and_the_vote(app):
    round_, vote, apps, _seats, _recused = voted_round()
    context = gather_dossier(request("dossier", options={"application_id": apps[0].id}))
    row = next(r for r in round_ranking(round_).rows if r.application_id == apps[0].id)
    assert row.mean is not None and context["mean"] == score_text(row.mean)
    assert context["rank"] == row.rank
    item = next(i for i in vote.items if i.application_id == apps[0].id)
    assert context["outcome"] == item.outcome.label
    assert [text for _s, text, _n in context["seat_votes"]] == ["Approve"] * 3
    assert context["reviews"][0].comment_confidential == "Confidential remark on the budget."


# -- The PDFs -----------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ar"])
def test_round_report_pdf_is_tagged_and_reads(app, language):
    round_, *_rest = voted_round()
    round_.title = "الجولة الأولى" if language == "ar" else "Round of the test"
    db.session.commit()
    html = build_html(request("round", language=language, options={"round_id": round_.id}))
    if language == "ar":
        assert '<html lang="ar" dir="rtl">' in html
    rendered = render_pdf(html)
    check_accessible(rendered.pdf, language, title="Round report", figures=0, bookmarks=4)
    text = pdf_text(rendered.pdf)
    assert round_.title in text
    assert ARABIC_ORG in text
    assert "Reviewer Rania" not in text  # the round report names no reviewer
    if language == "en":
        for words in ("Ranking and funding line", "Recusals", "Overridden by staff"):
            assert words in text


@pytest.mark.parametrize("language", ["en", "ar"])
def test_dossier_pdf_is_tagged_and_holds_both_comments(app, language):
    _round, _vote, apps, _seats, _recused = voted_round()
    html = build_html(request("dossier", language=language, options={"application_id": apps[0].id}))
    rendered = render_pdf(html)
    check_accessible(rendered.pdf, language, title="Application dossier", figures=0, bookmarks=4)
    text = pdf_text(rendered.pdf)
    for words in (
        ARABIC_ORG,
        "Clear plan for the applicant to read",  # the full stop moves in Arabic
        "Confidential remark on the budget",
        "Reviewer Rania",
        "Trainers",
    ):
        assert words in text


# -- Blind review ---------------------------------------------------------------------------


def test_blind_round_report_before_the_decision_names_no_applicant(app):
    round_, vote, apps, _seats, _recused = voted_round(blind=True, apply=False)
    secrets = []
    for a in apps:
        secrets += [a.org_name, a.applicant.name, a.applicant.email]
    html = build_html(request("round", options={"round_id": round_.id}))
    text = pdf_text(render_pdf(html).pdf)
    for secret in secrets:
        assert secret not in html and secret not in text
    assert f"No. {apps[0].id}: {apps[0].title}" in text
    dossier = build_html(request("dossier", options={"application_id": apps[0].id}))
    assert ARABIC_ORG not in dossier and apps[0].applicant.email not in dossier

    decisions.apply_result(vote, actor=make_person(Role.CONVENOR))
    db.session.commit()
    after = build_html(request("round", options={"round_id": round_.id}))
    assert ARABIC_ORG in after  # approved: now named
    assert apps[2].org_name not in after  # a tie, no decision: still unnamed
    assert all(a.applicant.email not in after for a in apps)


# -- A constant number of queries ---------------------------------------------------------


def _queries(kind, **options) -> int:
    counted = []

    def count(*_args):
        counted.append(1)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        build_html(request(kind, options=options))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(counted)


def test_round_report_and_dossier_take_the_same_queries_for_small_and_larger_rounds(app):
    small, _v, small_apps, *_ = voted_round(applications=4)
    large, _v, large_apps, *_ = voted_round(applications=12)
    db.session.expire_all()
    assert _queries("round", round_id=small.id) == _queries("round", round_id=large.id)
    db.session.expire_all()
    assert _queries("dossier", application_id=small_apps[0].id) == _queries(
        "dossier", application_id=large_apps[0].id
    )


# -- Asking, reading, the form --------------------------------------------------------------


def ask(client, kind, **data):
    form = {"kind": kind, "start": str(TODAY), "end": str(TODAY), "language": "en"}
    form.update(data)
    return post(client, "/steering/reports/", form, token_from="/steering/reports/")


def two_factor(user) -> None:
    """The steering area asks for a second factor: give the sitter one."""
    import pyotp

    user.totp_secret = pyotp.random_base32()
    user.totp_enabled_at = utcnow()
    db.session.commit()


def made(kind, person, **options) -> GeneratedReport:
    report, _new = operations.request_report(request(kind, options=options), person=person)
    db.session.commit()
    assert jobs.run_pending() == 1
    db.session.expire_all()
    return db.session.get(GeneratedReport, report.id)


def test_a_recused_steering_member_gets_no_dossier(client, make_user):
    _round, _vote, apps, _seats, recused = voted_round()
    staff = make_user(Role.CONVENOR, two_factor=True)
    db.session.commit()
    report = made("dossier", staff, application_id=apps[3].id)
    two_factor(recused)
    sign_in_as(client, recused)
    assert ask(client, "dossier", application_id=str(apps[3].id)).status_code == 404
    assert client.get(f"/steering/reports/{report.id}").status_code == 404
    assert client.get(f"/steering/reports/{report.id}/download").status_code == 404
    page = client.get("/steering/reports/").get_data(as_text=True)
    assert f'value="{apps[3].id}"' not in page  # not offered
    assert f'value="{apps[0].id}"' in page  # another is
    assert f"/steering/reports/{report.id}" not in page  # nor listed
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeneratedReport)) == 1


def test_downloading_a_dossier_is_audited_s22(client, make_user):
    _round, _vote, apps, seats, _recused = voted_round()
    member = seats[0].representative
    two_factor(member)
    sign_in_as(client, member)
    response = ask(client, "dossier", application_id=str(apps[0].id))
    assert response.status_code == 302
    assert jobs.run_pending() == 1
    report = db.session.scalars(sa.select(GeneratedReport)).one()
    assert report.options["application_id"] == apps[0].id
    download = client.get(f"/steering/reports/{report.id}/download")
    assert download.status_code == 200 and download.data[:5] == b"%PDF-"
    assert f"dossier-report-{apps[0].id}-" in download.headers["Content-Disposition"]
    rows = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "report.downloaded", AuditEntry.object_id == str(report.id)
        )
    ).all()
    assert len(rows) == 1 and rows[0].actor_id == member.id


def test_the_form_offers_only_the_rounds_the_reader_may_see(client, make_user):
    published, *_ = voted_round()
    draft = make_round(phase=RoundPhase.DRAFT)
    draft.title = "Draft round not for steering"
    steering = make_user(Role.STEERING, two_factor=True)
    staff = make_user(Role.CONVENOR, two_factor=True)
    db.session.commit()
    sign_in_as(client, steering)
    page = client.get("/steering/reports/").get_data(as_text=True)
    assert published.title in page and draft.title not in page
    assert ask(client, "round", round_id=str(draft.id)).status_code == 404
    assert ask(client, "round", round_id="nonsense").status_code == 404
    empty = ask(client, "round", round_id="")
    assert empty.status_code == 400 and "Choose a round." in empty.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(GeneratedReport)) == 0
    assert ask(client, "round", round_id=str(published.id)).status_code == 302
    client.post("/auth/logout")
    sign_in_as(client, staff)
    assert draft.title in client.get("/steering/reports/").get_data(as_text=True)


def test_access_to_both_reports_for_every_role(client, make_user):
    from tests.test_access import build_world

    world = build_world(make_user)
    round_ = world.objects["review_round"]
    application = world.objects["eligible_application"]
    submitted_review(application, world.users[CONVENOR], [4])
    db.session.commit()
    dossier = made("dossier", world.users[CONVENOR], application_id=application.id)
    round_report = made("round", world.users[CONVENOR], round_id=round_.id)
    may_dossier = {CONVENOR, STEERING}
    may_round = {CONVENOR, STEERING, CONFLICTED_STEERING}
    for name in PEOPLE:
        with client.session_transaction() as session:
            session.clear()
        if name != ANONYMOUS:
            sign_in_as(client, world.users[name])
        for report, allowed in ((dossier, may_dossier), (round_report, may_round)):
            status = client.get(f"/steering/reports/{report.id}/download").status_code
            if name in allowed:
                assert status == 200, (name, report.kind)
            elif name == ANONYMOUS:
                assert status == 302, name  # to sign in
            else:
                assert status == 404, (name, report.kind)
        user = world.users.get(name)
        if user is not None:
            assert can(user, "reports.dossier_of", application) == (name in may_dossier), name
            assert can(user, "reports.round_of", round_) == (name in may_round), name


# -- The command --------------------------------------------------------------------------


def test_cli_builds_a_round_report_and_a_dossier(runner, app, tmp_path):
    round_, _vote, apps, *_ = voted_round()
    out = tmp_path / "round.pdf"
    result = runner.invoke(
        args=["reports", "build", "round", "--round", str(round_.id), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Ranking and funding line" in pdf_text(out.read_bytes())
    out = tmp_path / "dossier.pdf"
    result = runner.invoke(
        args=["reports", "build", "dossier", "--application", str(apps[1].id), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Confidential remark on the budget." in pdf_text(out.read_bytes())
    result = runner.invoke(args=["reports", "build", "round", "--out", str(out)])
    assert result.exit_code != 0 and "--round" in result.output


def test_the_list_and_the_page_name_the_round_and_the_application(client, make_user):
    round_, _vote, apps, _seats, _recused = voted_round()
    round_.title = "Round <b>Lagos</b> 2027"  # the author's text: escaped
    staff = make_user(Role.CONVENOR, two_factor=True)
    db.session.commit()
    about_round = made("round", staff, round_id=round_.id)
    dossier = made("dossier", staff, application_id=apps[0].id)
    sign_in_as(client, staff)
    listing = client.get("/steering/reports/").get_data(as_text=True)
    assert "Round &lt;b&gt;Lagos&lt;/b&gt; 2027" in listing
    assert f"No. {apps[0].id}: {apps[0].title}" in listing
    page = client.get(f"/steering/reports/{about_round.id}").get_data(as_text=True)
    assert "<dt>Round</dt><dd><bdi>Round &lt;b&gt;Lagos&lt;/b&gt; 2027</bdi></dd>" in page
    page = client.get(f"/steering/reports/{dossier.id}").get_data(as_text=True)
    assert f"<dt>Application</dt><dd><bdi>No. {apps[0].id}: {apps[0].title}</bdi></dd>" in page


def test_the_dossier_list_asks_its_rules_without_a_query_per_application(client, app):
    """The report form lists up to 300 applications a steering member may have a dossier
    of; the rules' inputs (declarations, own reviews, places on a vote, the roll) are read
    once for the page, so its queries are the same for two applications as for eight."""

    def queries_for(sitter) -> tuple[int, str]:
        sign_in_as(client, sitter)
        count = 0

        def counter(*_args, **_kwargs):
            nonlocal count
            count += 1

        sa.event.listen(db.engine, "before_cursor_execute", counter)
        try:
            page = client.get("/steering/reports/")
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", counter)
        assert page.status_code == 200
        return count, page.get_data(as_text=True)

    counts = []
    for size in (2, 8):
        vote, apps, seats = make_vote(seats=2, applications=size)
        sitter = seats[0].representative
        for seat in seats:
            seat.representative.totp_secret = "JBSWY3DPEHPK3PXP"
            seat.representative.totp_enabled_at = utcnow()
        declare_all_clear(vote, sitter)
        # One of them recused: the rule still refuses its dossier.
        voting.declare(vote, apps[-1], seats[1].representative, conflict=True, description="Board")
        db.session.commit()
        count, page = queries_for(sitter)
        for application in apps:
            assert f'value="{application.id}"' in page, (size, application.id)
        counts.append(count)
        _count, page = queries_for(seats[1].representative)
        assert f'value="{apps[-1].id}"' not in page
    assert counts[0] == counts[1], counts
