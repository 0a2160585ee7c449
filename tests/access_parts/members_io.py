"""Access to the import and export of the member list.

Importing is for staff only; an import job's pages answer 404 to anyone else,
since the file behind them is private. Exports are for staff and steering.
"""

from __future__ import annotations

from tests.access_table import CONVENOR, CONVENOR_ONLY, STEERING_GROUP, World


def import_job_id(world: World) -> int:
    """A queued dry run of a one-row file, started by the convenor (made once per world)."""
    job = world.objects.get("import_job")
    if job is None:
        from coalition import jobs
        from coalition.extensions import db
        from coalition.members.importing import JOB_KIND

        job = jobs.enqueue(
            JOB_KIND,
            created_by=world.users[CONVENOR],
            params={"filename": "members.csv", "sheet": None, "mode": "dry_run"},
            payload=b"name,country\nAccess Test Organisation,KE\n",
        )
        db.session.commit()
        world.objects["import_job"] = job
    return job.id


ENTRIES = {
    "members.import_members": {"GET": CONVENOR_ONLY, "POST": CONVENOR_ONLY},
    "members.import_job": {
        "url": {"job_id": import_job_id},
        "GET": CONVENOR_ONLY,
        "denied": 404,
    },
    "members.import_commit": {
        "url": {"job_id": import_job_id},
        "POST": CONVENOR_ONLY,
        "denied": 404,
    },
    # A GET of a download only leads to the export page; the POST sends the file.
    "members.export": {"GET": STEERING_GROUP},
    "members.export_csv": {"GET": STEERING_GROUP, "POST": STEERING_GROUP},
    "members.export_xlsx": {"GET": STEERING_GROUP, "POST": STEERING_GROUP},
}
