"""The password rule, one function for every way a password is set (admin form, profile,
`flask create-user`): long enough, and not guessable by zxcvbn's estimate."""
from __future__ import annotations

import re

from zxcvbn import zxcvbn

from aeplan.errors import Invalid

MIN_LENGTH = 12
MAX_LENGTH = 200
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", about 10^8 guesses and more
# zxcvbn refuses longer input (its matching grows fast with length), so a password is
# judged by its first 72 characters.
_ESTIMATED_LENGTH = 72


def require_good_password(password: str | None, *, email: str = "", name: str = "",
                   field: str = "password") -> None:
    """Raise Invalid, naming `field`, unless `password` may be used by this person.

    The email and name (and their parts) count as known words: "alex.becker2026" is weak
    for Alex Becker even if zxcvbn would rate it well for anyone else."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        raise Invalid(f"The password needs at least {MIN_LENGTH} characters.", field=field)
    if len(password) > MAX_LENGTH:
        raise Invalid(f"The password can have at most {MAX_LENGTH} characters.", field=field)
    result = zxcvbn(password[:_ESTIMATED_LENGTH], user_inputs=_personal_words(email, name))
    if result["score"] < MIN_SCORE:
        warning = result["feedback"]["warning"]
        if any(m.get("dictionary_name") == "user_inputs" for m in result["sequence"]):
            warning = "It is built from your name or email."
        # zxcvbn's warnings are sentences ("This is a very common password."): say why.
        reason = f": {warning[0].lower()}{warning[1:].rstrip('.')}" if warning else ""
        raise Invalid(f"This password is too easy to guess{reason}. Try a few unrelated "
                      "words, or a longer passphrase.", field=field)


def _personal_words(email: str, name: str) -> list[str]:
    words = {email.strip().lower(), name.strip().lower()}
    words.update(re.split(r"[^\w]+", f"{email} {name}".lower()))
    return sorted(w for w in words if len(w) >= 3)
