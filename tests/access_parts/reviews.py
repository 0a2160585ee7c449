"""Reviews (coalition/grants/review_views.py, review_staff.py) and the steering
declarations (coalition/steering/views.py).

The world (tests/test_access.py) holds a round in review with one eligible
application, reviewed by ``assigned_reviewer`` (who declared no conflict);
``steering`` declared no conflict on it and ``conflicted_steering`` a
conflict. A review or an application's reviews answer 404 to anyone who may
not reach them: their existence is private.
"""

from tests.access_table import (
    ASSIGNED_REVIEWER,
    CONFLICTED_STEERING,
    CONVENOR,
    CONVENOR_ONLY,
    STEERING,
    STEERING_GROUP,
    UNASSIGNED_REVIEWER,
    object_id,
)

REVIEWERS = frozenset({ASSIGNED_REVIEWER, UNASSIGNED_REVIEWER, STEERING, CONFLICTED_STEERING})
REVIEW = {"review_id": object_id("assigned_review")}
IN_REVIEW = {"round_id": object_id("review_round")}
ELIGIBLE = {"application_id": object_id("eligible_application")}

ENTRIES = {
    # The reviewer's side: only their own review.
    "reviews.home": {"GET": REVIEWERS},
    "reviews.deadlines": {"GET": REVIEWERS},
    "reviews.show": {
        "url": REVIEW,
        # Staff read every review; only its reviewer writes it.
        "GET": frozenset({ASSIGNED_REVIEWER, CONVENOR}),
        "POST": frozenset({ASSIGNED_REVIEWER}),
        "denied": 404,
    },
    "reviews.declare": {"url": REVIEW, "POST": frozenset({ASSIGNED_REVIEWER}), "denied": 404},
    "reviews.download": {
        "url": {**REVIEW, "attachment_id": object_id("review_attachment")},
        "GET": frozenset({ASSIGNED_REVIEWER, CONVENOR}),
        "denied": 404,
    },
    # Staff: the pool and its loads, assignment, unassigning, reopening.
    "review_staff.reviewers": {"url": IN_REVIEW, "GET": CONVENOR_ONLY},
    "review_staff.auto_assign": {"url": IN_REVIEW, "POST": CONVENOR_ONLY},
    "review_staff.assign": {"url": ELIGIBLE, "POST": CONVENOR_ONLY},
    "review_staff.unassign": {"url": REVIEW, "POST": CONVENOR_ONLY},
    "review_staff.reopen": {"url": REVIEW, "POST": CONVENOR_ONLY},
    # An application's reviews: staff, and steering members not recused from it.
    "review_staff.application_reviews": {
        "url": ELIGIBLE,
        "GET": frozenset({CONVENOR, STEERING}),
        "denied": 404,
    },
    # The ranking: staff and the steering group (scores of an application hidden from
    # its applicant and from a member recused from it: tests/test_review_pages.py).
    "review_staff.overview": {"url": IN_REVIEW, "GET": STEERING_GROUP},
    "review_staff.export": {"url": {**IN_REVIEW, "fmt": "csv"}, "POST": STEERING_GROUP},
    # One form for a round's list: steering members.
    "steering.declare_round": {
        "url": IN_REVIEW,
        "GET": frozenset({STEERING, CONFLICTED_STEERING}),
        "POST": frozenset({STEERING, CONFLICTED_STEERING}),
    },
}
