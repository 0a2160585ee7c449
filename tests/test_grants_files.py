"""The attachment store (S23 to S26): types by content, dangerous PDFs, sizes,
names, storage on disk, downloads and orphaned files."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import timedelta

import pytest
from werkzeug.exceptions import NotFound

from coalition.db import utcnow
from coalition.extensions import db
from coalition.grants import files
from coalition.grants.files import UploadRefused
from coalition.grants.models import (
    Application,
    Attachment,
    AttachmentKind,
    Fund,
    Round,
    RoundPhase,
)
from tests import sample_files as samples

NOT_ALLOWED = "This file is not one of the allowed types: PDF, DOCX, ODT, XLSX, ODS or CSV."
JAVASCRIPT = (
    "This PDF contains JavaScript, which is not allowed. Save it again without scripts"
    " (for example with 'Print to PDF') and upload it again."
)
LAUNCH = "This PDF contains an action that starts a program, which is not allowed."
EMBEDDED = "This PDF has other files attached inside it, which is not allowed."
ENCRYPTED = "This PDF is encrypted or protected by a password."
MACROS = "This document contains macros, which are not allowed."
HEX32 = r"[0-9a-f]{32}"


@pytest.fixture
def uploads(app, tmp_path, monkeypatch):
    """A fresh upload folder for the test (not created yet: the store creates it)."""
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(folder))
    return folder


def stored_files(folder) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


def refusal(data: bytes, name: str = "file.pdf", current_total: int = 0) -> str:
    with pytest.raises(UploadRefused) as refused:
        files.store(data, original_name=name, current_total=current_total)
    return refused.value.message


# -- Types ----------------------------------------------------------------------

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    ("make", "kind", "content_type"),
    [
        (samples.pdf, "pdf", "application/pdf"),
        (samples.docx, "docx", DOCX_TYPE),
        (samples.xlsx, "xlsx", XLSX_TYPE),
        (samples.odt, "odt", "application/vnd.oasis.opendocument.text"),
        (samples.ods, "ods", "application/vnd.oasis.opendocument.spreadsheet"),
        (samples.csv_utf8, "csv", "text/csv"),
        (lambda: samples.csv_utf8(bom=True), "csv", "text/csv"),
        (samples.csv_cp1252, "csv", "text/csv"),
    ],
    ids=["pdf", "docx", "xlsx", "odt", "ods", "csv-utf8", "csv-utf8-bom", "csv-cp1252"],
)
def test_each_allowed_type_is_detected_by_content(uploads, make, kind, content_type):
    data = make()
    detected = files.detect_type(data)
    assert detected is not None
    assert (detected.kind, detected.content_type, detected.extension) == (
        kind,
        content_type,
        kind,
    )

    # The name plays no part: a budget sent as "budget.txt" is kept as what it is.
    kept = files.store(data, original_name="budget.txt", current_total=0)
    assert (kept.kind, kept.content_type) == (kind, content_type)
    assert kept.original_name == f"budget.{kind}"


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (samples.png, "photo.pdf"),
        (samples.html, "page.pdf"),
        (lambda: samples.html(leading=b"\xef\xbb\xbf \r\n"), "table.csv"),
        (samples.exe, "program.pdf"),
        (samples.plain_zip, "archive.docx"),
        (samples.docm, "macros.docx"),
        (samples.docx_with_macros, "plain-looking.docx"),
        (samples.odt_mimetype_not_first, "letter.odt"),
        (lambda: b"%PDF-1.7\n<html><script>alert(1)</script></html>", "fake.pdf"),
        (lambda: b"just one word and no delimiter\n", "notes.csv"),
        (lambda: b"a,b\x07,c\n1,2,3\n", "bell.csv"),
    ],
    ids=[
        "png-as-pdf",
        "html-as-pdf",
        "html-with-bom-as-csv",
        "exe-as-pdf",
        "zip-not-office",
        "docm",
        "docx-with-vba-project",
        "odt-mimetype-not-first",
        "pdf-header-on-html",
        "text-without-delimiter",
        "csv-with-control-character",
    ],
)
def test_other_types_are_refused_and_nothing_is_kept(uploads, make, name):
    data = make()
    assert files.detect_type(data) is None
    assert refusal(data, name) == NOT_ALLOWED
    assert stored_files(uploads) == []


def test_an_empty_file_is_refused(uploads):
    assert refusal(samples.empty()) == "The file is empty."
    assert stored_files(uploads) == []


def test_a_file_over_the_size_limit_is_refused(uploads, app, monkeypatch):
    over = b"a,b\n" * (10 * 1024 * 1024 // 4) + b"1"
    assert refusal(over, "big.csv") == "The file is larger than 10 MB."

    data = samples.xlsx()
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", len(data) - 1)
    assert refusal(data, "budget.xlsx").startswith("The file is larger than ")
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", len(data))
    assert files.store(data, original_name="budget.xlsx", current_total=0).size == len(data)


def test_a_file_that_takes_the_application_over_its_total_is_refused(uploads, app):
    data = samples.pdf()
    limit = app.config["APPLICATION_MAX_BYTES"]
    assert refusal(data, current_total=limit - len(data) + 1) == (
        "This application's files would exceed 25 MB in total."
    )
    assert stored_files(uploads) == []
    # Exactly up to the total is fine.
    kept = files.store(data, original_name="p.pdf", current_total=limit - len(data))
    assert stored_files(uploads) == [kept.stored_name]


# -- Dangerous PDFs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (samples.pdf_with_open_action_javascript, JAVASCRIPT),
        (lambda: samples.pdf_with_open_action_javascript(object_streams=True), JAVASCRIPT),
        (samples.pdf_with_javascript_name_tree, JAVASCRIPT),
        (samples.pdf_with_javascript_annotation, JAVASCRIPT),
        (samples.pdf_with_page_additional_action, JAVASCRIPT),
        (samples.pdf_with_hex_escaped_javascript, JAVASCRIPT),
        (samples.pdf_with_launch_action, LAUNCH),
        (samples.pdf_with_embedded_file, EMBEDDED),
        (samples.pdf_with_file_attachment_annotation, EMBEDDED),
        (samples.pdf_encrypted, ENCRYPTED),
        (lambda: samples.pdf_encrypted(user_password=""), ENCRYPTED),
    ],
    ids=[
        "open-action-javascript",
        "javascript-in-object-stream",
        "javascript-name-tree",
        "javascript-link-annotation",
        "javascript-page-additional-action",
        "hex-escaped-javascript",
        "launch-action",
        "embedded-files-tree",
        "file-attachment-annotation",
        "encrypted-with-password",
        "encrypted-without-user-password",
    ],
)
def test_pdfs_with_active_content_are_refused(uploads, make, message):
    data = make()
    # It is a PDF: the refusal says what is wrong with it, not that it is another type.
    assert files.detect_type(data) == files.PDF
    with pytest.raises(UploadRefused) as refused:
        files.check_pdf(data)
    assert refused.value.message.startswith(message)
    assert refusal(data).startswith(message)
    assert stored_files(uploads) == []


def test_a_plain_pdf_passes_the_check():
    files.check_pdf(samples.pdf())  # raises nothing


def test_an_opendocument_file_with_macros_is_refused(uploads):
    assert files.detect_type(samples.odt_with_macros()) == files.ODT
    assert refusal(samples.odt_with_macros(), "letter.odt").startswith(MACROS)
    assert stored_files(uploads) == []


# -- Names and storage ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\x.pdf", "x.pdf"),
        ("عربي.pdf", "عربي.pdf"),
        ("bad\nname\x00.pdf", "badname.pdf"),
    ],
)
def test_any_name_is_stored_under_a_random_name_inside_the_folder(uploads, tmp_path, name, shown):
    data = samples.pdf()
    kept = files.store(data, original_name=name, current_total=0)

    assert kept.original_name == shown
    assert kept.stored_name != shown
    assert len(kept.stored_name) == 32
    assert int(kept.stored_name, 16) >= 0
    # Only the stored file, and no temporary file, in the folder; nothing outside it.
    assert stored_files(uploads) == [kept.stored_name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]
    path = uploads / kept.stored_name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(uploads.stat().st_mode) == 0o700
    assert files.path_of(kept.stored_name) == path.resolve()


def test_the_stored_bytes_are_the_uploaded_bytes(uploads, tmp_path):
    source = samples.write_sample(tmp_path / "browser", "Budget 2026.xlsx", samples.xlsx())
    data = source.read_bytes()
    before = db.session.query(Attachment).count()

    kept = files.store(data, original_name=source.name, current_total=1000)

    assert (uploads / kept.stored_name).read_bytes() == data
    assert kept.sha256 == hashlib.sha256(data).hexdigest()
    assert kept.size == len(data)
    assert kept.original_name == "Budget 2026.xlsx"
    # Two uploads of the same file never share a name.
    again = files.store(data, original_name=source.name, current_total=0)
    assert again.stored_name != kept.stored_name
    # The store writes no rows: the caller does, in its own transaction.
    assert db.session.query(Attachment).count() == before


def test_a_failed_write_leaves_nothing_behind(uploads, monkeypatch):
    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    # Refused with a message for the person (issue 15), not a 500.
    with pytest.raises(files.UploadRefused, match="could not be saved on the server"):
        files.store(samples.pdf(), original_name="a.pdf", current_total=0)
    assert stored_files(uploads) == []


@pytest.mark.parametrize(
    ("name", "extension", "cleaned"),
    [
        ("report.PDF", "pdf", "report.pdf"),
        ("budget.pdf", "xlsx", "budget.xlsx"),
        ("notes", "csv", "notes.csv"),
        ("", "pdf", "file.pdf"),
        ("../..", "pdf", "file.pdf"),
        ("C:\\Users\\amina\\", "docx", "file.docx"),
        ("e\u0301te\u0301.odt", "odt", "\u00e9t\u00e9.odt"),  # NFD in, NFC out
        ("invoice\u202efdp.exe", "pdf", "invoicefdp.pdf"),  # right-to-left override removed
        ("  two\t words .pdf", "pdf", "two words.pdf"),
        ("a" * 300 + ".pdf", "pdf", "a" * 146 + ".pdf"),
    ],
)
def test_clean_filename(name, extension, cleaned):
    assert files.clean_filename(name, extension) == cleaned
    assert len(files.clean_filename(name, extension)) <= 150


# -- Delete and paths -----------------------------------------------------------


def test_delete_removes_the_file_and_refuses_other_names(uploads, tmp_path):
    kept = files.store(samples.csv_utf8(), original_name="a.csv", current_total=0)
    outside = tmp_path / "x"
    outside.write_text("not the store's")

    files.delete(kept.stored_name)
    assert stored_files(uploads) == []
    files.delete(kept.stored_name)  # already gone: no error

    for bad in ["../x", "..", "", "/etc/passwd", kept.stored_name.upper(), "0" * 33, "g" * 32]:
        with pytest.raises(ValueError):
            files.delete(bad)
        with pytest.raises(ValueError):
            files.path_of(bad)
    assert outside.read_text() == "not the store's"


# -- Downloads ------------------------------------------------------------------


def attachment_for(kept: files.StoredFile, original_name: str | None = None) -> Attachment:
    return Attachment(
        id=1,
        kind=AttachmentKind.PROPOSAL,
        original_name=original_name or kept.original_name,
        stored_name=kept.stored_name,
        content_type=kept.content_type,
        size=kept.size,
        sha256=kept.sha256,
    )


def test_download_is_an_attachment_with_a_safe_arabic_name(app, uploads):
    data = samples.pdf()
    kept = files.store(data, original_name="عربي.pdf", current_total=0)

    with app.test_request_context("/grants/attachments/1"):
        response = files.download_response(attachment_for(kept))
        response = app.process_response(response)  # the app's own headers run too
        response.direct_passthrough = False
        body = response.get_data()

    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%D8%B9%D8%B1%D8%A8%D9%8A.pdf" in disposition
    assert "filename=file.pdf" in disposition  # an ASCII fallback that is not just ".pdf"
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "sandbox" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert body == data


def test_download_of_a_csv_keeps_its_type_and_quotes_odd_names(app, uploads):
    data = samples.csv_cp1252()
    kept = files.store(data, original_name='say "hi"; now.csv', current_total=0)

    with app.test_request_context("/"):
        response = files.download_response(attachment_for(kept))

    # No charset claimed: the file may be Windows-1252.
    assert response.headers["Content-Type"] == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''say%20%22hi%22%3B%20now.csv" in disposition
    assert 'filename="say hi; now.csv"' in disposition


def test_download_of_a_file_missing_on_disk_is_not_found(app, uploads):
    kept = files.store(samples.pdf(), original_name="a.pdf", current_total=0)
    files.delete(kept.stored_name)
    with app.test_request_context("/"), pytest.raises(NotFound):
        files.download_response(attachment_for(kept))


# -- Orphans --------------------------------------------------------------------


@pytest.fixture
def application(make_user):
    fund = Fund(name="Orphans Fund", currency="USD", total_budget=1_000_000)
    now = utcnow()
    round_ = Round(
        fund=fund,
        title="Round",
        phase=RoundPhase.PUBLISHED,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=1),
        budget=500_000,
        min_grant=1_000,
        max_grant=100_000,
    )
    application = Application(round=round_, applicant=make_user(), title="Files")
    db.session.add_all([fund, round_, application])
    db.session.flush()
    return application


def test_orphans_are_files_without_a_row_and_are_removed(uploads, application):
    referenced = files.store(samples.pdf(), original_name="kept.pdf", current_total=0)
    orphan = files.store(samples.docx(), original_name="lost.docx", current_total=0)
    db.session.add(
        Attachment(
            application=application,
            kind=AttachmentKind.PROPOSAL,
            original_name=referenced.original_name,
            stored_name=referenced.stored_name,
            content_type=referenced.content_type,
            size=referenced.size,
            sha256=referenced.sha256,
        )
    )
    db.session.flush()
    # A write in progress is nobody's orphan.
    (uploads / f".{'a' * 32}.part").write_bytes(b"half")

    assert files.orphans() == [orphan.stored_name]
    assert files.orphans(older_than=timedelta(hours=1)) == []
    # By default a fresh file is left alone: its row may not be committed yet.
    assert files.remove_orphans() == []
    assert orphan.stored_name in stored_files(uploads)

    assert files.remove_orphans(older_than=timedelta(0)) == [orphan.stored_name]
    assert files.orphans() == []
    assert (uploads / referenced.stored_name).exists()
    assert not (uploads / orphan.stored_name).exists()


def test_an_old_orphan_is_removed_by_default(uploads):
    orphan = files.store(samples.ods(), original_name="old.ods", current_total=0)
    two_hours_ago = utcnow().timestamp() - 2 * 3600
    os.utime(uploads / orphan.stored_name, (two_hours_ago, two_hours_ago))

    assert files.remove_orphans() == [orphan.stored_name]
    assert stored_files(uploads) == []


def test_orphans_of_a_missing_folder_is_empty(uploads):
    assert not uploads.exists()
    assert files.orphans() == []
