"""Coalition: member registry, grant fund and steering reports."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application. Wiring only: no work, no scheduler, no network."""
    from coalition import config as config_module

    instance_path = os.environ.get("COALITION_INSTANCE_PATH") or str(PROJECT_ROOT / "instance")
    app = Flask(
        __name__,
        instance_path=instance_path,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=None,  # served under content-hashed URLs: coalition/static_files.py
    )
    app.config.update(config_module.load_config(app.instance_path))
    if test_config:
        app.config.update(test_config)
    config_module.check_production(app.config)
    if not app.config.get("SECRET_KEY"):
        raise config_module.ConfigError(
            "No SECRET_KEY: set it in the environment, or run `make run`, which writes "
            "instance/secret_key."
        )

    from coalition.logs import configure_logging, init_request_logging

    configure_logging(app.config["LOG_LEVEL"])
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from coalition.static_files import init_static_files

    init_static_files(app, Path(__file__).resolve().parent / "static")
    _init_extensions(app)
    _register_blueprints(app)
    _register_jobs()
    _init_templates(app)

    from coalition.core import enforce_two_factor, init_error_pages
    from coalition.inputs import refuse_nul_characters
    from coalition.security import init_commit_point, init_https_redirect, init_security_headers

    init_https_redirect(app)
    app.before_request(refuse_nul_characters)
    app.before_request(enforce_two_factor)
    init_error_pages(app)
    init_request_logging(app)
    init_security_headers(app)
    init_commit_point(app)  # registered last, so it runs first after the view

    from coalition.cli import register_cli

    register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    from coalition import models  # noqa: F401 - every model, for Alembic and relationships
    from coalition.db import configure_sqlite
    from coalition.extensions import babel, csrf, db, limiter, login_manager
    from coalition.i18n import install_template_gettext, select_locale, select_timezone

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    from coalition import migrations

    migrations.register(app)  # `flask db`, loading Alembic only when it runs
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=str(PROJECT_ROOT / "translations"),
    )
    install_template_gettext(app)
    limiter.init_app(app)

    login_manager.init_app(app)
    login_manager.login_view = "accounts.sign_in"
    login_manager.login_message_category = "info"
    login_manager.session_protection = app.config["SESSION_PROTECTION"]

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please sign in to see this page.")

    @login_manager.unauthorized_handler
    def _sign_in_first():
        from flask import abort, flash, redirect, request, url_for

        if request.method != "GET":
            # Never send a form post back through sign-in (it would come back as a GET).
            abort(401)
        flash(str(login_manager.login_message), login_manager.login_message_category)
        return redirect(url_for("accounts.sign_in", next=request.full_path.rstrip("?")))

    @login_manager.user_loader
    def _load_user(session_token: str):
        from coalition.accounts.models import User

        if not session_token:
            return None
        user = db.session.scalar(sa.select(User).where(User.session_token == session_token))
        if user is None or not user.active:
            return None
        return user


def _register_blueprints(app: Flask) -> None:
    from coalition import admin, core
    from coalition.accounts.views import bp as accounts_bp
    from coalition.grants.application_views import bp as applications_bp
    from coalition.grants.award_views import bp as awards_bp
    from coalition.grants.calls import calls_bp
    from coalition.grants.review_staff import bp as review_staff_bp
    from coalition.grants.review_views import bp as reviews_bp
    from coalition.grants.round_applications import bp as round_applications_bp
    from coalition.grants.views import bp as grants_bp
    from coalition.members import blueprints as member_blueprints
    from coalition.steering.reports.views import bp as reports_bp
    from coalition.steering.views import bp as steering_bp
    from coalition.steering.votes import bp as votes_bp

    app.register_blueprint(core.bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin.bp, url_prefix="/admin")
    members_bp, public_members_bp = member_blueprints()
    app.register_blueprint(members_bp, url_prefix="/members")
    app.register_blueprint(public_members_bp)
    app.register_blueprint(grants_bp, url_prefix="/grants")
    app.register_blueprint(calls_bp)
    app.register_blueprint(round_applications_bp, url_prefix="/grants")
    app.register_blueprint(awards_bp, url_prefix="/grants")
    app.register_blueprint(applications_bp, url_prefix="/applications")
    app.register_blueprint(review_staff_bp, url_prefix="/grants")
    app.register_blueprint(reviews_bp, url_prefix="/reviews")
    app.register_blueprint(steering_bp, url_prefix="/steering")
    app.register_blueprint(reports_bp, url_prefix="/steering/reports")
    app.register_blueprint(votes_bp)  # paths under /steering, and the applicant's appeal


def _register_jobs() -> None:
    """Each area's background jobs, with the one job runner (which imports no area)."""
    from coalition import jobs
    from coalition.accounts.operations import job_handlers as account_jobs
    from coalition.members import job_handlers as member_jobs
    from coalition.steering.reports import job_handlers as report_jobs

    for handlers in (account_jobs(), member_jobs(), report_jobs()):
        for kind, fn in handlers.items():
            jobs.register(kind, fn)


def _init_templates(app: Flask) -> None:
    from flask_login import current_user

    from coalition import policy
    from coalition.accounts.forms import ConfirmForm, LanguageForm
    from coalition.audit import audit_value
    from coalition.config import RTL_LANGUAGES
    from coalition.countries import country_name
    from coalition.form_tokens import new_token
    from coalition.grants.money import money_formatter
    from coalition.i18n import (
        bdi,
        current_language,
        file_size,
        install_wtforms_catalog,
        local_time,
        select_timezone,
        text_direction,
    )
    from coalition.templating import form_errors, options

    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["audit_value"] = audit_value
    app.jinja_env.filters["country_name"] = country_name
    app.jinja_env.filters["bdi"] = bdi
    app.jinja_env.filters["file_size"] = file_size
    install_wtforms_catalog(app)
    app.jinja_env.globals["form_errors"] = form_errors  # imported macros see globals only
    app.jinja_env.globals["once_token"] = new_token

    @app.context_processor
    def _globals():
        return {
            "can": lambda permission, obj=None: policy.can(current_user, permission, obj),
            "current_language": current_language,
            "text_direction": text_direction,
            "languages": app.config["LANGUAGES"],
            "rtl_languages": RTL_LANGUAGES,
            # The reader's language found once a render (a list writes a hundred
            # amounts); an email drawn in its recipient's language gets theirs.
            "money": money_formatter(),
            "options": options,
            "viewer_timezone": select_timezone,
            "language_form": LanguageForm,
            "sign_out_form": ConfirmForm,
        }
