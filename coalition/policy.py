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
from werkzeug.local import LocalProxy

from coalition.accounts.models import Role
from coalition.page_memo import page_memo, read_once

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
    user = resolved(user)
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


def resolved(user: Any) -> Any:
    """``current_user`` as the user it stands for, resolved once rather than on every
    attribute the rules read; anything else as it is."""
    return user._get_current_object() if isinstance(user, LocalProxy) else user


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

    return read_once(
        ("declaration", user.id, application_id), lambda: declaration_of(user.id, application_id)
    )


def _declared_no_conflict(user, application_id) -> bool:
    from coalition.grants.review_models import ConflictKind

    declaration = _review_declaration(user, application_id)
    return declaration is not None and declaration.kind == ConflictKind.NONE


def prime_application_rules(user, application_ids) -> None:
    """Load at once what the review and vote rules ask about ``user`` and each of many
    applications (a page listing them): declarations, active reviews and places on a
    vote, three queries instead of several per application. Only for GET, as
    ``read_once``; the rules then read from the same memo."""
    ids = list(application_ids)
    memo = page_memo()
    if not ids or memo is None:
        return
    user = resolved(user)
    from coalition.grants.reviews import active_reviews_of, declarations_for
    from coalition.steering.reports.dossier import vote_items_of

    declarations = declarations_for(user.id, ids)
    reviews = active_reviews_of(user.id, ids)
    items = vote_items_of(ids)
    for application_id in ids:
        memo.setdefault(("declaration", user.id, application_id), declarations.get(application_id))
        memo.setdefault(("active_review", user.id, application_id), reviews.get(application_id))
        memo.setdefault(("vote_item", application_id), items.get(application_id))


def _is_applicant(user, application) -> bool:
    return application is not None and application.applicant_id == user.id


def _own_active_review(user, application_id):
    from coalition.grants.reviews import active_review_of

    return read_once(
        ("active_review", user.id, application_id),
        lambda: active_review_of(user.id, application_id),
    )


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
    applicant (a steering member's own application shows no scores to them), nor a
    steering member who declared a conflict on it."""
    if application is None or _is_applicant(user, application):
        return False
    if Role.CONVENOR in user.roles:
        return True
    if Role.STEERING not in user.roles:
        return False
    from coalition.grants.review_models import ConflictKind

    declaration = _review_declaration(user, application.id)
    return declaration is None or declaration.kind != ConflictKind.CONFLICT


def scores_hidden_from(user, rows) -> set[int]:
    """The ids among ``rows`` (each with ``application_id`` and ``applicant_id``) whose
    scores ``reviews.read_scores`` hides from ``user``: the same rule, for a whole
    ranking in one query rather than one per application."""
    import sqlalchemy as sa

    from coalition.grants.review_models import ConflictKind

    rows = list(rows)
    if not can(user, "reviews.overview"):
        return {row.application_id for row in rows}
    if Role.CONVENOR in user.roles:
        hidden = {row.application_id for row in rows if row.applicant_id == user.id}
        return hidden
    from coalition.extensions import db
    from coalition.grants.review_models import ConflictDeclaration

    # A person's declared conflicts are few: read them all rather than pass every id.
    conflicts = set(
        db.session.scalars(
            sa.select(ConflictDeclaration.application_id).where(
                ConflictDeclaration.user_id == user.id,
                ConflictDeclaration.kind == ConflictKind.CONFLICT,
            )
        )
    )
    return {
        row.application_id
        for row in rows
        if row.applicant_id == user.id or row.application_id in conflicts
    }


@rule("reviews.declare_round")
def _declare_round(user, _round) -> bool:
    """Declare on every application of a round's vote list at once: steering members."""
    return Role.STEERING in user.roles


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


# -- Steering reports ------------------------------------------------------------
# A report kind names its own rule (``ReportKind.permission``); reading a stored
# report asks that rule, and the staff rule too for a confidential one.


@rule("reports.area")
def _reports_area(user, _obj) -> bool:
    """The reports list and form: the steering group and the convenor staff."""
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("reports.membership")
def _membership_report(user, _obj) -> bool:
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("reports.confidential")
def _confidential_reports(user, _obj) -> bool:
    """The confidential variants (members at risk named, exact counts): convenor staff."""
    return Role.CONVENOR in user.roles


@rule("reports.read")
def _read_report(user, report) -> bool:
    """A stored report: whoever may ask for its kind; a confidential one, staff only."""
    from coalition.steering.reports.kinds import get_kind

    kind = get_kind(report.kind) if report is not None else None
    if kind is None or not can(user, kind.permission):
        return False
    if kind.subject_rule is not None and not can(
        user, kind.subject_rule, kind.subject_of(report.options)
    ):
        return False
    return not report.confidential or can(user, "reports.confidential")


@rule("reports.delete")
def _delete_report(user, _report) -> bool:
    return Role.CONVENOR in user.roles


# -- Grants and grantee reports -------------------------------------------------
#
# A grant's grantee is its applicant, or a contact (with the member-contact role)
# of the member organisation it was made to. Grantees reach their own grants
# only and file their reports; staff see and change everything; steering
# members read grants and the money figures, without payment references or
# override reasons; reviewers (as such) see nothing here.


def is_grantee(user, award) -> bool:
    """The user reports on this grant: its applicant, or a contact of its member."""
    import sqlalchemy as sa

    from coalition.extensions import db
    from coalition.members.models import MemberContact

    if award is None:
        return False
    application = award.application
    if application.applicant_id == user.id:
        return True
    if application.member_id is None or Role.MEMBER_CONTACT not in user.roles:
        return False
    return bool(
        db.session.scalar(
            sa.select(sa.literal(True)).where(
                MemberContact.member_id == application.member_id,
                MemberContact.user_id == user.id,
                MemberContact.erased_at.is_(None),
            )
        )
    )


def visible_awards(user: Any, *, grantee_only: bool = False):
    """``awards.view`` as a condition on ``Award``, for lists: every grant for staff and
    steering (unless ``grantee_only``), else the grants the user reports on. Beside the
    rule so that the two cannot drift; fails closed."""
    import sqlalchemy as sa

    from coalition.grants.award_models import Award
    from coalition.grants.models import Application
    from coalition.members.models import MemberContact

    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return sa.false()
    if not grantee_only and can(user, "awards.figures"):
        return sa.true()
    own = Application.applicant_id == user.id
    if Role.MEMBER_CONTACT in user.roles:
        own = sa.or_(
            own,
            Application.member_id.in_(
                sa.select(MemberContact.member_id).where(
                    MemberContact.user_id == user.id, MemberContact.erased_at.is_(None)
                )
            ),
        )
    return Award.application_id.in_(sa.select(Application.id).where(own))


@rule("awards.manage")
def _manage_awards(user, _obj) -> bool:
    """Award, amend, cancel, pay tranches, answer reports, approve from the waitlist: staff."""
    return Role.CONVENOR in user.roles


@rule("awards.figures")
def _award_figures(user, _obj) -> bool:
    """Every grant and the money figures of rounds and funds, read-only: staff and steering."""
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("awards.view")
def _view_award(user, award) -> bool:
    """One grant: staff, steering members, and its grantees."""
    if award is None:
        return False
    return has_any_role(user, Role.CONVENOR, Role.STEERING) or is_grantee(user, award)


@rule("awards.payment_details")
def _payment_details(user, award) -> bool:
    """Payment references of a grant's tranches: staff, and the grantee (to match the
    transfers they receive); not steering members. Override reasons: ``awards.manage``."""
    if award is None:
        return False
    return Role.CONVENOR in user.roles or is_grantee(user, award)


@rule("awards.read_report")
def _read_grant_report(user, report) -> bool:
    """A grantee report and its files: staff, steering members, and the grant's grantees."""
    return report is not None and _view_award(user, report.award)


@rule("awards.file_report")
def _file_grant_report(user, report) -> bool:
    """Write and submit a report: the grant's grantees, while the grant is active and the
    report open (due, or sent back for changes)."""
    from coalition.grants.award_models import GrantStatus

    return (
        report is not None
        and report.is_open
        and report.award.status == GrantStatus.ACTIVE
        and is_grantee(user, report.award)
    )


@rule("awards.review_report")
def _review_grant_report(user, report) -> bool:
    """Accept a submitted report or ask for changes: staff."""
    return report is not None and Role.CONVENOR in user.roles


# -- The steering vote --------------------------------------------------------
#
# Only the representative or alternate of a seat on a vote's frozen roll
# votes, never while recused on the application; staff open, close and apply
# votes but vote only when they hold a seat; steering members read results.
# A vote's rules get a ``(vote, application)`` pair (``VoteTarget``) where an
# application is concerned. Applicants see only their own decision and feedback.


def _roll_of(vote):
    from coalition.steering.sheets import page_roll

    return page_roll(vote)


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


# -- The fund portfolio report (coalition/steering/reports/portfolio.py) ------------
# Grants, tranches and grantee reports with the money of every round: those who read
# the money figures on the web. Its staff variant (payment references) also asks
# ``reports.confidential``, as ``reports.read`` does for any confidential variant.


@rule("reports.portfolio")
def _portfolio_report(user, _obj) -> bool:
    return can(user, "awards.figures")


# -- The round report and the application dossier (coalition/steering/reports/) ---------
# Both are confidential in every variant. Asking for one and reading it also asks the
# rule on its subject (``ReportKind.subject_rule``), through ``reports.read``.


@rule("reports.round")
def _round_report(user, _obj) -> bool:
    """Round reports at all: those who read the ranked overview (staff and steering)."""
    return can(user, "reviews.overview")


@rule("reports.round_of")
def _round_report_of(user, round_) -> bool:
    """One round's report: staff, any round; steering members, a round once published."""
    from coalition.grants.models import RoundPhase

    if round_ is None or not can(user, "reports.round"):
        return False
    return Role.CONVENOR in user.roles or round_.phase != RoundPhase.DRAFT


@rule("reports.dossier")
def _dossier_report(user, _obj) -> bool:
    """Application dossiers at all: staff and steering members (never a reviewer only)."""
    return has_any_role(user, Role.CONVENOR, Role.STEERING)


@rule("reports.dossier_of")
def _dossier_of(user, application) -> bool:
    """One application's dossier: only for a reader allowed every part of it. Staff;
    a steering member who may read its reviews (not its applicant, no conflict
    declared) and, once it is on a vote, is not recused from it there. ``application``
    may be a row of its ``id`` and ``applicant_id`` (the report form's list)."""
    if application is None or _is_applicant(user, application):
        return False
    roles = user.roles
    if Role.CONVENOR in roles:
        return True
    # The two rules below, asked directly: ``can`` checked the account for this one
    # (the report form asks this of up to 300 applications).
    if Role.STEERING not in roles or not _read_reviews(user, application):
        return False
    from coalition.steering.reports.dossier import vote_item_of

    item = read_once(("vote_item", application.id), lambda: vote_item_of(application.id))
    return item is None or _read_voted_application(user, (item.vote, application))
