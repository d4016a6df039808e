"""Small helpers every panel shares: numbers as people read them, pictures as Qt shows them."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtGui import QImage

#: The drag-and-drop type of a library style (its id): dragged from the library, dropped
#: on a show's segment.
STYLE_MIME = "application/x-sonolume-style"


def format_seconds(s: float | None) -> str:
    """A duration or ETA as m:ss (h:mm:ss past an hour); '…' while unknown."""
    if s is None or not math.isfinite(s):
        return "…"
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 -> a QImage that owns its pixels (the array may go away)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
