"""The picture of the spatial map inspector: the image, its patch grid, a semi-transparent
heatmap (one value per patch), the clicked patch and a colour bar, painted with Qt.

Painting here rather than showing :func:`engine.spatial.render.render_overlay`'s PNG keeps
clicks exact: a widget position maps straight back to a picture pixel and from there to
the grid's display cell (:meth:`PatchGrid.patch_at`), the same cell the heatmap paints.
Exports still go through the engine's renderer, so a PNG from the GUI looks like one from
``sonolume spatial``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from engine.spatial.grid import PatchGrid
from engine.spatial.render import apply_colormap, value_range
from engine.spatial.views import as_cells, cells_to_pixels

BAR_W = 16  # colour bar width in px
LABEL_W = 58  # room for the colour bar's tick labels
GAP = 10
BACKGROUND = QColor(24, 24, 28)
WARN = QColor(255, 170, 60)


def rgb_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 -> a QImage that owns its pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class SpatialView(QWidget):
    """Shows one picture with an optional per-patch value map. Emits ``patchClicked(row,
    col)`` when a patch is clicked (only while a grid is set)."""

    patchClicked = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.image: np.ndarray | None = None
        self.grid: PatchGrid | None = None
        self.values: np.ndarray | None = None  # (rows, cols)
        self.colormap = "viridis"
        self.vrange: tuple[float, float] = (0.0, 1.0)
        self.title = ""
        self.warning = ""
        self.highlight: tuple[int, int] | None = None
        self.alpha = 0.55
        self.placeholder = "Load an image, a video frame, a style still or a NeRV run."
        self._pixmap: QPixmap | None = None
        self._scaled: QPixmap | None = None
        self._heat: QImage | None = None
        self._bar: QImage | None = None

    def sizeHint(self) -> QSize:
        return QSize(640, 420)

    # -- state -----------------------------------------------------------------------------
    def set_picture(self, image: np.ndarray | None, grid: PatchGrid | None = None) -> None:
        self.image = None if image is None else np.asarray(image, dtype=np.uint8)
        self._pixmap = None if image is None else QPixmap.fromImage(rgb_qimage(self.image))
        self._scaled = None
        self.grid = grid
        self.values, self._heat, self.highlight = None, None, None
        self.update()

    def set_grid(self, grid: PatchGrid | None) -> None:
        """A new grid drops the value map (it was on the old grid)."""
        self.grid = grid
        self.values, self._heat, self.highlight = None, None, None
        self.update()

    def set_values(self, values, colormap: str = "viridis", vmin: float | None = None,
                   vmax: float | None = None, title: str = "",
                   highlight: tuple[int, int] | None = None) -> None:
        """Paint ``values`` (one per patch) over the picture; None shows the grid only."""
        self.title, self.highlight = title, highlight
        if values is None or self.grid is None:
            self.values, self._heat = None, None
            self.update()
            return
        cells = as_cells(values, self.grid)
        self.values, self.colormap = cells, colormap
        self.vrange = value_range(cells, vmin, vmax)
        lo, hi = self.vrange
        self._heat = rgb_qimage(apply_colormap((cells_to_pixels(cells, self.grid) - lo)
                                               / (hi - lo), colormap))
        grad = np.linspace(1.0, 0.0, 256)[:, None].repeat(2, axis=1)
        self._bar = rgb_qimage(apply_colormap(grad, colormap))
        self.update()

    def set_warning(self, text: str) -> None:
        self.warning = text or ""
        self.update()

    # -- geometry --------------------------------------------------------------------------
    def _header_h(self) -> int:
        lines = (1 if self.title else 0) + (1 if self.warning else 0)
        return 6 + 18 * lines if lines else 0

    def image_rect(self) -> QRectF:
        """Where the picture is drawn (aspect kept, room left for the colour bar)."""
        if self.image is None:
            return QRectF()
        h, w = self.image.shape[:2]
        top = self._header_h()
        avail_w = max(1, self.width() - BAR_W - LABEL_W - 2 * GAP)
        avail_h = max(1, self.height() - top - 2 * GAP)
        scale = min(avail_w / w, avail_h / h)
        # centred in the room left of the colour bar
        left = GAP + (avail_w - w * scale) / 2
        return QRectF(left, top + GAP + (avail_h - h * scale) / 2, w * scale, h * scale)

    def to_image(self, pos: QPointF) -> tuple[float, float] | None:
        """Widget position -> picture pixel, or None outside the picture."""
        r = self.image_rect()
        if r.isEmpty() or not r.contains(pos):
            return None
        h, w = self.image.shape[:2]
        x = (pos.x() - r.left()) * w / r.width()
        y = (pos.y() - r.top()) * h / r.height()
        return min(max(x, 0.0), w - 1e-3), min(max(y, 0.0), h - 1e-3)

    def widget_point(self, x: float, y: float) -> QPoint:
        """Picture pixel -> widget position (the inverse of :meth:`to_image`)."""
        r = self.image_rect()
        h, w = self.image.shape[:2]
        return QPoint(int(round(r.left() + x * r.width() / w)),
                      int(round(r.top() + y * r.height() / h)))

    # -- events ----------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.grid is None:
            return super().mousePressEvent(event)
        xy = self.to_image(event.position())
        if xy is not None:
            self.patchClicked.emit(*self.grid.patch_at(*xy))

    def mouseMoveEvent(self, event) -> None:
        xy = self.to_image(event.position()) if self.grid is not None else None
        if xy is None:
            QToolTip.hideText()
            return
        r, c = self.grid.patch_at(*xy)
        text = f"patch {r},{c}"
        if self.values is not None and np.isfinite(self.values[r, c]):
            text += f": {self.values[r, c]:.3f}"
        QToolTip.showText(event.globalPosition().toPoint(), text, self)

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF()))
        p.setFont(font)
        y = 4
        if self.title:
            p.setPen(QColor(235, 235, 235))
            p.drawText(QRectF(GAP, y, self.width() - 2 * GAP, 18),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.title)
            y += 18
        if self.warning:
            p.setPen(WARN)
            p.drawText(QRectF(GAP, y, self.width() - 2 * GAP, 18),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.warning)
        if self.image is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            p.end()
            return
        r = self.image_rect()
        size = r.size().toSize()
        if self._scaled is None or self._scaled.size() != size:
            self._scaled = self._pixmap.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation)
        p.drawPixmap(r.topLeft(), self._scaled)
        if self._heat is not None:
            p.setOpacity(self.alpha)
            p.drawImage(r, self._heat)
            p.setOpacity(1.0)
        if self.grid is not None:
            self._paint_grid(p, r)
        if self._heat is not None:
            self._paint_bar(p, r)
        p.end()

    def _paint_grid(self, p: QPainter, r: QRectF) -> None:
        g = self.grid
        sx, sy = r.width() / g.width, r.height() / g.height
        xe, ye = g.cell_edges()
        p.setPen(QPen(QColor(255, 255, 255, 110), 1))
        for x in xe[1:-1]:
            p.drawLine(QPointF(r.left() + x * sx, r.top()), QPointF(r.left() + x * sx,
                                                                  r.bottom()))
        for y in ye[1:-1]:
            p.drawLine(QPointF(r.left(), r.top() + y * sy), QPointF(r.right(),
                                                                   r.top() + y * sy))
        p.setPen(QPen(QColor(255, 255, 255, 160), 1))
        p.drawRect(r)
        if self.values is not None:
            self._paint_values(p, r, xe, ye, sx, sy)
        if self.highlight is not None:
            row, col = self.highlight
            x0, y0, x1, y1 = g.boxes()[g.index(row, col)]
            p.setPen(QPen(QColor(255, 40, 40), 3))
            p.drawRect(QRectF(r.left() + x0 * sx, r.top() + y0 * sy, (x1 - x0) * sx,
                              (y1 - y0) * sy))
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawRect(QRectF(r.left() + xe[col] * sx, r.top() + ye[row] * sy,
                              (xe[col + 1] - xe[col]) * sx, (ye[row + 1] - ye[row]) * sy))

    def _paint_values(self, p: QPainter, r: QRectF, xe, ye, sx, sy) -> None:
        """Each patch's value in its cell, when the cells are big enough to read."""
        if min(np.diff(xe)) * sx < 40 or min(np.diff(ye)) * sy < 18:
            return
        lo, hi = self.vrange
        fmt = "{:.3f}" if hi - lo < 0.05 else "{:.2f}"
        for row in range(self.grid.rows):
            for col in range(self.grid.cols):
                v = self.values[row, col]
                cell = QRectF(r.left() + xe[col] * sx, r.top() + ye[row] * sy,
                              (xe[col + 1] - xe[col]) * sx, (ye[row + 1] - ye[row]) * sy)
                text = fmt.format(float(v)) if np.isfinite(v) else "n/a"
                p.setPen(QColor(0, 0, 0, 200))
                p.drawText(cell.translated(1, 1), Qt.AlignmentFlag.AlignCenter, text)
                p.setPen(QColor(255, 255, 255))
                p.drawText(cell, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_bar(self, p: QPainter, r: QRectF) -> None:
        bar = QRectF(r.right() + GAP, r.top(), BAR_W, r.height())
        p.drawImage(bar, self._bar)
        p.setPen(QColor(200, 200, 200))
        p.drawRect(bar)
        lo, hi = self.vrange
        fmt = "{:.3f}" if hi - lo < 0.05 else "{:.2f}"
        ticks = 5 if r.height() >= 120 else 2
        for i in range(ticks):
            frac = i / (ticks - 1)
            yy = r.top() + frac * r.height()
            p.drawLine(QPointF(bar.right(), yy), QPointF(bar.right() + 4, yy))
            p.drawText(QRectF(bar.right() + 7, yy - 9, LABEL_W - 7, 18),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       fmt.format(hi - frac * (hi - lo)))
