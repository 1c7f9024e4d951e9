"""Upload bodies for the image tests: real photos in every accepted format, and the hostile ones."""
import io
import os
import struct
import zlib

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Tags of the EXIF block a phone writes: maker, orientation, and the GPS sub-directory.
EXIF_MAKE, EXIF_ORIENTATION, EXIF_GPS_IFD = 0x010F, 0x0112, 0x8825
# Latitude/longitude of a farm near Aksu: what must never leave the seller's phone.
FARM_GPS = {1: "N", 2: (41.0, 10.0, 12.5), 3: "E", 4: (80.0, 15.0, 30.25)}


def encoded(image: Image.Image, image_format: str, **save_options) -> bytes:
    """The image saved in a format (JPEG, PNG, WEBP, GIF, HEIF)."""
    if image_format == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
    buffer = io.BytesIO()
    image.save(buffer, image_format, **save_options)
    return buffer.getvalue()


def photo(width: int = 640, height: int = 480, mode: str = "RGB") -> Image.Image:
    """A smooth, photo-like picture (a gradient): compresses the way real produce photos do."""
    gradient = Image.linear_gradient("L").resize((width, height))
    if mode == "L":
        return gradient
    return Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), Image.new("L", (width, height), 90)))


def noise(width: int, height: int, grain: int = 1) -> Image.Image:
    """Random pixels (in grain×grain blocks): the hardest thing to compress."""
    cols, rows = width // grain, height // grain
    image = Image.frombytes("RGB", (cols, rows), os.urandom(cols * rows * 3))
    return image if grain == 1 else image.resize((width, height), Image.Resampling.NEAREST)


def jpeg(width: int = 640, height: int = 480, **save_options) -> bytes:
    return encoded(photo(width, height), "JPEG", quality=85, **save_options)


def jpeg_with_gps(width: int = 640, height: int = 480, orientation: int = 1) -> bytes:
    """A phone photo whose EXIF names the camera, the orientation and where it was taken."""
    exif = Image.Exif()
    exif[EXIF_MAKE] = "Xiaomi"
    exif[EXIF_ORIENTATION] = orientation
    exif[EXIF_GPS_IFD] = FARM_GPS
    return encoded(photo(width, height), "JPEG", quality=85, exif=exif)


def png_with_transparency(width: int = 300, height: int = 200) -> bytes:
    """Left half fully transparent, right half opaque red."""
    image = Image.new("RGBA", (width, height), (255, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    return encoded(image, "PNG")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width×height pixels: signature, IHDR, a tiny IDAT and IEND, and no pixel data.

    Lets a test send a 20,000×20,000 "image" without allocating 400 megapixels.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 4)) + chunk(b"IEND", b"")


def pdf() -> bytes:
    """A small, valid-looking PDF (what a seller sends when they pick the wrong file)."""
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def padded(content: bytes, total_bytes: int) -> bytes:
    """A real JPEG followed by junk up to total_bytes (decoders stop at the end-of-image marker)."""
    return content + b"\x00" * (total_bytes - len(content))
