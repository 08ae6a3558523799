"""How a rendered diagram appears in a page: one `<img>` with its display size, a class and its name.

Pages embed a diagram as Markdown, `![What it shows](../diagrams/NAME.png)`. The
build turns every such image into::

    <img alt="What it shows" src="../diagrams/NAME.png" class="handbook-diagram"
         data-diagram="NAME" width="W" height="H" />

`W` x `H` is the PNG's size at 96 dpi (half its pixels, since diagrams render at
192 dpi), so the browser reserves the right space before the image loads, shows
it sharp on high-density screens and in the lightbox, and shrinks it to the
content column (`max-width: 100%`, `height: auto`) on narrow screens and in print.
Browser tests find diagrams with `img.handbook-diagram[data-diagram=NAME]`.
"""

from __future__ import annotations

import re

IMAGE_CLASS = "handbook-diagram"
_CLASS = re.compile(r'\sclass="([^"]*)"')
_DIAGRAM_IMG = re.compile(r'<img(?P<before>[^>]*?)\ssrc="(?P<src>[^"]*?diagrams/(?P<name>[A-Za-z0-9_-]+)\.png)"(?P<after>[^>]*?)\s*/?>')


def size_diagram_images(html: str, sizes: dict[str, tuple[int, int]]) -> str:
    """Add size, class and name to every `<img>` of a published diagram in a page's HTML.

    Args:
        html: The page's content HTML.
        sizes: Display size (width, height) in CSS px by diagram name.

    Returns:
        The HTML with those images marked; other images are left as they are.
    """

    def mark(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in sizes or "data-diagram=" in match[0]:
            return match[0]
        width, height = sizes[name]
        rest = f'{match["before"]}{match["after"]}'
        classes = " ".join([*_CLASS.findall(rest), IMAGE_CLASS])
        rest = " ".join(_CLASS.sub("", rest).split())
        return (
            f'<img {rest} src="{match["src"]}" class="{classes}" data-diagram="{name}" '
            f'width="{width}" height="{height}" />'
        )

    return _DIAGRAM_IMG.sub(mark, html)
