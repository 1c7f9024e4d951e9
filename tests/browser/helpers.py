"""What the browser tests measure pages against."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by scripts/ensure-chromium
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 360, "height": 740}  # a cheap phone
SCREENSHOTS = ROOT / "artifacts" / "screenshots"  # git-ignored; what a CI run keeps as its artifact
README_SCREENSHOTS = ROOT / "docs" / "screenshots"  # tracked: written only when the variable below is 1
REFRESH_README_SCREENSHOTS = "REFRESH_README_SCREENSHOTS"  # set to 1 by `make screenshots`
# Each page, before product photos: HTML + CSS + any script, as transferred (compressed, with headers).
BUDGET_BYTES = 60 * 1024
COUNTED_TYPES = {"document", "stylesheet", "script", "font", "xhr", "fetch", "other"}

MIN_TARGET_PX = 44  # the smallest tap target (WCAG 2.5.5)
MIN_TEXT_CONTRAST = 4.5  # WCAG AA for body text

# Every visible element that shows its own text: its colour and the first opaque background behind it.
TEXT_COLOURS_JS = """() => [...document.querySelectorAll('body *')].filter(e => {
    const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const box = e.getBoundingClientRect();
    return own && box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== 'hidden'
        && getComputedStyle(e).opacity !== '0';
}).map(e => {
    let back = e, bg = 'rgba(0, 0, 0, 0)';
    while (back && (bg = getComputedStyle(back).backgroundColor).endsWith(', 0)')) back = back.parentElement;
    return [e.tagName + (e.className ? '.' + e.className : '') + ' "' + e.textContent.trim().slice(0, 20) + '"',
            getComputedStyle(e).color, back ? bg : 'rgb(255, 255, 255)'];
})"""

# Every visible control a finger must hit, with its size (radio tiles count by their tile).
TARGETS_JS = """() => [...document.querySelectorAll('a, button, input, select, textarea, .tile span')].filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && box.right > 0 && getComputedStyle(e).opacity !== '0'
        && e.type !== 'hidden' && !(e.matches('a:not(.button)') && e.closest('p, li:not(.card), dd, td'));
}).map(e => [e.tagName + ' "' + (e.textContent || e.name || '').trim().slice(0, 20) + '"',
             e.getBoundingClientRect().width, e.getBoundingClientRect().height])"""


def _luminance(rgb: str) -> float:
    channels = [int(float(part)) / 255 for part in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def low_contrast_text(page) -> list:
    """Text on the page whose contrast with what is behind it is below 4.5:1."""
    measured = page.evaluate(TEXT_COLOURS_JS)
    assert len(measured) > 3, f"hardly any text found on {page.url}"
    return [(what, round(contrast(colour, back), 2)) for what, colour, back in measured
            if contrast(colour, back) < MIN_TEXT_CONTRAST]


def small_targets(page) -> list:
    """Controls shorter than 44 px (links inside running text aside)."""
    measured = page.evaluate(TARGETS_JS)
    assert measured, f"no controls found on {page.url}"
    return [(what, round(height)) for what, width, height in measured if height < MIN_TARGET_PX]


def overflows_with_double_text(page) -> int:
    """How far the page scrolls sideways at 360 px once the reader's text size is doubled."""
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def focus_ring_of_next_tab_stop(page) -> tuple[str, float]:
    """Press Tab and return the focused element's outline style and width in px."""
    page.keyboard.press("Tab")
    return tuple(page.evaluate("() => { const s = getComputedStyle(document.activeElement);"
                               " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"))


def choose_an_address_step_by_step(page) -> None:
    """On the checkout page, a new address in Wushi, its county chosen province -> prefecture ->
    county with the form's own buttons (as without script)."""
    page.check("input[name=delivery][value=address]")
    page.fill("#recipient", "李明")
    page.fill("#phone", "13800138000")
    page.select_option("#province", "650000")
    page.get_by_role("button", name=re.compile("下属市|cities")).click()
    page.select_option("#prefecture", "阿克苏地区")
    page.get_by_role("button", name=re.compile("下属县|counties")).click()
    page.select_option("#county", "652927")
    page.fill("#detail", "人民路 1 号")
