"""The image pipeline: verify an upload, strip its metadata, re-encode a display copy and a thumbnail.

Uploads come from cheap phones: JPEG, PNG, WebP and (with pillow-heif) HEIC. The stored copies
carry no EXIF (it holds the farmer's GPS position), are at most 1600 px wide and about 200 KB,
with a 400 px thumbnail.
"""
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from marketplace.catalog.errors import CatalogErrorCode
from marketplace.errors import InvalidInput

try:  # HEIC support is optional: the pillow-heif wheel bundles libheif.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "HEIF"}
except ImportError:  # pragma: no cover - depends on the installed wheels
    ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 50_000_000  # a 48-megapixel phone photo passes; decompression bombs do not
DISPLAY_WIDTH = 1600
THUMBNAIL_WIDTH = 400
DISPLAY_MAX_BYTES = 200 * 1024
QUALITY_STEPS = (85, 78, 70, 62, 55, 48, 40, 32, 25)
# Busy pictures (gravel, leaves, sensor noise) exceed the budget at any sane quality: shrink them.
SHRINK_FACTOR = 0.8


class ImageRejected(InvalidInput):
    code = CatalogErrorCode.IMAGE_REJECTED


@dataclass
class ProcessedImage:
    display: bytes
    thumbnail: bytes
    width: int
    height: int


def _open_verified(content: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(content))
            if probe.format not in ACCEPTED_FORMATS:
                raise ImageRejected(f"{probe.format} images are not accepted; send JPEG, PNG, WebP or HEIC.",
                                    code=CatalogErrorCode.UNSUPPORTED_IMAGE_TYPE)
            if probe.width * probe.height > MAX_PIXELS:
                raise ImageRejected(f"The image has {probe.width}×{probe.height} pixels; at most {MAX_PIXELS:,} are accepted.",
                                    code=CatalogErrorCode.IMAGE_TOO_MANY_PIXELS)
            probe.verify()
            image = Image.open(io.BytesIO(content))
            image.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ImageRejected("The image has too many pixels.", code=CatalogErrorCode.IMAGE_TOO_MANY_PIXELS) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ImageRejected("The file is not a readable image; send a JPEG, PNG, WebP or HEIC photo.",
                                code=CatalogErrorCode.NOT_AN_IMAGE) from None
    return image


def _flatten(image: Image.Image) -> Image.Image:
    """Apply the EXIF rotation, then drop every metadata block by copying pixels into RGB."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _fit_width(image: Image.Image, width: int) -> Image.Image:
    if image.width <= width:
        return image
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _jpeg(image: Image.Image, max_bytes: int | None, qualities=QUALITY_STEPS) -> bytes:
    for quality in qualities:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
        if max_bytes is None or buffer.tell() <= max_bytes:
            break
    return buffer.getvalue()


def process_upload(content: bytes) -> ProcessedImage:
    """Check and re-encode one uploaded photo; raises ImageRejected with a specific code."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise ImageRejected(f"The photo is {len(content) / 1048576:.1f} MB; at most 10 MB is accepted.",
                            code=CatalogErrorCode.IMAGE_TOO_LARGE)
    if not content:
        raise ImageRejected("The file is empty.", code=CatalogErrorCode.NOT_AN_IMAGE)
    image = _flatten(_open_verified(content))
    display = _fit_width(image, DISPLAY_WIDTH)
    display_jpeg = _jpeg(display, DISPLAY_MAX_BYTES)
    while len(display_jpeg) > DISPLAY_MAX_BYTES and display.width > THUMBNAIL_WIDTH:
        display = _fit_width(image, int(display.width * SHRINK_FACTOR))
        display_jpeg = _jpeg(display, DISPLAY_MAX_BYTES, QUALITY_STEPS[-1:])
    return ProcessedImage(
        display=display_jpeg,
        thumbnail=_jpeg(_fit_width(image, THUMBNAIL_WIDTH), None),
        width=display.width,
        height=display.height,
    )
