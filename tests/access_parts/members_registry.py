"""The registry's staff pages (coalition/members/views.py)."""

from tests.access_table import (
    CONVENOR_ONLY,
    MEMBER_CONTACT,
    MEMBERS_AREA,
    STEERING_GROUP,
    object_id,
)

# Staff and steering read every member; a member contact reads only its own
# member: any other member answers 404, since even its existence is private.
OWN_MEMBER_READERS = STEERING_GROUP | {MEMBER_CONTACT}

ENTRIES = {
    # The directory for staff and steering; a member contact's own member(s).
    "members.home": {"GET": MEMBERS_AREA},
    "members.show": {
        "url": {"member_id": object_id("member")},
        "GET": OWN_MEMBER_READERS,
        "denied": 404,
    },
    "members.new": {"GET": CONVENOR_ONLY, "POST": CONVENOR_ONLY},
    "members.edit": {
        "url": {"member_id": object_id("member")},
        "GET": CONVENOR_ONLY,
        "POST": CONVENOR_ONLY,
    },
    "members.change_status": {"url": {"member_id": object_id("member")}, "POST": CONVENOR_ONLY},
    "members.applications": {"GET": CONVENOR_ONLY},
    "members.decide": {"url": {"member_id": object_id("applied_member")}, "POST": CONVENOR_ONLY},
    # POST: an export of personal data writes an audit row, which a GET must not (S18).
    "members.personal_data": {"url": {"member_id": object_id("member")}, "POST": CONVENOR_ONLY},
    "members.set_at_risk": {"url": {"member_id": object_id("member")}, "POST": CONVENOR_ONLY},
    "members.erase": {"url": {"member_id": object_id("member")}, "POST": CONVENOR_ONLY},
    "members.erase_contact": {
        "url": {
            "member_id": object_id("member"),
            "contact_id": lambda world: world.objects["member"].contacts[0].id,
        },
        "POST": CONVENOR_ONLY,
    },
}
