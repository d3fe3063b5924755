"""The field rules of the public contract for accounts (the monolith's rules, unchanged)."""

from __future__ import annotations

import re

from precis_i18n import get_profile

from snappy_plumbing.errors import FieldError
from snappy_plumbing.validation import is_storable_text, is_valid_username

__all__ = ["display_name_errors", "enforced_display_name", "is_valid_username", "new_user_errors"]

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256
DISPLAY_NAME_MAX_LENGTH = 64
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# Display names follow the PRECIS Nickname profile (RFC 8266), as enforced (case kept): no
# control, format, bidirectional, zero-width or other invisible characters, spaces mapped to
# U+0020, trimmed and collapsed, NFKC. What is stored and shown is the enforced form.
_NICKNAME = get_profile("NicknameCasePreserved")


def new_user_errors(username: str, password: str, display_name: str) -> list[FieldError]:
    """Every rule a sign-up breaks."""
    errors: list[FieldError] = []
    if not is_valid_username(username):
        errors.append(FieldError("username", "must be 3 to 32 characters of a-z, 0-9 and _"))
    if len(password) < PASSWORD_MIN_LENGTH:
        errors.append(FieldError("password", f"must be at least {PASSWORD_MIN_LENGTH} characters"))
    elif len(password) > PASSWORD_MAX_LENGTH:
        errors.append(FieldError("password", f"must be at most {PASSWORD_MAX_LENGTH} characters"))
    elif not is_storable_text(password):
        errors.append(FieldError("password", "must be valid Unicode text"))
    errors.extend(display_name_errors(display_name))
    return errors


def display_name_errors(display_name: str) -> list[FieldError]:
    """Every rule a display name breaks."""
    if not 1 <= len(display_name) <= DISPLAY_NAME_MAX_LENGTH:
        return [FieldError("display_name", f"must be 1 to {DISPLAY_NAME_MAX_LENGTH} characters")]
    if _CONTROL_CHARACTERS.search(display_name) or not is_storable_text(display_name):
        return [FieldError("display_name", "must not contain control characters")]
    try:
        enforced = _NICKNAME.enforce(display_name)
    except UnicodeEncodeError as refusal:
        if refusal.reason.endswith("/empty"):
            return [FieldError("display_name", "must not be blank")]
        character = refusal.object[refusal.start]
        return [
            FieldError(
                "display_name",
                f"must not contain U+{ord(character):04X}: no invisible, formatting, bidirectional"
                " or unassigned characters (PRECIS Nickname, RFC 8266)",
            )
        ]
    if len(enforced) > DISPLAY_NAME_MAX_LENGTH:
        return [FieldError("display_name", f"must be 1 to {DISPLAY_NAME_MAX_LENGTH} characters")]
    return []


def enforced_display_name(display_name: str) -> str:
    """The display name as stored and shown: PRECIS Nickname enforcement of a valid one."""
    return _NICKNAME.enforce(display_name)
