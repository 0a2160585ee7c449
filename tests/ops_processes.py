"""The real application in processes that tests/test_failures.py kills on purpose.

Nothing here runs in the test process. With ``OPS_PAUSE_ON`` set, the process
pauses right after a flush of the rows named there (inside the open
transaction, before any commit) and writes ``<label> <pid>`` to the file
``OPS_MARKER``, so the test knows when and whom to SIGKILL:

* ``outbox:<recipient>``: a flush that adds an email to that recipient;
* ``members``: a flush that adds a member (the import's writes);
* ``outbox``: a flush that adds any email (the reminders being queued);
* ``sending``: the moment an email is handed to the SMTP server.

``gunicorn tests.ops_processes:app`` serves it; ``python -m tests.ops_processes
scheduler`` runs the scheduler; ``python -m tests.ops_processes remind`` runs
the reviewers' reminder job once, as the scheduler does.
"""

from __future__ import annotations

import os
import sys
import time

from sqlalchemy import event
from sqlalchemy.orm import Session

from coalition import create_app

PAUSE_ON = os.environ.get("OPS_PAUSE_ON", "")
PAUSE_SECONDS = float(os.environ.get("OPS_PAUSE_SECONDS", "30"))


def mark(label: str) -> None:
    with open(os.environ["OPS_MARKER"], "a", encoding="utf-8") as marker:
        marker.write(f"{label} {os.getpid()}\n")


def _wants_pause(session: Session) -> bool:
    from coalition.mail.models import OutboxMessage
    from coalition.members.models import Member

    kind, _, detail = PAUSE_ON.partition(":")
    new = list(session.new)
    if kind == "outbox":
        return any(
            isinstance(o, OutboxMessage) and (not detail or o.recipient == detail) for o in new
        )
    if kind == "members":
        return any(isinstance(o, Member) for o in new)
    return False


if PAUSE_ON in ("members",) or PAUSE_ON.startswith("outbox"):

    @event.listens_for(Session, "after_flush")
    def _pause(session, _context):
        if _wants_pause(session):
            mark(PAUSE_ON)
            time.sleep(PAUSE_SECONDS)


if PAUSE_ON == "sending":
    import coalition.mail as _mail

    _real_send = _mail.send

    def _send_then_pause(message):
        _real_send(message)
        mark("sent")
        time.sleep(PAUSE_SECONDS)

    _mail.send = _send_then_pause


app = create_app()


def main(command: str) -> None:
    from coalition import scheduler

    with app.app_context():
        if command == "scheduler":
            scheduler.run_forever()
        elif command == "remind":
            scheduler._job(app, scheduler.remind_reviewers)()
            mark("reminders done")
        elif command == "deliver":
            scheduler._job(app, scheduler.deliver_outbox)()
            mark("delivered")
        else:
            raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1])
