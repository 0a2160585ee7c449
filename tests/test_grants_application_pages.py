"""The applicant's pages: the form saved as a draft, submitted once with a
list of what is missing, attachments uploaded, downloaded and removed, and
withdrawal."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from coalition.accounts.models import Role
from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import files
from coalition.grants.models import (
    Application,
    ApplicationStatus,
    Attachment,
    Fund,
    Round,
    RoundPhase,
)
from tests import sample_files
from tests.clock import NOW
from tests.conftest import outbox, post


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(folder))
    return folder


@pytest.fixture
def open_round():
    fund = Fund(name="Africa Fund", partner="Partner", currency="USD", total_budget=50_000_000)
    fund.eligible_countries = ["KE", "SN"]
    round_ = Round(
        fund=fund,
        title="Elections 2027",
        phase=RoundPhase.PUBLISHED,
        opens_at=NOW - timedelta(days=10),
        closes_at=NOW + timedelta(days=10),
        budget=20_000_000,
        min_grant=500_000,
        max_grant=5_000_000,
        required_attachments=["proposal"],
    )
    db.session.add(round_)
    db.session.commit()
    return round_


@pytest.fixture
def applicant(make_user, login):
    return login(make_user(Role.APPLICANT))


def start(client, round_):
    response = post(client, f"/applications/start/{round_.id}", token_from=f"/calls/{round_.id}")
    assert response.status_code == 302, response.status_code
    return int(re.search(r"/applications/(\d+)/edit", response.headers["Location"]).group(1))


def form_data(client, application_id, **changes):
    page = client.get(f"/applications/{application_id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    data = {
        "version": version,
        "member_id": "",
        "org_name": "Digital Watch Kenya",
        "org_country": "KE",
        "org_registration": "registered",
        "fiscal_host_name": "",
        "fiscal_host_country": "",
        "title": "Watching the 2027 vote",
        "summary": "Monitoring.",
        "problem": "Disinformation.",
        "activities": "Research.",
        "outcomes": "A report.",
        "elections": "General elections, August 2027",
        "countries": ["KE"],
        "duration_months": "12",
        "requested_amount": "10,000.00",
        "budget_lines-0-category": "Staff",
        "budget_lines-0-description": "Researchers",
        "budget_lines-0-amount": "7,000",
        "budget_lines-1-category": "Travel",
        "budget_lines-1-description": "Field work",
        "budget_lines-1-amount": "3000.00",
    }
    data.update(changes)
    return data


def upload(client, application_id, content: bytes, name: str, kind="proposal"):
    return post(
        client,
        f"/applications/{application_id}/attachments",
        {"kind": kind, "file": (io.BytesIO(content), name)},
        token_from=f"/applications/{application_id}/edit",
        content_type="multipart/form-data",
    )


def test_save_a_draft_then_submit(client, applicant, open_round):
    application_id = start(client, open_round)
    response = post(
        client,
        f"/applications/{application_id}/edit",
        form_data(client, application_id, title="Half done", summary=""),
        token_from="/applications/",
    )
    assert response.status_code == 302
    application = db.session.get(Application, application_id)
    assert application.title == "Half done" and application.requested_amount == 1_000_000
    assert [line.amount for line in application.budget_lines] == [700_000, 300_000]

    # Submitting without the proposal attached: refused, with the list of what is missing.
    response = post(
        client,
        f"/applications/{application_id}/edit",
        {**form_data(client, application_id), "submit": "1"},
        token_from="/applications/",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Not submitted yet" in page and "Attach the full proposal" in page
    assert 'href="#attachments"' in page
    db.session.refresh(application)
    assert application.status == ApplicationStatus.DRAFT

    assert upload(client, application_id, sample_files.pdf(), "proposal.pdf").status_code == 302
    response = post(
        client,
        f"/applications/{application_id}/edit",
        {**form_data(client, application_id), "submit": "1"},
        token_from="/applications/",
    )
    assert response.status_code == 302
    db.session.refresh(application)
    assert application.status == ApplicationStatus.SUBMITTED
    assert outbox("application_submitted")
    # Read-only from now on: the edit page sends the applicant to the application.
    response = client.get(f"/applications/{application_id}/edit")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/applications/{application_id}")
    assert "Submitted" in client.get("/applications/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"requested_amount": "-5"}, "Enter an amount of zero or more."),
        ({"requested_amount": "lots"}, "Enter an amount in figures"),
        ({"requested_amount": "1.005"}, "at most two decimals"),
        ({"title": "x" * 201}, "Field cannot be longer than 200 characters."),
        ({"duration_months": "99"}, "The duration is from 1 to 36 months."),
    ],
)
def test_bad_input_is_refused_beside_the_field(client, applicant, open_round, changes, message):
    application_id = start(client, open_round)
    response = post(
        client,
        f"/applications/{application_id}/edit",
        form_data(client, application_id, **changes),
        token_from="/applications/",
    )
    page = response.get_data(as_text=True)
    assert message in page
    assert 'value="Digital Watch Kenya"' in page  # what was typed is kept
    assert db.session.get(Application, application_id).org_name is None


def test_budget_that_does_not_add_up(client, applicant, open_round):
    application_id = start(client, open_round)
    upload(client, application_id, sample_files.pdf(), "proposal.pdf")
    response = post(
        client,
        f"/applications/{application_id}/edit",
        {**form_data(client, application_id, requested_amount="10,000.01"), "submit": "1"},
        token_from="/applications/",
    )
    assert "The budget lines add up to" in response.get_data(as_text=True)
    assert db.session.get(Application, application_id).status == ApplicationStatus.DRAFT


def test_stale_save_is_refused_and_keeps_what_was_typed(client, applicant, open_round):
    application_id = start(client, open_round)
    first = form_data(client, application_id, title="From window one")
    second = form_data(client, application_id, title="From window two")
    assert (
        post(
            client, f"/applications/{application_id}/edit", first, token_from="/applications/"
        ).status_code
        == 302
    )
    response = post(
        client, f"/applications/{application_id}/edit", second, token_from="/applications/"
    )
    assert response.status_code == 409
    assert 'value="From window two"' in response.get_data(as_text=True)
    assert db.session.get(Application, application_id).title == "From window one"


def test_drafts_are_read_only_after_the_close(client, applicant, open_round):
    application_id = start(client, open_round)
    data = form_data(client, application_id)
    # The call closes while the form is open (the clock is the server's).
    open_round.opens_at = NOW - timedelta(days=20)
    open_round.closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = post(
        client, f"/applications/{application_id}/edit", data, token_from="/applications/"
    )
    page = response.get_data(as_text=True)
    assert "The call has closed" in page
    # The form again with what was typed, saying why it cannot be sent.
    assert "this draft can no longer be submitted" in page and "Closes " not in page
    assert db.session.get(Application, application_id).org_name is None


def test_other_people_get_404(client, applicant, open_round, make_user, login):
    application_id = start(client, open_round)
    upload(client, application_id, sample_files.pdf(), "proposal.pdf")
    attachment = db.session.scalar(sa.select(Attachment))
    login(make_user(Role.APPLICANT))
    for path in (
        f"/applications/{application_id}",
        f"/applications/{application_id}/edit",
        f"/applications/{application_id}/attachments/{attachment.id}",
    ):
        assert client.get(path).status_code == 404, path
    response = post(
        client,
        f"/applications/{application_id}/attachments/{attachment.id}/delete",
        token_from="/applications/",
    )
    assert response.status_code == 404
    assert files.path_of(attachment.stored_name).exists()


# -- Attachments -------------------------------------------------------------------------------


def test_upload_download_and_remove(client, applicant, open_round, uploads):
    application_id = start(client, open_round)
    content = sample_files.pdf()
    response = upload(client, application_id, content, "../../etc/passwd.pdf")
    assert response.status_code == 302
    attachment = db.session.scalar(sa.select(Attachment))
    assert attachment.original_name == "passwd.pdf"
    assert re.fullmatch(r"[0-9a-f]{32}", attachment.stored_name)
    stored = uploads / attachment.stored_name
    assert stored.read_bytes() == content and oct(stored.stat().st_mode & 0o777) == "0o600"

    response = client.get(f"/applications/{application_id}/attachments/{attachment.id}")
    assert response.status_code == 200 and response.data == content
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"] == "application/pdf"

    post(
        client,
        f"/applications/{application_id}/attachments/{attachment.id}/delete",
        token_from=f"/applications/{application_id}/edit",
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert not stored.exists()
    assert os.listdir(uploads) == []  # nothing orphaned stays on disk


def test_s22_staff_and_steering_downloads_are_audited_not_the_applicants_own(
    client, applicant, open_round, make_user, login
):
    from coalition.audit.models import AuditEntry

    def downloads() -> list[AuditEntry]:
        return list(
            db.session.scalars(
                sa.select(AuditEntry)
                .filter_by(action="application.attachment_downloaded")
                .order_by(AuditEntry.id)
            )
        )

    application_id = start(client, open_round)
    content = sample_files.pdf()
    upload(client, application_id, content, "plan.pdf")
    attachment = db.session.scalar(sa.select(Attachment))
    path = f"/applications/{application_id}/attachments/{attachment.id}"
    assert client.get(path).status_code == 200
    assert downloads() == []  # the applicant's own file

    application = db.session.get(Application, application_id)
    application.status = ApplicationStatus.SUBMITTED
    db.session.commit()
    readers = [
        login(make_user(Role.CONVENOR, two_factor=True)),
        login(make_user(Role.STEERING, two_factor=True)),
    ]
    for reader in readers:
        login(reader)
        response = client.get(path)
        assert response.status_code == 200 and response.data == content
    entries = downloads()
    assert [e.actor_id for e in entries] == [r.id for r in readers]
    for entry in entries:
        assert (entry.object_type, entry.object_id) == ("Application", str(application_id))
        assert entry.details == {
            "attachment_id": attachment.id,
            "kind": "proposal",
            "name": "plan.pdf",
        }
        assert entry.created_at is not None


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (sample_files.png(), "photo.pdf", "not one of the allowed types"),
        (sample_files.exe(), "setup.pdf", "not one of the allowed types"),
        (sample_files.pdf_with_open_action_javascript(), "x.pdf", "JavaScript"),
        (b"", "empty.pdf", "empty"),
    ],
)
def test_refused_uploads_leave_nothing(
    client, applicant, open_round, uploads, content, name, message
):
    application_id = start(client, open_round)
    response = upload(client, application_id, content, name)
    assert response.status_code == 200  # the page again, the refusal beside the file field
    page = response.get_data(as_text=True)
    assert re.search(r'id="file-error">\s*<span>[^<]*' + message, page), page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert not uploads.exists() or os.listdir(uploads) == []


def test_upload_over_the_size_limit(client, app, applicant, open_round, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 1000)
    application_id = start(client, open_round)
    response = upload(client, application_id, sample_files.csv_utf8() * 100, "big.csv")
    assert "larger than" in response.get_data(as_text=True)


# -- Withdrawal --------------------------------------------------------------------------------


def test_withdraw_a_submitted_application(client, applicant, open_round):
    application_id = start(client, open_round)
    upload(client, application_id, sample_files.pdf(), "proposal.pdf")
    post(
        client,
        f"/applications/{application_id}/edit",
        {**form_data(client, application_id), "submit": "1"},
        token_from="/applications/",
    )
    response = post(
        client,
        f"/applications/{application_id}/withdraw",
        {"reason": ""},
        token_from=f"/applications/{application_id}/withdraw",
    )
    assert "Say why you withdraw" in response.get_data(as_text=True)
    response = post(
        client,
        f"/applications/{application_id}/withdraw",
        {"reason": "Other funding came through"},
        token_from=f"/applications/{application_id}/withdraw",
    )
    assert response.status_code == 302
    application = db.session.get(Application, application_id)
    db.session.refresh(application)
    assert application.status == ApplicationStatus.WITHDRAWN
    assert application.withdrawal_reason == "Other funding came through"


# -- Issue 9: on a phone ------------------------------------------------------------------------


def upload_with_the_form(client, application_id, content: bytes, name: str, **changes):
    """Upload as the page does: the button sends the whole form with the file."""
    data = {
        **form_data(client, application_id, **changes),
        "kind": "proposal",
        "file": (io.BytesIO(content), name),
        "upload": "1",
    }
    return post(
        client,
        f"/applications/{application_id}/attachments",
        data,
        token_from=f"/applications/{application_id}/edit",
        content_type="multipart/form-data",
    )


def test_10_the_form_runs_fields_attachments_then_check_and_submit(client, applicant, open_round):
    application_id = start(client, open_round)
    page = client.get(f"/applications/{application_id}/edit").get_data(as_text=True)
    assert page.split('<main id="main"', 1)[1].count("<form ") == 1  # one form, no other
    form = page[page.index('<form method="post" action="/applications/') :]
    assert 'enctype="multipart/form-data"' in form.split(">", 1)[0]
    order = [
        form.index('id="title"'),
        form.index('id="budget_lines"'),
        form.index('id="attachments"'),
        form.index('id="file"'),
        form.index('id="check"'),
        form.index('name="submit"'),
    ]
    assert order == sorted(order)
    # Upload sends the whole form; the first button, which Enter presses, saves the draft.
    assert f'formaction="/applications/{application_id}/attachments"' in form
    assert re.search(r'<button type="submit" name="(\w+)"', form).group(1) == "save"
    assert "does not save the form" not in page
    # The last check lists what is still missing, with links to it.
    check = form[form.index('id="check"') :]
    assert 'href="#attachments">Attach the full proposal.' in check
    assert 'href="#title">Give the project a title.' in check


def test_10_an_upload_saves_what_was_typed_first(client, applicant, open_round, uploads):
    application_id = start(client, open_round)
    response = upload_with_the_form(
        client, application_id, sample_files.pdf(), "proposal.pdf", title="Typed, not saved"
    )
    assert response.status_code == 302
    application = db.session.get(Application, application_id)
    db.session.refresh(application)
    assert application.title == "Typed, not saved"
    assert application.countries == ["KE"]
    assert [a.original_name for a in application.attachments] == ["proposal.pdf"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Draft saved." in page and "proposal.pdf is attached." in page
    assert 'value="Typed, not saved"' in page


def test_10_a_refused_file_still_keeps_what_was_typed(client, applicant, open_round, uploads):
    application_id = start(client, open_round)
    response = upload_with_the_form(
        client, application_id, sample_files.png(), "photo.pdf", title="Kept"
    )
    # The refusal is beside the file field, on the page; the draft was saved first.
    assert response.status_code == 200
    assert "not one of the allowed types" in response.get_data(as_text=True)
    assert db.session.get(Application, application_id).title == "Kept"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_15_a_full_disk_refuses_the_upload_and_leaves_no_half_file(
    client, applicant, open_round, uploads, monkeypatch
):
    import errno

    application_id = start(client, open_round)
    real_write = os.write

    def half_then_full(descriptor, data):
        real_write(descriptor, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    response = upload_with_the_form(
        client, application_id, sample_files.pdf(), "proposal.pdf", title="Typed before"
    )
    monkeypatch.undo()
    assert response.status_code == 200  # the refusal beside the file field
    page = response.get_data(as_text=True)
    assert "could not be saved on the server" in page and "nothing was kept" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert os.listdir(uploads) == []  # not even the temporary file
    # The draft was saved whole before the upload, as with any refused file.
    application = db.session.get(Application, application_id)
    db.session.refresh(application)
    assert application.title == "Typed before" and application.countries == ["KE"]


def test_15_an_unwritable_upload_folder_refuses_the_upload_clearly(
    client, app, applicant, open_round, tmp_path, monkeypatch
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(blocker / "uploads"))
    application_id = start(client, open_round)
    response = upload(client, application_id, sample_files.pdf(), "proposal.pdf")
    assert response.status_code == 200  # the refusal beside the file field
    page = response.get_data(as_text=True)
    assert "could not be saved on the server" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_10_an_upload_with_a_form_error_shows_it_and_stores_nothing(
    client, applicant, open_round, uploads
):
    application_id = start(client, open_round)
    response = upload_with_the_form(
        client, application_id, sample_files.pdf(), "proposal.pdf", requested_amount="-5"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nothing was uploaded or removed: correct the form first." in page
    assert "Enter an amount of zero or more." in page
    assert 'value="Watching the 2027 vote"' in page  # what was typed is on the page
    assert db.session.get(Application, application_id).title is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert not uploads.exists() or os.listdir(uploads) == []


def test_10_removing_an_attachment_saves_what_was_typed_first(client, applicant, open_round):
    application_id = start(client, open_round)
    upload(client, application_id, sample_files.pdf(), "proposal.pdf")
    attachment = db.session.scalar(sa.select(Attachment))
    response = post(
        client,
        f"/applications/{application_id}/attachments/{attachment.id}/delete",
        form_data(client, application_id, summary="Typed before removing"),
        token_from=f"/applications/{application_id}/edit",
    )
    assert response.status_code == 302
    application = db.session.get(Application, application_id)
    db.session.refresh(application)
    assert application.summary == "Typed before removing"
    assert application.attachments == []


def test_9_countries_are_the_funds_as_checkboxes(client, applicant, open_round):
    application_id = start(client, open_round)
    page = client.get(f"/applications/{application_id}/edit").get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox" id="countries-(\w+)" name="countries"', page)
    assert boxes == ["KE", "SN"]  # the fund's eligible countries, by name
    assert "Ctrl" not in page and 'name="countries" multiple' not in page
    assert '<label for="countries-KE">Kenya</label>' in page

    response = post(
        client,
        f"/applications/{application_id}/edit",
        form_data(client, application_id, countries=["KE", "FR"]),
        token_from="/applications/",
    )
    assert response.status_code == 200
    assert "FR is not one of the countries you can choose." in response.get_data(as_text=True)
    assert db.session.get(Application, application_id).countries == []

    post(
        client,
        f"/applications/{application_id}/edit",
        form_data(client, application_id, countries=["SN", "KE"]),
        token_from="/applications/",
    )
    page = client.get(f"/applications/{application_id}/edit").get_data(as_text=True)
    assert sorted(db.session.get(Application, application_id).countries) == ["KE", "SN"]
    assert 'id="countries-KE" name="countries" value="KE" checked>' in page


def test_a_draft_whose_call_closed_opens_as_it_stands_not_as_a_form(client, applicant, open_round):
    """Nothing typed into the form of a closed call could be saved: its edit link shows
    the draft as it stands, with the reason, instead of a form that would lose the work."""
    application_id = start(client, open_round)
    open_round.opens_at = NOW - timedelta(days=20)
    open_round.closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get(f"/applications/{application_id}/edit")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/applications/{application_id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The call has closed: drafts can no longer be changed." in page
    assert 'name="summary"' not in page
