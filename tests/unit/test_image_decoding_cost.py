"""What the worst photo the pipeline accepts costs: CPU time and peak memory, measured in a process
of its own (resource.getrusage), so that nothing else this test run holds counts.

Each picture is the costliest of its kind that passes every check: as many pixels as allowed
(IMAGE_MAX_PIXELS; a WebP a quarter of it), made to be cheap to send and dear to decode. Before the
limit was lowered and the pipeline decoded at reduced size, the 50 MP one-colour 1-bit PNG of the
hardening report cost 1.3 s of CPU and 245 MB here, the RGBA one 2.6 s and 430 MB.
"""
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from marketplace.catalog import images
from marketplace.config import TestConfig
from tests import image_files

PROJECT = Path(__file__).resolve().parent.parent.parent
MAX_PIXELS = TestConfig.IMAGE_MAX_PIXELS

# Runs in the child: process one upload, report its CPU seconds (resource.getrusage: user and
# system, every thread) and how far it raised the peak resident memory above what the interpreter,
# Pillow and the file already held. The peak is the kernel's VmHWM: getrusage's ru_maxrss keeps the
# peak of the process that started the child (this test run, hundreds of MB) across the exec.
MEASURE = """
import json, resource, sys
from marketplace.catalog.images import process_upload

def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

content = open(sys.argv[1], "rb").read()
peak_before, cpu_before = peak_mb(), cpu_seconds()
result = process_upload(content, int(sys.argv[2]))
print(json.dumps({"cpu_seconds": cpu_seconds() - cpu_before, "added_peak_mb": peak_mb() - peak_before,
                  "width": result.width, "display_bytes": len(result.display)}))
"""


def square_side(pixels: int) -> int:
    return math.isqrt(pixels)


def one_colour_bilevel_png(max_pixels: int) -> bytes:
    """The report's bomb: a one-colour 1-bit PNG of as many pixels as allowed (a few KB)."""
    side = square_side(max_pixels)
    return image_files.encoded(Image.new("1", (side, side), 1), "PNG", optimize=True)


def half_transparent_png(max_pixels: int) -> bytes:
    """RGBA, the widest pixels a PNG decodes to, and an alpha channel to flatten (about 100 KB)."""
    side = square_side(max_pixels)
    return image_files.encoded(Image.new("RGBA", (side, side), (10, 200, 30, 128)), "PNG")


def progressive_cmyk_jpeg(max_pixels: int) -> bytes:
    """A progressive JPEG holds every coefficient of the whole picture while it decodes (four
    channels for CMYK, none subsampled), and busy content makes the display copy hard to fit."""
    width = math.isqrt(max_pixels * 3 // 2)
    content = image_files.encoded(image_files.noise(width, max_pixels // width, grain=8).convert("CMYK"), "JPEG",
                                  quality=75, progressive=True)
    assert len(content) <= images.MAX_UPLOAD_BYTES
    return content


def lossless_webp(max_pixels: int) -> bytes:
    side = square_side(max_pixels // images.WEBP_DECODING_COPIES)
    return image_files.encoded(Image.new("RGBA", (side, side), (10, 200, 30, 128)), "WEBP", lossless=True)


def cost_of_processing(content: bytes, tmp_path: Path) -> dict:
    upload = tmp_path / "upload"
    upload.write_bytes(content)
    child = subprocess.run([sys.executable, "-c", MEASURE, str(upload), str(MAX_PIXELS)], cwd=PROJECT,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout.splitlines()[-1])


# Measured here at 24 MP: 0.25 s and 39 MB, 0.8 s and 121 MB, 0.75 s and 207 MB, 0.3 s and 95 MB.
# Memory barely varies from machine to machine; the CPU bounds leave room for a slower one.
@pytest.mark.parametrize("make_upload, max_cpu_seconds, max_added_mb", [
    (one_colour_bilevel_png, 0.8, 80),
    (half_transparent_png, 1.6, 160),
    (progressive_cmyk_jpeg, 1.6, 250),
    (lossless_webp, 0.8, 130),
], ids=["1_bit_png", "rgba_png", "progressive_cmyk_jpeg", "webp"])
def test_worst_allowed_photo_costs_bounded_time_and_memory(tmp_path, make_upload, max_cpu_seconds, max_added_mb):
    content = make_upload(MAX_PIXELS)
    with Image.open(io.BytesIO(content)) as header:
        assert header.width * header.height > 0.99 * MAX_PIXELS / (4 if header.format == "WEBP" else 1)

    cost = cost_of_processing(content, tmp_path)

    assert cost["width"] <= images.DISPLAY_WIDTH and cost["display_bytes"] <= images.DISPLAY_MAX_BYTES
    assert cost["cpu_seconds"] <= max_cpu_seconds, cost
    assert cost["added_peak_mb"] <= max_added_mb, cost

