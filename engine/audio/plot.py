"""A PNG overview of a track's features, drawn with Pillow (no matplotlib).

Top to bottom: a header (file, duration, tempo, key), the waveform envelope with a tick per
beat, one lane per feature in :data:`~engine.audio.features.FEATURE_NAMES` (each drawn as
its per-pixel min-max band plus mean line, labelled with its name and range), a 12-row
chroma heat map, and a time axis. Any length of track fits: curves are reduced to one column
per pixel.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from engine.audio.features import FEATURE_NAMES, FEATURE_RANGES, AudioFeatures

BG = (18, 20, 26)
PANEL = (28, 31, 40)
GRID = (52, 56, 68)
TEXT = (220, 224, 232)
DIM = (140, 146, 160)
BEAT = (255, 214, 102)
COLOURS = {
    "waveform": (120, 180, 255),
    "rms": (102, 204, 255),
    "onset": (255, 120, 120),
    "beat_phase": (200, 200, 120),
    "beat_pulse": (255, 214, 102),
    "harmonic": (130, 220, 150),
    "percussive": (255, 150, 90),
    "bass": (200, 110, 255),
    "mid": (160, 140, 255),
    "treble": (120, 200, 255),
    "centroid": (255, 240, 160),
}
PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _columns(values: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel-column (min, max, mean) of a 1-D series."""
    n = len(values)
    if n == 0:
        z = np.zeros(width)
        return z, z, z
    edges = np.linspace(0, n, width + 1)
    starts = np.minimum(np.floor(edges[:-1]).astype(np.int64), n - 1)
    ends = np.maximum(np.ceil(edges[1:]).astype(np.int64), starts + 1)
    v = values.astype(np.float64)
    lo = np.minimum.reduceat(v, starts)
    hi = np.maximum.reduceat(v, starts)
    cum = np.concatenate([[0.0], np.cumsum(v)])
    mean = (cum[ends] - cum[starts]) / (ends - starts)
    # reduceat reduces to the next start; where a column spans less than one frame it
    # still returns that frame, which is right.
    return lo, hi, mean


def _nice_step(duration: float, width: int) -> float:
    target = duration / max(width / 110, 1)
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if step >= target:
            return step
    return 3600.0 * math.ceil(target / 3600)


def _fmt_time(t: float) -> str:
    if t >= 3600:
        return f"{int(t // 3600)}:{int(t % 3600 // 60):02d}:{int(t % 60):02d}"
    if t >= 60:
        return f"{int(t // 60)}:{int(t % 60):02d}"
    return f"{t:g}s"


SECTION_COLOURS = [(86, 140, 220), (220, 130, 70), (110, 190, 110), (190, 100, 190),
                   (200, 190, 80), (80, 190, 190), (220, 90, 110), (150, 150, 150)]
DOWNBEAT = (255, 255, 255)


def plot_features(features: AudioFeatures, out, title: str = "", width: int = 1400,
                  structure=None) -> Path:
    """Draw the overview PNG to ``out`` and return its path. With a
    :class:`~engine.audio.structure.Structure`, downbeats are drawn as white ticks across
    the waveform and a lane under it shows the labelled sections and the bar numbers."""
    from PIL import Image, ImageDraw

    from engine.atomic import atomic_path

    f = features
    left, right = 150, 44
    plot_w = max(width - left - right, 100)
    header_h, wave_h, lane_h, gap = 58, 110, 46, 8
    chroma_h, axis_h = 12 * 9, 34
    lanes = list(FEATURE_NAMES)
    sections_h = 40 if structure is not None else 0
    height = header_h + wave_h + gap + len(lanes) * (lane_h + gap) + chroma_h + gap + axis_h
    height += sections_h + (gap if sections_h else 0)
    img = Image.new("RGB", (width, height), BG)
    d = ImageDraw.Draw(img)
    big, small = _font(18), _font(12)

    # Header.
    key = f"{f.stats.get('key', '')} {f.stats.get('mode', '')}".strip() or "n/a"
    tempo = f"{f.tempo:.1f} BPM" if f.tempo > 0 else "no beat"
    d.text((16, 10), title or "audio features", font=big, fill=TEXT)
    d.text((16, 34), f"{f.duration:.2f} s   {tempo}   {len(f.beat_times)} beats   key {key}   "
           f"{f.n_frames} frames at {f.fps:g} fps", font=small, fill=DIM)

    duration = max(f.duration, 1e-9)

    def x_of(t):
        return left + np.asarray(t, dtype=np.float64) / duration * plot_w

    step = _nice_step(duration, plot_w)
    ticks = np.arange(0.0, duration + 1e-9, step)

    def panel(y0: float, h: float) -> None:
        d.rectangle([left, y0, left + plot_w, y0 + h], fill=PANEL)
        for tx in x_of(ticks):
            d.line([(tx, y0), (tx, y0 + h)], fill=GRID)

    y = header_h
    # Waveform envelope + beats.
    panel(y, wave_h)
    d.text((16, y + wave_h // 2 - 8), "waveform", font=small, fill=TEXT)
    d.text((16, y + wave_h // 2 + 6), "peak, beats", font=small, fill=DIM)
    mid_y = y + wave_h / 2
    peak = f.peak if f.peak is not None and len(f.peak) == f.n_frames else f.rms
    _, hi, _ = _columns(np.asarray(peak), plot_w)
    for i, v in enumerate(hi):
        h = float(np.clip(v, 0, 1)) * (wave_h / 2 - 4)
        d.line([(left + i, mid_y - h), (left + i, mid_y + h)], fill=COLOURS["waveform"])
    if len(f.beat_times) <= plot_w // 2:
        for bx in x_of(f.beat_times):
            d.line([(bx, y), (bx, y + 7)], fill=BEAT, width=1)
            d.line([(bx, y + wave_h - 7), (bx, y + wave_h)], fill=BEAT, width=1)
    else:  # too dense to draw one by one: shade where beats are
        cols = np.clip((x_of(f.beat_times) - left).astype(int), 0, plot_w - 1)
        for c in np.unique(cols):
            d.line([(left + c, y), (left + c, y + 5)], fill=BEAT)
    if structure is not None and len(structure.downbeats) <= plot_w // 3:
        for bx in x_of(structure.downbeats):
            d.line([(bx, y), (bx, y + 16)], fill=DOWNBEAT, width=1)
            d.line([(bx, y + wave_h - 16), (bx, y + wave_h)], fill=DOWNBEAT, width=1)
    y += wave_h + gap

    if structure is not None:
        _draw_sections(d, structure, y, sections_h, left, plot_w, x_of, small)
        y += sections_h + gap

    # Feature lanes.
    for name in lanes:
        values = np.asarray(getattr(f, name), dtype=np.float64)
        lo_r, hi_r = FEATURE_RANGES[name]
        panel(y, lane_h)
        if name in ("bass", "mid", "treble"):  # mark 1.0 = usual
            y1 = y + lane_h - (1.0 - lo_r) / (hi_r - lo_r) * lane_h
            d.line([(left, y1), (left + plot_w, y1)], fill=GRID)
        lo, hi, mean = _columns(values, plot_w)
        colour = COLOURS.get(name, TEXT)
        faint = tuple(int(c * 0.45 + b * 0.55) for c, b in zip(colour, PANEL))

        def y_of(v, y=y, lo_r=lo_r, hi_r=hi_r):
            return y + lane_h - 1 - np.clip((v - lo_r) / (hi_r - lo_r), 0, 1) * (lane_h - 2)

        ylo, yhi, ymean = y_of(lo), y_of(hi), y_of(mean)
        for i in range(plot_w):
            d.line([(left + i, ylo[i]), (left + i, yhi[i])], fill=faint)
        pts = list(zip((left + np.arange(plot_w)).tolist(), ymean.tolist()))
        d.line(pts, fill=colour, width=1)
        d.text((16, y + 6), name, font=small, fill=TEXT)
        d.text((16, y + 22), f"[{lo_r:g}, {hi_r:g}]", font=small, fill=DIM)
        y += lane_h + gap

    # Chroma heat map.
    d.text((16, y + chroma_h // 2 - 8), "chroma", font=small, fill=TEXT)
    if f.n_frames:
        cols = np.stack([_columns(f.chroma[:, k], plot_w)[2] for k in range(12)], axis=0)
        row_h = chroma_h / 12
        heat = (np.clip(cols, 0, 1) * 255).astype(np.uint8)[::-1]  # B at the top
        rgb = np.stack([heat, (heat * 0.55).astype(np.uint8), (255 - heat) // 3 + 20], axis=-1)
        strip = Image.fromarray(rgb, "RGB").resize((plot_w, chroma_h), Image.NEAREST)
        img.paste(strip, (left, y))
        for k in range(12):
            ry = y + (11 - k) * row_h
            d.text((left - 26, ry - 2), PITCHES[k], font=_font(9), fill=DIM)
    y += chroma_h + gap

    # Time axis.
    for t in ticks:
        x = float(x_of(t))
        d.line([(x, y - gap), (x, y - gap + 4)], fill=DIM)
        d.text((x - 10, y + 4), _fmt_time(float(t)), font=small, fill=DIM)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=out.suffix) as tmp:
        img.save(tmp)
    return out


def _draw_sections(d, structure, y, h, left, plot_w, x_of, font) -> None:
    """Coloured blocks per section (one colour per label) with the label and start bar."""
    d.text((16, y + h // 2 - 14), "sections", font=font, fill=TEXT)
    meter = (f"{structure.meter} beats/bar, {structure.n_bars} bars" if structure.n_bars
             else "no bars (no beat)")
    d.text((16, y + h // 2 + 2), meter, font=_font(10), fill=DIM)
    labels = sorted({s.label for s in structure.sections})
    for sec in structure.sections:
        colour = SECTION_COLOURS[labels.index(sec.label) % len(SECTION_COLOURS)]
        x0, x1 = float(x_of(sec.start)), float(x_of(sec.end))
        d.rectangle([x0, y, max(x1 - 1, x0), y + h], fill=colour)
        if x1 - x0 > 18:
            bar = structure.bar_at(sec.start) + 1
            d.text((x0 + 4, y + 4), sec.label, font=_font(16), fill=BG)
            if x1 - x0 > 60 and structure.n_bars:
                d.text((x0 + 4, y + h - 15), f"bar {bar}", font=_font(10), fill=BG)
