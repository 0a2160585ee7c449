"""Absolute links for emails and jobs, built on BASE_URL (never on a request's Host)."""

from __future__ import annotations

from flask import current_app


def external_url(endpoint: str, **values) -> str:
    """``BASE_URL`` + the path of ``endpoint``; works in a request, a job or a command."""
    adapter = current_app.url_map.bind("localhost")
    return current_app.config["BASE_URL"] + adapter.build(endpoint, values)
