"""How big a diagram's labels are where it is shown, computed from the render alone (no browser).

Diagrams are rendered to PNG at `kit.RENDER_DPI` (192, twice a screen's 96) and
published with `width`/`height` attributes of half their pixels, so they stay
sharp on high-density screens and when enlarged in the lightbox. On a page the
image is at most the content column wide (`max-width: 100%`), so a label of
`font_pt` points is drawn at::

    font_pt * 96 / 72 * min(1, content_width / display_width)   CSS pixels

`CONTENT_WIDTH_PX` is Material's content column in its default layout, measured
in Chromium at a 1400x1000 window (the widest it gets: the grid stops at 61rem).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

#: Width of Material's content column (`.md-content__inner`), CSS px, default layout at 1400x1000.
CONTENT_WIDTH_PX = 688
#: The smallest label a reader can take in without zooming, CSS px.
MIN_LABEL_PX = 11.0
#: Points to CSS pixels.
CSS_PX_PER_PT = 96 / 72
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Legibility:
    """One diagram as shown on a page.

    Attributes:
        pixels: The PNG's natural size, (width, height).
        display: Its `width`/`height` attributes, CSS px (pixels scaled to 96 dpi).
        shown: Its size in the content column, CSS px.
        label_px: Its smallest label's height there, CSS px.
    """

    pixels: tuple[int, int]
    display: tuple[int, int]
    shown: tuple[int, int]
    label_px: float

    @property
    def legible(self) -> bool:
        """Whether the smallest label is at least `MIN_LABEL_PX`."""
        return self.label_px >= MIN_LABEL_PX


def png_size(image: Path) -> tuple[int, int]:
    """A PNG's width and height in pixels, from its header.

    Raises:
        ValueError: The file is not a PNG.
    """
    with image.open("rb") as handle:
        header = handle.read(24)
    if not header.startswith(PNG_SIGNATURE) or header[12:16] != b"IHDR":
        raise ValueError(f"{image} is not a PNG")
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


def display_size(pixels: tuple[int, int], dpi: float) -> tuple[int, int]:
    """The CSS size of an image rendered at `dpi`: its pixels at 96 dpi."""
    scale = 96 / dpi if dpi > 0 else 1.0
    return round(pixels[0] * scale), round(pixels[1] * scale)


def measure(image: Path, font_pt: float, dpi: float, content_width: int = CONTENT_WIDTH_PX) -> Legibility:
    """How a rendered diagram shows in the content column.

    Args:
        image: The PNG.
        font_pt: Its smallest label font size, points.
        dpi: The resolution it was rendered at.
        content_width: The column width, CSS px.

    Returns:
        Its sizes and smallest label height.
    """
    pixels = png_size(image)
    display = display_size(pixels, dpi)
    fit = min(1.0, content_width / display[0]) if display[0] else 1.0
    shown = (round(display[0] * fit), round(display[1] * fit))
    return Legibility(pixels, display, shown, round(font_pt * CSS_PX_PER_PT * fit, 1))
