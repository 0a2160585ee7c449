"""Structured logs: one JSON object per line, one line per request (S21).

A line never holds a password, token or form body: requests are logged by
their URL rule (``/auth/reset/<token>``), not their path, and never with
their query string. JSON encoding escapes line breaks in user input.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

from flask import Flask, g, request
from flask_login import current_user

from coalition.accounts.session import signed_in_user_id


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if extra:
            line.update(extra)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JSONFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    # gunicorn's own access log would repeat the request line with its query string.
    logging.getLogger("gunicorn.access").disabled = True
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Chatter at INFO: every run of every scheduled job (the jobs log what they
    # did themselves), and pikepdf saying hello in each process.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    logging.getLogger("pikepdf").setLevel(logging.WARNING)
    # WeasyPrint's step-by-step progress of every report render.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


def event(logger: logging.Logger, message: str, level: int = logging.INFO, **fields) -> None:
    """Log a security-relevant event with who, from where and when (UTC)."""
    context = {}
    try:
        context["ip"] = request.remote_addr
        context["endpoint"] = request.endpoint
    except RuntimeError:
        pass
    try:
        if current_user and current_user.is_authenticated:
            context["user_id"] = current_user.id
    except Exception:  # noqa: S110 - logging must never break the request
        pass
    context.update(fields)
    logger.log(level, message, extra={"fields": context})


request_log = logging.getLogger("coalition.request")


def init_request_logging(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        started = g.get("request_started")
        elapsed = (time.perf_counter() - started) * 1000 if started else None
        fields = {
            "method": request.method,
            "rule": request.url_rule.rule if request.url_rule else "(no route)",
            "endpoint": request.endpoint,
            "status": response.status_code,
            "ms": round(elapsed, 1) if elapsed is not None else None,
            "ip": request.remote_addr,
            "bytes": response.calculate_content_length(),
        }
        user_id = signed_in_user_id()
        if user_id is not None:
            fields["user_id"] = user_id
        request_log.info("request", extra={"fields": fields})
        return response
