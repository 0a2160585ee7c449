"""Funds and rounds (coalition/grants/views.py) and the public calls (coalition/grants/calls.py)."""

from tests.access_table import CONVENOR_ONLY, EVERYONE, STEERING_GROUP, object_id

ENTRIES = {
    # Staff run funds and rounds.
    "grants.funds": {"GET": CONVENOR_ONLY},
    "grants.new_fund": {"GET": CONVENOR_ONLY, "POST": CONVENOR_ONLY},
    "grants.edit_fund": {
        "url": {"fund_id": object_id("fund")},
        "GET": CONVENOR_ONLY,
        "POST": CONVENOR_ONLY,
    },
    "grants.new_round": {"GET": CONVENOR_ONLY, "POST": CONVENOR_ONLY},
    # A round's staff page: staff and the steering group read it.
    "grants.show_round": {"url": {"round_id": object_id("open_round")}, "GET": STEERING_GROUP},
    "grants.edit_round": {
        "url": {"round_id": object_id("open_round")},
        "GET": CONVENOR_ONLY,
        "POST": CONVENOR_ONLY,
    },
    "grants.move_round": {"url": {"round_id": object_id("open_round")}, "POST": CONVENOR_ONLY},
    # The public calls: no sign-in. (A draft round answers 404 to everyone:
    # tests/test_grants_calls.py.)
    "calls.index": {"GET": EVERYONE},
    "calls.show": {"url": {"round_id": object_id("open_round")}, "GET": EVERYONE},
}
