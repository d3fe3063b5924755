"""Generated sample pictures for demo data: soft gradients with a few simple shapes."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

__all__ = ["SampleImage", "sample_image"]

_Colour = tuple[int, int, int]


@dataclass(frozen=True)
class _Theme:
    caption: str
    sky: tuple[_Colour, _Colour]
    accent: _Colour
    ground: _Colour


_THEMES = (
    _Theme("Sunset on the hills", ((255, 94, 77), (255, 206, 122)), (255, 244, 214), (92, 45, 80)),
    _Theme("Morning haze", ((161, 196, 253), (194, 233, 251)), (255, 255, 255), (62, 96, 111)),
    _Theme("Lavender at dusk", ((106, 90, 205), (230, 190, 255)), (255, 236, 179), (72, 52, 112)),
    _Theme("Citrus afternoon", ((247, 151, 30), (255, 210, 0)), (255, 255, 240), (120, 80, 20)),
    _Theme("Northern lights", ((15, 32, 39), (44, 83, 100)), (120, 255, 180), (10, 20, 25)),
    _Theme("Desert dunes", ((238, 156, 167), (255, 221, 225)), (255, 250, 230), (194, 120, 70)),
    _Theme("Forest morning", ((86, 171, 47), (168, 224, 99)), (250, 255, 210), (30, 70, 40)),
    _Theme("Deep sea blue", ((0, 82, 212), (101, 199, 247)), (220, 245, 255), (0, 40, 90)),
)  # fmt: skip

_SIZES = ((1600, 1067), (1200, 1200), (900, 1350), (1920, 1080), (1024, 768), (800, 600))
# PNG stores gradients losslessly and large; smaller PNGs keep uploads quick.
_PNG_SIZES = ((800, 600), (640, 640), (600, 800))


@dataclass(frozen=True)
class SampleImage:
    """An encoded picture ready to upload."""

    filename: str
    content: bytes
    content_type: str
    caption: str
    width: int
    height: int


def sample_image(number: int) -> SampleImage:
    """Sample picture `number`: the same number always gives the same picture."""
    chooser = random.Random(number)  # noqa: S311 - pictures, not secrets
    theme = _THEMES[number % len(_THEMES)]
    as_png = number % 3 == 2
    width, height = chooser.choice(_PNG_SIZES if as_png else _SIZES)
    picture = _landscape(chooser, theme, width, height)
    buffer = io.BytesIO()
    if as_png:
        picture.save(buffer, format="PNG", optimize=True)
        extension, content_type = "png", "image/png"
    else:
        picture.save(buffer, format="JPEG", quality=85, optimize=True, progressive=True)
        extension, content_type = "jpg", "image/jpeg"
    slug = theme.caption.lower().replace(" ", "-")
    return SampleImage(
        filename=f"{slug}-{number}.{extension}",
        content=buffer.getvalue(),
        content_type=content_type,
        caption=theme.caption,
        width=width,
        height=height,
    )


def _landscape(chooser: random.Random, theme: _Theme, width: int, height: int) -> Image.Image:
    top, bottom = theme.sky
    mask = Image.linear_gradient("L").resize((width, height))
    picture = Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), mask
    ).convert("RGBA")

    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    radius = int(min(width, height) * chooser.uniform(0.08, 0.16))
    centre_x = int(width * chooser.uniform(0.2, 0.8))
    centre_y = int(height * chooser.uniform(0.2, 0.45))
    for ring in range(4, 0, -1):
        glow = radius * (1 + ring * 0.35)
        draw.ellipse(
            (centre_x - glow, centre_y - glow, centre_x + glow, centre_y + glow),
            fill=(*theme.accent, 28),
        )
    draw.ellipse(
        (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius),
        fill=(*theme.accent, 235),
    )
    picture = Image.alpha_composite(picture, overlay.filter(ImageFilter.GaussianBlur(radius / 6)))

    hills = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(hills)
    for layer in range(3):
        baseline = height * (0.62 + layer * 0.12)
        points = [(0.0, float(height))]
        steps = 8
        for step in range(steps + 1):
            x = width * step / steps
            y = baseline - height * chooser.uniform(0.02, 0.12)
            points.append((x, y))
        points.append((float(width), float(height)))
        shade = tuple(int(channel * (1.0 - layer * 0.2)) for channel in theme.ground)
        draw.polygon(points, fill=(*shade, 150 + layer * 50))
    picture = Image.alpha_composite(picture, hills.filter(ImageFilter.GaussianBlur(2)))
    return picture.convert("RGB")
