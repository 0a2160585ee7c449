"""What one page view reads once: rule inputs and loaded sets asked many times over.

A list page asks the same rules about the same person, application and vote hundreds of
times; each input (a conflict declaration, an active review, a vote's roll) is loaded once
per page view and kept on ``g``. Only for GET, which changes nothing in between: a form
post always reads afresh, so what it checks is what it writes against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.globals import _cv_app, _cv_request


def page_memo() -> dict | None:
    """The page view's memo (None outside a GET request). Asked hundreds of times by a
    list's rules, so it reads the request context directly, not through proxies."""
    context = _cv_request.get(None)
    if context is None or context.request.method != "GET":
        return None
    return _cv_app.get().g.__dict__.setdefault("_page_memo", {})


def read_once(key: tuple, load: Callable[[], Any]) -> Any:
    """``load()``, once per page view for ``key``; every time outside a GET."""
    memo = page_memo()
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]
