"""The review pages: the reviewer's home and calendar, conflict first, the review
form (drafts with a version, one submission), blind and independent review, staff
assignment and reopening, the ranked overview with its funding line and export,
and the steering dashboard and declarations."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from coalition.accounts.models import Role
from coalition.audit.models import AuditEntry
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import assignment as assign_ops
from coalition.grants import files
from coalition.grants import reviews as ops
from coalition.grants.models import Attachment, AttachmentKind
from coalition.grants.review_models import (
    ConflictDeclaration,
    ConflictKind,
    Recommendation,
    Review,
    ReviewStatus,
)
from coalition.grants.scores import round_ranking
from coalition.ics import Event, calendar, escape, fold
from coalition.policy import can, scores_hidden_from
from tests.conftest import csrf_token, outbox, sign_in_as
from tests.reviews_factories import NOW, make_application, make_person, make_round


def steering_person(**kwargs):
    person = make_person(Role.STEERING, **kwargs)
    person.totp_secret = pyotp.random_base32()
    person.totp_enabled_at = NOW
    db.session.flush()
    return person


def convenor():
    person = make_person(Role.CONVENOR)
    person.totp_secret = pyotp.random_base32()
    person.totp_enabled_at = NOW
    db.session.flush()
    return person


def send(client, path, data=None):
    payload = dict(data or {})
    payload["csrf_token"] = csrf_token(client)
    return client.post(path, data=payload)


def form_of(review, scores, recommendation="fund", *, version=None, **extra):
    data = {
        f"score-{c.id}": str(s)
        for c, s in zip(review.application.round.criteria, scores, strict=True)
        if s is not None
    }
    data.update(
        comment_applicant="Clear plan; tighten the budget.",
        comment_confidential="The team is strong.",
        recommendation=recommendation,
        version=str(review.version if version is None else version),
    )
    data.update(extra)
    return data


def fresh(review):
    db.session.expire_all()
    return db.session.get(Review, review.id)


def text(response) -> str:
    return response.get_data(as_text=True)


def assigned(round_=None, *, reviewer=None, application=None, declare=True):
    round_ = round_ or make_round()
    application = application or make_application(round_)
    reviewer = reviewer or make_person()
    review = assign_ops.assign(application, reviewer, actor=None)
    if declare:
        ops.declare(application, reviewer, conflict=False)
    db.session.commit()
    return review


def submit_directly(review, scores, recommendation=Recommendation.FUND, confidential=None):
    criteria = review.application.round.criteria
    ops.save_draft(
        review,
        actor=review.reviewer,
        version=None,
        scores={c.id: s for c, s in zip(criteria, scores, strict=True)},
        comment_applicant="For the applicant.",
        comment_confidential=confidential or f"Secret of {review.reviewer.name}.",
        recommendation=recommendation,
    )
    ops.submit(review, actor=review.reviewer)
    db.session.commit()


# -- Conflict first --------------------------------------------------------------------------------


def test_before_declaring_the_reviewer_sees_only_title_and_round(client):
    round_ = make_round()
    application = make_application(
        round_, summary="A very particular summary.", org_name="Hidden Org"
    )
    review = assigned(round_, application=application, declare=False)
    sign_in_as(client, review.reviewer)

    body = text(client.get(f"/reviews/{review.id}"))
    assert application.title in body and round_.title in body
    assert "A very particular summary." not in body and "Hidden Org" not in body
    assert 'name="score-' not in body

    response = send(client, f"/reviews/{review.id}/declare", {"kind": "none"})
    assert response.status_code == 302
    body = text(client.get(f"/reviews/{review.id}"))
    assert "A very particular summary." in body
    assert 'name="score-' in body
    assert fresh(review).status == ReviewStatus.IN_PROGRESS


def test_a_conflict_recuses_and_no_conflict_after_it_is_refused(client):
    review = assigned(declare=False)
    sign_in_as(client, review.reviewer)
    send(client, f"/reviews/{review.id}/declare", {"kind": "conflict", "description": "My NGO."})
    assert fresh(review).status == ReviewStatus.RECUSED

    response = send(client, f"/reviews/{review.id}/declare", {"kind": "none"})
    assert response.status_code == 302
    body = text(client.get(f"/reviews/{review.id}"))
    assert "You declared a conflict of interest: it stays." in body
    declaration = db.session.scalar(
        sa.select(ConflictDeclaration).where(ConflictDeclaration.user_id == review.reviewer_id)
    )
    assert declaration.kind == ConflictKind.CONFLICT
    assert fresh(review).status == ReviewStatus.RECUSED
    assert 'name="score-' not in body
    # Recused: the application's reviews and files are closed to them.
    application_id = review.application_id
    assert client.get(f"/grants/applications/{application_id}/reviews").status_code == 404
    assert client.get(f"/reviews/{review.id}/attachments/1").status_code == 404


def test_a_conflict_without_description_is_refused(client):
    review = assigned(declare=False)
    sign_in_as(client, review.reviewer)
    send(client, f"/reviews/{review.id}/declare", {"kind": "conflict"})
    assert "Describe the conflict in a few words." in text(client.get(f"/reviews/{review.id}"))
    assert fresh(review).status == ReviewStatus.ASSIGNED


# -- The form --------------------------------------------------------------------------------------


def test_save_draft_then_submit_once(client):
    review = assigned()
    sign_in_as(client, review.reviewer)
    page = text(client.get(f"/reviews/{review.id}"))
    for criterion in review.application.round.criteria:
        assert f'name="score-{criterion.id}"' in page
    version = re.search(r'name="version" value="(\d+)"', page).group(1)

    response = send(client, f"/reviews/{review.id}", form_of(review, (4, None, 2), version=version))
    assert response.status_code == 302
    saved = fresh(review)
    assert sorted(saved.score_by_criterion.values()) == [2, 4]
    assert saved.status == ReviewStatus.IN_PROGRESS
    assert "Draft saved." in text(client.get(f"/reviews/{review.id}"))

    response = send(client, f"/reviews/{review.id}", form_of(saved, (4, 3, 2), submit="1"))
    assert response.status_code == 302
    assert fresh(review).status == ReviewStatus.SUBMITTED

    again = send(client, f"/reviews/{review.id}", form_of(fresh(review), (1, 1, 1), submit="1"))
    assert again.status_code == 409
    assert "This review has already been submitted." in text(again)
    assert sorted(fresh(review).score_by_criterion.values()) == [2, 3, 4]


def test_stale_save_keeps_what_was_typed_and_changes_nothing(client):
    review = assigned()
    sign_in_as(client, review.reviewer)
    old_version = review.version
    send(client, f"/reviews/{review.id}", form_of(review, (3, 3, 3)))
    before = fresh(review).score_by_criterion

    response = send(
        client,
        f"/reviews/{review.id}",
        form_of(review, (5, 5, 5), version=old_version, comment_applicant="My long words."),
    )
    assert response.status_code == 409
    body = text(response)
    assert "saved from another window" in body
    assert "My long words." in body
    assert body.count('value="5" checked') == 3
    assert fresh(review).score_by_criterion == before


@pytest.mark.parametrize(
    ("scores", "submit", "message"),
    [
        ((7, 3, 3), False, "Each score is a whole number from 1 to 5."),
        ((0, 3, 3), False, "Each score is a whole number from 1 to 5."),
        (("x", 3, 3), False, "Each score is a whole number from 1 to 5."),
        ((None, 3, 3), True, "from 1 to 5"),
    ],
)
def test_bad_scores_are_refused_and_nothing_changes(client, scores, submit, message):
    review = assigned()
    sign_in_as(client, review.reviewer)
    data = form_of(review, scores, comment_applicant="Kept text.")
    if submit:
        data["submit"] = "1"
    response = send(client, f"/reviews/{review.id}", data)
    assert response.status_code == 422
    assert message in text(response)
    assert "Kept text." in text(response)
    after = fresh(review)
    assert after.score_by_criterion == {} and after.comment_applicant is None
    assert after.status == ReviewStatus.IN_PROGRESS


def test_after_the_deadline_the_review_cannot_be_saved(client):
    round_ = make_round(deadline=NOW - timedelta(hours=1))
    review = assigned(round_)
    sign_in_as(client, review.reviewer)
    response = send(client, f"/reviews/{review.id}", form_of(review, (3, 3, 3), submit="1"))
    assert response.status_code == 422
    assert "The review deadline has passed" in text(response)
    assert fresh(review).score_by_criterion == {}
    assert fresh(review).status == ReviewStatus.IN_PROGRESS
    assert 'name="score-' not in text(client.get(f"/reviews/{review.id}"))


def test_a_review_of_someone_else_answers_404(client):
    review = assigned()
    stranger = make_person()
    db.session.commit()
    sign_in_as(client, stranger)
    assert client.get(f"/reviews/{review.id}").status_code == 404
    response = send(client, f"/reviews/{review.id}", form_of(review, (3, 3, 3)))
    assert response.status_code == 404
    assert fresh(review).score_by_criterion == {}


def test_an_unassigned_review_answers_404_to_its_former_reviewer(client):
    review = assigned()
    assign_ops.unassign(review, actor=None)
    db.session.commit()
    sign_in_as(client, review.reviewer)
    assert client.get(f"/reviews/{review.id}").status_code == 404
    assert review.id not in [
        int(m) for m in re.findall(r"/reviews/(\d+)", text(client.get("/reviews/")))
    ]


# -- Blind review ----------------------------------------------------------------------------------


def blind_world():
    round_ = make_round(reviewers=2)
    round_.blind_review = True
    applicant = make_person(Role.APPLICANT, email="amina@secret-org.example", name="Amina Secret")
    application = make_application(
        round_,
        applicant,
        org_name="Secret Org Uhuru",
        fiscal_host_name="Hidden Host Trust",
        summary="Monitoring election disinformation.",
    )
    stored = files.store(
        b"name,amount\nfield,100\n", original_name="Uhuru-budget.csv", current_total=0
    )
    application.attachments.append(
        Attachment(
            kind=AttachmentKind.BUDGET,
            original_name=stored.original_name,
            stored_name=stored.stored_name,
            content_type=stored.content_type,
            size=stored.size,
            sha256=stored.sha256,
        )
    )
    db.session.flush()
    return round_, application


IDENTITY = (
    "Amina Secret",
    "amina@secret-org.example",
    "Secret Org Uhuru",
    "Hidden Host Trust",
    "Uhuru-budget",
    "Uhuru",
)


def test_s_blind_review_shows_no_applicant_identity_anywhere_a_reviewer_can_go(client):
    round_, application = blind_world()
    steering = steering_person()
    first = assigned(round_, application=application)
    second = assigned(round_, application=application, reviewer=steering)
    submit_directly(second, (4, 4, 4))
    sign_in_as(client, first.reviewer)

    responses = [
        client.get("/reviews/"),
        client.get("/reviews/deadlines.ics"),
        client.get(f"/reviews/{first.id}"),
    ]
    attachment = application.attachments[0]
    download = client.get(f"/reviews/{first.id}/attachments/{attachment.id}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == (
        f"attachment; filename=budget-{attachment.id}.csv; "
        f"filename*=UTF-8''budget-{attachment.id}.csv"
    )
    responses.append(download)
    send(client, f"/reviews/{first.id}", form_of(first, (2, 2, 2), submit="1"))
    responses.append(client.get(f"/reviews/{first.id}"))  # with the other review now
    assert "For the applicant." in text(responses[-1])
    # A steering member reviewing it sees the ranking and its export, blind too.
    sign_in_as(client, steering)
    responses += [
        client.get("/reviews/"),
        client.get(f"/reviews/{second.id}"),
        client.get(f"/grants/rounds/{round_.id}/review"),
        send(client, f"/grants/rounds/{round_.id}/review.csv"),
        send(client, f"/grants/rounds/{round_.id}/review.xlsx"),
    ]
    for response in responses:
        assert response.status_code == 200, response.request.path
        body = response.get_data()
        if response.mimetype.endswith("sheet"):
            sheet = load_workbook(io.BytesIO(body)).active
            body = " ".join(str(c.value) for row in sheet.iter_rows() for c in row).encode()
        for secret in IDENTITY:
            assert secret.encode() not in body, (response.request.path, secret)
            assert secret.encode() not in str(response.headers).encode()


def test_a_round_not_blind_names_the_organisation_and_the_file(client):
    round_, application = blind_world()
    round_.blind_review = False
    review = assigned(round_, application=application)
    sign_in_as(client, review.reviewer)
    body = text(client.get(f"/reviews/{review.id}"))
    assert "Secret Org Uhuru" in body and "Uhuru-budget.csv" in body


# -- Independence and confidential comments --------------------------------------------------------


def test_others_reviews_only_after_ones_own_and_never_their_confidential_comment(client):
    round_ = make_round()
    application = make_application(round_)
    mine = assigned(round_, application=application)
    other = assigned(round_, application=application)
    submit_directly(other, (5, 5, 5), confidential="Only for steering eyes.")
    sign_in_as(client, mine.reviewer)

    before = text(client.get(f"/reviews/{mine.id}"))
    assert "For the applicant." not in before and "The other reviews" not in before
    assert client.get(f"/grants/applications/{application.id}/reviews").status_code == 404

    send(client, f"/reviews/{mine.id}", form_of(mine, (3, 3, 3), submit="1"))
    after = text(client.get(f"/reviews/{mine.id}"))
    assert "The other reviews" in after and "For the applicant." in after
    assert "Only for steering eyes." not in after
    assert other.reviewer.name not in after
    # Their own confidential comment they do read.
    assert "The team is strong." in after
    # The application's reviews page says the same.
    listing = text(client.get(f"/grants/applications/{application.id}/reviews"))
    assert "For the applicant." in listing and "The team is strong." in listing
    assert "Only for steering eyes." not in listing and other.reviewer.name not in listing


def test_steering_reads_confidential_comments_unless_recused(client):
    round_ = make_round()
    application = make_application(round_)
    review = assigned(round_, application=application)
    submit_directly(review, (4, 4, 4), confidential="Only for steering eyes.")
    reader, recused = steering_person(), steering_person()
    ops.declare(application, reader, conflict=False)
    ops.declare(application, recused, conflict=True, description="Former employer.")
    db.session.commit()

    sign_in_as(client, reader)
    body = text(client.get(f"/grants/applications/{application.id}/reviews"))
    assert "Only for steering eyes." in body and review.reviewer.name in body
    sign_in_as(client, recused)
    assert client.get(f"/grants/applications/{application.id}/reviews").status_code == 404
    overview = text(client.get(f"/grants/rounds/{round_.id}/review"))
    assert "4.00" not in overview and "not shown to you" in overview


def test_an_applicant_on_the_steering_group_sees_no_score_of_their_own_application(client):
    round_ = make_round()
    member = steering_person()
    own = make_application(round_, member)
    review = assigned(round_, application=own)
    submit_directly(review, (5, 5, 5))
    sign_in_as(client, member)
    body = text(client.get(f"/grants/rounds/{round_.id}/review"))
    assert own.title in body and "5.00" not in body
    assert client.get(f"/grants/applications/{own.id}/reviews").status_code == 404
    rows = list(
        csv.reader(io.StringIO(text(send(client, f"/grants/rounds/{round_.id}/review.csv"))))
    )
    assert rows[1][rows[0].index("score")] == ""


def test_bulk_hidden_scores_agree_with_the_rule(app):
    round_ = make_round()
    member, recused, plain, staff = (
        steering_person(),
        steering_person(),
        steering_person(),
        convenor(),
    )
    applications = [
        make_application(round_, member),
        make_application(round_),
        make_application(round_),
    ]
    ops.declare(applications[1], recused, conflict=True, description="Family.")
    rows = round_ranking(round_).rows
    for person in (member, recused, plain, staff, make_person()):
        hidden = scores_hidden_from(person, rows)
        for application in applications:
            assert (application.id in hidden) == (
                not can(person, "reviews.read_scores", application)
            ), (person.name, application.title)


# -- Staff: assignment -----------------------------------------------------------------------------


def test_assign_by_hand_refuses_a_known_conflict_and_changes_nothing(client):
    staff = convenor()
    round_ = make_round()
    application = make_application(round_)
    contact = make_person(email=application.applicant.email.replace("applicant", "x"))
    ops_conflicted = application.applicant
    ops_conflicted.set_roles([Role.APPLICANT, Role.REVIEWER])
    db.session.commit()
    sign_in_as(client, staff)
    response = send(
        client,
        f"/grants/applications/{application.id}/reviewers",
        {"reviewer_id": ops_conflicted.id},
    )
    assert response.status_code == 302
    body = text(client.get(response.location))
    assert "cannot review this application: they made the application" in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 0

    response = send(
        client, f"/grants/applications/{application.id}/reviewers", {"reviewer_id": contact.id}
    )
    assert "is assigned and told by email" in text(client.get(response.location))
    assert len(outbox("review_assigned", contact.email)) == 1


def test_assign_automatically_says_how_many_are_missing(client):
    staff = convenor()
    round_ = make_round(reviewers=3)
    make_application(round_)
    make_person()
    db.session.commit()
    sign_in_as(client, staff)
    response = send(client, f"/grants/rounds/{round_.id}/reviewers/assign")
    body = text(client.get(response.location))
    assert "Too few reviewers" in body and "Nobody was assigned." in body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 0

    make_person(), make_person()
    db.session.commit()
    response = send(client, f"/grants/rounds/{round_.id}/reviewers/assign")
    assert "3 reviews assigned" in text(client.get(response.location))
    loads = text(client.get(f"/grants/rounds/{round_.id}/reviewers"))
    assert loads.count('data-label="Assigned">1<') >= 3


def test_unassign_tells_the_reviewer_and_reopen_needs_a_reason(client):
    staff = convenor()
    review = assigned()
    done = assigned()
    submit_directly(done, (3, 3, 3))
    sign_in_as(client, staff)

    send(client, f"/grants/reviews/{review.id}/unassign")
    assert fresh(review).status == ReviewStatus.UNASSIGNED
    assert len(outbox("review_unassigned", review.reviewer.email)) == 1

    response = send(client, f"/grants/reviews/{done.id}/unassign")
    assert "reopen it rather than unassign it" in text(client.get(response.location))
    assert fresh(done).status == ReviewStatus.SUBMITTED

    response = send(client, f"/grants/reviews/{done.id}/reopen", {"reason": "  "})
    assert "Give the reason" in text(client.get(response.location))
    assert fresh(done).status == ReviewStatus.SUBMITTED
    send(client, f"/grants/reviews/{done.id}/reopen", {"reason": "Score 2 contradicts the text."})
    assert fresh(done).status == ReviewStatus.IN_PROGRESS
    assert len(outbox("review_reopened", done.reviewer.email)) == 1
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "review.reopened"))
    assert entry.details["reason"] == "Score 2 contradicts the text."


def test_invite_from_the_pool_asks_for_the_reviewer_role(client):
    staff = convenor()
    db.session.commit()
    sign_in_as(client, staff)
    body = text(client.get("/admin/users/invite?role=reviewer"))
    assert re.search(r'value="reviewer"[^>]*checked|checked[^>]*value="reviewer"', body)


# -- The ranked overview ---------------------------------------------------------------------------


def ranked_round():
    round_ = make_round(budget=2_500_000)
    a = make_application(round_, amount=1_000_000, org_country="KE", title="Alpha")
    b = make_application(round_, amount=1_000_000, org_country="SN", title="Bravo")
    c = make_application(round_, amount=1_000_000, org_country="KE", title="=HYPERLINK(1)")
    d = make_application(round_, amount=500_000, org_country="NG", title="Delta")
    submit_directly(assigned(round_, application=a), (5, 5, 5))
    submit_directly(assigned(round_, application=a), (1, 1, 1), Recommendation.DO_NOT_FUND)
    submit_directly(assigned(round_, application=b), (4, 4, 4))
    submit_directly(assigned(round_, application=b), (4, 4, 4))
    submit_directly(assigned(round_, application=c), (2, 2, 2), Recommendation.DO_NOT_FUND)
    return round_, (a, b, c, d)


def test_overview_ranks_draws_the_funding_line_and_filters(client):
    round_, _apps = ranked_round()
    sign_in_as(client, convenor())
    body = text(client.get(f"/grants/rounds/{round_.id}/review"))
    order = [body.index(x) for x in ("Bravo", "Alpha", "=HYPERLINK(1)", "Delta")]
    assert order == sorted(order)
    line = body.index("Funding line")
    assert body.index("Alpha") < line < body.index("=HYPERLINK(1)")
    assert "reviewers disagree" in body
    assert "$25,000.00" in body and "$20,000.00" in body and "$5,000.00" in body

    only_ke = text(client.get(f"/grants/rounds/{round_.id}/review?country=KE"))
    assert "Alpha" in only_ke and "Bravo" not in only_ke
    disagree = text(client.get(f"/grants/rounds/{round_.id}/review?disagreement=1"))
    assert "Alpha" in disagree and "Bravo" not in disagree and "Delta" not in disagree
    incomplete = text(client.get(f"/grants/rounds/{round_.id}/review?incomplete=1"))
    assert "Delta" in incomplete and "Bravo" not in incomplete
    against = text(client.get(f"/grants/rounds/{round_.id}/review?recommendation=do_not_fund"))
    assert "Alpha" in against and "Bravo" not in against


def test_ranking_export_neutralises_formulas_and_is_audited(client):
    round_, _apps = ranked_round()
    sign_in_as(client, convenor())
    response = send(client, f"/grants/rounds/{round_.id}/review.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(text(response).lstrip("\ufeff"))))
    assert rows[0][:4] == ["rank", "id", "title", "organisation"]
    titles = [row[2] for row in rows[1:]]
    assert "'=HYPERLINK(1)" in titles
    assert [row[rows[0].index("within_budget")] for row in rows[1:]] == ["yes", "yes", "no", "no"]
    xlsx = send(client, f"/grants/rounds/{round_.id}/review.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    assert "'=HYPERLINK(1)" in [cell.value for cell in sheet["C"]]
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.action == "round.ranking_exported")
    ).all()
    assert len(actions) == 2


def test_ranking_export_asks_for_the_password_after_an_old_sign_in(client):
    round_, _apps = ranked_round()
    sign_in_as(client, convenor())
    with client.session_transaction() as session:
        session["auth_at"] = int((utcnow() - timedelta(hours=2)).timestamp())
    response = send(client, f"/grants/rounds/{round_.id}/review.csv")
    assert response.status_code == 302 and "reauthenticate" in response.location


# -- The reviewer's home and calendar --------------------------------------------------------------


def test_home_shows_each_state_and_the_deadline_in_the_reviewers_zone(client):
    round_ = make_round(deadline=NOW.replace(hour=12, minute=0, second=0) + timedelta(days=5))
    reviewer = make_person()
    reviewer.timezone = "Africa/Nairobi"
    declare = assigned(round_, reviewer=reviewer, declare=False)
    todo = assigned(round_, reviewer=reviewer)
    draft = assigned(round_, reviewer=reviewer)
    ops.save_draft(
        draft,
        actor=reviewer,
        version=None,
        scores={},
        comment_applicant="Half",
        comment_confidential=None,
        recommendation=None,
    )
    done = assigned(round_, reviewer=reviewer)
    submit_directly(done, (3, 3, 3))
    recused = assigned(round_, reviewer=reviewer, declare=False)
    ops.declare(recused.application, reviewer, conflict=True, description="Friend.")
    db.session.commit()
    sign_in_as(client, reviewer)
    body = text(client.get("/reviews/"))
    for review, label in [
        (declare, "Declare any conflict of interest"),
        (todo, "To do"),
        (draft, "Draft"),
        (done, "Submitted"),
        (recused, "Recused"),
    ]:
        row = re.search(rf'/reviews/{review.id}".*?</tr>', body, re.S).group(0)
        assert label in row, (label, row)
    assert (
        "3:00:00\u202fPM Africa/Nairobi (12:00 UTC)" in body
        or "3:00:00 PM Africa/Nairobi (12:00 UTC)" in body
    )
    assert "3 reviews wait for you." in body


def test_calendar_holds_the_pending_deadlines(app, client, monkeypatch):
    round_ = make_round()
    round_.title = "Round, with; commas\\ and a very long title " + "é" * 60
    review = assigned(round_)
    finished = assigned(make_round())
    submit_directly(finished, (3, 3, 3))
    sign_in_as(client, review.reviewer)
    # The event's UID names the site by BASE_URL, never by the Host header sent.
    monkeypatch.setitem(app.config, "BASE_URL", "https://coalition.example")
    response = client.get("/reviews/deadlines.ics")
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    raw = response.get_data()
    assert raw.count(b"BEGIN:VEVENT") == 1
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    unfolded = raw.decode().replace("\r\n ", "")
    assert "Round\\, with\\; commas\\\\ and" in unfolded
    assert "DTSTART:" + round_.review_deadline.strftime("%Y%m%dT%H%M%SZ") in unfolded
    assert f"UID:review-deadline-{round_.id}-{review.reviewer_id}@coalition.example" in unfolded


def test_ics_folding_never_cuts_a_character_and_escapes_text():
    line = "SUMMARY:" + "é" * 100
    folded = fold(line)
    parts = folded.encode().split(b"\r\n")
    assert all(len(p) <= 75 for p in parts)
    assert all(p.decode() for p in parts)  # each part is whole UTF-8
    assert folded.replace("\r\n ", "") == line
    assert escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"
    body = calendar([Event(uid="u@x", at=NOW, summary="S")], name="N", now=NOW)
    assert body.startswith(b"BEGIN:VCALENDAR\r\n") and body.endswith(b"END:VCALENDAR\r\n")


# -- Steering --------------------------------------------------------------------------------------


def test_steering_dashboard_says_what_needs_this_person_now(client):
    round_ = make_round()
    member = steering_person()
    for _ in range(2):
        make_application(round_)
    review = assigned(round_, reviewer=member, declare=False)
    db.session.commit()
    sign_in_as(client, member)
    body = text(client.get("/steering/"))
    assert "1 review to do" in body
    assert "3 conflict-of-interest declarations to make" in body
    assert round_.title in body and "0 of 6 (0%)" in body
    assert f"/reviews/{review.id}" not in body  # the count links to the reviewer's home


def test_steering_declares_for_the_whole_list_in_one_form(client):
    round_ = make_round()
    member = steering_person()
    first, second = make_application(round_), make_application(round_)
    db.session.commit()
    sign_in_as(client, member)
    page = client.get(f"/steering/rounds/{round_.id}/conflicts")
    assert first.title in text(page) and second.title in text(page)

    # Half the list: refused, nothing recorded, what was chosen kept.
    response = send(client, f"/steering/rounds/{round_.id}/conflicts", {f"kind-{first.id}": "none"})
    assert response.status_code == 422
    assert "Declare on every application" in text(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConflictDeclaration)) == 0

    response = send(
        client,
        f"/steering/rounds/{round_.id}/conflicts",
        {
            f"kind-{first.id}": "none",
            f"kind-{second.id}": "conflict",
            f"description-{second.id}": "My sister leads it.",
        },
    )
    assert response.status_code == 302
    kinds = dict(
        db.session.execute(
            sa.select(ConflictDeclaration.application_id, ConflictDeclaration.kind)
        ).all()
    )
    assert kinds == {first.id: ConflictKind.NONE, second.id: ConflictKind.CONFLICT}
    assert "you are recused" in text(client.get(f"/steering/rounds/{round_.id}/conflicts"))


# -- Query counts ---------------------------------------------------------------------------------


def _count(client, path: str) -> int:
    from tests.test_members_queries import counting_queries

    client.get(path)
    with counting_queries() as statements:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(statements)


def test_review_pages_cost_the_same_for_few_and_many(client):
    """The ranking, the reviewer's home and the review form: their query counts do not
    grow with applications, reviews or criteria."""

    def world(applications: int, criteria: int, reviewers: int):
        rubric = tuple((f"Criterion {n}", 1 + n % 3) for n in range(criteria))
        round_ = make_round(reviewers=reviewers, rubric=rubric)
        member = steering_person()
        people = [make_person() for _ in range(reviewers)]
        apps = [make_application(round_) for _ in range(applications)]
        mine = None
        for application in apps:
            for person in people:
                review = assigned(round_, application=application, reviewer=person)
                submit_directly(review, tuple(3 + (person.id % 2) for _ in rubric))
            review = assigned(round_, application=application, reviewer=member)
            mine = mine or review
        submit_directly(mine, tuple(4 for _ in rubric))
        db.session.commit()
        sign_in_as(client, member)
        return {
            "ranking": _count(client, f"/grants/rounds/{round_.id}/review"),
            "home": _count(client, "/reviews/"),
            "form": _count(client, f"/reviews/{mine.id}"),
            "draft form": _count(client, f"/reviews/{review.id}"),
            "dashboard": _count(client, "/steering/"),
        }

    small = world(applications=2, criteria=2, reviewers=1)
    large = world(applications=12, criteria=6, reviewers=3)
    assert large == small


def test_long_ranking_pages_keep_rank_cumulative_and_the_line(client, monkeypatch):
    from coalition.grants import review_staff

    monkeypatch.setattr(review_staff, "PER_PAGE", 2)
    round_, (_a, _b, _c, d) = ranked_round()
    sign_in_as(client, convenor())
    first = text(client.get(f"/grants/rounds/{round_.id}/review"))
    assert "Bravo" in first and "Alpha" in first and "Funding line" not in first
    assert "Page 1 of 2" in first and "4 applications" in first
    second = text(client.get(f"/grants/rounds/{round_.id}/review?page=2"))
    assert "Funding line" in second and "=HYPERLINK(1)" in second and "Delta" in second
    assert "Bravo" not in second
    assert f'href="/grants/applications/{d.id}/reviews"' in second


def test_the_ranking_kept_between_views_is_dropped_when_a_review_changes(app, client):
    from coalition.grants import scores

    round_, (_a, b, _c, _d) = ranked_round()
    review = assigned(round_, application=b)
    staff = convenor()
    db.session.commit()
    app.config["RANKING_CACHE_SECONDS"] = 60
    scores.forget_rankings()
    try:
        sign_in_as(client, staff)
        before = text(client.get(f"/grants/rounds/{round_.id}/review"))
        assert "3 / 2" not in before
        # Nothing audited: the kept ranking answers (shown by the row count being stale).
        db.session.execute(sa.delete(Review).where(Review.id == review.id))
        db.session.commit()
        kept = scores.cached_ranking(db.session.get(type(round_), round_.id))
        assert next(r for r in kept.rows if r.application_id == b.id).assigned == 3
        # A review submitted (audited): the ranking is computed afresh.
        submit_directly(assigned(round_, application=b), (1, 1, 1), Recommendation.DO_NOT_FUND)
        after = text(client.get(f"/grants/rounds/{round_.id}/review"))
        assert "3 / 2" in after  # Bravo: three reviews done
    finally:
        del app.config["RANKING_CACHE_SECONDS"]
        scores.forget_rankings()


def test_staff_start_the_review_from_the_round_page_then_reach_its_review_pages(client):
    from coalition.grants.models import RoundPhase

    round_ = make_round(phase=RoundPhase.PUBLISHED)
    make_application(round_)
    staff = convenor()
    db.session.commit()
    sign_in_as(client, staff)
    page = text(client.get(f"/grants/rounds/{round_.id}"))
    assert "Start the review" in page and f"/grants/rounds/{round_.id}/review" not in page
    send(client, f"/grants/rounds/{round_.id}/move", {"to": "in_review"})
    db.session.expire_all()
    assert round_.phase == RoundPhase.IN_REVIEW
    page = text(client.get(f"/grants/rounds/{round_.id}"))
    assert f'href="/grants/rounds/{round_.id}/review"' in page
    assert f'href="/grants/rounds/{round_.id}/reviewers"' in page


def test_the_kept_ranking_survives_changes_that_cannot_move_it(app, client, monkeypatch):
    """Under steady work elsewhere (drafts saved in another round, a reviewer's draft
    in this one) the ranking is not computed again: only a change to what it is
    drawn from does that (here, a review submitted)."""
    from coalition import audit
    from coalition.grants import scores

    round_, (_a, b, _c, _d) = ranked_round()
    draft = assigned(round_, application=b)
    db.session.commit()
    computed = []
    real = scores.round_ranking
    monkeypatch.setattr(scores, "round_ranking", lambda r: computed.append(r.id) or real(r))
    app.config["RANKING_CACHE_SECONDS"] = 60
    scores.forget_rankings()
    try:
        fetch = lambda: scores.cached_ranking(db.session.get(type(round_), round_.id))  # noqa: E731
        fetch()
        fetch()
        assert computed == [round_.id]
        # Audited changes that do not touch the ranking: another object, a draft's notes.
        audit.record("application.saved", object_type="Application", object_id="999")
        draft.comment_confidential = "Thinking."
        audit.record("review.saved", draft)
        db.session.commit()
        fetch()
        assert computed == [round_.id]
        submit_directly(draft, (5, 5, 5), Recommendation.FUND)
        db.session.commit()
        fetch()
        assert computed == [round_.id, round_.id]
    finally:
        del app.config["RANKING_CACHE_SECONDS"]
        scores.forget_rankings()


def test_the_kept_ranking_follows_a_criterion_weight(app, monkeypatch):
    """The ranking is kept up to ten minutes between views; a criterion's weight, which
    no review row shows, is part of what it is kept under, so a new weight ranks afresh."""
    from coalition.grants import scores

    round_, _apps = ranked_round()
    db.session.commit()
    computed = []
    real = scores.round_ranking
    monkeypatch.setattr(scores, "round_ranking", lambda r: computed.append(r.id) or real(r))
    app.config["RANKING_CACHE_SECONDS"] = scores.RANKING_CACHE_SECONDS
    scores.forget_rankings()
    try:
        fetch = lambda: scores.cached_ranking(db.session.get(type(round_), round_.id))  # noqa: E731
        first = fetch()
        assert fetch() is first and computed == [round_.id]
        criterion = round_.criteria[0]
        criterion.weight = criterion.weight + 4
        db.session.commit()
        again = fetch()
        assert computed == [round_.id, round_.id]
        assert [r.mean for r in again.rows] == [r.mean for r in real(round_).rows]
    finally:
        del app.config["RANKING_CACHE_SECONDS"]
        scores.forget_rankings()
