"""A person signs up, confirms their address from the email, and signs in, in Chromium."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from coalition.jobs import run_pending
from coalition.mail import deliver_due
from tests.browser.conftest import sign_in

NAME = "Amara Diallo"
EMAIL = "amara.diallo@example.org"
PASSWORD = "lantern orchard velvet compass"  # 12+ characters, not a common password
LINK = re.compile(r"https?://\S+")


@pytest.mark.browser
@pytest.mark.committing
def test_sign_up_confirm_and_sign_in(app, page, live_server, mailbox):
    # Sign up.
    page.goto("/sign-up")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Your name").fill(NAME)
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.locator("main")).to_contain_text(EMAIL)
    assert mailbox.envelopes == [], "email is sent by the outbox, never during the request"

    # The scheduler's work: make the account (a background job, so that the
    # request takes as long whether or not the address has one), then send
    # what the outbox holds.
    with app.app_context():
        assert run_pending() == 1
        counts = deliver_due()
    assert counts == {"sent": 1, "retry": 0, "failed": 0}

    # The email reached the SMTP server, addressed to the person.
    [envelope] = mailbox.envelopes
    assert envelope.rcpt_tos == [EMAIL]
    message = envelope.message
    assert message["To"] == EMAIL
    assert message["Subject"] == "Confirm your email address"
    links = LINK.findall(envelope.text)
    assert len(links) == 1, envelope.text
    link = links[0]
    parts, base = urlsplit(link), urlsplit(live_server)
    assert (parts.scheme, parts.netloc) == (base.scheme, base.netloc), link
    assert parts.path.startswith("/confirm/"), link

    # Follow the link: opening it changes nothing until the button is pressed.
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your email address")
    page.get_by_role("button", name="Confirm my email address").click()

    expect(page).to_have_url(f"{live_server}/sign-in")
    expect(page.get_by_role("status")).to_contain_text(
        "Your email address is confirmed. You can sign in now."
    )

    # Sign in with the new account.
    sign_in(page, EMAIL, PASSWORD)
    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome, {NAME}")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
