"""What WeasyPrint may fetch while it renders a report: the app's own static files only.

The report's HTML holds names and text people wrote. Escaped as it is, a
stray ``<img src=file://…>`` never becomes an element, but the fetcher is the
second wall (S27, S28): it reads files under the static folder from disk and
refuses everything else, with no network at all (no ``http(s)``, no other
``file:`` path, no redirect to follow, no cookie to forward), and ``data:``
URLs only when the app made them itself for this document.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

log = logging.getLogger("coalition.reports")

STATIC_PREFIX = "/static/"


class FetchRefused(ValueError):
    """The report asked for something it may not have."""


class StaticOnlyFetcher(URLFetcher):
    """Serves ``<origin>/static/...`` from ``static_root`` on disk; refuses the rest.

    ``origin`` is the scheme and host the report's base URL names (BASE_URL):
    only that exact origin maps to the static folder, never a look-alike
    (``127.0.0.1:5000.evil.example``, ``user@host``). ``data_urls`` are the
    ``data:`` URLs the app produced for this document; any other is refused.
    """

    def __init__(self, static_root: str | Path, origin: str, data_urls=()):
        super().__init__(timeout=1, allowed_protocols=(), allow_redirects=False)
        self.static_root = Path(static_root).resolve()
        parts = urlsplit(origin)
        self.scheme, self.netloc = parts.scheme.lower(), parts.netloc.lower()
        self.data_urls = frozenset(data_urls)

    def fetch(self, url, headers=None):
        try:
            return self._fetch(url)
        except FetchRefused:
            log.warning("report fetch refused", extra={"fields": {"url": url[:200]}})
            raise

    def _fetch(self, url: str) -> URLFetcherResponse:
        if url.startswith("data:"):
            if url not in self.data_urls:
                raise FetchRefused("a data: URL the app did not make")
            return _data_response(url)
        parts = urlsplit(url)
        if (
            parts.scheme.lower() != self.scheme
            or parts.netloc.lower() != self.netloc
            or parts.username is not None
            or parts.password is not None
            or not parts.path.startswith(STATIC_PREFIX)
        ):
            raise FetchRefused("not one of the application's static files")
        relative = unquote(parts.path[len(STATIC_PREFIX) :])
        path = (self.static_root / relative).resolve()
        if not path.is_relative_to(self.static_root) or not path.is_file():
            raise FetchRefused("not one of the application's static files")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})

    # WeasyPrint calls the fetcher; nothing may reach urllib's opener behind it.
    def open(self, url, data=None, timeout=None):
        raise FetchRefused("no network")


def _data_response(url: str) -> URLFetcherResponse:
    header, _, body = url[len("data:") :].partition(",")
    mime = header.split(";")[0] or "text/plain"
    data = base64.b64decode(body) if header.endswith(";base64") else unquote(body).encode()
    return URLFetcherResponse(url, data, {"Content-Type": mime})


def data_url(mime: str, data: bytes) -> str:
    """A ``data:`` URL for an image the app made (give it to the fetcher's ``data_urls``)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
