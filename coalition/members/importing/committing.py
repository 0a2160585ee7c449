"""Committing an import: the checked rows are written through the registry's
operations (so audit rows and derived fields stay right), all or nothing. It
refuses before writing anything when a row has errors and the caller did not
choose to skip them. The caller commits.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from coalition import audit
from coalition.extensions import db
from coalition.members.importing.checking import Plan, Progress, plan
from coalition.members.importing.duplicates import Current, changes_for
from coalition.members.importing.reading import Table
from coalition.members.importing.values import CONSENT_WORDING
from coalition.members.models import Member, MemberKind, MemberStatus

IMPORT_REASON = "Imported from a member list"


class ImportRefused(Exception):
    """The commit would have to leave out rows with errors, and nobody chose to."""

    def __init__(self, rows_with_errors: int):
        super().__init__(f"{rows_with_errors} rows have errors")
        self.rows_with_errors = rows_with_errors

    @property
    def message(self) -> str:
        return refusal_message(self.rows_with_errors)


def refusal_message(rows_with_errors: int) -> str:
    return _(
        "Nothing was imported: %(n)d rows have errors. Correct them in the file, or choose "
        "to skip the rows with errors.",
        n=rows_with_errors,
    )


def commit(
    source: Table | Plan,
    actor=None,
    skip_errors: bool = False,
    *,
    include_duplicates: bool = False,
    progress: Progress | None = None,
    job_id: int | None = None,
) -> dict[str, int]:
    """Write the rows to the register, all or nothing; the caller commits.

    Refuses (``ImportRefused``) before writing anything when a row has errors
    and ``skip_errors`` is not set. Rows that only look like duplicates are
    written only with ``include_duplicates``. Rows that match a member and
    differ update it; rows that match and do not differ change nothing, so
    importing the same file twice writes nothing the second time. Every
    created or updated member gets its audit row, with ``actor`` as its author.
    """
    if isinstance(source, Plan):
        checked = source
        if checked.include_duplicates != include_duplicates:
            checked = plan(source.table, include_duplicates=include_duplicates)
    else:
        checked = plan(source, include_duplicates=include_duplicates, progress=progress)
    if checked.rows_with_errors and not skip_errors:
        raise ImportRefused(checked.rows_with_errors)

    from coalition.members import operations as ops

    counts = {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    updates = [r for r in checked.rows if r.action == "update"]
    members = _load_members([r.member_id for r in updates])
    for row in checked.rows:
        if row.action == "create":
            values = dict(row.values)
            values.setdefault("kind", MemberKind.ORGANISATION)
            if values["kind"] == MemberKind.EXPERT:
                values.pop("org_type", None)
            if values.get("consent_public"):
                values["consent_wording"] = CONSENT_WORDING
            if row.languages:
                values["languages"] = row.languages
            ops.create_member(
                actor=actor,
                values=values,
                focus_areas=row.focus_areas or (),
                work_countries=row.work_countries or (),
                contacts=[{**row.contact, "is_primary": True}] if row.contact else (),
                status=MemberStatus.ACTIVE,
                reason=IMPORT_REASON,
                action="member.imported",
            )
            counts["created"] += 1
        elif row.action == "update":
            member = members[row.member_id]
            # Compared again with the member as it is now, not as the check saw it.
            change = changes_for(row, Current.of(member))
            if change.fields:
                ops.update_member(
                    member,
                    actor=actor,
                    version=None,
                    values=change.values,
                    focus_areas=change.focus_areas,
                    work_countries=change.work_countries,
                    contacts=change.contacts,
                )
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        elif row.action == "unchanged":
            counts["unchanged"] += 1
        else:
            counts["skipped"] += 1
    db.session.flush()
    audit.record(
        "members.imported",
        actor=actor,
        object_type="Job" if job_id else None,
        object_id=job_id,
        details={"file": checked.table.filename, **counts},
    )
    return counts


def _load_members(ids: list[int | None]) -> dict[int, Member]:
    wanted = sorted({i for i in ids if i is not None})
    found: dict[int, Member] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        query = (
            sa.select(Member)
            .where(Member.id.in_(chunk))
            .options(
                selectinload(Member.contacts),
                selectinload(Member.focus_rows),
                selectinload(Member.country_rows),
            )
        )
        for member in db.session.scalars(query):
            found[member.id] = member
    return found
