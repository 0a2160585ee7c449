"""The traffic of ``make load``: Locust users doing what the coalition's people do.

``bench/load.py`` seeds the database, starts the server and runs this file
headless; it is not meant to be run alone (it reads the seed that load.py
wrote, ``LOAD_SEED``, and writes every response time and every form it sent
to ``LOAD_OUT`` when the run stops).

Who is on the site, each with their own account (a TOTP code is spent once, so
two users never share one), signed in through the real forms (``bench/run.py``'s
``Browser``, with the code from the authenticator where the role needs it), and
carrying the CSRF token and the one-time token of a create form as a browser does:

* visitors: the open calls, a call, the public directory (pages, searches) and
  its figures, and a few sign-ups (a job makes the account and emails the link);
* applicants: start a draft from a call (one start in three is sent twice, a
  double click, which must create one draft), save it with a new summary,
  upload a small attachment, look at their dashboard;
* reviewers: their home, a review form, a saved draft with new scores and
  comment;
* steering members: the vote's page, an application's page, a vote cast with a
  new note;
* staff: the member lists, a search, the grants lists and money, the ranked
  overview, an export of all members, and a report requested and polled until
  it is ready (the scheduler's job draws the PDF).

Each user sends, as the server sees it behind a proxy, its own client address
(``X-Forwarded-For``, read because the server runs with ``TRUSTED_PROXIES=1``):
the per-address limits are those of a real deployment, and a crowd on one
loopback address is not what they are for.

Every response is checked: a status other than the one expected, a refusal
flashed on the page a form leads to, or a page without what it should show is
a failure. Every form that succeeded is written to the ledger, which load.py
then checks against the database.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import secrets
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
from locust import HttpUser, between, events, task

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import run as bench  # noqa: E402  (bench/run.py: its Browser and bare page)

from tests.html_forms import form_data  # noqa: E402  (what a browser sends for a form)

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) coalition-load/1"
BARE = "bare page (base layout only)"
CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')
FLASH_ERROR = re.compile(r'class="flash flash-error"[^>]*>([^<]*)')

# -- Shared state of the run: the seed, the accounts handed out, what was measured ---------

_seed: dict | None = None
_lock = threading.Lock()
_counters: dict[str, itertools.count] = defaultdict(itertools.count)
TIMES: dict[str, list[float]] = defaultdict(list)
FAILURES: dict[str, list[str]] = defaultdict(list)
LEDGER: list[dict] = []


def seed() -> dict:
    global _seed
    if _seed is None:
        _seed = json.loads(Path(os.environ["LOAD_SEED"]).read_text())
    return _seed


def next_account(role: str) -> dict:
    """The next unused account of ``role``: one account per simulated person."""
    accounts = seed()["accounts"][role]
    with _lock:
        n = next(_counters[role])
    if n >= len(accounts):
        raise RuntimeError(f"more {role} users than seeded accounts ({len(accounts)})")
    return accounts[n]


def client_address() -> str:
    """A distinct client address for each user, in the loopback range."""
    with _lock:
        n = next(_counters["address"]) + 2
    return f"127.0.{n // 250}.{n % 250 + 1}"


def marker(kind: str) -> str:
    """Text no one else writes: the run's check finds each one in the database."""
    return f"load-{kind}-{secrets.token_hex(6)}"


def record(entry: dict) -> None:
    with _lock:
        LEDGER.append({**entry, "at": time.time()})


# Requests of the first seconds (people signing in, each worker compiling its templates)
# are checked but not timed.
WARM_UP_SECONDS = float(os.environ.get("LOAD_WARM_UP_SECONDS", 30))
_started = time.monotonic()
WARM_UP: dict[str, int] = defaultdict(int)
SIGN_IN = "sign-in (password, code where needed)"
REPORT_MADE = "report made (request to ready)"
ALWAYS_TIMED = {SIGN_IN, REPORT_MADE}

# A short run (the test suite's) has each person send each of their forms once on arrival,
# so every check after the run has something to count whatever the random tasks drew.
EVERY_FORM_AT_START = os.environ.get("LOAD_EVERY_FORM_AT_START") == "1"


@events.test_start.add_listener
def _on_test_start(**_kwargs):
    global _started
    _started = time.monotonic()


@events.request.add_listener
def _on_request(name, response_time, exception, **_kwargs):
    with _lock:
        if name not in ALWAYS_TIMED and time.monotonic() - _started < WARM_UP_SECONDS:
            WARM_UP[name] += 1
        else:
            TIMES[name].append(response_time)
        if exception is not None:
            FAILURES[name].append(str(exception)[:300])


@events.quitting.add_listener
def _write_results(**_kwargs):
    out = os.environ.get("LOAD_OUT")
    if out:
        with _lock:
            Path(out).write_text(
                json.dumps(
                    {
                        "times": TIMES,
                        "warm_up": WARM_UP,
                        "failures": FAILURES,
                        "ledger": LEDGER,
                    }
                )
            )


# -- A person with a browser ---------------------------------------------------------------


class Person(HttpUser):
    """Common to everyone: a client address, page checks, forms with their tokens."""

    abstract = True
    wait_time = between(1, 4)
    role: str | None = None

    def on_start(self):
        self.address = client_address()
        self.client.headers["X-Forwarded-For"] = self.address
        self.client.headers["User-Agent"] = USER_AGENT
        self.account = next_account(self.role) if self.role else None
        if self.account:
            self.sign_in()

    def sign_in(self):
        """The real sign-in forms (bench/run.py's Browser), then its cookies in this client."""
        started = time.perf_counter()
        browser = bench.Browser(self.host)
        # The same browser as the pages after: its address, and its User-Agent (a session
        # is bound to both, SESSION_PROTECTION=strong).
        for opener in (browser.following, browser.staying):
            opener.addheaders = [("User-Agent", USER_AGENT), ("X-Forwarded-For", self.address)]
        error = None
        try:
            self.sign_in_steps(browser)
        except Exception as exc:
            error = exc
        events.request.fire(
            request_type="POST",
            name=SIGN_IN,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )
        if error is not None:
            raise error
        for cookie in browser.jar:
            self.client.cookies.set_cookie(cookie)
        record({"kind": "sign_in", "user": self.account["email"]})

    def sign_in_steps(self, browser) -> None:
        """Email and password, then the code from the authenticator where the role needs one."""
        account = self.account
        token = browser.token("/sign-in")
        form = {"csrf_token": token, "email": account["email"], "password": account["password"]}
        status, body, url = browser.open("/sign-in", form)
        if account.get("totp_secret"):
            if not url.endswith("/sign-in/code"):
                raise RuntimeError(f"no code asked (ended on {url}, {status}): {refusal(body)}")
            code = pyotp.TOTP(account["totp_secret"]).now()
            token = CSRF_META.search(body.decode()).group(1)
            status, body, url = browser.open("/sign-in/code", {"csrf_token": token, "code": code})
        if status != 200 or "/sign-in" in url:
            raise RuntimeError(
                f"sign-in did not complete (ended on {url}, {status}): {refusal(body)}"
            )

    # Pages -------------------------------------------------------------------------------

    def page(self, path: str, name: str, *, expect: str | None = None) -> str | None:
        """GET a page; a failure unless it answers 200 (and holds ``expect``)."""
        with self.client.get(path, name=name, catch_response=True, allow_redirects=False) as r:
            if r.status_code != 200:
                r.failure(f"{path} answered {r.status_code}")
                return None
            if expect is not None and expect not in r.text:
                r.failure(f"{path} does not show {expect!r}")
                return None
            r.success()
            return r.text

    def post(
        self, path: str, name: str, data, *, lands: str, files=None, follow_name: str
    ) -> str | None:
        """POST a form; it must redirect to a path matching ``lands``, and the page it leads
        to must show no refusal. Returns the path landed on, or None after a failure."""
        if hasattr(data, "items") and hasattr(data, "getlist"):
            data = list(data.items(multi=True))  # a MultiDict: every value of every field
        with self.client.post(
            path, data=data, files=files, name=name, catch_response=True, allow_redirects=False
        ) as r:
            location = r.headers.get("Location", "")
            landed = re.sub(r"^https?://[^/]+", "", location)
            if r.status_code != 302 or not re.match(lands, landed):
                r.failure(
                    f"POST {path} answered {r.status_code} to {location!r}: {refusal(r.content)}"
                )
                return None
            r.success()
        with self.client.get(
            landed, name=follow_name, catch_response=True, allow_redirects=False
        ) as r:
            refused = FLASH_ERROR.search(r.text)
            if r.status_code != 200 or refused:
                why = refused.group(1).strip() if refused else r.status_code
                r.failure(f"after POST {path}: {why}")
                return None
            r.success()
        return landed

    @task(1)
    def bare(self):
        self.page(bench.BARE_PATH, BARE)


def refusal(body: bytes) -> str:
    """What a page says is wrong: its flashed refusal or its fields' errors."""
    text = body.decode(errors="replace")
    found = FLASH_ERROR.findall(text) + re.findall(r'class="error-text"[^>]*>([^<]*)', text)
    return "; ".join(f.strip() for f in found) or "(no message)"


def csrf(html: str) -> str:
    match = CSRF_META.search(html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


# -- Visitors ------------------------------------------------------------------------------


class Visitor(Person):
    fixed_count = int(os.environ.get("LOAD_VISITORS", 6))

    def on_start(self):
        super().on_start()
        self.sign_up()  # one arrives to sign up; a second may, later, from the same computer

    @task(3)
    def calls(self):
        self.page("/calls", "GET /calls")

    @task(2)
    def call(self):
        self.page(f"/calls/{seed()['open_round_id']}", "GET /calls/<id>")

    @task(3)
    def directory(self):
        self.page("/directory", "GET /directory")

    @task(2)
    def directory_search(self):
        word = random.choice(["lantern", "rights", "media", "network", "watch"])
        self.page(f"/directory?q={word}", "GET /directory?q=")

    @task(1)
    def directory_page(self):
        self.page(f"/directory?page={random.randint(2, 4)}", "GET /directory?page=")

    @task(2)
    def figures(self):
        self.page("/directory/figures", "GET /directory/figures")

    MAX_SIGN_UPS = 2  # each visitor signs up at most twice (two people at one computer)

    @task(1)
    def sign_up(self):
        """An account asked for: the job makes it and sends the confirmation email."""
        done = getattr(self, "signed_up", 0)
        if done >= self.MAX_SIGN_UPS:
            return
        self.signed_up = done + 1
        html = self.page("/sign-up", "GET /sign-up")
        if html is None:
            return
        data = form_data(html, "email")
        email = f"{marker('visitor')}@{seed()['demo_domain']}"
        data["name"] = "Load Visitor"
        data["email"] = email
        data["password"] = data["confirm"] = "Load " + secrets.token_urlsafe(18)
        if self.post(
            "/sign-up",
            "POST /sign-up (new account)",
            data,
            lands=r"/sign-up/check-email$",
            follow_name="GET /sign-up/check-email (after sign-up)",
        ):
            record({"kind": "sign_up", "email": email})


# -- Applicants ----------------------------------------------------------------------------


class Applicant(Person):
    fixed_count = int(os.environ.get("LOAD_APPLICANTS", 5))
    role = "applicant"
    MAX_DRAFTS = 3  # under DRAFTS_PER_ROUND (5)

    def on_start(self):
        super().on_start()
        self.drafts: list[int] = []
        self.start_draft()
        if EVERY_FORM_AT_START:
            self.save_draft()
            self.upload()

    def start_draft(self):
        round_id = seed()["open_round_id"]
        html = self.page(f"/calls/{round_id}", "GET /calls/<id>")
        if html is None:
            return
        data = form_data(html, "once")
        twice = random.random() < 1 / 3  # a double click: the same form sent twice
        landed = self.post(
            f"/applications/start/{round_id}",
            "POST /applications/start/<round> (new draft)",
            data,
            lands=r"/applications/\d+/edit$",
            follow_name="GET /applications/<id>/edit",
        )
        if landed is None:
            return
        application_id = int(landed.split("/")[2])
        if twice:
            again = self.post(
                f"/applications/start/{round_id}",
                "POST /applications/start/<round> (sent again)",
                data,
                lands=r"/applications/\d+/edit$",
                follow_name="GET /applications/<id>/edit",
            )
            if again is not None and again != landed:
                record({"kind": "duplicate_start", "first": landed, "again": again})
        self.drafts.append(application_id)
        record(
            {
                "kind": "start",
                "user": self.account["email"],
                "application_id": application_id,
                "twice": twice,
            }
        )

    def draft(self) -> int:
        return random.choice(self.drafts)

    @task(1)
    def another_draft(self):
        if len(self.drafts) < self.MAX_DRAFTS:
            self.start_draft()

    @task(2)
    def dashboard(self):
        self.page("/applications/", "GET /applications/")

    @task(4)
    def save_draft(self):
        if not self.drafts:
            return
        application_id = self.draft()
        path = f"/applications/{application_id}/edit"
        html = self.page(path, "GET /applications/<id>/edit")
        if html is None:
            return
        data = form_data(html, "version")
        text = marker("summary")
        data["summary"] = text
        if not data.get("title"):
            data["title"] = f"Load project {application_id}"
        data["save"] = "1"
        if self.post(
            path,
            "POST /applications/<id>/edit (save draft)",
            data,
            lands=rf"/applications/{application_id}/edit$",
            follow_name="GET /applications/<id>/edit",
        ):
            record({"kind": "save", "application_id": application_id, "marker": text})

    @task(2)
    def upload(self):
        if not self.drafts:
            return
        application_id = self.draft()
        html = self.page(f"/applications/{application_id}/edit", "GET /applications/<id>/edit")
        if html is None:
            return
        # The attachment alone (the form's token, kind and file), as a script-free upload.
        everything = form_data(html, "once")
        data = {"csrf_token": everything["csrf_token"], "once": everything["once"]}
        data["kind"] = "budget"
        name = marker("file") + ".csv"
        content = f"line,amount\n{name},{random.randint(1, 9999)}\n".encode()
        if self.post(
            f"/applications/{application_id}/attachments",
            "POST /applications/<id>/attachments (upload)",
            data,
            files={"file": (name, content, "text/csv")},
            lands=rf"/applications/{application_id}/edit",
            follow_name="GET /applications/<id>/edit",
        ):
            record({"kind": "upload", "application_id": application_id, "name": name})


# -- Reviewers -----------------------------------------------------------------------------


class Reviewer(Person):
    fixed_count = int(os.environ.get("LOAD_REVIEWERS", 4))
    role = "reviewer"

    def on_start(self):
        super().on_start()
        if EVERY_FORM_AT_START:
            self.score()

    @task(2)
    def home(self):
        self.page("/reviews/", "GET /reviews/")

    @task(4)
    def score(self):
        review_id = random.choice(self.account["review_ids"])
        path = f"/reviews/{review_id}"
        html = self.page(path, "GET /reviews/<id>")
        if html is None:
            return
        data = form_data(html, "version")
        for name in list(data):
            if name.startswith("score-"):
                data[name] = str(random.randint(1, 5))
        text = marker("review")
        data["comment_confidential"] = text
        data["comment_applicant"] = "A clear plan, tested under load."
        data["recommendation"] = random.choice(["fund", "fund_with_changes", "do_not_fund"])
        data.pop("submit", None)
        if self.post(
            path,
            "POST /reviews/<id> (save draft)",
            data,
            lands=rf"/reviews/{review_id}$",
            follow_name="GET /reviews/<id>",
        ):
            record({"kind": "review", "review_id": review_id, "marker": text})


# -- Steering members ----------------------------------------------------------------------


SEAT_FIELD = re.compile(r'name="choice-(\d+)-(\d+)"')


class Steering(Person):
    fixed_count = int(os.environ.get("LOAD_STEERING", 3))
    role = "steering"

    def on_start(self):
        super().on_start()
        if EVERY_FORM_AT_START:
            self.cast()

    @task(1)
    def vote_page(self):
        self.page(f"/steering/votes/{seed()['open_vote_id']}", "GET /steering/votes/<id>")

    @task(3)
    def cast(self):
        vote_id = seed()["open_vote_id"]
        application_id = random.choice(seed()["shortlist"])
        path = f"/steering/votes/{vote_id}/applications/{application_id}"
        html = self.page(path, "GET /steering/votes/<id>/applications/<id>")
        if html is None:
            return
        seats = {int(s) for s, a in SEAT_FIELD.findall(html) if int(a) == application_id}
        if not seats:
            with self.client.get(path, name="ballot form shown", catch_response=True) as r:
                r.failure(f"no ballot for application {application_id} on {path}")
            return
        seat = min(seats)
        text = marker("note")
        choice = random.choice(["approve", "reject", "abstain"])
        data = {
            "csrf_token": csrf(html),
            f"choice-{seat}-{application_id}": choice,
            f"note-{seat}-{application_id}": text,
            "back": str(application_id),
        }
        if self.post(
            f"/steering/votes/{vote_id}/ballot",
            "POST /steering/votes/<id>/ballot (vote)",
            data,
            lands=rf"/steering/votes/{vote_id}/applications/{application_id}$",
            follow_name="GET /steering/votes/<id>/applications/<id>",
        ):
            record(
                {
                    "kind": "vote",
                    "vote_id": vote_id,
                    "seat_id": seat,
                    "application_id": application_id,
                    "choice": choice,
                    "marker": text,
                }
            )

    @task(1)
    def steering_home(self):
        self.page("/steering/", "GET /steering/")


# -- Staff ---------------------------------------------------------------------------------


class Staff(Person):
    fixed_count = int(os.environ.get("LOAD_STAFF", 2))
    role = "staff"
    REPORT_EVERY = float(os.environ.get("LOAD_REPORT_SECONDS", 90))

    def on_start(self):
        super().on_start()
        self.last_report = -self.REPORT_EVERY
        self.report()  # the first report at once, then one every REPORT_EVERY seconds

    @task(3)
    def members(self):
        self.page("/members/", "GET /members/")

    @task(2)
    def members_search(self):
        word = random.choice(["lantern", "rights", "media", "network", "watch"])
        self.page(f"/members/?q={word}", "GET /members/?q=")

    @task(2)
    def member(self):
        self.page(f"/members/{random.choice(seed()['member_ids'])}", "GET /members/<id>")

    @task(1)
    def figures(self):
        self.page("/members/figures", "GET /members/figures")

    @task(2)
    def round_list(self):
        self.page(
            f"/grants/rounds/{seed()['round_id']}/applications",
            "GET /grants/rounds/<id>/applications",
        )

    @task(1)
    def grants(self):
        self.page("/grants/awards", "GET /grants/awards")

    @task(1)
    def money(self):
        self.page("/grants/money", "GET /grants/money")

    @task(1)
    def ranked(self):
        self.page(
            f"/grants/rounds/{seed()['review_round_id']}/review", "GET /grants/rounds/<id>/review"
        )

    @task(1)
    def export(self):
        html = self.page("/members/export", "GET /members/export")
        if html is None:
            return
        with self.client.post(
            "/members/export.csv",
            data={"csrf_token": csrf(html)},
            name="POST /members/export.csv (all members)",
            catch_response=True,
            allow_redirects=False,
        ) as r:
            if r.status_code != 200 or "csv" not in r.headers.get("Content-Type", ""):
                r.failure(f"export answered {r.status_code} {r.headers.get('Content-Type')}")
                return
            r.success()
        record({"kind": "export", "user": self.account["email"]})

    @task(1)
    def report(self):
        """A membership report over a period no one asked for yet, polled until ready."""
        if time.monotonic() - self.last_report < self.REPORT_EVERY:  # one at a time, at most
            return
        self.last_report = time.monotonic()
        html = self.page("/steering/reports/", "GET /steering/reports/")
        if html is None:
            return
        data = form_data(html, "kind")
        with _lock:
            n = next(_counters["report"])
        end = datetime.now(UTC).date() - timedelta(days=n)
        data["kind"] = "membership"
        data["start"] = (end - timedelta(days=365)).isoformat()
        data["end"] = end.isoformat()
        data["language"] = "en"
        data.pop("confidential", None)
        landed = self.post(
            "/steering/reports/",
            "POST /steering/reports/ (request a report)",
            data,
            lands=r"/steering/reports/\d+$",
            follow_name="GET /steering/reports/<id>",
        )
        if landed is None:
            return
        report_id = int(landed.rsplit("/", 1)[1])
        requested = time.perf_counter()
        ready = False
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            time.sleep(3)  # the page's own Refresh header
            html = self.page(landed, "GET /steering/reports/<id>")
            if html is None:
                break
            if f"/steering/reports/{report_id}/download" in html:
                ready = True
                break
        seconds = time.perf_counter() - requested
        events.request.fire(
            request_type="JOB",
            name=REPORT_MADE,
            response_time=seconds * 1000,
            response_length=0,
            exception=None if ready else RuntimeError("the report was not ready in 180 s"),
            context={},
        )
        record({"kind": "report", "report_id": report_id, "ready": ready, "seconds": seconds})
