"""The import as a background job: a dry run (a check) of an uploaded file, and
the commit of a check. The handler is registered with ``coalition.jobs`` when
the app starts (see ``coalition.members.job_handlers``).

A check is imported at most once at a time: starting its import locks the
check's row and records the import on it, and the check's page then shows the
import instead of offering it again. Only an import that wrote nothing
(refused, failed, or the file unreadable) lets the check be imported again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from coalition import jobs
from coalition.extensions import db
from coalition.members.importing.checking import plan
from coalition.members.importing.committing import ImportRefused, commit
from coalition.members.importing.reading import ImportFileError, read_table

JOB_KIND = "members.import"


def run_import_job(job: jobs.Job) -> dict[str, Any]:
    """A dry run or a commit of an uploaded file, with progress. A commit writes
    everything in the job's final transaction, or nothing."""
    params = dict(job.params or {})
    mode = params.get("mode", "dry_run")
    result: dict[str, Any] = {"mode": mode}
    try:
        table = read_table(job.payload or b"", params.get("filename") or "", params.get("sheet"))
    except ImportFileError as exc:
        result["file_error"] = exc.as_dict()
        return result
    include = bool(params.get("include_duplicates"))
    checked = plan(table, include_duplicates=include, progress=job.report_progress)
    result["report"] = checked.report
    if mode == "commit":
        try:
            result["counts"] = commit(
                checked,
                job.created_by,
                skip_errors=bool(params.get("skip_errors")),
                include_duplicates=include,
                job_id=job.id,
            )
        except ImportRefused as exc:
            result["refused"] = {"rows_with_errors": exc.rows_with_errors}
    return result


class AlreadyImported(Exception):
    """The check has an import under way or done."""

    def __init__(self, import_job: jobs.Job):
        super().__init__(f"already imported by job {import_job.id}")
        self.import_job = import_job


def wrote_nothing(import_job: jobs.Job) -> bool:
    """Whether an import ended without writing (so its check may be imported again)."""
    if import_job.status == jobs.JobStatus.FAILED:
        return True
    result = import_job.result if import_job.status == jobs.JobStatus.DONE else None
    return result is not None and "counts" not in result


def import_of(check: jobs.Job) -> jobs.Job | None:
    """The import that followed a check, under way or done; None when there is none
    or when it wrote nothing."""
    import_id = (check.params or {}).get("import_job")
    found = db.session.get(jobs.Job, import_id) if import_id else None
    if found is None or wrote_nothing(found):
        return None
    return found


def start_import(
    check: jobs.Job, actor, *, skip_errors: bool, include_duplicates: bool
) -> jobs.Job:
    """Queue the import of a finished check (the request commits), once.

    The check's row is locked while its last import is looked at, so two
    requests at once cannot both queue one. Raises ``AlreadyImported``.
    """
    locked = db.session.scalar(
        sa.select(jobs.Job)
        .where(jobs.Job.id == check.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    existing = import_of(locked)
    if existing is not None:
        raise AlreadyImported(existing)
    params = locked.params or {}
    import_job = jobs.enqueue(
        JOB_KIND,
        created_by=actor,
        params={
            "filename": params.get("filename"),
            "sheet": params.get("sheet"),
            "mode": "commit",
            "skip_errors": skip_errors,
            "include_duplicates": include_duplicates,
            "checked_by_job": locked.id,
        },
        payload=locked.payload,
    )
    locked.params = {**params, "import_job": import_job.id}
    return import_job
