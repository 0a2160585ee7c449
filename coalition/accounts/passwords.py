"""Password policy and hashing (S1, S2).

Hashes are argon2id with 64 MiB of memory (RFC 9106's "low memory" profile).
Hashes made by an older scheme (Werkzeug's scrypt or pbkdf2) or with weaker
argon2 parameters still verify, and are replaced on the next sign-in.
"""

from __future__ import annotations

import re
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from werkzeug.security import check_password_hash

MIN_LENGTH = 12
MAX_LENGTH = 128
# zxcvbn's score (0-4): 3 means at least 10^8 guesses, safe against online guessing.
MIN_SCORE = 3
# zxcvbn's matching grows with the square of the length (200 ms for 128 random
# characters); the first 64 tell a weak password from a strong one well enough.
ESTIMATE_CHARS = 64

_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, type=Type.ID)


@cache
def _common_passwords() -> frozenset[str]:
    """The commonest passwords, as zxcvbn ranks them by frequency of use.

    Read at the first password chosen, not at start-up: zxcvbn's module holds
    all its word lists (some 12 MB), and most requests choose no password.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


_WORD = re.compile(r"[^\W_]+")


def _input_words(user_inputs) -> list[str]:
    """The person's own words (name, address and its parts), as zxcvbn matches them.

    zxcvbn matches each input as a whole word: "Fatou Ndiaye" alone would
    never match "ndiaye", so the name and the address are split as well.
    """
    words: list[str] = []
    for value in user_inputs:
        if not value:
            continue
        text = str(value).strip().lower()
        words.append(text)
        words.extend(w for w in _WORD.findall(text) if len(w) >= 3)
    return words


def password_problem(password: str, user_inputs=()) -> str | None:
    """Why this password is refused, or None when it is acceptable.

    Refused: too short or too long; one of the commonest passwords; and
    anything zxcvbn's estimator guesses in fewer than 10^8 tries, which
    catches sequences (123456789012), repeats (abcabcabcabc), keyboard
    walks, dates, and the person's own name or address.
    """
    from flask_babel import gettext as _

    if len(password) < MIN_LENGTH:
        return _("Use at least %(n)d characters.", n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _("Use at most %(n)d characters.", n=MAX_LENGTH)
    common = _common_passwords()
    if password.lower() in common or password.strip().lower() in common:
        return _("This password is among the most common ones. Choose another.")
    from zxcvbn import zxcvbn  # at the first password chosen, not at start-up

    estimate = zxcvbn(
        password[:ESTIMATE_CHARS],
        user_inputs=_input_words(user_inputs),
        max_length=ESTIMATE_CHARS,
    )
    if estimate["score"] >= MIN_SCORE:
        return None
    patterns = {m["pattern"] for m in estimate["sequence"]}
    dictionaries = {m.get("dictionary_name") for m in estimate["sequence"]}
    if "user_inputs" in dictionaries:
        return _("This password contains your name or email address. Choose another.")
    if "sequence" in patterns:
        return _("This password is a sequence, like 123456 or abcdef. Choose another.")
    if "repeat" in patterns:
        return _("This password repeats the same characters. Choose another.")
    if "passwords" in dictionaries:
        return _("This password is among the most common ones. Choose another.")
    return _("This password is too easy to guess. A few unrelated words make a good one.")


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
