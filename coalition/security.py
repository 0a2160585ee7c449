"""Response headers and the commit point of every request."""

from __future__ import annotations

from flask import Flask, current_app, redirect, request, session

from coalition.extensions import db

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
DOWNLOAD_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"


def init_security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response):
        headers = response.headers
        is_download = "attachment" in headers.get("Content-Disposition", "")
        headers.setdefault("Content-Security-Policy", DOWNLOAD_CSP if is_download else CSP)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        if current_app.config.get("PRODUCTION"):
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        private = request.endpoint != "static" and (
            # Whoever carries a signed-in session (read without loading the user).
            "_user_id" in session or request.method != "GET" or is_download
        )
        if private:
            headers["Cache-Control"] = "no-store"
            headers["Vary"] = "Cookie"
        return response


def init_https_redirect(app: Flask) -> None:
    """In production, a request that reached the app over plain HTTP (the scheme
    comes from X-Forwarded-Proto when TRUSTED_PROXIES is set) is sent to HTTPS.

    nginx redirects port 80 itself (deploy/nginx); this is the same rule in the
    app, for a proxy that forwards plain HTTP. ``/healthz`` answers as it is,
    for local health checks.
    """
    if not app.config.get("PRODUCTION"):
        return

    @app.before_request
    def _to_https():
        if request.scheme == "https" or request.endpoint == "core.healthz":
            return None
        target = "https://" + request.host + request.full_path.rstrip("?")
        return redirect(target, code=308 if request.method not in ("GET", "HEAD") else 301)


def init_commit_point(app: Flask) -> None:
    """Commit once, at the edge: a request that succeeded commits, any other rolls back.

    Views, operations and models only add and flush. A failed commit raises,
    and Flask turns it into the 500 page with the data left as it was.
    """

    @app.after_request
    def _commit(response):
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        return response
