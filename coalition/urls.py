"""Absolute links for emails and jobs, built on BASE_URL (never on a request's Host)."""

from __future__ import annotations

from flask import current_app


def external_url(endpoint: str, **values) -> str:
    """``BASE_URL`` + the path of ``endpoint``; works in a request, a job or a command."""
    adapter = current_app.url_map.bind("localhost")
    return current_app.config["BASE_URL"] + adapter.build(endpoint, values)


def external_path(path: str) -> str:
    """``BASE_URL`` + a path of the site, for a page known by its path alone."""
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"not a path of this site: {path!r}")
    return current_app.config["BASE_URL"] + path


# The reviewer's home: their assigned reviews.
REVIEWER_HOME = "/reviews/"
