"""Which language a page is drawn in: Chinese unless the reader chose English (?lang= or the cookie)."""
from flask import request

DEFAULT_LOCALE = "zh"  # Babel names zh_CN "zh_Hans_CN", which gettext would not find under zh_CN/
# locale -> (the html lang attribute, the language's own name for the switch)
LANGUAGES = {"zh": ("zh-CN", "中文"), "en": ("en", "English")}
COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def chosen_locale(value: str | None) -> str | None:
    """A known locale from a query value or cookie ("zh", "zh-CN" and "zh_CN" all mean Chinese)."""
    if not value:
        return None
    value = value.strip().replace("-", "_")
    if value.lower().startswith("zh"):
        return "zh"
    return value if value in LANGUAGES else None


def select_locale() -> str:
    return chosen_locale(request.args.get("lang")) or chosen_locale(request.cookies.get(COOKIE)) or DEFAULT_LOCALE


def html_lang(locale) -> str:
    return LANGUAGES.get(str(locale), LANGUAGES[DEFAULT_LOCALE])[0]
