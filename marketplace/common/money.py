"""Money typed by people: yuan as text, turned into integer fen without ever passing through a float."""
import re
import unicodedata

# Whole yuan, then at most two decimals: "12", "12.5", "12.50", "0.99".
YUAN_PATTERN = re.compile(r"(?P<yuan>\d{1,9})(?:\.(?P<fen>\d{1,2}))?")


def yuan_to_fen(text: str) -> int:
    """"12.5" and "12.50" are 1250 fen. Full-width digits and the Chinese full stop of a phone
    keyboard ("１２。５") are read as their plain forms, a leading ¥ and a trailing 元 are
    allowed. Anything else (letters, a minus sign, three decimals, thousands separators) raises
    ValueError; so does a price that is not positive."""
    plain = unicodedata.normalize("NFKC", text or "").strip().replace("。", ".")
    plain = plain.removeprefix("¥").removesuffix("元").strip()
    match = YUAN_PATTERN.fullmatch(plain)
    if match is None:
        raise ValueError(f"not an amount in yuan: {text!r}")
    fen = int(match["yuan"]) * 100 + int((match["fen"] or "0").ljust(2, "0"))
    if fen <= 0:
        raise ValueError("the amount must be more than zero")
    return fen
