"""The deployment in deploy/, for real (issue 15 B): Debian's nginx, with the site
file of deploy/nginx/coalition.conf (only its addresses, ports and paths
changed), in front of gunicorn with COALITION_ENV=production and
TRUSTED_PROXIES=1, all on loopback on free ports.

Skipped when nginx is missing, unless REQUIRE_NGINX=1 (as in .ci/run); Redis
(required in production) is at TEST_OPS_REDIS_URL, database 11 by default.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.installations import (
    PROJECT_ROOT,
    Installation,
    drop_database,
    free_port,
    start_gunicorn,
    stop,
    wait_for_port,
)

DEPLOY = PROJECT_ROOT / "deploy"
SITE = DEPLOY / "nginx" / "coalition.conf"
UNITS = DEPLOY / "systemd"
REDIS_URL = os.environ.get("TEST_OPS_REDIS_URL", "redis://127.0.0.1:6379/11")
FORWARDED_HOST = "coalition.example.org"


# -- The files themselves ------------------------------------------------------------------


def production_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Production\n(.*?)^## ", readme, re.S | re.M)
    assert match, "the README has a Production section"
    return match.group(1)


def test_readme_production_section_names_only_files_that_exist():
    section = production_section()
    paths = set(re.findall(r"`(deploy/[A-Za-z0-9_./-]+)`", section))
    assert {
        "deploy/systemd/coalition-web.service",
        "deploy/systemd/coalition-scheduler.service",
        "deploy/nginx/coalition.conf",
        "deploy/Dockerfile",
        "deploy/coalition.env.example",
    } <= paths
    for path in paths:
        assert (PROJECT_ROOT / path).exists(), f"the README names {path}, which is missing"
    for unit in set(re.findall(r"\b(coalition-[a-z]+\.service)\b", section)):
        assert (UNITS / unit).is_file(), f"the README names {unit}, which deploy/ lacks"
    # The example settings the section gives are the ones the site file uses.
    assert "TRUSTED_PROXIES=1" in section
    assert "127.0.0.1:8000" in SITE.read_text()


@pytest.mark.parametrize("unit", ["coalition-web.service", "coalition-scheduler.service"])
def test_systemd_units_are_hardened_and_run_as_a_dedicated_user(unit):
    text = (UNITS / unit).read_text()
    for line in (
        "User=coalition",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "EnvironmentFile=/etc/coalition/coalition.env",
        "StateDirectory=coalition",
        "UMask=0077",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), f"{unit} lacks {line}"
    start = re.search(r"^ExecStart=(\S+)", text, re.M).group(1)
    assert start.startswith("/srv/coalition/.venv/bin/")
    assert "u coalition " in (UNITS / "coalition.sysusers.conf").read_text()


@pytest.mark.parametrize("unit", ["coalition-web.service", "coalition-scheduler.service"])
def test_systemd_accepts_the_units(unit, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # Only the installation path changed, so that ExecStart names a real program.
    rendered = tmp_path / unit
    rendered.write_text((UNITS / unit).read_text().replace("/srv/coalition/", f"{PROJECT_ROOT}/"))
    result = subprocess.run(
        [analyze, "verify", str(rendered)], capture_output=True, text=True, timeout=60
    )
    complaints = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # This machine may lack the units named in After= (PostgreSQL, Redis).
        if line.strip() and "postgresql.service" not in line and "redis-server" not in line
    ]
    assert result.returncode == 0 and not complaints, complaints


def test_nginx_body_limit_is_the_apps_max_content_length(app):
    from coalition.config import load_config

    limit = re.search(r"client_max_body_size (\d+)m;", SITE.read_text())
    assert limit, "the site sets client_max_body_size in MiB"
    assert int(limit.group(1)) * 1024 * 1024 == load_config("/nonexistent")["MAX_CONTENT_LENGTH"]
    assert "MAX_CONTENT_LENGTH=31457280" in (DEPLOY / "coalition.env.example").read_text()


def test_dockerfile_is_debian_with_pango_and_fonts_and_runs_as_non_root():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM debian:", text, re.M)
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "fonts-dejavu-core", "python3-venv"):
        assert package in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    for copied in re.findall(r"^COPY (?!--)(.+) \S+$", text, re.M):
        for source in copied.split():
            assert (PROJECT_ROOT / source).exists(), f"the Dockerfile copies {source}, missing"


def test_every_way_to_install_compiles_the_translations():
    """The .mo files the app reads are built, never committed: the image and the
    README's install and release steps each compile them, or every page is English."""
    docker = (DEPLOY / "Dockerfile").read_text()
    copied = re.search(r"^COPY translations translations$", docker, re.M)
    compiled = re.search(r"^RUN .*pybabel compile -d translations", docker, re.M)
    assert copied and compiled and copied.start() < compiled.start()
    readme = (PROJECT_ROOT / "README.md").read_text()
    production = readme.split("## Production", 1)[1].split("\n## ", 1)[0]
    assert "make venv catalogs" in production.split("**On a Debian server**", 1)[1]
    assert "On each release: `git pull`, `make venv catalogs`" in production
    assert "*.mo" in (PROJECT_ROOT / ".gitignore").read_text()


# -- nginx in front of gunicorn, for real ----------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        if os.environ.get("REQUIRE_NGINX") == "1":
            pytest.fail("nginx is required (REQUIRE_NGINX=1): apt-get install nginx")
        pytest.skip("nginx is not installed (apt-get install nginx; REQUIRE_NGINX=1 to insist)")
    return found


def redis_or_skip():
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.exceptions.RedisError as exc:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis at {REDIS_URL} is required (REQUIRE_REDIS=1): {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    connection.flushdb()
    return connection


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={FORWARDED_HOST}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def render_site(folder: Path, app_port: int, http_port: int, https_port: int) -> Path:
    """deploy/nginx/coalition.conf with only addresses, ports and paths changed."""
    cert, key = self_signed_certificate(folder)
    text = SITE.read_text()
    replacements = [
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen [::]:443 ssl http2;", ""),
        ("/etc/letsencrypt/live/coalition.example.org/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/coalition.example.org/privkey.pem", str(key)),
        ("/srv/coalition/", f"{PROJECT_ROOT}/"),
    ]
    for old, new in replacements:
        assert old in text, f"the site file no longer has {old!r}"
        text = text.replace(old, new)
    site = folder / "site.conf"
    site.write_text(text)
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    main = folder / "nginx.conf"
    main.write_text(
        f"""{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {site};
}}
"""
    )
    return main


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """(nginx https port, nginx http port, gunicorn port, gunicorn log) for the module."""
    nginx = nginx_binary()
    redis_connection = redis_or_skip()
    folder = tmp_path_factory.mktemp("deploy")
    installation = Installation(folder, "deploy")
    installation.upgrade()
    gunicorn, app_port = start_gunicorn(
        installation,
        folder / "gunicorn.log",
        workers=1,
        COALITION_ENV="production",
        TRUSTED_PROXIES=1,
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_FORMS_PER_IP="3 per 10 minutes",
        MAIL_BACKEND="smtp",
        SMTP_PORT=free_port(),
        BASE_URL=f"https://{FORWARDED_HOST}",
    )
    http_port, https_port = free_port(), free_port()
    conf = render_site(folder, app_port, http_port, https_port)
    check = subprocess.run(
        [nginx, "-t", "-c", str(conf), "-e", str(folder / "error.log")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    server = subprocess.Popen(
        [nginx, "-c", str(conf), "-e", str(folder / "error.log")], start_new_session=True
    )
    try:
        wait_for_port(https_port, server)
        yield {
            "https": https_port,
            "http": http_port,
            "app": app_port,
            "log": folder / "gunicorn.log",
        }
    finally:
        stop(server)
        stop(gunicorn)
        installation.close()
        drop_database(installation.url)
        redis_connection.flushdb()
        redis_connection.close()


class Answer:
    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = response.headers
        raw = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            self.encoded_length = len(raw)
            raw = gzip.decompress(raw)
        self.body = raw
        self.text = raw.decode("utf-8", "replace")

    def cookie(self, name: str) -> str | None:
        for value in self.headers.get_all("Set-Cookie") or []:
            if value.startswith(f"{name}="):
                return value
        return None


def request(port, method, path, *, tls=True, source="127.0.0.1", headers=None, body=None):
    """One request from ``source`` (a loopback address): the address nginx sees."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            "127.0.0.1", port, context=context, source_address=(source, 0), timeout=20
        )
    else:
        connection = http.client.HTTPConnection(
            "127.0.0.1", port, source_address=(source, 0), timeout=20
        )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return Answer(connection.getresponse())
    finally:
        connection.close()


def session_cookie(answer: Answer) -> str:
    return answer.cookie("coalition_session").split(";", 1)[0]


def csrf_of(answer: Answer) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', answer.text).group(1)


def test_rate_limiter_sees_the_address_nginx_saw_not_the_clients_header(stack):
    source = "127.0.0.2"
    page = request(stack["https"], "GET", "/sign-up", source=source)
    assert page.status == 200, page.text[:500]
    cookie, token = session_cookie(page), csrf_of(page)
    statuses = []
    for n in range(4):
        answer = request(
            stack["https"],
            "POST",
            "/sign-up",
            source=source,
            headers={
                "Host": FORWARDED_HOST,
                "Cookie": cookie,
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Forwarded-For": f"198.51.100.{n}",  # spoofed, a new one each time
                "Referer": f"https://{FORWARDED_HOST}/sign-up",
            },
            body=f"csrf_token={token}&name=&email=&password=",
        )
        statuses.append(answer.status)
    # 3 per 10 minutes from one client, whatever it claims to be.
    assert statuses == [200, 200, 200, 429], statuses
    # Another client (another address nginx sees) is not held back.
    other = request(stack["https"], "GET", "/sign-up", source="127.0.0.3")
    answer = request(
        stack["https"],
        "POST",
        "/sign-up",
        source="127.0.0.3",
        headers={
            "Host": FORWARDED_HOST,
            "Cookie": session_cookie(other),
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"https://{FORWARDED_HOST}/sign-up",
        },
        body=f"csrf_token={csrf_of(other)}&name=&email=&password=",
    )
    assert answer.status == 200
    # The app logged the address nginx saw, never the spoofed one.
    log = stack["log"].read_text(errors="replace")
    assert '"ip": "127.0.0.2"' in log and '"ip": "127.0.0.3"' in log
    assert "198.51.100." not in log


def test_https_secure_cookies_and_hsts_behind_nginx(stack):
    page = request(stack["https"], "GET", "/sign-in")
    assert page.status == 200
    cookie = page.cookie("coalition_session")
    assert cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    # Plain HTTP at nginx: straight to HTTPS.
    plain = request(stack["http"], "GET", "/sign-in?next=%2F", tls=False)
    assert plain.status == 301
    assert plain.headers["Location"] == "https://127.0.0.1/sign-in?next=%2F"
    # The app itself reads X-Forwarded-Proto (and -Host) from the one trusted proxy.
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": FORWARDED_HOST}
    over_http = request(
        stack["app"],
        "GET",
        "/sign-in",
        tls=False,
        headers={**forwarded, "X-Forwarded-Proto": "http"},
    )
    assert over_http.status == 301
    assert over_http.headers["Location"] == f"https://{FORWARDED_HOST}/sign-in"
    over_https = request(
        stack["app"],
        "GET",
        "/sign-in",
        tls=False,
        headers={**forwarded, "X-Forwarded-Proto": "https"},
    )
    assert over_https.status == 200
    assert "Secure" in over_https.cookie("coalition_session")
    # nginx sets X-Forwarded-Proto itself: what a client writes there is not passed on.
    spoofed = request(stack["https"], "GET", "/sign-in", headers={"X-Forwarded-Proto": "http"})
    assert spoofed.status == 200


def test_a_30_mib_upload_is_refused_by_nginx_with_the_apps_413_page(stack):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    size = 31457280 + 1024  # just over MAX_CONTENT_LENGTH
    with (
        socket.create_connection(("127.0.0.1", stack["https"]), timeout=20) as raw,
        context.wrap_socket(raw) as tls,
    ):
        tls.sendall(
            (
                "POST /applications/1/attachments HTTP/1.1\r\n"
                f"Host: {FORWARDED_HOST}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                "Accept-Language: fr\r\n"
                f"Content-Length: {size}\r\n\r\n"
            ).encode()
        )
        with contextlib.suppress(OSError):  # nginx may close as soon as it has answered
            tls.sendall(b"x" * 65536)
        received = b""
        while True:
            try:
                chunk = tls.recv(65536)
            except (OSError, ssl.SSLError):
                break
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    text = body.decode("utf-8", "replace")
    assert "nginx" not in text.lower()
    assert '<html lang="fr"' in text  # the app's page, in the reader's language
    assert b"content-security-policy" in head.lower()  # the app's headers, not nginx's page
    # The body never reached gunicorn: only nginx's internal GET of the page did.
    log = stack["log"].read_text(errors="replace")
    assert "/applications/<int:application_id>/attachments" not in log


def test_static_files_come_from_nginx_with_the_long_immutable_cache(stack):
    home = request(stack["https"], "GET", "/")
    path = re.search(r'href="(/static/[0-9a-f]{16}/style\.css)"', home.text).group(1)
    answer = request(stack["https"], "GET", path, headers={"Accept-Encoding": "gzip"})
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Encoding"] == "gzip"
    assert answer.encoded_length < len(answer.body) / 2
    assert answer.body == (PROJECT_ROOT / "coalition" / "static" / "style.css").read_bytes()
    assert "Set-Cookie" not in answer.headers
    # Served from disk by nginx: the app would redirect a stale digest to the current one.
    stale = request(stack["https"], "GET", "/static/0000000000000000/style.css")
    assert stale.status == 200
    # Pages are compressed too.
    page = request(stack["https"], "GET", "/sign-in", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
