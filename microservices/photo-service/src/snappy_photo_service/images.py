"""Image inspection and thumbnails, by content, never by file name or declared type.

The rules, the same in every version of Snappy:

- JPEG, PNG and WebP are kept; any other content is 415, whatever its name or declared type.
  A multi-picture JPEG (MPO, as stereo and some phone cameras write) is a JPEG whose first
  picture every viewer shows: it is kept as image/jpeg. Animated PNG and WebP are kept; the
  thumbnail shows their first frame.
- Width x height over the pixel limit is 422 image-too-large, decided from the header
  before a pixel is decoded. Anything that does not fully decode (truncated, corrupt) is
  422 invalid-image.
- `width` and `height` are the picture as encoded. The thumbnail is upright: it applies the
  EXIF orientation (1-8), as browsers do when they show the original; an orientation that
  cannot be read, or is out of range, leaves the picture as encoded.
- The thumbnail is an 8-bit RGB JPEG: CMYK and YCCK are converted, 16-bit samples are
  scaled down, and transparency is flattened onto white.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from snappy_plumbing.errors import ImageTooLarge, InvalidImage, SnappyError, UnsupportedMediaType

__all__ = ["ALLOWED_FORMATS", "ImageInfo", "inspect_image", "make_thumbnail"]

# Pillow format name -> the content type we store and serve.
ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
# Pillow's JPEG reader names a JPEG with multi-picture data MPO; it is still a JPEG.
_STORED_CONTENT_TYPES = {**ALLOWED_FORMATS, "MPO": "image/jpeg"}
# Pillow's modes for samples wider than 8 bits (16-bit greyscale PNG, 32-bit integer).
_WIDE_INTEGER_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageInfo:
    """What an uploaded image is."""

    content_type: str
    width: int
    height: int


def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Identify and fully decode `data`; raise 415 or 422 for anything we will not keep."""
    with warnings.catch_warnings():
        # We enforce our own, lower pixel limit before decoding anything; EXIF warnings are
        # about metadata we do not keep.
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
        except UnidentifiedImageError:
            raise UnsupportedMediaType("The file is not a JPEG, PNG or WebP image") from None
        except Image.DecompressionBombError:
            raise ImageTooLarge(f"The image has more than {max_pixels} pixels") from None
        except Exception as error:  # noqa: BLE001 - any failure to parse client bytes is theirs
            raise _undecodable(error) from None
        with image:
            width, height = image.size
            # The header alone tells the size: refuse a bomb before decoding a pixel.
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"The image is {width}x{height}; at most {max_pixels} pixels are accepted"
                )
            if width < 1 or height < 1:
                raise InvalidImage("The image has no pixels")
            content_type = _STORED_CONTENT_TYPES.get(str(image.format))
            if content_type is None:
                raise UnsupportedMediaType("The file is not a JPEG, PNG or WebP image")
            try:
                image.load()
            except Exception as error:  # noqa: BLE001 - see above
                raise _undecodable(error) from None
    return ImageInfo(content_type=content_type, width=width, height=height)


def make_thumbnail(data: bytes, size: int) -> bytes:
    """A JPEG at most `size` pixels on each side, upright per its EXIF orientation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _thumbnail(data, size)
        except SnappyError:
            raise
        except Exception as error:  # noqa: BLE001 - the bytes decoded once; a second failure is theirs too
            raise _undecodable(error) from None


def _thumbnail(data: bytes, size: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        # JPEG can decode at reduced scale directly, which is much faster for large photos.
        image.draft("RGB", (size * 2, size * 2))
        upright = _upright(image)
        if upright.mode in _WIDE_INTEGER_MODES:
            # 16-bit samples: keep the high byte, instead of clipping everything above 255 to white.
            upright = upright.convert("I").point(lambda sample: sample * (1 / 256)).convert("L")
        upright.thumbnail((size, size), Image.Resampling.LANCZOS)
        if upright.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in upright.info:
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


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; as encoded when that cannot be read."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - broken metadata must not cost the photo
        logger.info("EXIF orientation unreadable; thumbnail left as encoded")
        image.load()
        return image


def _undecodable(error: Exception) -> InvalidImage:
    # Logged with its kind only: the message may quote the client's bytes.
    logger.info("image could not be decoded", extra={"error_type": type(error).__name__})
    return InvalidImage("The image could not be decoded")
