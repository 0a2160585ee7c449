"""The review pages in Chromium: a reviewer declares no conflict, scores, saves and
submits, with and without JavaScript; axe-core finds no WCAG 2.2 A/AA violation on
the review form, the ranked overview and the steering dashboard, in English and in
Arabic (right to left), and none of them scrolls sideways at 320 px."""

from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from coalition.accounts.models import Role
from coalition.extensions import db
from coalition.grants import assignment
from coalition.grants import reviews as review_ops
from coalition.grants.review_models import Recommendation, Review, ReviewStatus
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import DIRECTIONS, audit, choose_language, report
from tests.conftest import PASSWORD
from tests.reviews_factories import make_application, make_round


def review_world(reviewer, *, others: int = 0):
    """A round in review with guidance on each criterion, and ``reviewer`` assigned."""
    round_ = make_round(
        rubric=(("Relevance", 3), ("Feasibility", 2), ("Value for money", 1)), reviewers=2
    )
    for criterion in round_.criteria:
        criterion.guidance = f"How strong is the {criterion.name.lower()}?"
    application = make_application(
        round_, title="Radio against rumours", summary="Call-in shows in three languages."
    )
    for n in range(others):
        make_application(round_, title=f"Other project {n}", org_country=("SN", "NG")[n % 2])
    review = assignment.assign(application, reviewer, actor=None)
    db.session.commit()
    return round_, application, review


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_reviewer_declares_scores_saves_and_submits(new_context, make_user, javascript):
    email = f"reviewer-{javascript}@example.org"
    reviewer = make_user(Role.REVIEWER, email=email, name="Lucía Reviewer")
    _round, application, review = review_world(reviewer)
    review_id = review.id
    db.session.rollback()  # hold no SQLite lock while the live server writes
    page = new_context(java_script_enabled=javascript).new_page()

    sign_in(page, email, PASSWORD)
    page.goto("/reviews/")
    row = page.locator("tr", has_text="Radio against rumours")
    expect(row).to_contain_text("Declare any conflict of interest")
    row.get_by_role("link").click()
    expect(page.get_by_text("Call-in shows in three languages.")).to_have_count(0)

    page.get_by_label("I have no conflict of interest with this application").check()
    page.get_by_role("button", name="Declare").click()
    expect(page.get_by_text("Call-in shows in three languages.")).to_be_visible()

    for name, score in (("Relevance", "4"), ("Feasibility", "3")):
        page.get_by_role("group", name=name).get_by_label(score, exact=True).check()
    page.get_by_label("Comment for the applicant").fill("Clear plan; tighten the budget.")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    expect(
        page.get_by_role("group", name="Relevance").get_by_label("4", exact=True)
    ).to_be_checked()

    # Submitting with a criterion unscored: refused, nothing lost.
    page.get_by_role("button", name="Submit the review").click()
    expect(page.get_by_text("Score “Value for money” from 1 to 5.")).to_be_visible()
    expect(page.get_by_label("Comment for the applicant")).to_have_value(
        "Clear plan; tighten the budget."
    )

    page.get_by_role("group", name="Value for money").get_by_label("5", exact=True).check()
    page.get_by_label("Confidential comment for the steering group").fill("Strong team.")
    page.get_by_label("Fund with changes").check()
    page.get_by_role("button", name="Submit the review").click()
    expect(page.get_by_text("Your review is submitted. Thank you.")).to_be_visible()
    expect(page.get_by_role("button", name="Submit the review")).to_have_count(0)

    db.session.expire_all()
    saved = db.session.get(Review, review_id)
    assert saved.status == ReviewStatus.SUBMITTED
    assert sorted(saved.score_by_criterion.values()) == [3, 4, 5]
    assert saved.recommendation == Recommendation.FUND_WITH_CHANGES
    assert saved.comment_confidential == "Strong team."
    assert application.id == saved.application_id


def steering_reviewer(make_user, language: str):
    return make_user(
        Role.STEERING,
        email=f"steering-axe-{language}@example.org",
        name="Kwame Steering",
        two_factor=True,
        language=language,
    )


def sign_in_with_code(page, email: str, secret: str) -> None:
    sign_in(page, email, PASSWORD)
    page.locator("form:has(#code) #code").fill(pyotp.TOTP(secret).now())
    page.locator("form:has(#code) button[type=submit]").click()
    page.wait_for_load_state()
    assert not page.url.split("?")[0].endswith(("/sign-in", "/sign-in/code")), page.url


@pytest.mark.browser
@pytest.mark.committing
@pytest.mark.parametrize("language", ["en", "ar"])
def test_review_pages_have_no_axe_violations_and_fit_320px(new_context, make_user, language):
    member = steering_reviewer(make_user, language)
    secret = member.totp_secret
    round_, application, review = review_world(member, others=3)
    review_ops.declare(application, member, conflict=False)
    db.session.commit()
    paths = {
        "review form": f"/reviews/{review.id}",
        "ranked overview": f"/grants/rounds/{round_.id}/review",
        "steering dashboard": "/steering/",
        "reviewer's home": "/reviews/",
        "declarations": f"/steering/rounds/{round_.id}/conflicts",
    }
    email = member.email
    db.session.rollback()  # hold no SQLite lock while the live server writes
    found: dict[str, list[dict]] = {}
    page = new_context().new_page()
    if language != "en":
        choose_language(page, language)
    sign_in_with_code(page, email, secret)
    for label, path in paths.items():
        response = page.goto(path)
        assert response.status == 200 and page.url.endswith(path), (path, page.url)
        assert page.locator("h1").count() == 1, path
        audit(page, language, label, found)

    # The form with errors beside the fields.
    page.goto(paths["review form"])
    page.locator("button[name=submit]").click()
    page.wait_for_load_state()
    audit(page, language, "review form with errors", found)
    assert not found, "axe found accessibility violations:\n" + report(found)

    page.set_viewport_size({"width": 320, "height": 640})
    for path in paths.values():
        page.goto(path)
        expect(page.locator("html")).to_have_attribute("dir", DIRECTIONS[language])
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{path} [{language}] scrolls sideways at 320px: {width}px wide"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 1
