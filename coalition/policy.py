"""Who may do what: every access rule of the application, in one module.

A rule is a predicate ``(user, obj) -> bool`` registered under a permission
name. Views and templates only ask (``can``/``authorize``); they never test
roles themselves. An anonymous user is refused everything, and an error
inside a rule refuses too (S17).

Later areas add their rules here, next to these, so that the whole access
policy reads in one file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user

from coalition.accounts.models import Role

log = logging.getLogger("coalition.policy")

Rule = Callable[[Any, Any], bool]
_RULES: dict[str, Rule] = {}


def rule(permission: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        if permission in _RULES:
            raise RuntimeError(f"permission {permission!r} is defined twice")
        _RULES[permission] = fn
        return fn

    return register


def can(user: Any, permission: str, obj: Any = None) -> bool:
    """True when ``user`` holds ``permission`` (on ``obj``). Fails closed."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not getattr(user, "is_active", False):
        return False
    if user.requires_two_factor and not user.two_factor_enabled:
        # Staff and steering hold no permission until their second factor is set (S6).
        return False
    check = _RULES.get(permission)
    if check is None:
        log.error("unknown permission %r asked for; refusing", permission)
        return False
    try:
        return bool(check(user, obj))
    except Exception:
        log.exception("permission check %r failed; refusing", permission)
        return False


def authorize(permission: str, obj: Any = None, *, hide: bool = False) -> None:
    """Abort unless the current user holds ``permission``.

    Anonymous users are sent to sign in. A signed-in user without the right
    gets 403, or 404 when ``hide`` is set because the object's very existence
    is private.
    """
    from coalition.extensions import login_manager

    if not current_user.is_authenticated:
        abort(login_manager.unauthorized())
    if not can(current_user, permission, obj):
        abort(404 if hide else 403)


def permission_required(permission: str) -> Callable:
    """Decorate a view that needs ``permission`` (no object involved)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            authorize(permission)
            return view(*args, **kwargs)

        wrapped.permission = permission
        return wrapped

    return decorator


def has_any_role(user: Any, *roles: Role) -> bool:
    return bool(user.roles.intersection(roles))


# -- Foundation ---------------------------------------------------------------


@rule("admin.users")
def _manage_users(user, _obj) -> bool:
    return Role.CONVENOR in user.roles


@rule("admin.audit")
def _read_audit_log(user, _obj) -> bool:
    return Role.CONVENOR in user.roles


@rule("members.area")
def _members_area(user, _obj) -> bool:
    return has_any_role(user, Role.CONVENOR, Role.STEERING, Role.MEMBER_CONTACT)


@rule("grants.area")
def _grants_area(user, _obj) -> bool:
    # Every signed-in person may apply, so every account reaches the grants area.
    return True


@rule("steering.area")
def _steering_area(user, _obj) -> bool:
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


# -- Member registry ----------------------------------------------------------


def is_contact_of(user, member) -> bool:
    """The user holds the member-contact role and is a contact of this member."""
    if member is None or Role.MEMBER_CONTACT not in user.roles:
        return False
    return any(contact.user_id == user.id for contact in member.contacts)


@rule("members.directory")
def _read_directory(user, _obj) -> bool:
    """The staff directory, member pages and figures: staff read and write, steering reads."""
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("members.manage")
def _manage_members(user, _obj) -> bool:
    """Create, edit, change status, import, erase, decide joining applications."""
    return Role.CONVENOR in user.roles


@rule("members.view")
def _view_member(user, member) -> bool:
    return has_any_role(user, Role.CONVENOR, Role.STEERING) or is_contact_of(user, member)


@rule("members.edit_profile")
def _edit_profile(user, member) -> bool:
    """A member's public profile and contacts: staff, and the member's own contacts."""
    return Role.CONVENOR in user.roles or is_contact_of(user, member)


# Who reads the contact details of a member at risk (S16): the convenor staff,
# and the member's own contacts (their own details, which they keep on the
# profile page). Steering members read every other member's contacts.
AT_RISK_CONTACT_READERS = frozenset({Role.CONVENOR})


@rule("members.read_contacts")
def _read_contacts(user, member) -> bool:
    """A member's contacts (names, emails, roles, accounts): on its page, in lists and exports."""
    if member is None or not _view_member(user, member):
        return False
    return (
        not member.at_risk
        or has_any_role(user, *AT_RISK_CONTACT_READERS)
        or is_contact_of(user, member)
    )


def readable_contacts(user: Any):
    """``members.read_contacts`` as a condition on ``Member``: the members whose
    contacts ``user`` may read, for the queries that list, search or export
    contacts of many members at once. Written here, beside the rule, so that
    the two cannot drift; fails closed (no member) for anyone who may not read
    the register.
    """
    import sqlalchemy as sa

    from coalition.members.models import Member, MemberContact

    if not can(user, "members.directory"):
        return sa.false()
    if has_any_role(user, *AT_RISK_CONTACT_READERS):
        return sa.true()
    own = Member.id.in_(sa.select(MemberContact.member_id).where(MemberContact.user_id == user.id))
    if Role.MEMBER_CONTACT not in user.roles:
        return Member.at_risk.is_(False)
    return sa.or_(Member.at_risk.is_(False), own)


@rule("members.export")
def _export_members(user, _obj) -> bool:
    """Staff export everything; steering members export what they may read."""
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


# -- Grant fund ----------------------------------------------------------------


@rule("grants.manage")
def _manage_grants(user, _obj) -> bool:
    """Funds, rounds, screening, and every application: convenor staff."""
    return Role.CONVENOR in user.roles


@rule("grants.read_round")
def _read_round(user, _obj) -> bool:
    """A round's staff page and its list of submitted applications: staff and steering."""
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("grants.view_application")
def _view_application(user, application) -> bool:
    """The applicant's own; every one for staff; submitted ones (no drafts) for steering."""
    if application is None:
        return False
    if Role.CONVENOR in user.roles or application.applicant_id == user.id:
        return True
    from coalition.grants.models import ApplicationStatus

    return Role.STEERING in user.roles and application.status != ApplicationStatus.DRAFT


@rule("grants.edit_application")
def _edit_application(user, application) -> bool:
    """Only the applicant, only while it is a draft."""
    from coalition.grants.models import ApplicationStatus

    return (
        application is not None
        and application.applicant_id == user.id
        and application.status == ApplicationStatus.DRAFT
    )


@rule("grants.withdraw_application")
def _withdraw_application(user, application) -> bool:
    from coalition.grants.models import WITHDRAWABLE

    return (
        application is not None
        and application.applicant_id == user.id
        and application.status in WITHDRAWABLE
    )


# -- Reviews ------------------------------------------------------------------
#
# Conflict of interest comes first: a reviewer reaches an assigned application
# by its title and round, and reads more only after declaring no conflict. A
# declared conflict recuses, from the application's reviews as from its vote.
# Applicants never see scores, reviewers' names or confidential comments, even
# when they also hold another role.


def _review_declaration(user, application_id):
    from coalition.grants.reviews import declaration_of

    return declaration_of(user.id, application_id)


def _declared_no_conflict(user, application_id) -> bool:
    from coalition.grants.review_models import ConflictKind

    declaration = _review_declaration(user, application_id)
    return declaration is not None and declaration.kind == ConflictKind.NONE


def _is_applicant(user, application) -> bool:
    return application is not None and application.applicant_id == user.id


def _own_active_review(user, application_id):
    from coalition.grants.reviews import active_review_of

    return active_review_of(user.id, application_id)


@rule("reviews.assign")
def _assign_reviewers(user, _obj) -> bool:
    """Assign, unassign and reopen reviews; read every review and score: staff."""
    return Role.CONVENOR in user.roles


@rule("reviews.home")
def _reviews_home(user, _obj) -> bool:
    """The list of one's own reviews: reviewers and steering members."""
    return has_any_role(user, Role.REVIEWER, Role.STEERING)


@rule("reviews.reach")
def _reach_review(user, review) -> bool:
    """A review's title-and-round page: its reviewer, while assigned (also when recused)."""
    from coalition.grants.review_models import ReviewStatus

    if review is None:
        return False
    if Role.CONVENOR in user.roles:
        return True
    return review.reviewer_id == user.id and review.status != ReviewStatus.UNASSIGNED


@rule("reviews.declare")
def _declare_conflict(user, application) -> bool:
    """Declare on an application: its assigned reviewer, or a steering member for an
    application on a vote list; not after declaring a conflict."""
    from coalition.grants.review_models import ConflictKind
    from coalition.grants.reviews import on_vote_list

    if application is None or _is_applicant(user, application):
        return False
    if _own_active_review(user, application.id) is None and not on_vote_list(user, application):
        return False
    declaration = _review_declaration(user, application.id)
    return declaration is None or declaration.kind == ConflictKind.NONE


@rule("reviews.read_application")
def _read_reviewed_application(user, review) -> bool:
    """The application beyond its title: staff, and its reviewer after declaring no conflict."""
    from coalition.grants.review_models import ACTIVE_REVIEW, ReviewStatus

    if review is None:
        return False
    if Role.CONVENOR in user.roles:
        return True
    return (
        review.reviewer_id == user.id
        and review.status in ACTIVE_REVIEW
        and review.status != ReviewStatus.ASSIGNED
        and _declared_no_conflict(user, review.application_id)
    )


@rule("reviews.write")
def _write_review(user, review) -> bool:
    """Save and submit: the reviewer, after declaring no conflict, while the review is open."""
    from coalition.grants.models import DomainError
    from coalition.grants.reviews import check_writable

    if review is None or review.reviewer_id != user.id:
        return False
    if not _declared_no_conflict(user, review.application_id):
        return False
    try:
        check_writable(review)
    except DomainError:
        return False
    return True


@rule("reviews.overview")
def _reviews_overview(user, _round) -> bool:
    """A round's scores, ranking and funding line: staff and steering members."""
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("reviews.read_scores")
def _read_scores(user, application) -> bool:
    """An application's scores in the round's overview: staff and steering, never its
    applicant (a steering member's own application shows no scores to them)."""
    if application is None or _is_applicant(user, application):
        return False
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("reviews.read_reviews")
def _read_reviews(user, application) -> bool:
    """The submitted reviews of an application.

    Staff; a steering member who declared no conflict on it; a reviewer of it
    (steering member or not) once their own review is submitted. Never its
    applicant, never anyone recused.
    """
    from coalition.grants.review_models import ReviewStatus

    if application is None or _is_applicant(user, application):
        return False
    if Role.CONVENOR in user.roles:
        return True
    if not _declared_no_conflict(user, application.id):
        return False
    own = _own_active_review(user, application.id)
    if own is not None:
        # Whoever reviews it, steering member or not, reads the others after their own.
        return own.status == ReviewStatus.SUBMITTED
    return Role.STEERING in user.roles


@rule("reviews.read_review")
def _read_review(user, review) -> bool:
    """One review's scores and comment for the applicant: staff; its own reviewer (not
    once recused or unassigned); whoever reads the application's reviews, once submitted."""
    from coalition.grants.review_models import ACTIVE_REVIEW, ReviewStatus

    if review is None or _is_applicant(user, review.application):
        return False
    if Role.CONVENOR in user.roles:
        return True
    if review.reviewer_id == user.id:
        return review.status in ACTIVE_REVIEW
    return review.status == ReviewStatus.SUBMITTED and can(
        user, "reviews.read_reviews", review.application
    )


@rule("reviews.read_confidential")
def _read_confidential(user, review) -> bool:
    """The confidential comment: its author (while not recused), staff, and steering
    members not recused. Never other reviewers."""
    from coalition.grants.review_models import ACTIVE_REVIEW, ReviewStatus

    if review is None or _is_applicant(user, review.application):
        return False
    if Role.CONVENOR in user.roles:
        return True
    if review.reviewer_id == user.id:
        return review.status in ACTIVE_REVIEW
    if Role.STEERING not in user.roles:
        return False
    return review.status == ReviewStatus.SUBMITTED and can(
        user, "reviews.read_reviews", review.application
    )


@rule("reviews.reviewer_names")
def _reviewer_names(user, application) -> bool:
    """Who reviewed an application: staff, and steering members not recused from it."""
    if application is None or _is_applicant(user, application):
        return False
    if Role.CONVENOR in user.roles:
        return True
    return Role.STEERING in user.roles and can(user, "reviews.read_reviews", application)


# -- The steering vote --------------------------------------------------------
#
# Only the representative or alternate of a seat on a vote's frozen roll
# votes, never while recused on the application; staff open, close and apply
# votes but vote only when they hold a seat; steering members read results.
# A vote's rules get a ``(vote, application)`` pair (``VoteTarget``) where an
# application is concerned. Applicants see only their own decision and feedback.


def _roll_of(vote):
    from coalition.steering.voting import load_roll

    return load_roll(vote)


@rule("steering.seats")
def _read_seats(user, _obj) -> bool:
    """The seats, terms and representatives: staff and steering members."""
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("steering.manage_seats")
def _manage_seats(user, _obj) -> bool:
    """Name a seat's representative and alternate: staff."""
    return Role.CONVENOR in user.roles


@rule("votes.manage")
def _manage_votes(user, _obj) -> bool:
    """Open, close early and apply votes; open a new vote, move up, decide appeals: staff."""
    return Role.CONVENOR in user.roles


@rule("votes.read")
def _read_vote(user, vote) -> bool:
    """A vote's page (shortlist, closing time, how many seats voted): staff, and the
    steering members on its roll."""
    if vote is None:
        return False
    if Role.CONVENOR in user.roles:
        return True
    if Role.STEERING not in user.roles:
        return False
    return bool(_roll_of(vote).seats_of(user.id))


@rule("votes.sit")
def _sit_on_vote(user, vote) -> bool:
    """Declare conflicts and vote on this vote at all: a sitter of a seat on its frozen
    roll (staff too, when they hold one), with the steering role, while it is open."""
    if vote is None or not vote.is_open() or Role.STEERING not in user.roles:
        return False
    return bool(_roll_of(vote).seats_of(user.id))


@rule("votes.read_application")
def _read_voted_application(user, target) -> bool:
    """A shortlisted application with its reviews, ranking and funding line: staff, and a
    sitter on the roll not recused from it on every seat they sit for (nothing when recused)."""
    vote, application = target
    if vote is None or application is None or _is_applicant(user, application):
        return False
    if Role.CONVENOR in user.roles:
        return True
    if Role.STEERING not in user.roles:
        return False
    return not _roll_of(vote).recused_from(user.id, application.id)


@rule("votes.cast")
def _cast_vote(user, target) -> bool:
    """Vote on one application for one seat: its representative or alternate, while the
    vote is open, neither the seat nor the person recused, after declaring no conflict.
    ``target`` is (vote, application, seat_id)."""
    vote, application, seat_id = target
    if vote is None or application is None or not vote.is_open():
        return False
    if Role.STEERING not in user.roles or _is_applicant(user, application):
        return False
    roll = _roll_of(vote)
    seat = next((s for s in roll.seats if s.id == seat_id), None)
    if seat is None or roll.seat_recused(seat, application.id):
        return False
    return roll.may_cast(seat, application.id, user.id) and _declared_no_conflict(
        user, application.id
    )


@rule("votes.read_result")
def _read_result(user, vote) -> bool:
    """A closed vote's result, with the votes by seat: staff and steering members."""
    if vote is None or not vote.is_closed:
        return False
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("decisions.read_feedback")
def _read_feedback(user, application) -> bool:
    """The decision and the reviewers' comments for the applicant: the applicant (and staff)."""
    if application is None:
        return False
    return Role.CONVENOR in user.roles or _is_applicant(user, application)


@rule("decisions.appeal")
def _lodge_appeal(user, application) -> bool:
    """Lodge the one appeal: the applicant of a rejected application, within the period."""
    from coalition.db import utcnow
    from coalition.grants.decisions import appeal_deadline, appeal_of

    if not _is_applicant(user, application):
        return False
    deadline = appeal_deadline(application)
    return deadline is not None and utcnow() < deadline and appeal_of(application) is None
