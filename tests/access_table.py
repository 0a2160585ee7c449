"""The access policy as one table: which people may call which route, with which method (S12).

``tests/test_access.py`` walks every rule of ``app.url_map`` (except ``static``)
and every method it allows (HEAD and OPTIONS aside), as each person of
``PEOPLE``, and compares the answer with ``ACCESS`` below:

* a person listed for the method is *allowed*: any answer that is not a
  denial passes (a 200, a redirect to somewhere other than sign-in, the 400
  "This link does not work" page of a bogus token, ...);
* anonymous, when not listed, must be sent to ``/sign-in?next=<the path>``;
* a signed-in person, when not listed, must get 403, or the route's
  ``"denied"`` status (404 where the very existence of the object is private).

How to add a route
------------------
1. Add one entry to ``ACCESS``, keyed by the endpoint name (``blueprint.view``),
   in the section of its blueprint. Give one key per HTTP method the rule
   accepts (``"GET"``, ``"POST"``, ...), each set to the people allowed; use
   the groups defined below (``EVERYONE``, ``SIGNED_IN``, ``CONVENOR_ONLY``,
   ...) or build a set from the names.
2. If the URL has variables, add ``"url": {...}``: each value is either a
   constant (``BOGUS_TOKEN``) or a function of the ``World`` built for the test
   (``user_id("applicant")``); the world holds the people, and the objects
   later areas give them (see ``World.objects``).
3. If a refused signed-in person must get 404 rather than 403, add
   ``"denied": 404``.
   An area may keep its entries in a module of its own,
   ``tests/access_parts/<name>.py``, as a dict ``ENTRIES`` (see ``_add_parts``).
4. If the route needs a new kind of person (say "reviewer with a conflict on
   this application"), add it to ``PEOPLE`` and give it its objects in the
   ``world`` fixture of ``tests/test_access.py``.

A route in ``app.url_map`` without an entry here fails the suite, and so does
an entry (or a method) here that the application no longer has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coalition.accounts.models import Role, User

# -- The people ------------------------------------------------------------------
# Name -> roles (None: not signed in). Today there are no applications or
# members yet, so the "assigned"/"unassigned" reviewers, the steering member
# "with a conflict" and the "other" member's contact differ only by name; the
# areas that bring those objects give them theirs in the ``world`` fixture.
# Convenor and steering people get a second factor, as their roles demand.

ANONYMOUS = "anonymous"
APPLICANT = "applicant"
OTHER_APPLICANT = "other_applicant"
ASSIGNED_REVIEWER = "assigned_reviewer"
UNASSIGNED_REVIEWER = "unassigned_reviewer"
STEERING = "steering"
CONFLICTED_STEERING = "conflicted_steering"
MEMBER_CONTACT = "member_contact"
OTHER_MEMBER_CONTACT = "other_member_contact"
CONVENOR = "convenor"

PEOPLE: dict[str, tuple[Role, ...] | None] = {
    ANONYMOUS: None,
    APPLICANT: (Role.APPLICANT,),
    OTHER_APPLICANT: (Role.APPLICANT,),
    ASSIGNED_REVIEWER: (Role.REVIEWER,),
    UNASSIGNED_REVIEWER: (Role.REVIEWER,),
    STEERING: (Role.STEERING,),
    CONFLICTED_STEERING: (Role.STEERING,),
    MEMBER_CONTACT: (Role.MEMBER_CONTACT,),
    OTHER_MEMBER_CONTACT: (Role.MEMBER_CONTACT,),
    CONVENOR: (Role.CONVENOR,),
}

# -- Groups of people --------------------------------------------------------------

EVERYONE = frozenset(PEOPLE)
SIGNED_IN = EVERYONE - {ANONYMOUS}
CONVENOR_ONLY = frozenset({CONVENOR})
STEERING_GROUP = frozenset({CONVENOR, STEERING, CONFLICTED_STEERING})
MEMBERS_AREA = STEERING_GROUP | {MEMBER_CONTACT, OTHER_MEMBER_CONTACT}


# -- URL values ----------------------------------------------------------------------


@dataclass
class World:
    """Everything a test case can point a URL at: the people and, later, their objects."""

    users: dict[str, User]
    objects: dict[str, Any] = field(default_factory=dict)


def user_id(name: str) -> Callable[[World], int]:
    """The id of one of ``PEOPLE``, for a ``<int:user_id>`` in a URL."""
    return lambda world: world.users[name].id


def object_id(name: str) -> Callable[[World], int]:
    """The id of one of the world's objects (``World.objects[name]``)."""
    return lambda world: world.objects[name].id


# A token that matches nothing: every token link answers 400 with its
# "This link does not work" page, to everyone, signed in or not.
BOGUS_TOKEN = "not-a-real-token-0123456789"


# -- The table -----------------------------------------------------------------------

ACCESS: dict[str, dict[str, Any]] = {
    # -- core: public pages ---------------------------------------------------------
    "core.home": {"GET": EVERYONE},
    "core.healthz": {"GET": EVERYONE},
    "core.too_large": {"GET": EVERYONE},
    # -- accounts: sign-up, sign-in and token links (public) --------------------------
    # Signed-in people are sent home from /sign-up and /sign-in: not a denial.
    "accounts.sign_up": {"GET": EVERYONE, "POST": EVERYONE},
    "accounts.check_email": {"GET": EVERYONE},
    "accounts.resend_confirmation": {"GET": EVERYONE, "POST": EVERYONE},
    "accounts.sign_in": {"GET": EVERYONE, "POST": EVERYONE},
    # Without a sign-in half-way through, these send back to /sign-in (no ?next=).
    "accounts.second_factor": {"GET": EVERYONE, "POST": EVERYONE},
    "accounts.recovery_code": {"GET": EVERYONE, "POST": EVERYONE},
    # POST only; anyone may end their session (anonymous: a no-op).
    "accounts.sign_out": {"POST": EVERYONE},
    "accounts.set_language": {"POST": EVERYONE},
    "accounts.forgot_password": {"GET": EVERYONE, "POST": EVERYONE},
    "accounts.confirm_email": {
        "url": {"token": BOGUS_TOKEN},
        "GET": EVERYONE,
        "POST": EVERYONE,
    },
    "accounts.reset_password": {
        "url": {"token": BOGUS_TOKEN},
        "GET": EVERYONE,
        "POST": EVERYONE,
    },
    "accounts.accept_invitation": {
        "url": {"token": BOGUS_TOKEN},
        "GET": EVERYONE,
        "POST": EVERYONE,
    },
    "accounts.confirm_new_email": {
        "url": {"token": BOGUS_TOKEN},
        "GET": EVERYONE,
        "POST": EVERYONE,
    },
    # -- accounts: the signed-in person's own settings ----------------------------------
    "accounts.reauthenticate": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "accounts.settings": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "accounts.change_password": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "accounts.change_email": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "accounts.two_factor": {"GET": SIGNED_IN},
    "accounts.two_factor_setup": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "accounts.regenerate_recovery_codes": {"POST": SIGNED_IN},
    "accounts.disable_two_factor": {"POST": SIGNED_IN},
    # -- admin: convenor pages ----------------------------------------------------------
    "admin.users": {"GET": CONVENOR_ONLY},
    "admin.invite": {"GET": CONVENOR_ONLY, "POST": CONVENOR_ONLY},
    "admin.user": {"url": {"user_id": user_id(APPLICANT)}, "GET": CONVENOR_ONLY},
    "admin.set_roles": {"url": {"user_id": user_id(APPLICANT)}, "POST": CONVENOR_ONLY},
    "admin.deactivate": {"url": {"user_id": user_id(APPLICANT)}, "POST": CONVENOR_ONLY},
    "admin.activate": {"url": {"user_id": user_id(APPLICANT)}, "POST": CONVENOR_ONLY},
    "admin.reset_two_factor": {"url": {"user_id": user_id(APPLICANT)}, "POST": CONVENOR_ONLY},
    "admin.resend_invitation": {"url": {"user_id": user_id(APPLICANT)}, "POST": CONVENOR_ONLY},
    "admin.audit_log": {"GET": CONVENOR_ONLY},
    # -- grants: every account may apply --------------------------------------------------
    "grants.home": {"GET": SIGNED_IN},
    # -- steering: the steering group and the convenor ------------------------------------
    "steering.home": {"GET": STEERING_GROUP},
}


def _add_parts() -> None:
    """Each area (or part of one) may keep its entries in ``tests/access_parts/<name>.py``
    as a dict ``ENTRIES``; they join ``ACCESS`` here. An endpoint may appear once only."""
    import importlib
    import pkgutil

    import tests.access_parts as parts

    for info in sorted(pkgutil.iter_modules(parts.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"tests.access_parts.{info.name}")
        for endpoint, entry in module.ENTRIES.items():
            if endpoint in ACCESS:
                raise RuntimeError(f"{endpoint} is in the access table twice")
            ACCESS[endpoint] = entry


_add_parts()

# Keys an entry may hold besides HTTP methods.
ENTRY_KEYS = frozenset({"url", "denied"})
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def methods_of(entry: dict[str, Any]) -> set[str]:
    return {key for key in entry if key not in ENTRY_KEYS}


def url_values(entry: dict[str, Any], world: World) -> dict[str, Any]:
    """The URL variables of an entry, with functions of the world resolved."""
    return {
        name: value(world) if callable(value) else value
        for name, value in entry.get("url", {}).items()
    }
