"""The public directory, the joining form, and a member contact's own profile."""

from tests.access_table import CONVENOR, EVERYONE, MEMBER_CONTACT, object_id

# The member's own contact and the staff; anyone else is told the page does
# not exist (S13), another member's contact and the steering group included.
OWN_PROFILE_EDITORS = frozenset({CONVENOR, MEMBER_CONTACT})

ENTRIES = {
    "public.directory": {"GET": EVERYONE},
    "public.join": {"GET": EVERYONE, "POST": EVERYONE},
    "public.join_thanks": {"GET": EVERYONE},
    "members.profile": {
        "url": {"member_id": object_id("member")},
        "GET": OWN_PROFILE_EDITORS,
        "POST": OWN_PROFILE_EDITORS,
        "denied": 404,
    },
    "members.confirm_membership": {
        "url": {"member_id": object_id("member")},
        "POST": OWN_PROFILE_EDITORS,
        "denied": 404,
    },
    "members.public_consent": {
        "url": {"member_id": object_id("member")},
        "POST": OWN_PROFILE_EDITORS,
        "denied": 404,
    },
}
