"""Configuration, read from environment variables.

Every variable is listed with its default in the README. ``load_config``
returns a plain dict so that tests can override any key.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

LANGUAGES = {
    "en": "English",
    "fr": "Français",
    "ar": "العربية",
    "es": "Español",
    "pt": "Português",
}
RTL_LANGUAGES = frozenset({"ar"})


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def _hour(name: str, default: int) -> int:
    hour = _int(name, default)
    if not 0 <= hour <= 23:
        raise ConfigError(f"{name} must be an hour from 0 to 23, not {hour}")
    return hour


def read_secret_key(instance_path: str) -> str | None:
    """SECRET_KEY from the environment, else from instance/secret_key (written by make run)."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    key_file = os.environ.get("SECRET_KEY_FILE") or str(Path(instance_path) / "secret_key")
    try:
        return Path(key_file).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def base_url(production: bool) -> str:
    """The public address that links in emails start with.

    ``BASE_URL`` when it is set. In development, without it, the address the
    app is served on (``HOST`` and ``PORT``, as ``make run`` takes them), so
    that a link in an email reaches the server that sent it. In production
    it must be set: the production guard refuses to start without it.
    """
    given = (os.environ.get("BASE_URL") or "").strip().rstrip("/")
    if given or production:
        return given
    host = (os.environ.get("HOST") or "").strip() or "127.0.0.1"
    if _unspecified(host):  # served on every interface: this machine answers on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = _int("PORT", 5000)
    return f"http://{host}:{port}"


def load_config(instance_path: str) -> dict:
    env = os.environ.get("COALITION_ENV", "development").strip().lower()
    production = env == "production"
    sqlite_path = Path(instance_path) / "coalition.sqlite"
    return {
        "ENV_NAME": env,
        "PRODUCTION": production,
        "DEBUG": _bool(os.environ.get("FLASK_DEBUG")),
        "SECRET_KEY": read_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_db_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{sqlite_path}"
        ),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 5000),
        "BASE_URL": base_url(production),
        # Sessions and cookies (S8).
        "SESSION_COOKIE_NAME": "coalition_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_NAME": "coalition_remember",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(os.environ.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_DURATION": 14 * 24 * 3600,
        "SESSION_PROTECTION": os.environ.get("SESSION_PROTECTION", "strong"),
        "PERMANENT_SESSION_LIFETIME": _int("SESSION_LIFETIME_MINUTES", 12 * 60) * 60,
        "REAUTH_AFTER_SECONDS": _int("REAUTH_AFTER_MINUTES", 15) * 60,
        # Forms.
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "WTF_I18N_ENABLED": True,  # WTForms' own messages translated (coalition.i18n)
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 30 * 1024 * 1024),
        # Languages.
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LANGUAGES": LANGUAGES,
        # Abuse limits (S3).
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": _bool(os.environ.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_SIGNIN_PER_IP": os.environ.get("RATELIMIT_SIGNIN_PER_IP", "20 per 10 minutes"),
        "RATELIMIT_SIGNIN_PER_ACCOUNT": os.environ.get(
            "RATELIMIT_SIGNIN_PER_ACCOUNT", "5 per 15 minutes"
        ),
        "RATELIMIT_FORMS_PER_IP": os.environ.get("RATELIMIT_FORMS_PER_IP", "10 per 10 minutes"),
        "RATELIMIT_EMAIL_PER_ADDRESS": os.environ.get("RATELIMIT_EMAIL_PER_ADDRESS", "3 per hour"),
        "RATELIMIT_CODE_PER_ACCOUNT": os.environ.get(
            "RATELIMIT_CODE_PER_ACCOUNT", "5 per 15 minutes"
        ),
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # Tokens.
        "CONFIRM_TOKEN_HOURS": _int("CONFIRM_TOKEN_HOURS", 48),
        "RESET_TOKEN_MINUTES": _int("RESET_TOKEN_MINUTES", 60),
        "INVITE_TOKEN_DAYS": _int("INVITE_TOKEN_DAYS", 14),
        # Grant applications' attachments: outside the web root, never under /static.
        "UPLOAD_FOLDER": os.environ.get("UPLOAD_FOLDER") or str(Path(instance_path) / "uploads"),
        "ATTACHMENT_MAX_BYTES": _int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        "APPLICATION_MAX_BYTES": _int("APPLICATION_MAX_BYTES", 25 * 1024 * 1024),
        # Per person: attachments over all their applications, and drafts open in one round.
        "USER_ATTACHMENTS_MAX_BYTES": _int("USER_ATTACHMENTS_MAX_BYTES", 100 * 1024 * 1024),
        "DRAFTS_PER_ROUND": _int("DRAFTS_PER_ROUND", 5),
        # Mail.
        "MAIL_BACKEND": os.environ.get("MAIL_BACKEND", "log"),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Coalition <no-reply@coalition.invalid>"),
        "SMTP_HOST": os.environ.get("SMTP_HOST", "127.0.0.1"),
        "SMTP_PORT": _int("SMTP_PORT", 25),
        "SMTP_SECURITY": os.environ.get("SMTP_SECURITY", "none").lower(),  # none|starttls|tls
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        "SMTP_TIMEOUT": _int("SMTP_TIMEOUT", 20),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 8),
        "OUTBOX_POLL_SECONDS": _int("OUTBOX_POLL_SECONDS", 10),
        "JOBS_POLL_SECONDS": _int("JOBS_POLL_SECONDS", 3),
        # The convenors' daily digest of new grant applications, at this hour (UTC).
        "SUBMISSION_DIGEST_HOUR": _hour("SUBMISSION_DIGEST_HOUR", 6),
        # Steering reports: where the PDFs are kept, for how long, and the render's time limit.
        "REPORTS_FOLDER": os.environ.get("REPORTS_FOLDER") or str(Path(instance_path) / "reports"),
        "REPORTS_KEEP_DAYS": _int("REPORTS_KEEP_DAYS", 365),
        "REPORT_RENDER_SECONDS": _int("REPORT_RENDER_SECONDS", 120),
        "COALITION_NAME": os.environ.get("COALITION_NAME", "Coalition"),
        # Nightly backups by the scheduler (flask backup create), the last BACKUP_KEEP kept.
        "BACKUP_FOLDER": os.environ.get("BACKUP_FOLDER") or str(Path(instance_path) / "backups"),
        "BACKUP_KEEP": _int("BACKUP_KEEP", 14),
        "BACKUP_HOUR": _hour("BACKUP_HOUR", 1),
        # Logging.
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
    }


def normalise_db_url(url: str) -> str:
    # Heroku-style URLs and plain "postgresql://" both mean psycopg 3 here.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


WEAK_SECRET_KEYS = frozenset({"", "dev", "changeme", "secret", "development", "test"})


# zxcvbn's estimate of the guesses a key takes, as a power of ten: 10^24 is
# about 80 bits. A random key of 32 hex digits or more is far above it.
MIN_SECRET_KEY_GUESSES_LOG10 = 24
MIN_SECRET_KEY_DISTINCT = 10


def secret_key_is_varied(key: str) -> bool:
    """False for a key of long runs, repeats or sequences ("a" * 40, "0123456789" * 4)."""
    from zxcvbn import zxcvbn

    if len(set(key)) < MIN_SECRET_KEY_DISTINCT:
        return False
    sample = key[:64]  # zxcvbn's time grows with the square of the length
    return zxcvbn(sample, max_length=64)["guesses_log10"] >= MIN_SECRET_KEY_GUESSES_LOG10


def check_production(config: dict) -> None:
    """Refuse to start in production with an unsafe configuration (S19)."""
    if not config.get("PRODUCTION"):
        return
    problems = []
    key = config.get("SECRET_KEY") or ""
    if key.lower() in WEAK_SECRET_KEYS or len(key) < 32:
        problems.append("SECRET_KEY is missing, a default, or shorter than 32 characters")
    elif not secret_key_is_varied(key):
        problems.append(
            "SECRET_KEY has too little variety (repeated characters, a sequence or words); "
            "make a random one"
        )
    if not config.get("BASE_URL"):
        problems.append("BASE_URL is not set; links in emails need the public address")
    if config.get("DEBUG"):
        problems.append("DEBUG is on")
    if not config.get("WTF_CSRF_ENABLED"):
        problems.append("CSRF protection is off")
    if str(config.get("RATELIMIT_STORAGE_URI", "")).startswith("memory"):
        problems.append("rate limits are kept in memory; set RATELIMIT_STORAGE_URI to redis://…")
    if config.get("MAIL_BACKEND") == "log":
        problems.append("MAIL_BACKEND=log would write sign-in links to the log; use smtp")
    if not config.get("SESSION_COOKIE_SECURE"):
        problems.append("SESSION_COOKIE_SECURE is off")
    if problems:
        raise ConfigError("Refusing to start in production: " + "; ".join(problems) + ".")
