"""The image pipeline: verify an upload, strip its metadata, re-encode a display copy and a thumbnail.

Uploads come from cheap phones: JPEG, PNG, WebP and (with pillow-heif) HEIC. The stored copies
carry no EXIF (it holds the farmer's GPS position), are at most 1600 px wide and about 200 KB,
with a 400 px thumbnail.
"""
import io
import math
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, UnidentifiedImageError

from marketplace.catalog.errors import CatalogErrorCode
from marketplace.errors import InvalidInput

try:  # HEIC support is optional: the pillow-heif wheel bundles libheif.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "HEIF"}
except ImportError:  # pragma: no cover - depends on the installed wheels
    ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# The default of IMAGE_MAX_PIXELS: a 24-megapixel (6000×4000) photo passes, and so does what a
# phone camera saves by default (12 MP; a 48 MP sensor bins to 12 MP). Each accepted pixel costs
# decoding time and, for formats decoded whole (PNG, WebP, HEIC), up to 4 bytes of memory.
MAX_PIXELS = 24_000_000
# Pillow decodes a WebP through four full-size RGBA buffers (libwebp's canvas, the frame, its bytes,
# the picture) where other formats need one or two, so a WebP (never what a phone camera writes)
# may have a quarter of the pixels: 6 MP by default, far more than the display copy needs.
WEBP_DECODING_COPIES = 4
DISPLAY_WIDTH = 1600
THUMBNAIL_WIDTH = 400
DISPLAY_MAX_BYTES = 200 * 1024
QUALITY_STEPS = (85, 78, 70, 62, 55, 48, 40, 32, 25)
# Busy pictures (gravel, leaves, sensor noise) exceed the budget at any sane quality: shrink them.
SHRINK_FACTOR = 0.8
# Output rows converted and resampled at a time: a band of a 24 MP picture is a few MB.
BAND_ROWS = 128
REDUCING_GAP = 2.0  # Image.thumbnail's
BICUBIC_SUPPORT = 2  # source pixels the bicubic filter reads on each side, per output pixel's width
GREY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "F"}
# EXIF orientations (1 is upright) and the transposition that makes the picture upright; 5 to 8
# turn it a quarter, so the stored height becomes the display width.
TRANSPOSITIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                  5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                  8: Image.Transpose.ROTATE_90}
QUARTER_TURNS = {5, 6, 7, 8}


class ImageRejected(InvalidInput):
    code = CatalogErrorCode.IMAGE_REJECTED


@dataclass
class ProcessedImage:
    display: bytes
    thumbnail: bytes
    width: int
    height: int


def _open_verified(content: bytes, max_pixels: int) -> Image.Image:
    """The upload opened and checked from its header alone: format, pixel count (before a single
    pixel is decoded), then the file's structure. Nothing is decoded yet."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(content))
            if probe.format not in ACCEPTED_FORMATS:
                raise ImageRejected(f"{probe.format} images are not accepted; send JPEG, PNG, WebP or HEIC.",
                                    code=CatalogErrorCode.UNSUPPORTED_IMAGE_TYPE)
            allowed = max_pixels // WEBP_DECODING_COPIES if probe.format == "WEBP" else max_pixels
            if probe.width * probe.height > allowed:
                raise ImageRejected(f"The image has {probe.width}×{probe.height} pixels; at most {allowed:,} are accepted.",
                                    code=CatalogErrorCode.IMAGE_TOO_MANY_PIXELS)
            probe.verify()
            return Image.open(io.BytesIO(content))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ImageRejected("The image has too many pixels.", code=CatalogErrorCode.IMAGE_TOO_MANY_PIXELS) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise _not_readable() from None


def _not_readable() -> ImageRejected:
    return ImageRejected("The file is not a readable image; send a JPEG, PNG, WebP or HEIC photo.",
                         code=CatalogErrorCode.NOT_AN_IMAGE)


def _display_copy(image: Image.Image) -> Image.Image:
    """The picture upright, on white, in RGB, at most DISPLAY_WIDTH wide.

    The stored copies are small, so the upload is decoded at the smallest size the format offers
    that still fills the display width (a JPEG at 1/2, 1/4 or 1/8 of its size; a HEIC's embedded
    thumbnail if one is large enough), and the decoded picture is flattened and shrunk a band of
    rows at a time: no second full-size copy is ever made."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        turned = orientation in QUARTER_TURNS  # the stored height becomes the display width
        image.draft(image.mode, (1, DISPLAY_WIDTH) if turned else (DISPLAY_WIDTH, 1))
        image.load()
        width = image.height if turned else image.width
        size = image.size if width <= DISPLAY_WIDTH else (
            max(1, round(image.width * DISPLAY_WIDTH / width)), max(1, round(image.height * DISPLAY_WIDTH / width)))
        shrunk = _flattened_and_resized(image, size)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _not_readable() from None
    transpose = TRANSPOSITIONS.get(orientation)
    return shrunk.transpose(transpose) if transpose is not None else shrunk


def _flattened_and_resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` on white in RGB, resized to ``size`` as Image.thumbnail does (bicubic, after an
    integer box reduction that leaves at least twice the size), a band of rows at a time.

    Each band of output rows is resampled from its source rows plus the filter's reach on both
    sides (the pixels a whole-picture resize reads), so the seams do not show; only a band is ever
    converted (to one channel for a grey picture)."""
    if image.mode == "RGB" and size == image.size:
        return image
    width, height = image.size
    grey = image.mode in GREY_MODES and not image.has_transparency_data
    out = Image.new("L" if grey else "RGB", size)
    step = height / size[1]  # source rows per output row
    reach = 0 if size == image.size else math.ceil(BICUBIC_SUPPORT * max(step, 1.0)) + 1
    for out_top in range(0, size[1], BAND_ROWS):
        out_bottom = min(out_top + BAND_ROWS, size[1])
        top, bottom = out_top * step, out_bottom * step
        src_top = max(0, math.floor(top) - reach)
        band = _on_white(image.crop((0, src_top, width, min(height, math.ceil(bottom) + reach))), grey)
        if size != image.size:
            band = band.resize((size[0], out_bottom - out_top), Image.Resampling.BICUBIC,
                               box=(0, top - src_top, width, bottom - src_top), reducing_gap=REDUCING_GAP)
        out.paste(band, (0, out_top))
    return out.convert("RGB")


def _on_white(image: Image.Image, grey: bool) -> Image.Image:
    """The pixels alone, without transparency (onto white) or any metadata block."""
    if image.has_transparency_data:
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("L" if grey else "RGB")


def _fit_width(image: Image.Image, width: int) -> Image.Image:
    if image.width <= width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _encoded(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


def _jpeg_within(image: Image.Image, max_bytes: int) -> bytes:
    """The best of QUALITY_STEPS that fits ``max_bytes``, else the lowest: found with at most five
    encodings (the highest, the lowest, then halving between them) where trying each in turn took
    up to nine. A smaller quality never makes a larger file, so the answer is the same."""
    best = _encoded(image, QUALITY_STEPS[0])
    if len(best) <= max_bytes:
        return best
    lowest = _encoded(image, QUALITY_STEPS[-1])
    if len(lowest) > max_bytes:
        return lowest
    fits, too_big = len(QUALITY_STEPS) - 1, 0  # indexes into QUALITY_STEPS, best quality first
    best = lowest
    while fits - too_big > 1:
        middle = (fits + too_big) // 2
        candidate = _encoded(image, QUALITY_STEPS[middle])
        if len(candidate) <= max_bytes:
            fits, best = middle, candidate
        else:
            too_big = middle
    return best


def process_upload(content: bytes, max_pixels: int = MAX_PIXELS) -> ProcessedImage:
    """Check and re-encode one uploaded photo; raises ImageRejected with a specific code.

    A picture of more than ``max_pixels`` is refused from its header, before it is decoded."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise ImageRejected(f"The photo is {len(content) / 1048576:.1f} MB; at most 10 MB is accepted.",
                            code=CatalogErrorCode.IMAGE_TOO_LARGE)
    if not content:
        raise ImageRejected("The file is empty.", code=CatalogErrorCode.NOT_AN_IMAGE)
    image = _display_copy(_open_verified(content, max_pixels))
    display = image
    display_jpeg = _jpeg_within(display, DISPLAY_MAX_BYTES)
    while len(display_jpeg) > DISPLAY_MAX_BYTES and display.width > THUMBNAIL_WIDTH:
        display = _fit_width(image, int(display.width * SHRINK_FACTOR))
        display_jpeg = _encoded(display, QUALITY_STEPS[-1])
    return ProcessedImage(
        display=display_jpeg,
        thumbnail=_encoded(_fit_width(image, THUMBNAIL_WIDTH), QUALITY_STEPS[0]),
        width=display.width,
        height=display.height,
    )
