"""The applicant's side of the grant fund (coalition/grants/application_views.py).

An application is private: anyone who may not read it gets 404, not 403.
"""

from tests.access_table import (
    APPLICANT,
    CONFLICTED_STEERING,
    CONVENOR,
    SIGNED_IN,
    STEERING,
    object_id,
)

OWN_DRAFT_READERS = frozenset({APPLICANT, CONVENOR})  # steering sees no drafts
SUBMITTED_READERS = frozenset({APPLICANT, CONVENOR, STEERING, CONFLICTED_STEERING})
ONLY_THE_APPLICANT = frozenset({APPLICANT})

DRAFT = {"application_id": object_id("draft_application")}
SUBMITTED = {"application_id": object_id("submitted_application")}
ATTACHMENT = {**DRAFT, "attachment_id": object_id("draft_attachment")}

ENTRIES = {
    "applications.dashboard": {"GET": SIGNED_IN},
    "applications.start": {"url": {"round_id": object_id("open_round")}, "POST": SIGNED_IN},
    "applications.show": {"url": DRAFT, "GET": OWN_DRAFT_READERS, "denied": 404},
    # Only the applicant edits, and only a draft.
    "applications.edit": {
        "url": DRAFT,
        "GET": ONLY_THE_APPLICANT,
        "POST": ONLY_THE_APPLICANT,
        "denied": 404,
    },
    # Only the applicant withdraws, and only before a decision.
    "applications.withdraw": {
        "url": SUBMITTED,
        "GET": ONLY_THE_APPLICANT,
        "POST": ONLY_THE_APPLICANT,
        "denied": 404,
    },
    "applications.upload": {"url": DRAFT, "POST": ONLY_THE_APPLICANT, "denied": 404},
    "applications.delete_attachment": {
        "url": ATTACHMENT,
        "POST": ONLY_THE_APPLICANT,
        "denied": 404,
    },
    "applications.download": {"url": ATTACHMENT, "GET": OWN_DRAFT_READERS, "denied": 404},
}

__all__ = ["ENTRIES", "SUBMITTED_READERS"]
