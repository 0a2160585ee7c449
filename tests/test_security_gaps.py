"""Security checks that docs/security.md names and that no other test made whole.

* S28: hostile text pointing at a server on loopback (an image, an attachment link, an
  ``@import``) is printed as text in a real report, the PDF holds no embedded file, and
  the server hears nothing.
* S21: a CSRF failure and a refusal (403) are logged with the person, the address and the
  UTC time, and nothing of the form's body.
* S26: no uploaded file is reachable under ``/static`` or any other URL without the
  download route's permission check: the upload folder is outside the static folder, and
  the usual ways of asking for a stored name answer 404.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from pathlib import Path

import pikepdf
from markupsafe import escape

from coalition.accounts.models import Role
from coalition.grants import files
from coalition.logs import JSONFormatter
from coalition.static_files import STATIC_PREFIX
from coalition.steering.reports.rendering import build_html, render_pdf
from tests.conftest import csrf_token, sign_in_as
from tests.test_reports import (  # noqa: F401 - the fixture
    MONTH_START,
    _Recorder,
    loopback_server,
    pdf_text,
    request,
)


def test_s28_hostile_text_aimed_at_loopback_prints_as_text_and_the_server_hears_nothing(
    app,
    make_member,
    loopback_server,  # noqa: F811
):
    names = [
        f'<img src="{loopback_server}/image.png">',
        f'<link rel="attachment" href="{loopback_server}/leak.txt">',
        f"@import url({loopback_server}/style.css);",
        f"<style>@import '{loopback_server}/inline.css';</style>",
    ]
    for name in names:
        make_member(name=name, joined_on=MONTH_START)

    html = build_html(request())
    for name in names:
        assert str(escape(name)) in html
        if "<" in name:
            assert name not in html  # never as markup
    # The bare @import is text in a table cell, never inside a style sheet.
    for sheet in re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S):
        assert loopback_server not in sheet
    rendered = render_pdf(html)  # the app's own fetcher, as the report job uses it
    time.sleep(0.2)
    assert _Recorder.hits == []
    text = pdf_text(rendered.pdf)
    assert f"{loopback_server}/image.png" in text  # shown, as text
    with pikepdf.open(io.BytesIO(rendered.pdf)) as pdf:
        assert "/EmbeddedFiles" not in pdf.Root.get("/Names", {})
        for page in pdf.pages:
            for annotation in page.get("/Annots") or []:
                assert annotation.get("/Subtype") != "/FileAttachment"


def test_s26_no_upload_is_reachable_under_static_or_without_permission(
    app, client, make_user, tmp_path
):
    content = b"name,amount\nsecret field work,100\n"
    stored = files.store(content, original_name="budget.csv", current_total=0)
    folder = Path(app.config["UPLOAD_FOLDER"]).resolve()
    assert (folder / stored.stored_name).read_bytes() == content
    static_folder = (Path(__file__).parent.parent / "coalition" / "static").resolve()
    assert static_folder.is_dir()
    assert not folder.is_relative_to(static_folder)
    assert not static_folder.is_relative_to(folder)

    name = stored.stored_name
    tries = [
        f"{STATIC_PREFIX}{name}",
        f"{STATIC_PREFIX}0123456789abcdef/{name}",
        f"{STATIC_PREFIX}0123456789abcdef/../../uploads/{name}",
        f"{STATIC_PREFIX}0123456789abcdef/..%2f..%2fuploads%2f{name}",
        f"/uploads/{name}",
        f"/instance/uploads/{name}",
        f"/{name}",
    ]
    for person in (None, make_user()):
        if person is not None:
            sign_in_as(client, person)
        for path in tries:
            response = client.get(path)
            assert response.status_code == 404, (path, response.status_code)
            assert b"secret field work" not in response.get_data(), path


def test_s21_csrf_failures_and_refusals_are_logged_with_who_where_and_when(
    client, make_user, caplog
):
    user = make_user(Role.APPLICANT)
    sign_in_as(client, user)
    secret = "body-secret-1234\nFAKE: line"
    with caplog.at_level(logging.INFO):
        without_token = client.post("/account/", data={"name": secret})
        refused = client.post(
            "/admin/users/invite", data={"email": secret, "csrf_token": csrf_token(client)}
        )
    assert without_token.status_code == 400
    assert refused.status_code == 403
    lines = [JSONFormatter().format(r) for r in caplog.records]
    logged = [json.loads(line) for line in lines]
    for message in ("CSRF check failed", "access refused"):
        [entry] = [e for e in logged if e.get("message") == message]
        assert entry["user_id"] == user.id, message
        assert entry["ip"] == "127.0.0.1", message
        assert entry["time"].endswith("+00:00"), message
    assert not [line for line in lines if "body-secret-1234" in line]
    assert all("\n" not in line for line in lines)
