"""The home page, health check, error pages and the gate that enforces two factors."""

from __future__ import annotations

import contextlib
import logging
import math
import time

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from coalition.extensions import db, limiter
from coalition.logs import event

bp = Blueprint("core", __name__)
log = logging.getLogger("coalition.security")


@bp.route("/")
def home():
    return render_template("core/home.html")


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception:
        log.exception("health check: the database does not answer")
        db.session.rollback()
        return jsonify(status="unavailable", database="down"), 503
    return jsonify(status="ok", database="up")


@bp.route("/errors/413")
def too_large():
    """The page nginx shows when it refuses a body over client_max_body_size (deploy/nginx):
    the app's own 413 page, in the reader's language, never nginx's."""
    title, advice = ERROR_TEXT[413]
    return _error_page(413, _(title), _(advice))


# Endpoints a signed-in person may reach before finishing two-factor enrolment.
ENROLMENT_OPEN = frozenset(
    {
        "accounts.two_factor_setup",
        "accounts.sign_out",
        "accounts.set_language",
        "core.healthz",
        "core.too_large",
        "static",
    }
)


def enforce_two_factor():
    """Staff and steering reach nothing but enrolment until their second factor is set (S6)."""
    if request.endpoint in ENROLMENT_OPEN:  # first: a static file loads no user
        return None
    if not current_user.is_authenticated or not current_user.requires_two_factor:
        return None
    if current_user.two_factor_enabled:
        return None
    return redirect(url_for("accounts.two_factor_setup"))


# Marked for extraction, translated when the page is drawn.
ERROR_TEXT = {
    400: (
        _l("The request could not be understood"),
        _l("Go back, reload the page and try again."),
    ),
    401: (
        _l("Please sign in"),
        _l("Your session may have ended. Sign in, then go back to the page and try again."),
    ),
    403: (
        _l("You do not have access to this page"),
        _l("If you think you should, ask the convenor staff to check your roles."),
    ),
    404: (
        _l("Page not found"),
        _l("The address may be mistyped, or the page may have moved or be private."),
    ),
    405: (
        _l("This action is not allowed here"),
        _l("Go back and use the page's own buttons."),
    ),
    413: (
        _l("That upload is too large"),
        _l("Make the file smaller, or send fewer files at once, and try again."),
    ),
    429: (
        _l("Too many attempts"),
        _l("For your safety we paused this for a while."),
    ),
    503: (
        _l("The service is briefly unavailable"),
        _l("Nothing was saved. Wait a minute and try again."),
    ),
    500: (
        _l("Something went wrong on our side"),
        _l(
            "Nothing was saved. Try again in a moment; "
            "if it happens again, tell the convenor staff."
        ),
    ),
}


def _error_page(code: int, title: str, advice: str, retry_after: int | None = None):
    wants_json = request.accept_mimetypes.best == "application/json" or request.path == "/healthz"
    if wants_json:
        return jsonify(error=code, message=title), code
    return (
        render_template(
            "errors/error.html", code=code, title=title, advice=advice, retry_after=retry_after
        ),
        code,
    )


def init_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        event(log, "CSRF check failed", level=logging.WARNING, reason=exc.description)
        return _error_page(
            400,
            _("This form has expired"),
            _(
                "For your safety, forms stop working after a while or after you sign in or out. "
                "Go back, reload the page, and send the form again."
            ),
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        code = exc.code or 500
        lost = _lost_database(exc)
        if lost is not None:
            return _database_unavailable(lost)
        if code in (401, 403):
            event(log, "access refused", level=logging.WARNING, status=code)
        if code not in ERROR_TEXT:
            return exc
        title, advice = ERROR_TEXT[code]
        retry_after = None
        if code == 429:
            retry_after = _retry_after_seconds(exc)
            event(log, "rate limit reached", level=logging.WARNING)
        body, status = _error_page(code, str(title), str(advice), retry_after)
        response = make_response(body, status)
        if retry_after:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(sa.exc.DBAPIError)
    def _database_error(exc):
        if not _database_gone(exc):
            return _server_error(exc)
        return _database_unavailable(exc)

    @app.errorhandler(Exception)
    def _server_error(exc):
        lost = _lost_database(exc)
        if lost is not None:
            return _database_unavailable(lost)
        log.exception("unhandled error")
        db.session.rollback()
        title, advice = ERROR_TEXT[500]
        return _error_page(500, str(title), str(advice))


# The database went away (restart, failover, network), as the driver reports it.
DATABASE_GONE = (sa.exc.OperationalError, sa.exc.InterfaceError)


def _database_gone(exc: sa.exc.DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(exc, DATABASE_GONE)


def _lost_database(exc: BaseException) -> sa.exc.DBAPIError | None:
    """The lost-database error behind ``exc``, if any. It may surface as another error:
    Flask hands one raised after the view (by the commit point) to the handlers as an
    InternalServerError holding it as ``original_exception``; one raised while another
    was handled is its cause or context. The answer is then the same 503."""
    cause = getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__
    seen = 0
    while cause is not None and seen < 10:
        if isinstance(cause, sa.exc.DBAPIError) and _database_gone(cause):
            return cause
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def _database_unavailable(exc: sa.exc.DBAPIError):
    """A clean 503 page asking to try again, never a traceback. The pool drops the dead
    connections (pool_pre_ping checks the next ones). The page is drawn without the
    database: on it the person reads as signed out, and should drawing it fail all
    the same, a line of plain text says the same."""
    from flask import g

    from coalition.extensions import login_manager

    log.error("database unavailable", extra={"fields": {"error": type(exc.orig).__name__}})
    with contextlib.suppress(Exception):
        db.session.rollback()
    g._login_user = login_manager.anonymous_user()
    title, advice = ERROR_TEXT[503]
    try:
        body, status = _error_page(503, _(title), _(advice))
    except Exception:
        log.exception("the 503 page could not be drawn")
        body, status = f"{title}. {advice}", 503
    response = make_response(body, status)
    response.headers["Retry-After"] = "30"
    return response


def _retry_after_seconds(exc) -> int | None:
    """Seconds until the caller may try again, for the page and the Retry-After header."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int):
        return max(1, value)
    current = limiter.current_limit
    if current is not None:
        return max(1, math.ceil(current.reset_at - time.time()))
    return None
