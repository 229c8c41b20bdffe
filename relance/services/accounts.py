"""People's accounts: checking a login in constant time, the rule for a new password, changing one's password,
ending every session of a person.

- `check_login(user, password)`: the password checked against the user's hash or, for an unknown email (or an
  account without password), against a dummy hash of the same method, so both answers take the same time and
  the login page does not tell which emails have an account.
- `password_problem(password, email)`: the rule for a new password. At least MIN_LENGTH (12) characters, spaces
  count (a passphrase of a few words is the easy way there) and no composition rules; not the email; not in the
  list of common passwords shipped with the app (relance/data/common-passwords.txt, ignoring case, spaces and
  the usual letter-for-symbol swaps), nor made of three characters or fewer repeated.
- `change_password(user, current, new)`: the person's own change (the current password is required).
- `end_sessions(user)`: a new session version (models.User.get_id), so every session and remember-me cookie of
  that person stops working: logout, "log out everywhere else", a password changed or reset, a deactivation.
No commit here: the caller commits once.
"""

from __future__ import annotations

import secrets
from functools import cache
from importlib.resources import files

from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash

from relance.models.user import User, password_hash_method

MIN_LENGTH = 12
MAX_LENGTH = 200
_SWAPS = str.maketrans({"@": "a", "4": "a", "3": "e", "1": "i", "!": "i", "0": "o", "$": "s", "5": "s", "7": "t"})


class PasswordRefused(Exception):
    """`errors` maps a field ("current_password", "new_password") to its message."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def check_login(user: User | None, password: str) -> bool:
    """Is this the user's password? Takes the time of one hash of the configured method either way."""
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(password_hash_method()), password)
        return False
    return user.check_password(password)


@cache
def common_passwords() -> frozenset[str]:
    text = files("relance").joinpath("data", "common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


_TAIL = "0123456789!?.,;:*#@$%&+-_"


def _forms(password: str) -> set[str]:
    """The ways a password is compared with the list: lower case; without spaces; with @/3/0/$... read as letters,
    in the whole and in the part before a closing run of digits and signs ("p@ssw0rd1234" is "password1234")."""
    lower = password.strip().casefold()
    joined = "".join(lower.split())
    stem = joined.rstrip(_TAIL)
    return {lower, joined, joined.translate(_SWAPS), stem.translate(_SWAPS) + joined[len(stem):]}


def is_common(password: str) -> bool:
    """In the list (in any of its forms), a listed word followed by digits and signs only ("Soleil 2024 !"), or
    three different characters or fewer ("abababababab")."""
    listed = common_passwords()
    forms = _forms(password)
    joined = "".join(password.strip().casefold().split())
    stem = joined.rstrip(_TAIL)
    return (bool(forms & listed) or (stem != joined and stem.translate(_SWAPS) in listed)
            or any(len(set(form)) <= 3 for form in forms))


def password_problem(password: str, email: str = "") -> str | None:
    """Why this new password is refused (a translated message), or None when it is good."""
    if len(password) < MIN_LENGTH:
        return str(_l("Use at least %(n)d characters. A few words separated by spaces make a good password.",
                      n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        return str(_l("Use at most %(n)d characters.", n=MAX_LENGTH))
    email = (email or "").strip().casefold()
    if email and (password.strip().casefold() in (email, email.split("@")[0])):
        return str(_l("Do not use your email address as your password."))
    if is_common(password):
        return str(_l("This password is too common or too easy to guess: choose another one."))
    return None


def change_password(user: User, current: str, new: str) -> None:
    """The person's own change: the current password, then the rule; ends the other sessions (the caller logs
    this browser in again). Raises PasswordRefused with the fields' messages, changing nothing."""
    if not user.check_password(current):
        raise PasswordRefused({"current_password": str(_l("The current password is wrong."))})
    problem = password_problem(new, user.email)
    if problem is None and user.check_password(new):
        problem = str(_l("Choose a new password, different from the current one."))
    if problem:
        raise PasswordRefused({"new_password": problem})
    set_password(user, new)


def set_password(user: User, password: str) -> None:
    """A new password (the person's own, or one made by an admin): every session of the user ends."""
    user.set_password(password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """Every session and remember-me cookie of this user stops working at its next request."""
    user.session_version = (user.session_version or 0) + 1
