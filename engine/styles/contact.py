"""A labelled contact sheet: every style rendered side by side in one PNG."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.cppn.model import CPPN, to_uint8


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _fit(draw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def contact_sheet(
    items: Sequence[tuple[str, CPPN | np.ndarray]],
    cell: int = 256,
    columns: int = 4,
    pad: int = 12,
    label_lines: int = 2,
    background=(18, 18, 22),
):
    """A PIL image laying out ``(label, cppn-or-image)`` pairs in a grid.

    A CPPN is rendered at ``cell`` x ``cell``; an image (H, W, 3) uint8 is resized to fit.
    Labels may hold two lines separated by a newline (title, detail)."""
    from PIL import Image, ImageDraw

    if not items:
        raise ValueError("nothing to put on a contact sheet")
    columns = max(1, min(columns, len(items)))
    rows = (len(items) + columns - 1) // columns
    title_font, detail_font = _font(15), _font(12)
    label_h = 8 + 19 * label_lines
    width = pad + columns * (cell + pad)
    height = pad + rows * (cell + label_h + pad)
    sheet = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(sheet)
    for i, (label, source) in enumerate(items):
        r, c = divmod(i, columns)
        x = pad + c * (cell + pad)
        y = pad + r * (cell + label_h + pad)
        if isinstance(source, CPPN):
            img = Image.fromarray(to_uint8(source.render(cell, cell)), "RGB")
        else:
            img = Image.fromarray(np.asarray(source, dtype=np.uint8), "RGB")
            if img.size != (cell, cell):
                img = img.resize((cell, cell), Image.Resampling.LANCZOS)
        sheet.paste(img, (x, y))
        lines = str(label).split("\n")[:label_lines]
        for j, line in enumerate(lines):
            font = title_font if j == 0 else detail_font
            fill = (236, 236, 240) if j == 0 else (160, 160, 172)
            draw.text((x, y + cell + 6 + 19 * j), _fit(draw, line, font, cell), font=font,
                      fill=fill)
    return sheet
