"""Which new passwords are refused: common ones, one character repeated, and the account's own phone number."""
import re
import unicodedata
from pathlib import Path

from marketplace.accounts.errors import AccountErrorCode


def _load_common_passwords() -> frozenset[str]:
    lines = (Path(__file__).with_name("common_passwords.txt").read_text(encoding="utf-8")).splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


# Read once, at import: a few hundred entries, a set lookup per password set.
COMMON_PASSWORDS = _load_common_passwords()
# What people put between the digits of a phone number, and the country code they may put before it.
_PHONE_PUNCTUATION = re.compile(r"[\s\-.()]")
_COUNTRY_CODE = re.compile(r"^(?:\+|00)?86(?=\d{11}$)")


def _as_phone_number(password: str) -> str:
    return _COUNTRY_CODE.sub("", _PHONE_PUNCTUATION.sub("", password))


def refusal(password: str, phone: str | None) -> AccountErrorCode | None:
    """Why ``password`` may not be used by the account with ``phone`` (None: it may).

    Compared as typed after NFKC normalisation (full-width letters and digits count as their
    plain forms), ignoring case and surrounding spaces."""
    plain = unicodedata.normalize("NFKC", password).strip()
    if phone and _as_phone_number(plain) == phone:
        return AccountErrorCode.PASSWORD_IS_PHONE
    if len(set(plain)) <= 1 or plain.casefold() in COMMON_PASSWORDS:
        return AccountErrorCode.PASSWORD_TOO_COMMON
    return None
