"""Password policy and hashing (S1, S2).

Hashes are argon2id with 64 MiB of memory (RFC 9106's "low memory" profile).
Hashes made by an older scheme (Werkzeug's scrypt or pbkdf2) or with weaker
argon2 parameters still verify, and are replaced on the next sign-in.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from werkzeug.security import check_password_hash

MIN_LENGTH = 12
MAX_LENGTH = 128

_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, type=Type.ID)


@cache
def _common_passwords() -> frozenset[str]:
    """The commonest passwords, as zxcvbn ranks them by frequency of use.

    Read at the first password chosen, not at start-up: zxcvbn's module holds
    all its word lists (some 12 MB), and most requests choose no password.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str) -> str | None:
    """Why this password is refused, or None when it is acceptable."""
    from flask_babel import gettext as _

    if len(password) < MIN_LENGTH:
        return _("Use at least %(n)d characters.", n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _("Use at most %(n)d characters.", n=MAX_LENGTH)
    common = _common_passwords()
    if password.lower() in common or password.strip().lower() in common:
        return _("This password is among the most common ones. Choose another.")
    if len(set(password)) < 3:
        return _("This password repeats too few characters. Choose another.")
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> tuple[bool, bool]:
    """Check a password against a stored hash.

    Returns (matches, needs_rehash). Unknown or empty hashes never match.
    """
    if not stored:
        return False, False
    if stored.startswith("$argon2"):
        try:
            _hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        return True, _hasher.check_needs_rehash(stored)
    if stored.startswith(("scrypt:", "pbkdf2:")):
        return check_password_hash(stored, password), True
    return False, False


@cache
def _dummy_hash() -> str:
    return _hasher.hash("a dummy password used only for timing")


def dummy_verify() -> None:
    """Spend the time of a real verification, so an unknown email answers as slowly (S4)."""
    verify_password(_dummy_hash(), "not the password")
