"""The installable finder's icons, ``static/icons/app-192.png`` and ``app-512.png``: the house of
``static/icons/favicon.svg`` (a white house on a rounded red square, viewBox 24x24) drawn with
Pillow at 4x and scaled down.  ``python -m tests.support.app_icons`` writes them;
``tests/web/test_offline_app.py`` checks the committed files are what this draws."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parents[2] / "static" / "icons"
SIZES = (192, 512)
RED, WHITE = (0xC8, 0x10, 0x2E, 255), (255, 255, 255, 255)
#: favicon.svg's path "M12 3 2 11h3v9h5v-6h4v6h5v-9h3z" as points of its 24x24 box
HOUSE = [(12, 3), (2, 11), (5, 11), (5, 20), (10, 20), (10, 14), (14, 14), (14, 20), (19, 20), (19, 11), (22, 11)]


def draw(size: int) -> Image.Image:
    """The icon at ``size`` x ``size`` pixels."""
    big = size * 4
    s = big / 24
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(5 * s), fill=RED)
    d.polygon([(x * s, y * s) for x, y in HOUSE], fill=WHITE)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    for n in SIZES:
        draw(n).save(ICONS / f"app-{n}.png", optimize=True)


if __name__ == "__main__":
    main()
