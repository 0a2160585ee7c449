"""Fixtures for the browser tests: a live server, a loopback SMTP server, Chromium.

The app is the session ``app`` of ``tests/conftest.py``, served by Werkzeug
in a daemon thread on a free loopback port. Its email goes over SMTP to an
aiosmtpd server on loopback that keeps every message in a list. Chromium is
Debian's own (``/usr/bin/chromium``) driven through Playwright; it may load
nothing but the live server: any other request is blocked and fails the test.

Browser tests must be marked ``committing``: the live server answers from
another thread, so it only sees data that is committed for real.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_MISSING = object()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- SMTP -----------------------------------------------------------------------


@dataclass
class Envelope:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)

    @property
    def text(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()


@dataclass
class Mailbox:
    """What the SMTP server received, oldest first."""

    envelopes: list[Envelope] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.envelopes.append(
                Envelope(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Envelope]:
        with self.lock:
            return [e for e in self.envelopes if address in e.rcpt_tos]

    def clear(self) -> None:
        with self.lock:
            self.envelopes.clear()


@pytest.fixture(scope="package")
def smtp_server():
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, mailbox
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_server):
    _controller, box = smtp_server
    box.clear()
    yield box
    box.clear()


# -- Live server ----------------------------------------------------------------


@pytest.fixture(scope="package")
def live_server(app, smtp_server):
    """The base URL of the app served on loopback; mail goes to ``smtp_server``."""
    from werkzeug.serving import make_server

    controller, _mailbox = smtp_server
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    overrides = {
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": controller.port,
        "SMTP_SECURITY": "none",
        "SMTP_USERNAME": None,
        "SMTP_PASSWORD": None,
        "BASE_URL": base_url,
    }
    saved = {key: app.config.get(key, _MISSING) for key in overrides}
    app.config.update(overrides)
    # Threaded: Chromium opens connections ahead of need, and a single-threaded
    # server would sit waiting on an idle one.
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        for key, value in saved.items():
            if value is _MISSING:
                app.config.pop(key, None)
            else:
                app.config[key] = value


# -- Chromium -------------------------------------------------------------------


@pytest.fixture(scope="package")
def browser():
    if not os.path.exists(CHROMIUM):
        reason = f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(request, browser, live_server):
    """Open browser contexts (fresh cookies) that may load the live server only."""
    if not request.node.get_closest_marker("committing"):
        pytest.fail("a browser test must be marked committing: the live server is another thread")
    contexts = []
    blocked: list[str] = []

    def guard(route):
        url = route.request.url
        if url == live_server or url.startswith(live_server + "/"):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("blockedbyclient")

    def make(**options):
        options.setdefault("base_url", live_server)
        options.setdefault("locale", "en-GB")
        options.setdefault("service_workers", "block")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.route("**/*", guard)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not blocked, f"the browser tried to fetch from outside the live server: {blocked}"


@pytest.fixture
def page(new_context):
    return new_context().new_page()


def sign_in(page, email: str, password: str) -> None:
    """Sign in through the real form, as a person would (found by the fields' ids:
    the labels are in the page's language)."""
    page.goto("/sign-in")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("form:has(#email) button[type=submit]").click()
    page.wait_for_load_state()
