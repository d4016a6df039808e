"""The NeRV-CLIP panel's views: original vs reconstruction for any frame, live training
curves, the per-frame similarity plot and text reports of evaluate / verify.

They only display arrays they are given (uint8 frames, per-frame metrics, history
records); training and the engine stay in app.nerv.panel's workers, so the views never
touch a model that another thread is updating.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from app.common import to_qimage

ROLE_COLOURS = {"train": (80, 160, 255), "unseen": (255, 140, 40), "skipped": (150, 150, 150)}
ROLE_SYMBOLS = {"train": "o", "unseen": "t", "skipped": "x"}
GROUP_PENS = {"train": (80, 160, 255), "unseen": (255, 140, 40), "all": (200, 200, 200)}


def _plot(title: str, bottom: str, left: str) -> pg.PlotWidget:
    p = pg.PlotWidget()
    p.setTitle(title, size="9pt")
    p.setLabel("bottom", bottom)
    p.setLabel("left", left)
    p.showGrid(x=True, y=True, alpha=0.25)
    p.setMouseEnabled(x=False, y=False)
    p.getAxis("left").enableAutoSIPrefix(False)
    p.hideButtons()
    p.setMinimumSize(150, 130)
    return p


class ImageLabel(QLabel):
    """Shows an RGB array scaled to fit, keeping its aspect ratio. The label's size does
    not follow the image (Ignored policy), so a big frame cannot grow the panel."""

    def __init__(self, placeholder: str):
        super().__init__(placeholder)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(160, 90)
        self.setStyleSheet("background: #202020; color: #aaaaaa; border-radius: 4px;")
        self.placeholder = placeholder
        self.rgb: np.ndarray | None = None
        self._pixmap: QPixmap | None = None

    def set_rgb(self, rgb: np.ndarray | None) -> None:
        self.rgb = rgb
        if rgb is None:
            self._pixmap = None
            self.clear()
            self.setText(self.placeholder)
            return
        self._pixmap = QPixmap.fromImage(to_qimage(rgb))
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is not None:
            # Small frames are enlarged without smoothing: the user should see real pixels.
            mode = (Qt.TransformationMode.FastTransformation
                    if self._pixmap.width() * 2 <= self.width()
                    else Qt.TransformationMode.SmoothTransformation)
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                               mode))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()


class FramePairView(QWidget):
    """Original and reconstruction of one frame side by side, a slider over all frames
    and a line with the frame's role and scores."""

    frameChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.originals: np.ndarray | None = None
        self.recons: np.ndarray | None = None
        self.roles: np.ndarray | None = None
        self.metrics: dict[str, np.ndarray] = {}
        self.original = ImageLabel("original frame")
        self.recon = ImageLabel("reconstruction\nappears after the first evaluation")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.slider.setToolTip("choose a frame (train and unseen frames alike)")
        self.slider.valueChanged.connect(self._changed)
        self.caption = QLabel("no video yet")
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        for col, (title, label) in enumerate((("Original", self.original),
                                               ("Reconstruction", self.recon))):
            head = QLabel(f"<b>{title}</b>")
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(head, 0, col)
            grid.addWidget(label, 1, col)
        grid.setRowStretch(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(grid, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Frame:"))
        row.addWidget(self.slider, 1)
        lay.addLayout(row)
        lay.addWidget(self.caption)

    @property
    def current(self) -> int:
        return self.slider.value()

    def set_frames(self, originals: np.ndarray | None, roles=None) -> None:
        self.originals = originals
        self.roles = None if roles is None else np.asarray(roles)
        self.recons, self.metrics = None, {}
        n = 0 if originals is None else len(originals)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        self.slider.setValue(min(self.slider.value(), max(n - 1, 0)))
        self.slider.blockSignals(False)
        self.slider.setEnabled(n > 1)
        self.show_frame(self.current)

    def set_reconstructions(self, recons: np.ndarray | None,
                            metrics: dict[str, np.ndarray] | None = None) -> None:
        self.recons = recons
        self.metrics = dict(metrics or {})
        if self.roles is None and "role" in self.metrics:
            self.roles = np.asarray(self.metrics["role"])
        self.show_frame(self.current)

    def set_frame(self, i: int) -> None:
        self.slider.setValue(int(i))

    def _changed(self, i: int) -> None:
        self.show_frame(i)
        self.frameChanged.emit(i)

    def show_frame(self, i: int) -> None:
        n = 0 if self.originals is None else len(self.originals)
        if not n:
            self.original.set_rgb(None)
            self.recon.set_rgb(None)
            self.caption.setText("no video yet")
            return
        i = max(0, min(int(i), n - 1))
        self.original.set_rgb(self.originals[i])
        self.recon.set_rgb(self.recons[i] if self.recons is not None else None)
        parts = [f"frame {i} of {n}"]
        if self.roles is not None and i < len(self.roles):
            role = str(self.roles[i])
            r, g, b = ROLE_COLOURS.get(role, (200, 200, 200))
            parts.append(f"<span style='color:rgb({r},{g},{b})'><b>{role}</b></span>")
        if "psnr" in self.metrics:
            parts.append(f"PSNR {float(self.metrics['psnr'][i]):.2f} dB")
        if "clip_similarity" in self.metrics:
            parts.append(f"CLIP head cos {float(self.metrics['clip_similarity'][i]):.4f}")
        self.caption.setText(" · ".join(parts))


class CurvesView(QWidget):
    """Loss per epoch, and PSNR / CLIP-head similarity per evaluation (train vs unseen)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss = _plot("training loss (epoch mean)", "epoch", "loss")
        self.psnr = _plot("PSNR per evaluation", "epoch", "dB")
        self.sim = _plot("CLIP head similarity per evaluation", "epoch", "cos")
        self.curves: dict[str, pg.PlotDataItem] = {}
        for plot in (self.loss, self.psnr, self.sim):
            plot.addLegend(offset=(-5, 5), labelTextSize="8pt", brush=(20, 20, 20, 170))
        self._add(self.loss, "pixel_loss", "pixel", (120, 200, 120))
        self._add(self.loss, "clip_loss", "CLIP (1−cos)", (220, 120, 220))
        for group in ("train", "unseen"):
            self._add(self.psnr, f"psnr_{group}", group, GROUP_PENS[group])
            self._add(self.sim, f"clip_similarity_{group}", group, GROUP_PENS[group])
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        for plot in (self.loss, self.psnr, self.sim):
            lay.addWidget(plot, 1)

    def _add(self, plot, key, name, colour) -> None:
        self.curves[key] = plot.plot([], [], name=name, pen=pg.mkPen(colour, width=2),
                                     symbol="o", symbolSize=4, symbolBrush=colour,
                                     symbolPen=None)

    def clear(self) -> None:
        for c in self.curves.values():
            c.setData([], [])

    def points(self, key: str) -> int:
        x, _ = self.curves[key].getData()
        return 0 if x is None else len(x)

    def set_history(self, history: list[dict]) -> None:
        self._set(history, ("pixel_loss", "clip_loss"))

    def set_evals(self, evals: list[dict]) -> None:
        self._set(evals, [k for k in self.curves if k.startswith(("psnr_", "clip_sim"))])

    def _set(self, records: list[dict], keys) -> None:
        for key in keys:
            pts = [(r["epoch"], r[key]) for r in records
                   if key in r and r[key] is not None and math.isfinite(r[key])]
            xs = np.array([p[0] for p in pts], float)
            ys = np.array([p[1] for p in pts], float)
            self.curves[key].setData(xs, ys)


class PerFrameView(QWidget):
    """Per-frame CLIP-head similarity (or PSNR) over the frame index; train, unseen and
    skipped frames differ in colour and symbol. Clicking a point selects that frame."""

    frameClicked = Signal(int)
    METRICS = (("clip_similarity", "CLIP head similarity (cos)"), ("psnr", "PSNR (dB)"))

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: dict[str, np.ndarray] = {}
        self.metric = QComboBox()
        for key, label in self.METRICS:
            self.metric.addItem(label, key)
        self.metric.currentIndexChanged.connect(lambda _: self._draw())
        self.plot = _plot("per-frame score", "frame", "")
        self.plot.addLegend(offset=(-5, 5), labelTextSize="8pt", brush=(20, 20, 20, 170))
        self.line = self.plot.plot([], [], pen=pg.mkPen((200, 200, 200, 70), width=1))
        self.scatter: dict[str, pg.ScatterPlotItem] = {}
        for role, colour in ROLE_COLOURS.items():
            item = pg.ScatterPlotItem([], [], size=8, symbol=ROLE_SYMBOLS[role],
                                      brush=pg.mkBrush(*colour), pen=None, name=role)
            item.sigClicked.connect(self._clicked)
            self.plot.addItem(item)
            self.scatter[role] = item
        self.cursor = pg.InfiniteLine(0, angle=90, pen=pg.mkPen((255, 80, 80, 160), width=1))
        self.plot.addItem(self.cursor, ignoreBounds=True)  # the axes follow the data
        self.hint = QLabel("per-frame scores appear after the first evaluation")
        self.hint.setStyleSheet("color: palette(mid);")
        head = QHBoxLayout()
        head.addWidget(QLabel("Per frame:"))
        head.addWidget(self.metric)
        head.addWidget(self.hint, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addWidget(self.plot, 1)

    def set_data(self, data: dict[str, np.ndarray] | None) -> None:
        self.data = dict(data or {})
        if self.data and "clip_similarity" not in self.data:
            self.metric.setCurrentIndex(self.metric.findData("psnr"))
        self._draw()

    def set_current(self, i: int) -> None:
        self.cursor.setValue(int(i))

    def counts(self) -> dict[str, int]:
        return {role: len(item.data) for role, item in self.scatter.items()}

    def _draw(self) -> None:
        key = self.metric.currentData()
        values = self.data.get(key)
        roles = self.data.get("role")
        self.plot.setLabel("left", "cos" if key == "clip_similarity" else "dB")
        self.plot.setTitle(f"per-frame {self.metric.currentText()}", size="9pt")
        if values is None or roles is None:
            self.line.setData([], [])
            for item in self.scatter.values():
                item.setData([], [])
            if self.data:
                self.hint.setText("this run has no CLIP head: showing nothing for CLIP")
            return
        values = np.asarray(values, float)
        roles = np.asarray(roles)
        xs = np.arange(len(values), dtype=float)
        self.line.setData(xs, values)
        for role, item in self.scatter.items():
            m = roles == role
            item.setData(xs[m], values[m], data=np.nonzero(m)[0])
        text = []
        for role in ("train", "unseen"):
            m = roles == role
            if m.any():
                text.append(f"{role} mean {values[m].mean():.4f}" if key != "psnr"
                            else f"{role} mean {values[m].mean():.2f} dB")
        self.hint.setText(" · ".join(text))

    def _clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.frameClicked.emit(int(points[0].data()))


class ResultsView(QPlainTextEdit):
    """Plain-text numbers from evaluate / verify (and a run's facts), copyable."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(max(self.font().pointSizeF() - 1, 7))
        self.setFont(font)
        self.setPlaceholderText("Evaluate and Verify results appear here.")
        self.setMinimumHeight(90)


def _mean(summary: dict, key: str, group: str):
    st = (summary.get(key) or {}).get(group)
    return None if st is None else st["mean"]


RANDOM_NOTE = "RANDOM CLIP (testing only): its similarities are noise"


def format_eval(s: dict) -> str:
    """evaluate_run's summary as a small table (mirrors `sonolume nerv eval`)."""
    lines = [f"Evaluation of {s['checkpoint']} (epoch {s['epoch']}): {s['frames']} frames "
             f"{s['frame_size'][0]}x{s['frame_size'][1]}, split {s['split']}"]
    if s.get("clip"):
        lines.append(f"CLIP: {s['clip']}" + (f"  [{RANDOM_NOTE}]" if s.get("random_clip")
                                            else ""))
    rows = [("PSNR (dB)", "psnr", "{:.2f}"), ("MS-SSIM", "ms_ssim", "{:.4f}"),
            ("CLIP head cos", "clip_similarity", "{:.4f}"),
            ("CLIP(recon) vs CLIP(orig)", "recon_clip_similarity", "{:.4f}")]
    lines.append(f"{'':27}{'all':>9}{'train':>9}{'unseen':>9}{'gap':>9}{'sigma':>9}")
    for label, key, fmt in rows:
        if key not in s:
            continue
        vals = [_mean(s, key, g) for g in ("all", "train", "unseen")]
        vals += [s.get("generalisation_gap", {}).get(key), s.get("stability", {}).get(key)]
        cells = [fmt.format(v) if v is not None else "-" for v in vals]
        lines.append(f"{label:27}" + "".join(f"{c:>9}" for c in cells))
    if s.get("ms_ssim_note"):
        lines.append(s["ms_ssim_note"])
    if s.get("clip_note"):
        lines.append(s["clip_note"])
    return "\n".join(lines)


def format_verify(r: dict) -> str:
    """verify_run's report (mirrors `sonolume nerv verify`)."""
    lines = [f"Verification of {r['checkpoint']} (epoch {r['epoch']}), {r['clip_head']} head, "
             f"CLIP {r['clip']}" + (f"  [{RANDOM_NOTE}]" if r.get("random_clip") else "")]
    lines.append(f"{'mean cos':10}{'true':>9}{'random':>9}{'shuffled':>9}{'t-shuffle':>10}"
                 f"{'margin':>9}")
    for group, b in r.get("baselines", {}).items():
        lines.append(f"{group:10}{b['true']:>9.4f}{b['random']:>9.4f}"
                     f"{b['shuffled_pairs']:>9.4f}{b['temporal_shuffle']:>10.4f}"
                     f"{b['margin']:>9.4f}")
    if "baselines_patches" in r:
        b = r["baselines_patches"]
        lines.append(f"patches: true {b['true']:.4f}, random {b['random']:.4f}, other "
                     f"frames {b['shuffled_frames']:.4f}, shuffled positions "
                     f"{b['shuffled_patches']:.4f}, margin {b['margin']:.4f}")
    for group, rr in r.get("retrieval", {}).items():
        lines.append(f"retrieval {group:7} among {rr['candidates']:4}: " + ", ".join(
            f"{k} {rr[k]:.3f}" for k in ("R@1", "R@5", "R@10") if k in rr))
    seq = r.get("sequence", {})
    for label in ("predicted", "temporal_shuffle", "learned"):
        if label in seq:
            s = seq[label]
            lines.append(f"sequence {label:16} combined {s['combined']:.4f}  " + "  ".join(
                f"{k} {s[k]:.4f}" for k in ("global", "local", "temporal", "attention")
                if k in s))
    verdict = "YES" if r.get("beats_all_baselines") else "NO"
    lines.append(f"CLIP head beats all baselines (all frames): {verdict}")
    return "\n".join(lines)
