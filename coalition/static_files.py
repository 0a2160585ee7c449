"""Static files under content-hashed URLs, cached for a year.

``url_for('static', filename='style.css')`` gives ``/static/<digest>/style.css``,
where the digest is a hash of the file's content, computed once per process at
start-up. A browser keeps the file for a year without asking again
(``Cache-Control: public, max-age=31536000, immutable``): a slow link pays for
``style.css`` and ``enhance.js`` once, not a revalidation on every page. A new
release changes the digest of whatever changed, so no one keeps a stale copy.

A static file is the same for everyone, so its request neither reads nor
writes the session: a response that a shared cache may keep for a year must
never carry anyone's ``Set-Cookie`` (nor ``Vary: Cookie``).

A known file asked for under another digest (a page cached before a release)
is redirected to its current URL, never cached; an unknown file is 404.
With ``FLASK_DEBUG=1`` a file edited while the server runs gets its new digest
at the next page, as the development server does not restart for CSS.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from flask import (
    Flask,
    abort,
    current_app,
    redirect,
    request,
    send_from_directory,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface

STATIC_PREFIX = "/static/"
ONE_YEAR = 365 * 24 * 60 * 60
DIGEST_LENGTH = 16  # hex characters of the SHA-256: 64 bits


@dataclass
class Digests:
    """The digest of every file under the static folder, by its path there."""

    folder: Path
    check_changes: bool = False
    _known: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    def scan(self) -> None:
        self._known = {}
        for path in sorted(self.folder.rglob("*")):
            if path.is_file():
                self._known[path.relative_to(self.folder).as_posix()] = self._read(path)

    def digest(self, filename: str) -> str | None:
        """The current digest of ``filename``, or None when there is no such file."""
        known = self._known.get(filename)
        if known is None:
            return None
        if self.check_changes:
            path = self.folder / filename
            try:
                stat = path.stat()
                if (stat.st_mtime_ns, stat.st_size) != known[:2]:
                    known = self._known[filename] = self._read(path)
            except OSError:
                return None
        return known[2]

    @staticmethod
    def _read(path: Path) -> tuple[int, int, str]:
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:DIGEST_LENGTH]
        return stat.st_mtime_ns, stat.st_size, digest


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, left out of static files' requests."""

    def open_session(self, app, request):
        if request.path.startswith(STATIC_PREFIX):
            return self.session_class()  # empty: the cookie is not even read
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if request.path.startswith(STATIC_PREFIX):
            return
        super().save_session(app, session, response)


def init_static_files(app: Flask, folder: str | os.PathLike) -> None:
    """Serve ``folder`` at ``/static/<digest>/<filename>`` as the ``static`` endpoint.

    The app must be built with ``static_folder=None`` (Flask's own route knows
    no digest); ``app.static_folder`` is set here, for whatever reads it.
    """
    app.static_folder = str(folder)
    app.session_interface = SessionInterface()
    digests = Digests(Path(folder), check_changes=app.debug)
    digests.scan()
    app.extensions["static_digests"] = digests

    @app.url_defaults
    def _add_digest(endpoint, values):
        if endpoint != "static" or "digest" in values:
            return
        filename = values.get("filename", "")
        digest = digests.digest(filename)
        if digest is None:
            raise LookupError(f"no static file {filename!r} in {folder}")
        values["digest"] = digest

    app.add_url_rule(STATIC_PREFIX + "<digest>/<path:filename>", endpoint="static", view_func=serve)


def serve(digest: str, filename: str):
    digests: Digests = current_app.extensions["static_digests"]
    current = digests.digest(filename)
    if current is None:
        abort(404)
    if digest != current:
        response = redirect(url_for("static", filename=filename))
        response.headers["Cache-Control"] = "no-store"
        return response
    response = send_from_directory(current_app.static_folder, filename, max_age=ONE_YEAR)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response
