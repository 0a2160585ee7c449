"""The member figures (coalition/members/figures.py)."""

from tests.access_table import EVERYONE, STEERING_GROUP

ENTRIES = {
    # Exact counts: the staff and the steering group (members.directory).
    "members.figures": {"GET": STEERING_GROUP},
    # Public members only, small counts hidden: anyone, signed in or not.
    "public.member_figures": {"GET": EVERYONE},
}
