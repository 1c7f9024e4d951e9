"""What the browser tests measure pages against."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by scripts/ensure-chromium
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 360, "height": 740}  # a cheap phone
SCREENSHOTS = ROOT / "artifacts" / "screenshots"  # git-ignored; CI keeps it as an artifact
README_SCREENSHOTS = ROOT / "docs" / "screenshots"
# Each page, before product photos: HTML + CSS + any script, as transferred (compressed, with headers).
BUDGET_BYTES = 60 * 1024
COUNTED_TYPES = {"document", "stylesheet", "script", "font", "xhr", "fetch", "other"}
