"""A round's applications for staff and steering (coalition/grants/round_applications.py)."""

from tests.access_table import CONVENOR_ONLY, STEERING_GROUP, object_id

ROUND = {"round_id": object_id("open_round")}

ENTRIES = {
    "round_applications.index": {"url": ROUND, "GET": STEERING_GROUP},
    "round_applications.export": {"url": {**ROUND, "fmt": "csv"}, "POST": STEERING_GROUP},
    "round_applications.screening": {"url": ROUND, "GET": CONVENOR_ONLY},
    "round_applications.screen": {
        "url": {"application_id": object_id("submitted_application")},
        "POST": CONVENOR_ONLY,
    },
}
