"""Access to the steering reports (coalition/steering/reports/views.py).

The list, the form and the ordinary reports: the steering group and the
convenor staff. A report's pages answer 404 to anyone who may not read it,
and deleting is for staff (404 to the others, as the page is theirs to find).
"""

from __future__ import annotations

from tests.access_table import CONVENOR, CONVENOR_ONLY, STEERING_GROUP, World


def report_id(world: World) -> int:
    """A finished ordinary membership report, asked for by the convenor (once per world)."""
    report = world.objects.get("report")
    if report is None:
        from datetime import date

        from coalition.db import utcnow
        from coalition.extensions import db
        from coalition.steering.reports import operations
        from coalition.steering.reports.kinds import ReportRequest

        report, _new = operations.request_report(
            ReportRequest(kind="membership", start=date(2026, 1, 1), end=date(2026, 1, 31)),
            person=world.users[CONVENOR],
        )
        # A stand-in file: the access test checks who gets it, not what it draws.
        report.file_name = operations.store_pdf(b"%PDF-1.7\n%%EOF\n")
        report.size_bytes, report.page_count = 15, 1
        report.generated_at, report.pending_key = utcnow(), None
        db.session.commit()
        world.objects["report"] = report
    return report.id


ENTRIES = {
    "reports.index": {"GET": STEERING_GROUP, "POST": STEERING_GROUP},
    "reports.show": {"url": {"report_id": report_id}, "GET": STEERING_GROUP, "denied": 404},
    "reports.download": {"url": {"report_id": report_id}, "GET": STEERING_GROUP, "denied": 404},
    "reports.delete": {"url": {"report_id": report_id}, "POST": CONVENOR_ONLY, "denied": 404},
}
