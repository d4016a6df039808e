"""Draw a per-patch value map over its picture, with grid, colour bar and title (Pillow
only; no matplotlib). Everything returns uint8 RGB arrays (H, W, 3); :func:`save_png`
writes one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.spatial.grid import PatchGrid
from engine.spatial.views import as_cells, cells_to_pixels

# Anchor colours sampled evenly from matplotlib's maps (0 -> 1), interpolated linearly.
COLORMAPS: dict[str, list[tuple[int, int, int]]] = {
    "viridis": [(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
                (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)],
    "magma": [(0, 0, 4), (28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122),
              (229, 80, 100), (251, 135, 97), (254, 194, 135), (252, 253, 191)],
    "inferno": [(0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85),
                (227, 89, 51), (249, 140, 10), (249, 201, 50), (252, 255, 164)],
    "coolwarm": [(59, 76, 192), (98, 130, 234), (141, 176, 254), (184, 208, 249),
                 (221, 221, 221), (245, 196, 173), (244, 154, 123), (222, 96, 77),
                 (180, 4, 38)],
}

TITLE_BG = (24, 24, 28)
WARN = (255, 170, 60)


def apply_colormap(values01: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Values in [0, 1] (any shape) -> uint8 RGB (..., 3). NaN draws mid-grey."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; known: {', '.join(COLORMAPS)}")
    table = np.asarray(COLORMAPS[name], dtype=np.float32)
    v = np.asarray(values01, dtype=np.float32)
    nan = ~np.isfinite(v)
    pos = np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0) * (len(table) - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(table) - 1)
    frac = (pos - lo)[..., None]
    rgb = table[lo] * (1 - frac) + table[hi] * frac
    rgb[nan] = 128
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _text_w(draw, text: str, font) -> int:
    box = draw.textbbox((0, 0), text, font=font)
    return box[2] - box[0]


def _fit(draw, text: str, font, width: int) -> str:
    if _text_w(draw, text, font) <= width:
        return text
    while text and _text_w(draw, text + "...", font) > width:
        text = text[:-1]
    return text + "..."


def value_range(values, vmin=None, vmax=None) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    lo = float(v.min()) if vmin is None and v.size else (0.0 if vmin is None else vmin)
    hi = float(v.max()) if vmax is None and v.size else (1.0 if vmax is None else vmax)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.005, hi + 0.005
    return lo, hi


def _cells_at(cells: np.ndarray, grid: PatchGrid, dw: int, dh: int) -> np.ndarray:
    """Per-pixel cell values (dh, dw) of a ``dw`` x ``dh`` view of the grid's frame."""
    if (dw, dh) == (grid.width, grid.height):
        return cells_to_pixels(cells, grid)
    xe, ye = grid.cell_edges()
    xs = np.minimum(((np.arange(dw) + 0.5) * grid.width / dw).astype(int), grid.width - 1)
    ys = np.minimum(((np.arange(dh) + 0.5) * grid.height / dh).astype(int), grid.height - 1)
    cols = np.searchsorted(np.asarray(xe[1:-1]), xs, side="right")
    rows = np.searchsorted(np.asarray(ye[1:-1]), ys, side="right")
    return cells[rows[:, None], cols[None, :]]


def render_overlay(
    image: np.ndarray,
    values,
    grid: PatchGrid,
    colormap: str = "viridis",
    title: str | list[str] = "",
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    alpha: float = 0.55,
    highlight: tuple[int, int] | None = None,
    show_grid: bool = True,
    show_values: bool = True,
    warning: str | None = None,
    min_side: int = 480,
    max_side: int = 1600,
    value_format: str | None = None,
) -> np.ndarray:
    """The picture with ``values`` (one per patch: (P,) or (rows, cols)) painted over
    the grid's display cells, the cell grid, an optional highlighted patch (its full
    extent is outlined), the value printed in each cell when there is room, a colour bar
    with the value range, and a title bar (``warning`` is a second, orange line: use it
    for "random CLIP"). The picture is scaled so its long side is within
    [min_side, max_side] for legibility. ``value_format`` defaults to 2 decimals, 3 when
    the value range is under 0.05. The default font covers ASCII only (no Unicode
    dashes). Returns uint8 RGB (H, W, 3)."""
    from PIL import Image, ImageDraw

    img = np.asarray(image)
    if img.shape[:2] != (grid.height, grid.width):
        raise ValueError(f"image {img.shape[1]}x{img.shape[0]} does not match the grid "
                         f"({grid.width}x{grid.height})")
    cells = as_cells(values, grid)
    lo, hi = value_range(cells, vmin, vmax)
    if value_format is None:
        value_format = "{:.3f}" if hi - lo < 0.05 else "{:.2f}"
    long_side = max(grid.width, grid.height)
    scale = min(max(1.0, min_side / long_side), max_side / long_side)
    dw, dh = max(1, round(grid.width * scale)), max(1, round(grid.height * scale))

    base = Image.fromarray(img.astype(np.uint8), "RGB")
    base = base.resize((dw, dh), Image.Resampling.LANCZOS) if (dw, dh) != base.size else base
    # Paint the cells at display size: painting at the picture's size first took ~1 GB of
    # temporaries for a 4096 px picture, only to be shrunk. Each display pixel takes the
    # cell of the picture pixel it samples (as a nearest-neighbour resize would).
    heat = apply_colormap((_cells_at(cells, grid, dw, dh) - lo) / (hi - lo), colormap)
    heat = Image.fromarray(heat, "RGB")
    pic = Image.blend(base, heat, float(np.clip(alpha, 0.0, 1.0)))

    draw = ImageDraw.Draw(pic, "RGBA")
    xe, ye = grid.cell_edges()
    sx, sy = dw / grid.width, dh / grid.height
    if show_grid:
        for x in xe[1:-1]:
            draw.line([(x * sx, 0), (x * sx, dh)], fill=(255, 255, 255, 90), width=1)
        for y in ye[1:-1]:
            draw.line([(0, y * sy), (dw, y * sy)], fill=(255, 255, 255, 90), width=1)
    cell_w = min(np.diff(xe)) * sx
    cell_h = min(np.diff(ye)) * sy
    if show_values and cell_w >= 34 and cell_h >= 16:
        font = _font(int(np.clip(min(cell_w / 3.2, cell_h / 2.2), 10, 18)))
        for r in range(grid.rows):
            for c in range(grid.cols):
                v = cells[r, c]
                text = "n/a" if not np.isfinite(v) else value_format.format(float(v))
                cx, cy = (xe[c] + xe[c + 1]) / 2 * sx, (ye[r] + ye[r + 1]) / 2 * sy
                draw.text((cx, cy), text, font=font, fill=(255, 255, 255), anchor="mm",
                          stroke_width=2, stroke_fill=(0, 0, 0))
    if highlight is not None:
        r, c = highlight
        x0, y0, x1, y1 = grid.boxes()[grid.index(r, c)]
        draw.rectangle([x0 * sx, y0 * sy, x1 * sx - 1, y1 * sy - 1], outline=(255, 40, 40),
                       width=3)
        cx0, cx1, cy0, cy1 = xe[c] * sx, xe[c + 1] * sx, ye[r] * sy, ye[r + 1] * sy
        draw.rectangle([cx0, cy0, cx1 - 1, cy1 - 1], outline=(255, 255, 255), width=2)

    # colour bar on the right, title bar on top; text grows with the picture
    fs = int(np.clip(max(dw, dh) / 75, 13, 22))
    font = _font(fs)
    bar_w, pad, label_w = int(fs * 1.4), 10, int(fs * 4.6)
    panel_w = dw + pad + bar_w + 6 + label_w
    lines = [title] if isinstance(title, str) else list(title)
    lines = [t for t in lines if t]
    line_h = int(fs * 1.4)
    title_h = 8 + line_h * (len(lines) + (1 if warning else 0)) if (lines or warning) else 0
    out = Image.new("RGB", (panel_w, title_h + dh + 2 * pad), TITLE_BG)
    out.paste(pic, (0, title_h + pad))
    d = ImageDraw.Draw(out)
    y = 4
    for t in lines:
        d.text((6, y), _fit(d, t, font, panel_w - 12), font=font, fill=(235, 235, 235))
        y += line_h
    if warning:
        d.text((6, y), _fit(d, warning, font, panel_w - 12), font=font, fill=WARN)
    top = title_h + pad
    grad = np.linspace(1.0, 0.0, dh)[:, None].repeat(bar_w, axis=1)
    bar = Image.fromarray(apply_colormap(grad, colormap), "RGB")
    bx = dw + pad
    out.paste(bar, (bx, top))
    d.rectangle([bx - 1, top - 1, bx + bar_w, top + dh], outline=(200, 200, 200))
    ticks = 5 if dh >= 120 else 2
    for i in range(ticks):
        frac = i / (ticks - 1)
        yy = top + frac * (dh - 1)
        val = hi - frac * (hi - lo)
        d.line([(bx + bar_w, yy), (bx + bar_w + 4, yy)], fill=(220, 220, 220))
        d.text((bx + bar_w + 6, yy), value_format.format(val), font=font,
               fill=(220, 220, 220), anchor="lm")
    return np.asarray(out)


def montage(panels: list[np.ndarray], columns: int = 2, gap: int = 6,
            background=(24, 24, 28)) -> np.ndarray:
    """Lay panels out in a grid (row-major), each cell sized to the largest panel."""
    from PIL import Image

    if not panels:
        raise ValueError("no panels")
    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    cw = max(p.shape[1] for p in panels)
    ch = max(p.shape[0] for p in panels)
    out = Image.new("RGB", (columns * cw + (columns - 1) * gap, rows * ch + (rows - 1) * gap),
                    background)
    for i, p in enumerate(panels):
        r, c = divmod(i, columns)
        out.paste(Image.fromarray(p, "RGB"), (c * (cw + gap), r * (ch + gap)))
    return np.asarray(out)


def save_png(image: np.ndarray, path: str | Path, text: dict[str, str] | None = None) -> Path:
    """Write uint8 RGB as PNG, atomically (a temporary file renamed into place, so a
    crash never leaves half a picture); ``text`` becomes PNG text chunks (e.g. the CLIP
    label and a "random CLIP" note, so the file says what made it even without its
    JSON)."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from engine.atomic import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(str(key), str(value))
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8), "RGB").save(
            tmp, format="PNG", pnginfo=info)
    return path
