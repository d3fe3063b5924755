"""Images as real cameras, phones and editors write them, generated with Pillow on the fly.

Each generator returns the file's bytes. Where Pillow cannot write a variant directly (YCCK,
16-bit colour and interlaced PNG) the file is assembled from Pillow's output or by hand,
chunk by chunk, so no binary fixture is needed.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

__all__ = [
    "ACCEPTED_IMAGES",
    "MARKED_SIZE",
    "ORIENTATION_TAG",
    "REFUSED_IMAGES",
    "CameraImage",
    "RefusedImage",
    "jpeg_with_orientation",
    "marked_image",
]

ORIENTATION_TAG = 0x0112
MAKER_NOTE_TAG = 0x927C
# Wider than tall, with a red left half and a blue right half, so a test can tell how the
# thumbnail was turned.
MARKED_SIZE = (96, 48)
RED = (220, 20, 20)
BLUE = (20, 20, 220)


def marked_image(mode: str = "RGB") -> Image.Image:
    """A 96x48 image, red on the left and blue on the right."""
    image = Image.new("RGB", MARKED_SIZE, RED)
    image.paste(BLUE, (MARKED_SIZE[0] // 2, 0, MARKED_SIZE[0], MARKED_SIZE[1]))
    return image.convert(mode)


def _saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def jpeg_with_orientation(orientation: int) -> bytes:
    """The marked image as a JPEG whose EXIF says how to turn it (1..8)."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    return _saved(marked_image(), "JPEG", exif=exif, quality=95)


def cmyk_jpeg() -> bytes:
    """A CMYK JPEG (Adobe marker, as print workflows write them)."""
    return _saved(marked_image("CMYK"), "JPEG", quality=95)


def ycck_jpeg() -> bytes:
    """A YCCK JPEG: Pillow's CMYK JPEG with an Adobe marker whose transform flag says YCCK.

    Pillow writes CMYK without an Adobe marker; Photoshop writes YCCK with one (transform 2),
    and decoders take the colour transform from it.
    """
    plain = cmyk_jpeg()
    payload = b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 2)
    segment = b"\xff\xee" + struct.pack(">H", len(payload) + 2) + payload
    return plain[:2] + segment + plain[2:]


def progressive_jpeg() -> bytes:
    """A progressive JPEG, as most web export tools write."""
    return _saved(marked_image(), "JPEG", progressive=True, optimize=True, quality=90)


def grayscale_jpeg() -> bytes:
    """A one-channel JPEG."""
    return _saved(marked_image("L"), "JPEG")


def jpeg_with_large_icc_profile() -> bytes:
    """A JPEG carrying a 1 MiB ICC profile, split over many APP2 markers as the format requires."""
    return _saved(marked_image(), "JPEG", icc_profile=b"\x00" * (1024 * 1024))


def jpeg_with_huge_exif() -> bytes:
    """A JPEG whose EXIF block fills its APP1 segment: a 60 KiB maker note, as some phones write."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    exif[MAKER_NOTE_TAG] = b"\x5a" * (60 * 1024)
    return _saved(marked_image(), "JPEG", exif=exif)


def jpeg_with_corrupt_exif() -> bytes:
    """A JPEG whose EXIF segment says "Exif" but holds garbage instead of a TIFF structure."""
    plain = _saved(marked_image(), "JPEG")
    payload = b"Exif\x00\x00" + b"MM\x00\x2a\xff\xff\xff\xf0" + b"\xee" * 64
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return plain[:2] + segment + plain[2:]


def jpeg_with_orientation_out_of_range() -> bytes:
    """A JPEG whose EXIF orientation is 9, which no camera writes and the standard does not define."""
    return jpeg_with_orientation(9)


def mpo() -> bytes:
    """A multi-picture (MPO) file, as stereo and some phone cameras write: two JPEG frames."""
    first, second = marked_image(), marked_image().transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _saved(first, "MPO", save_all=True, append_images=[second])


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png(
    width: int, height: int, *, bit_depth: int, color_type: int, raw: bytes, interlace: int = 0
) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def _rgb16_pixel(x: int, width: int) -> bytes:
    # Red on the left half, blue on the right, each 8-bit value widened to 16 bits.
    red, green, blue = RED if x < width // 2 else BLUE
    return struct.pack(">HHH", red * 257, green * 257, blue * 257)


def png_rgb_16_bit() -> bytes:
    """A 48-bit (16 bits per channel) RGB PNG, as raw converters export."""
    width, height = MARKED_SIZE
    row = b"".join(_rgb16_pixel(x, width) for x in range(width))
    return _png(width, height, bit_depth=16, color_type=2, raw=(b"\x00" + row) * height)


def png_rgba_16_bit() -> bytes:
    """A 64-bit RGBA PNG, half transparent."""
    width, height = MARKED_SIZE
    row = b"".join(_rgb16_pixel(x, width) + struct.pack(">H", 0x8000) for x in range(width))
    return _png(width, height, bit_depth=16, color_type=6, raw=(b"\x00" + row) * height)


def png_gray_16_bit() -> bytes:
    """A 16-bit greyscale PNG, a dark-to-bright ramp (Pillow mode I;16)."""
    image = Image.new("I;16", MARKED_SIZE)
    image.putdata(
        [x * 65535 // (MARKED_SIZE[0] - 1) for _y in range(MARKED_SIZE[1]) for x in range(MARKED_SIZE[0])]
    )
    return _saved(image, "PNG")


def png_interlaced() -> bytes:
    """An Adam7-interlaced 8-bit RGB PNG, assembled pass by pass."""
    image = marked_image()
    width, height = image.size
    pixels = image.tobytes()
    passes = (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    )
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        for y in range(y0, height, dy):
            row = b"".join(
                pixels[(y * width + x) * 3 : (y * width + x) * 3 + 3] for x in range(x0, width, dx)
            )
            if row:
                raw += b"\x00" + row
    return _png(width, height, bit_depth=8, color_type=2, raw=bytes(raw), interlace=1)


def png_palette_with_transparency() -> bytes:
    """A palette PNG whose first colour is fully transparent (one tRNS entry)."""
    image = marked_image().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return _saved(image, "PNG", transparency=0)


def png_palette_with_alpha_table() -> bytes:
    """A palette PNG with a tRNS alpha value per palette entry, as optimisers write."""
    image = marked_image().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    return _saved(image, "PNG", transparency=bytes([0, 128, 255, 64]))


def png_grayscale_alpha() -> bytes:
    """A greyscale PNG with an alpha channel (mode LA)."""
    image = marked_image("L")
    image.putalpha(128)
    return _saved(image, "PNG")


def png_one_bit() -> bytes:
    """A 1-bit black and white PNG."""
    return _saved(marked_image("1"), "PNG")


def apng() -> bytes:
    """An animated PNG of three frames."""
    frames = [marked_image(), marked_image().rotate(180), marked_image()]
    return _saved(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated_webp() -> bytes:
    """An animated WebP of three frames."""
    frames = [marked_image(), marked_image().rotate(180), marked_image()]
    return _saved(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)


def lossless_webp() -> bytes:
    """A lossless WebP with alpha."""
    return _saved(marked_image("RGBA"), "WEBP", lossless=True)


def webp_with_orientation() -> bytes:
    """A WebP whose EXIF chunk says to rotate it 90 degrees clockwise (orientation 6)."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    return _saved(marked_image(), "WEBP", exif=exif)


def png_with_huge_exif() -> bytes:
    """A PNG with a 2 MiB eXIf chunk (PNG, unlike JPEG, puts no bound on it)."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 3
    exif[MAKER_NOTE_TAG] = b"\x5a" * (2 * 1024 * 1024)
    return _saved(marked_image(), "PNG", exif=exif)


def truncated(data: bytes) -> bytes:
    """The first half of a file, as an interrupted transfer leaves it."""
    return data[: len(data) // 2]


# The name an image is uploaded under, unless it has one of its own.
_PLAIN_NAMES = {"image/jpeg": "photo.jpg", "image/png": "photo.png", "image/webp": "photo.webp"}


@dataclass(frozen=True)
class CameraImage:
    """An image an upload must accept: its bytes, the type it is stored as, and how it is named."""

    make: Callable[[], bytes]
    content_type: str
    # Displayed width > height after EXIF orientation: tells whether the thumbnail was turned.
    upright_is_landscape: bool = True
    # A name of its own (another extension, or one that lies), else the plain name of its type.
    named: str | None = None

    @property
    def filename(self) -> str:
        """The file name it is uploaded under."""
        return self.named or _PLAIN_NAMES[self.content_type]


@dataclass(frozen=True)
class RefusedImage:
    """A file an upload must refuse, with the status and problem type it must get."""

    make: Callable[[], bytes]
    status: int
    slug: str
    filename: str = "photo.jpg"


ACCEPTED_IMAGES: dict[str, CameraImage] = {
    **{
        f"jpeg-orientation-{orientation}": CameraImage(
            lambda orientation=orientation: jpeg_with_orientation(orientation),  # type: ignore[misc]
            "image/jpeg",
            upright_is_landscape=orientation < 5,
        )
        for orientation in range(1, 9)
    },
    "jpeg-orientation-out-of-range": CameraImage(jpeg_with_orientation_out_of_range, "image/jpeg"),
    "jpeg-cmyk": CameraImage(cmyk_jpeg, "image/jpeg"),
    "jpeg-ycck": CameraImage(ycck_jpeg, "image/jpeg"),
    "jpeg-progressive": CameraImage(progressive_jpeg, "image/jpeg"),
    "jpeg-grayscale": CameraImage(grayscale_jpeg, "image/jpeg"),
    "jpeg-large-icc-profile": CameraImage(jpeg_with_large_icc_profile, "image/jpeg"),
    "jpeg-huge-exif": CameraImage(jpeg_with_huge_exif, "image/jpeg", upright_is_landscape=False),
    "jpeg-corrupt-exif": CameraImage(jpeg_with_corrupt_exif, "image/jpeg"),
    "mpo": CameraImage(mpo, "image/jpeg", named="stereo.mpo"),
    "png-rgb-16-bit": CameraImage(png_rgb_16_bit, "image/png"),
    "png-rgba-16-bit": CameraImage(png_rgba_16_bit, "image/png"),
    "png-gray-16-bit": CameraImage(png_gray_16_bit, "image/png"),
    "png-interlaced": CameraImage(png_interlaced, "image/png"),
    "png-palette-transparency": CameraImage(png_palette_with_transparency, "image/png"),
    "png-palette-alpha-table": CameraImage(png_palette_with_alpha_table, "image/png"),
    "png-grayscale-alpha": CameraImage(png_grayscale_alpha, "image/png"),
    "png-1-bit": CameraImage(png_one_bit, "image/png"),
    "png-huge-exif": CameraImage(png_with_huge_exif, "image/png"),
    "apng": CameraImage(apng, "image/png", named="animation.png"),
    "webp-animated": CameraImage(animated_webp, "image/webp", named="animation.webp"),
    "webp-lossless": CameraImage(lossless_webp, "image/webp"),
    "webp-orientation-6": CameraImage(webp_with_orientation, "image/webp", upright_is_landscape=False),
    # The name lies: the content decides.
    "png-named-jpeg": CameraImage(png_one_bit, "image/png", named="photo.jpg"),
    "jpeg-named-png": CameraImage(progressive_jpeg, "image/jpeg", named="photo.png"),
}


def _gif() -> bytes:
    return _saved(marked_image("P"), "GIF")


def _bmp() -> bytes:
    return _saved(marked_image(), "BMP")


def _tiff() -> bytes:
    return _saved(marked_image(), "TIFF")


def _svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


def _jpeg_header_only() -> bytes:
    return progressive_jpeg()[:200]


REFUSED_IMAGES: dict[str, RefusedImage] = {
    "gif-named-jpeg": RefusedImage(_gif, 415, "unsupported-media-type"),
    "bmp-named-jpeg": RefusedImage(_bmp, 415, "unsupported-media-type"),
    "tiff-named-jpeg": RefusedImage(_tiff, 415, "unsupported-media-type"),
    "svg-named-png": RefusedImage(_svg, 415, "unsupported-media-type", filename="photo.png"),
    "text-named-jpeg": RefusedImage(lambda: b"not an image at all\n" * 10, 415, "unsupported-media-type"),
    "jpeg-truncated": RefusedImage(lambda: truncated(progressive_jpeg()), 422, "invalid-image"),
    "jpeg-headers-only": RefusedImage(_jpeg_header_only, 422, "invalid-image"),
    "jpeg-baseline-truncated": RefusedImage(
        lambda: truncated(jpeg_with_orientation(1)), 422, "invalid-image"
    ),
    "png-truncated": RefusedImage(
        lambda: truncated(png_interlaced()), 422, "invalid-image", filename="photo.png"
    ),
    "png-16-bit-truncated": RefusedImage(
        lambda: truncated(png_rgb_16_bit()), 422, "invalid-image", filename="photo.png"
    ),
    "webp-truncated": RefusedImage(
        lambda: truncated(lossless_webp()), 422, "invalid-image", filename="a.webp"
    ),
    "webp-animated-truncated": RefusedImage(
        lambda: truncated(animated_webp()), 422, "invalid-image", filename="a.webp"
    ),
    "mpo-truncated": RefusedImage(lambda: truncated(mpo()), 422, "invalid-image"),
}
