"""Image inspection and thumbnails, by content, never by file name or declared type."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from snappy_plumbing.errors import ImageTooLarge, InvalidImage, UnsupportedMediaType

__all__ = ["ALLOWED_FORMATS", "ImageInfo", "inspect_image", "make_thumbnail"]

# Pillow format name -> the content type we store and serve.
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class ImageInfo:
    """What an uploaded image is."""

    content_type: str
    width: int
    height: int


def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Identify and fully decode `data`; raise 415 or 422 for anything we will not keep."""
    with warnings.catch_warnings():
        # We enforce our own, lower pixel limit before decoding anything.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
        except UnidentifiedImageError:
            raise UnsupportedMediaType("The file is not a JPEG, PNG or WebP image") from None
        except Image.DecompressionBombError:
            raise ImageTooLarge(f"The image has more than {max_pixels} pixels") from None
        except (OSError, ValueError, SyntaxError):
            raise InvalidImage("The image could not be decoded") from None
        with image:
            width, height = image.size
            # The header alone tells the size: refuse a bomb before decoding a pixel.
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"The image is {width}x{height}; at most {max_pixels} pixels are accepted"
                )
            if width < 1 or height < 1:
                raise InvalidImage("The image has no pixels")
            content_type = ALLOWED_FORMATS[str(image.format)]
            try:
                image.load()
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                raise InvalidImage("The image could not be decoded") from None
    return ImageInfo(content_type=content_type, width=width, height=height)


def make_thumbnail(data: bytes, size: int) -> bytes:
    """A JPEG at most `size` pixels on each side, upright per its EXIF orientation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as image:
            # JPEG can decode at reduced scale directly, which is much faster for large photos.
            image.draft("RGB", (size * 2, size * 2))
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((size, size), Image.Resampling.LANCZOS)
            if upright.mode in ("RGBA", "LA") or "transparency" in upright.info:
                # JPEG has no alpha: flatten onto white, as an image viewer would show it.
                rgba = upright.convert("RGBA")
                background = Image.new("RGB", rgba.size, (255, 255, 255))
                background.paste(rgba, mask=rgba.getchannel("A"))
                upright = background
            elif upright.mode != "RGB":
                upright = upright.convert("RGB")
            buffer = io.BytesIO()
            upright.save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()
