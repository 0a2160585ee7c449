"""Static files under content-hashed URLs, cached for a year (coalition/static_files.py).

Before: ``/static/style.css`` answered ``Cache-Control: no-cache``, and every
page view on a slow link paid a round trip to revalidate ``style.css`` and
``enhance.js``.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask, url_for

from coalition.static_files import DIGEST_LENGTH, ONE_YEAR, init_static_files

ASSET = re.compile(r'(?:href|src)="(/static/[^"]+)"')
IMMUTABLE = f"public, max-age={ONE_YEAR}, immutable"


def assets_of(client, path: str = "/") -> list[str]:
    return ASSET.findall(client.get(path).get_data(as_text=True))


def test_17_pages_link_css_and_js_under_hashed_urls_cached_for_a_year(client):
    assets = assets_of(client)
    assert sorted(a.rsplit("/", 1)[1] for a in assets) == ["enhance.js", "style.css"]
    for asset in assets:
        _static, digest, _name = asset.strip("/").split("/")
        assert re.fullmatch(f"[0-9a-f]{{{DIGEST_LENGTH}}}", digest), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["Cache-Control"] == IMMUTABLE, asset
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Vary" not in response.headers  # the same file for everyone


def test_17_signed_in_pages_link_the_same_cacheable_files(client, make_user, login):
    anonymous = assets_of(client)
    login(make_user())
    assert assets_of(client, "/account/") == anonymous
    client.set_cookie("coalition_remember", "a-remember-cookie")
    for asset in anonymous:
        response = client.get(asset)
        # A session cookie does not make a static file private (no-store)...
        assert response.headers["Cache-Control"] == IMMUTABLE, asset
        # ...and a response cached for a year carries no one's cookie.
        assert "Set-Cookie" not in response.headers, asset
        assert "Vary" not in response.headers, asset
    assert client.get("/account/").status_code == 200  # still signed in


def test_17_content_served_is_the_file(app, client):
    with app.test_request_context():
        css = url_for("static", filename="style.css")
    with open(f"{app.static_folder}/style.css", "rb") as f:
        assert client.get(css).data == f.read()


def test_17_an_old_digest_is_sent_to_the_current_url_and_never_cached(app, client):
    with app.test_request_context():
        current = url_for("static", filename="style.css")
    response = client.get("/static/0123456789abcdef/style.css")
    assert response.status_code == 302
    assert response.location == current
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    [
        "/static/style.css",
        "/static/0123456789abcdef/no-such-file.css",
        "/static/0123456789abcdef/../__init__.py",
        "/static/0123456789abcdef/%2e%2e/config.py",
    ],
)
def test_17_unknown_files_are_not_found(client, path):
    assert client.get(path).status_code == 404


def test_17_an_unknown_file_cannot_be_linked(app):
    with app.test_request_context(), pytest.raises(LookupError):
        url_for("static", filename="no-such-file.css")


def _app_with_static(folder, *, debug: bool = False) -> Flask:
    """A bare app serving ``folder`` as the application does, to change files at will."""
    app = Flask(__name__, static_folder=None)
    app.debug = debug
    init_static_files(app, folder)
    return app


def test_17_the_url_changes_when_the_content_changes(tmp_path):
    (tmp_path / "style.css").write_text("body { color: black }")
    first = _app_with_static(tmp_path)
    with first.test_request_context():
        before = url_for("static", filename="style.css")
    with first.test_client() as client:
        assert client.get(before).data == b"body { color: black }"

    (tmp_path / "style.css").write_text("body { color: navy }")
    # Production: the digest is computed once, at start-up...
    with first.test_request_context():
        assert url_for("static", filename="style.css") == before
    # ...so the next release (a new process) links the new content under a new URL.
    second = _app_with_static(tmp_path)
    with second.test_request_context():
        after = url_for("static", filename="style.css")
    assert after != before
    with second.test_client() as client:
        assert client.get(after).data == b"body { color: navy }"
        assert client.get(before).location == after


def test_17_in_debug_an_edited_file_gets_its_new_url_at_once(tmp_path):
    (tmp_path / "enhance.js").write_text("one();")
    app = _app_with_static(tmp_path, debug=True)
    with app.test_request_context():
        before = url_for("static", filename="enhance.js")
    (tmp_path / "enhance.js").write_text("two(); three();")
    with app.test_request_context():
        after = url_for("static", filename="enhance.js")
    assert after != before
    with app.test_client() as client:
        assert client.get(after).data == b"two(); three();"
