"""Real images, generated on the fly, for upload tests."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

__all__ = ["image_bytes", "png_bomb"]


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 80, 40)
) -> bytes:
    """An image of `size` in `fmt` (JPEG, PNG or WEBP), with a gradient so it is not trivial."""
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], max(1, size[0] // 16)):
        for y in range(size[1]):
            image.putpixel((x, y), (x * 255 // max(1, size[0]), y * 255 // max(1, size[1]), 128))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    # Only a few rows of data: the point is the size the header claims.
    data = compressor.compress(row * 4) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
