"""Operations on funds and rounds: create, edit, and move a round along its lifecycle.

Each operation checks the domain rules (a fund's name is unique, its rounds'
budgets fit in its total, a round's grants fit in its budget, a rubric has
criteria), records the change in the audit log, and flushes. None commits:
the request does, once, at the edge.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from coalition import audit
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    AttachmentKind,
    Criterion,
    DomainError,
    Fund,
    Round,
    RoundPhase,
)
from coalition.grants.money import format_money, is_currency

FUND_FIELDS = ("name", "partner", "currency", "total_budget")
ROUND_FIELDS = (
    "title",
    "description",
    "opens_at",
    "closes_at",
    "review_deadline",
    "budget",
    "min_grant",
    "max_grant",
    "required_attachments",
    "reviewers_per_application",
    "blind_review",
    "appeal_days",
)
# How long a rejected applicant may appeal, in days (the round's own; 14 unless set).
APPEAL_DAYS_MIN, APPEAL_DAYS_MAX = 1, 90
# Once reviewers score against the rubric, it no longer changes.
RUBRIC_FROZEN = frozenset({RoundPhase.IN_REVIEW, RoundPhase.DECIDED, RoundPhase.ARCHIVED})


class StaleEdit(DomainError):
    """Someone else saved the fund or round after the form was opened."""


def check_version(obj: Fund | Round, version: int | None) -> None:
    if version is not None and int(version) != obj.version:
        raise _stale()


# -- Funds ----------------------------------------------------------------------------


def _check_fund(fund: Fund | None, values: dict[str, Any]) -> None:
    name = values["name"]
    same_name = sa.select(Fund.id).where(sa.func.lower(Fund.name) == name.lower())
    if fund is not None and fund.id is not None:
        same_name = same_name.where(Fund.id != fund.id)
    if db.session.scalar(same_name.limit(1)) is not None:
        raise DomainError(_("There is already a fund called %(name)s.", name=name), "name")
    if not is_currency(values["currency"]):
        raise DomainError(_("Give the currency as its ISO 4217 code, like USD."), "currency")
    if values["total_budget"] < 0:
        raise DomainError(_("Enter an amount of zero or more."), "total_budget")
    if fund is None or fund.id is None:
        return
    if values["currency"] != fund.currency and fund.rounds:
        raise DomainError(
            _(
                "The fund has rounds with amounts in %(currency)s: its currency stays.",
                currency=fund.currency,
            ),
            "currency",
        )
    allocated = rounds_budget(fund.id)
    if values["total_budget"] < allocated:
        raise DomainError(
            _(
                "The fund's rounds already hold %(amount)s: the total budget cannot be less.",
                amount=format_money(allocated, fund.currency),
            ),
            "total_budget",
        )


def _stale() -> StaleEdit:
    return StaleEdit(
        _(
            "Someone else saved this while you were editing. Your changes are below but "
            "not saved: compare them with the current version, then save again."
        )
    )


def _flush_fund(fund: Fund) -> None:
    """Flush, turning a name taken at the same moment by someone else into a message,
    and a save that crossed another one (the version moved on) into StaleEdit."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        raise DomainError(
            _("There is already a fund called %(name)s.", name=fund.name), "name"
        ) from exc
    except StaleDataError as exc:
        raise _stale() from exc


def _flush_round() -> None:
    try:
        db.session.flush()
    except StaleDataError as exc:
        # Between the version check and this write, someone else saved the round.
        raise _stale() from exc


def create_fund(*, actor: Any, values: dict[str, Any], countries: list[str]) -> Fund:
    """A new fund. Refuses a name already taken (any case) and an unknown currency."""
    _check_fund(None, values)
    fund = Fund(**{key: values[key] for key in FUND_FIELDS})
    fund.eligible_countries = countries
    db.session.add(fund)
    _flush_fund(fund)
    audit.record(
        "fund.created",
        fund,
        actor=actor,
        details={**{key: values[key] for key in FUND_FIELDS}, "countries": fund.eligible_countries},
    )
    db.session.flush()
    return fund


def update_fund(
    fund: Fund, *, actor: Any, version: int | None, values: dict[str, Any], countries: list[str]
) -> dict[str, list[Any]]:
    """Change a fund; returns the field-level changes (empty: nothing changed).

    Refuses a stale version, a taken name, a total budget below what its
    rounds already hold, and a new currency once rounds have amounts in the old one.
    """
    check_version(fund, version)
    _check_fund(fund, values)
    countries_before = fund.eligible_countries
    for key in FUND_FIELDS:
        setattr(fund, key, values[key])
    fund.eligible_countries = countries
    changes = audit.changes_of(fund, list(FUND_FIELDS))
    if fund.eligible_countries != countries_before:
        changes["eligible_countries"] = [countries_before, fund.eligible_countries]
    if changes:
        # A change of countries alone touches no column of the fund: bump the
        # version so that a concurrent edit is still caught.
        if "eligible_countries" in changes and len(changes) == 1:
            flag_modified(fund, "name")
        _flush_fund(fund)
        audit.record("fund.updated", fund, actor=actor, changes=changes)
        db.session.flush()
    return changes


def rounds_budget(fund_id: int, *, except_round_id: int | None = None) -> int:
    """What the fund's rounds hold in total (minus one round, when editing it)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(Round.budget), 0)).where(
        Round.fund_id == fund_id
    )
    if except_round_id is not None:
        query = query.where(Round.id != except_round_id)
    return int(db.session.scalar(query) or 0)


# -- Rounds ---------------------------------------------------------------------------


def _check_round(fund: Fund, values: dict[str, Any], criteria: list[dict], round_id=None) -> None:
    opens_at: datetime = values["opens_at"]
    closes_at: datetime = values["closes_at"]
    if closes_at <= opens_at:
        raise DomainError(_("The round must close after it opens."), "closes_at")
    deadline = values.get("review_deadline")
    if deadline is not None and deadline <= closes_at:
        raise DomainError(
            _("The review deadline must come after the round closes."), "review_deadline"
        )
    if values["min_grant"] > values["max_grant"]:
        raise DomainError(_("The smallest grant cannot be more than the largest."), "min_grant")
    if values["max_grant"] > values["budget"]:
        raise DomainError(
            _("The largest grant cannot be more than the round's budget."), "max_grant"
        )
    available = fund.total_budget - rounds_budget(fund.id, except_round_id=round_id)
    if values["budget"] > available:
        raise DomainError(
            _(
                "The fund has %(available)s left for this round (its total budget less "
                "its other rounds' budgets).",
                available=format_money(max(available, 0), fund.currency),
            ),
            "budget",
        )
    if not 1 <= values["reviewers_per_application"] <= 10:
        raise DomainError(_("Choose between 1 and 10 reviewers."), "reviewers_per_application")
    appeal_days = values.get("appeal_days")
    if appeal_days is not None and not APPEAL_DAYS_MIN <= appeal_days <= APPEAL_DAYS_MAX:
        raise DomainError(
            _(
                "Give an appeal period of %(min)d to %(max)d days.",
                min=APPEAL_DAYS_MIN,
                max=APPEAL_DAYS_MAX,
            ),
            "appeal_days",
        )
    if not criteria:
        raise DomainError(_("Give the rubric at least one criterion."), "criteria")
    if any(int(c["weight"]) < 1 for c in criteria):
        raise DomainError(_("Each criterion's weight is a whole number of 1 or more."), "criteria")


def _rubric(round_: Round) -> list[str]:
    return [f"{c.name} (weight {c.weight})" for c in round_.criteria]


def _set_criteria(round_: Round, criteria: list[dict]) -> None:
    """Update the rubric row by row, so that criteria keep their ids where they stay."""
    existing = list(round_.criteria)
    for position, row in enumerate(criteria):
        if position < len(existing):
            criterion = existing[position]
        else:
            criterion = Criterion()
            round_.criteria.append(criterion)
        criterion.position = position
        criterion.name = row["name"]
        criterion.guidance = row.get("guidance") or ""
        criterion.weight = int(row["weight"])
    for criterion in existing[len(criteria) :]:
        round_.criteria.remove(criterion)


def _clean_values(values: dict[str, Any]) -> dict[str, Any]:
    clean = {key: values.get(key) for key in ROUND_FIELDS}
    clean["description"] = clean["description"] or ""
    wanted = set(clean["required_attachments"] or [])
    if wanted - {kind.value for kind in AttachmentKind}:
        raise DomainError(_("Choose from the list."), "required_attachments")
    # Kept in the order of AttachmentKind, so that the same choice compares equal.
    clean["required_attachments"] = [kind.value for kind in AttachmentKind if kind.value in wanted]
    clean["blind_review"] = bool(clean["blind_review"])
    if clean["appeal_days"] is None:
        del clean["appeal_days"]  # not given: the round keeps its period (14 days when new)
    return clean


def create_round(fund: Fund, *, actor: Any, values: dict[str, Any], criteria: list[dict]) -> Round:
    """A new draft round of ``fund`` with its rubric.

    Guarantees: it closes after it opens; min ≤ max ≤ its budget; its budget
    fits in what the fund has left; the rubric has at least one criterion,
    each weighted 1 or more.
    """
    values = _clean_values(values)
    _check_round(fund, values, criteria)
    round_ = Round(fund=fund, phase=RoundPhase.DRAFT, **values)
    _set_criteria(round_, criteria)
    db.session.add(round_)
    db.session.flush()
    audit.record(
        "round.created",
        round_,
        actor=actor,
        details={**values, "fund": fund.name, "criteria": _rubric(round_)},
    )
    db.session.flush()
    return round_


def update_round(
    round_: Round,
    *,
    actor: Any,
    version: int | None,
    values: dict[str, Any],
    criteria: list[dict],
) -> dict[str, list[Any]]:
    """Change a round and its rubric; returns the field-level changes.

    The same rules as ``create_round``, plus: a stale version is refused, the
    budget never goes below what the round's grants commit, and the rubric
    stays as it is once the round is in review.
    """
    check_version(round_, version)
    values = _clean_values(values)
    _check_round(round_.fund, values, criteria, round_id=round_.id)
    _check_awards_fit(round_, values["budget"])
    rubric_before = _rubric(round_)
    wanted = [f"{c['name']} (weight {int(c['weight'])})" for c in criteria]
    guidance_before = [c.guidance for c in round_.criteria]
    rubric_changed = wanted != rubric_before or guidance_before != [
        c.get("guidance") or "" for c in criteria
    ]
    if rubric_changed and RoundPhase(round_.phase) in RUBRIC_FROZEN:
        raise DomainError(_("The round is in review: its rubric can no longer change."), "criteria")
    for key, value in values.items():
        setattr(round_, key, value)
    changes = audit.changes_of(round_, list(ROUND_FIELDS))
    if rubric_changed:
        _set_criteria(round_, criteria)
        changes["criteria"] = [rubric_before, _rubric(round_)]
        if len(changes) == 1:
            # Only the rubric changed: bump the round's version all the same.
            flag_modified(round_, "title")
    if changes:
        _flush_round()
        audit.record("round.updated", round_, actor=actor, changes=changes)
        db.session.flush()
    return changes


def _check_awards_fit(round_: Round, budget: int) -> None:
    """A round's budget never goes below what its grants commit: checked with the fund's
    and the round's rows locked, as awards are (``awards.lock_budgets``)."""
    from coalition.grants import awards

    if budget is None or budget >= round_.budget:
        return
    awards.lock_budgets(round_)
    committed, _in_fund = awards.committed_in(round_.id, round_.fund_id)
    if budget < committed:
        raise DomainError(
            _(
                "The round's grants already hold %(amount)s: its budget cannot be less.",
                amount=format_money(committed, round_.currency),
            ),
            "budget",
        )


def move_round(
    round_: Round, target: RoundPhase | str, *, actor: Any, now: datetime | None = None
) -> RoundPhase:
    """Move the round through ``Round.move_to`` (the one place for its moves); audited.

    Raises DomainError for a move the lifecycle or the clock does not allow, and
    for the move to review while submitted applications still wait for screening.
    """
    try:
        target = RoundPhase(target)
    except ValueError as exc:
        raise DomainError(_("Choose a step of the round's lifecycle.")) from exc
    if target == RoundPhase.IN_REVIEW and RoundPhase(round_.phase) == RoundPhase.PUBLISHED:
        waiting = awaiting_screening(round_.id)
        if waiting:
            raise DomainError(
                ngettext(
                    "%(num)d application still waits for screening: screen it before the "
                    "review starts.",
                    "%(num)d applications still wait for screening: screen them before the "
                    "review starts.",
                    waiting,
                )
            )
    before = round_.move_to(target, now=now or utcnow())
    audit.record(
        "round.moved",
        round_,
        actor=actor,
        changes={"phase": [before.value, target.value]},
    )
    db.session.flush()
    return before


def awaiting_screening(round_id: int) -> int:
    """How many of the round's applications are submitted and not yet screened."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Application)
            .where(
                Application.round_id == round_id,
                Application.status.in_((ApplicationStatus.SUBMITTED, ApplicationStatus.SCREENING)),
            )
        )
        or 0
    )
