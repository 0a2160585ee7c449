"""Grants, their payments and their reports (coalition/grants/award_views.py).

A grant is private to its grantees, the staff and the steering group: anyone else
gets 404. Staff change everything; steering members read; reviewers see nothing.
"""

from tests.access_table import (
    APPLICANT,
    CONVENOR_ONLY,
    STEERING_GROUP,
    object_id,
)

GRANT_READERS = STEERING_GROUP | {APPLICANT}
ONLY_THE_GRANTEE = frozenset({APPLICANT})

AWARD = {"award_id": object_id("award")}
REPORT = {"report_id": object_id("grantee_report")}
ATTACHMENT = {**REPORT, "attachment_id": object_id("report_attachment")}

ENTRIES = {
    "awards.new": {
        "url": {"application_id": object_id("awarded_application")},
        "GET": CONVENOR_ONLY,
        "POST": CONVENOR_ONLY,
    },
    "awards.show": {"url": AWARD, "GET": GRANT_READERS, "denied": 404},
    "awards.amend": {"url": AWARD, "GET": CONVENOR_ONLY, "POST": CONVENOR_ONLY},
    "awards.cancel": {"url": AWARD, "GET": CONVENOR_ONLY, "POST": CONVENOR_ONLY},
    "awards.pay": {
        "url": {**AWARD, "tranche_id": object_id("award_tranche")},
        "GET": CONVENOR_ONLY,
        "POST": CONVENOR_ONLY,
    },
    "awards.report": {
        "url": REPORT,
        "GET": GRANT_READERS,
        "POST": ONLY_THE_GRANTEE,
        "denied": 404,
    },
    "awards.report_upload": {"url": REPORT, "POST": ONLY_THE_GRANTEE, "denied": 404},
    "awards.report_delete_attachment": {
        "url": ATTACHMENT,
        "POST": ONLY_THE_GRANTEE,
        "denied": 404,
    },
    "awards.report_download": {"url": ATTACHMENT, "GET": GRANT_READERS, "denied": 404},
    "awards.answer": {"url": REPORT, "POST": CONVENOR_ONLY, "denied": 404},
    "awards.index": {"GET": STEERING_GROUP},
    "awards.export": {"url": {"fmt": "csv"}, "POST": STEERING_GROUP},
    "awards.money": {"GET": STEERING_GROUP},
    "awards.waitlist": {"url": {"round_id": object_id("open_round")}, "GET": CONVENOR_ONLY},
    "awards.approve_waitlisted": {
        "url": {"application_id": object_id("submitted_application")},
        "POST": CONVENOR_ONLY,
    },
}
