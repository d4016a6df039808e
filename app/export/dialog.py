"""Export the selected style moving to the loaded track as an MP4 (H.264 + AAC)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.common import format_seconds
from app.workers import Worker
from engine.export.sizes import OUTPUT_SIZES

log = logging.getLogger("sonolume.app.export")

SIZE_PRESETS = (*((s.label, s.size) for s in OUTPUT_SIZES.values()), ("Custom size", None))
FPS_CHOICES = (24, 25, 30, 50, 60)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "sonolume"


def run_export(request, *, progress, cancel):
    """On a worker thread: the engine's export of one request."""
    from engine.export import export

    return export(request, progress=progress, cancel=cancel, warn=log.warning)


def run_cluster_export(request, *, address: str, progress, cancel):
    """On a worker thread: the same request as chunks on a Ray cluster (engine.cluster);
    an empty address starts a local Ray instance."""
    from engine.cluster.render import export_chunked

    return export_chunked(request, cluster=address, progress=progress, cancel=cancel,
                          warn=log.warning)


def _title(scene) -> str:
    first = scene.styles[scene.segments[0].style]
    name = getattr(first, "name", scene.segments[0].style)
    return name if len(scene.segments) == 1 else f"show-{name}"


def describe_scene(scene) -> str:
    """What the video shows, in words: one style's name, or a show's styles in order."""
    names = []
    for seg in scene.segments:
        name = getattr(scene.styles[seg.style], "name", seg.style)
        if not names or names[-1] != name:
            names.append(name)
    if len(scene.segments) == 1:
        return f"<b>{_esc(names[0])}</b>"
    shown = ", ".join(_esc(n) for n in names[:4]) + (", …" if len(names) > 4 else "")
    return f"a show of {len(scene.segments)} segments (<b>{shown}</b>)"


class ExportDialog(QDialog):
    """Renders a snapshot of what the preview plays: the engine Scene it is given (one
    style or a show, with the reactivity as set), nothing read from the preview itself."""

    def __init__(self, settings, scene, start_at: float = 0.0, uses_gl: bool = False,
                 parent=None):
        super().__init__(parent)
        from engine.export import QUALITIES

        self.settings = settings
        self.scene = scene
        self.uses_gl = uses_gl
        self.worker: Worker | None = None
        self.result = None
        self.setWindowTitle("Export video")
        self.setMinimumWidth(520)
        track = Path(scene.track)
        duration = float(scene.features.duration)

        what = QLabel(f"{describe_scene(scene)} moving to <b>{_esc(track.name)}</b>"
                      f" ({duration:.1f} s), with the reactivity set in the preview")
        what.setWordWrap(True)

        self.size = QComboBox()
        for text, wh in SIZE_PRESETS:
            self.size.addItem(text, wh)
        self.size.setCurrentIndex(1)
        self.width_box, self.height_box = QSpinBox(), QSpinBox()
        for box, value in ((self.width_box, 1280), (self.height_box, 720)):
            box.setRange(16, 7680)
            box.setSingleStep(2)
            box.setValue(value)
        custom = QHBoxLayout()
        custom.addWidget(self.width_box)
        custom.addWidget(QLabel("×"))
        custom.addWidget(self.height_box)
        custom.addStretch(1)
        self.custom = QWidget()
        self.custom.setLayout(custom)
        self.custom.setVisible(False)
        self.size.currentIndexChanged.connect(self._size_changed)

        self.fps = QComboBox()
        for f in FPS_CHOICES:
            self.fps.addItem(f"{f} fps", f)
        self.fps.setCurrentIndex(FPS_CHOICES.index(30))

        self.whole = QRadioButton("whole track")
        self.part = QRadioButton("part:")
        self.whole.setChecked(True)
        self.start = QDoubleSpinBox()
        self.start.setRange(0.0, max(0.0, duration - 0.1))
        self.start.setDecimals(1)
        self.start.setSuffix(" s")
        self.start.setValue(min(start_at, max(0.0, duration - 0.1)))
        self.length = QDoubleSpinBox()
        self.length.setRange(0.1, max(0.1, duration))
        self.length.setDecimals(1)
        self.length.setSuffix(" s")
        self.length.setValue(min(10.0, duration))
        self.part_box = QWidget()
        pb = QHBoxLayout(self.part_box)
        pb.setContentsMargins(0, 0, 0, 0)
        pb.addWidget(QLabel("from"))
        pb.addWidget(self.start)
        pb.addWidget(QLabel("for"))
        pb.addWidget(self.length)
        pb.addStretch(1)
        self.part_box.setVisible(False)
        self.part.toggled.connect(self.part_box.setVisible)
        range_row = QHBoxLayout()
        range_row.addWidget(self.whole)
        range_row.addWidget(self.part)
        range_row.addWidget(self.part_box, 1)

        self.quality = QComboBox()
        for key, q in QUALITIES.items():
            self.quality.addItem(key, key)
            self.quality.setItemData(self.quality.count() - 1, q.description,
                                     Qt.ItemDataRole.ToolTipRole)
        self.quality.setCurrentIndex(max(0, self.quality.findData("fast")))
        self.quality_note = QLabel()
        self.quality_note.setWordWrap(True)
        self.quality_note.setStyleSheet("color: palette(mid);")
        self.quality.currentIndexChanged.connect(self._quality_changed)
        self._quality_changed()

        name = f"{_slug(_title(scene))}-{_slug(track.stem)}.mp4"
        default = Path(settings.last_dir("export")) / name
        self.target = QLineEdit(str(default))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        target_row = QHBoxLayout()
        target_row.addWidget(self.target, 1)
        target_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Size:", self.size)
        form.addRow("", self.custom)
        form.addRow("Frame rate:", self.fps)
        form.addRow("Range:", range_row)
        form.addRow("Quality:", self.quality)
        form.addRow("", self.quality_note)
        form.addRow("Save as:", target_row)
        self.cluster = QCheckBox("Render on cluster")
        self.cluster_address = QLineEdit(settings.get_str("export/cluster_address"))
        self.cluster_address.setPlaceholderText("empty: local Ray; HEAD:6379 or "
                                                "ray://HEAD:10001")
        cluster_row = QHBoxLayout()
        cluster_row.addWidget(self.cluster)
        cluster_row.addWidget(self.cluster_address, 1)
        form.addRow("Cluster:", cluster_row)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("ready")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setVisible(False)
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self._open_folder)
        self.open_button.setVisible(False)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)

        lay = QVBoxLayout(self)
        lay.addWidget(what)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(buttons)

    # -- options ---------------------------------------------------------------------------
    def _size_changed(self) -> None:
        self.custom.setVisible(self.size.currentData() is None)
        self.adjustSize()

    def _quality_changed(self) -> None:
        from engine.export import QUALITIES

        self.quality_note.setText(QUALITIES[self.quality.currentData()].description)

    def _browse(self) -> None:
        path = dialogs.save_file(self, "Save video as", self.target.text(), "MP4 video (*.mp4)")
        if path:
            if not path.lower().endswith(".mp4"):
                path += ".mp4"
            self.target.setText(path)

    def frame_size(self) -> tuple[int, int]:
        wh = self.size.currentData()
        return tuple(wh) if wh else (self.width_box.value(), self.height_box.value())

    def options(self) -> dict:
        """The dialog's choices, as the fields of the engine's ExportRequest."""
        opts = {
            "size": self.frame_size(),
            "fps": float(self.fps.currentData()),
            "quality": self.quality.currentData(),
            # On a CPU-only machine the preview measured torch faster; don't make a second
            # (software) GL context in this process for the export.
            "renderer": "auto" if self.uses_gl else "torch",
        }
        if self.part.isChecked():
            opts["start"] = float(self.start.value())
            opts["duration"] = float(self.length.value())
        return opts

    def request(self, out: Path):
        from engine.export import ExportRequest

        return ExportRequest(self.scene, out, track=self.scene.track, **self.options())

    # -- running ---------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.worker is not None

    def start_export(self) -> Worker | None:
        out = self.target.text().strip()
        if not out:
            dialogs.error(self, "Export video", "Choose where to save the video.")
            return None
        if not out.lower().endswith(".mp4"):
            out += ".mp4"
            self.target.setText(out)
        out_path = Path(out).expanduser()
        if out_path.exists() and not dialogs.confirm(
                self, "Export video", f"{out_path.name} exists. Replace it?"):
            return None
        self.settings.remember_dir("export", out_path.parent)
        self.result = None
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.status.setText("")
        self.export_button.setVisible(False)
        self.open_button.setVisible(False)
        self.cancel_button.setVisible(True)
        self.close_button.setEnabled(False)
        if self.cluster.isChecked():
            address = self.cluster_address.text().strip()
            self.settings.set("export/cluster_address", address)
            self.worker = Worker(run_cluster_export, self.request(out_path), name="export",
                                 address=address)
        else:
            self.worker = Worker(run_export, self.request(out_path), name="export")
        self.worker.on(progress=self._progress, finished=self._finished,
                       errored=self._failed, cancelled=self._cancelled, done=self._done)
        return self.worker.start()

    def cancel(self) -> None:
        if self.worker is not None:
            self.progress.setFormat("cancelling…")
            self.worker.cancel()

    def _progress(self, ev) -> None:
        if ev.stage == "analyse":
            self.progress.setValue(int(50 * ev.fraction))
            self.progress.setFormat("analysing the track…")
        elif ev.stage == "render":
            self.progress.setValue(50 + int(930 * ev.done / max(ev.total, 1)))
            eta = ev.eta
            self.progress.setFormat(f"frame {ev.done}/{ev.total} · ETA "
                                    f"{format_seconds(eta) if eta is not None else '…'}")
        else:
            self.progress.setValue(985)
            self.progress.setFormat("muxing audio…")

    def _finished(self, result) -> None:
        self.result = result
        self.progress.setValue(1000)
        self.progress.setFormat("done")
        w, h = result.size
        self.status.setText(
            f"Saved {result.path}\n{w}×{h}, {result.frames} frames at {result.fps:g} fps, "
            f"{result.duration:.1f} s in {format_seconds(result.seconds)} "
            f"({result.realtime:.2f}× real time, {result.renderer})")
        self.open_button.setVisible(True)

    def _failed(self, err) -> None:
        self.progress.setFormat("failed")
        self.status.setText(err.message)
        dialogs.error(self, "Export failed", err.message, err.traceback if err.is_bug else "")

    def _cancelled(self, message: str) -> None:
        self.progress.setValue(0)
        self.progress.setFormat("cancelled")
        self.status.setText(message)

    def _done(self) -> None:
        self.worker = None
        self.cancel_button.setVisible(False)
        self.export_button.setVisible(True)
        self.close_button.setEnabled(True)

    def _open_folder(self) -> None:
        if self.result is not None:
            dialogs.open_folder(Path(self.result.path).parent)

    def closeEvent(self, event) -> None:
        if self.worker is not None:
            if not dialogs.confirm(self, "Export video", "An export is running. Cancel it?"):
                event.ignore()
                return
            self.cancel()
        super().closeEvent(event)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
