"""Where the spatial inspector's picture comes from: an image file, a video frame, a style
still from the library, or a frame of a NeRV-CLIP run. This box only asks (file pickers go
through :mod:`app.dialogs`) and emits a request; the panel does the loading in a worker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.spatial.jobs import IMAGE_FILTER, VIDEO_FILTER

SOURCES = (("image", "Image file"), ("video", "Video frame"), ("style", "Style still"),
           ("run", "NeRV-CLIP run"))


def _path_row(button_text: str, slot) -> tuple[QLabel, QHBoxLayout]:
    label = QLabel("nothing chosen")
    label.setMinimumWidth(40)
    button = QPushButton(button_text)
    button.clicked.connect(slot)
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(label, 1)
    row.addWidget(button)
    return label, row


def _action_row(label: str, spin: QSpinBox, button: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(QLabel(label))
    row.addWidget(spin, 1)
    row.addWidget(button)
    return row


def _frame_spin() -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, 10_000_000)
    spin.setToolTip("frame number, counted from 0")
    return spin


def _page(*rows) -> QWidget:
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    for r in rows:
        if isinstance(r, QHBoxLayout):
            lay.addLayout(r)
        else:
            lay.addWidget(r)
    return w


class SourcePicker(QGroupBox):
    imageRequested = Signal(str)
    videoRequested = Signal(str, int)  # path, frame
    styleRequested = Signal(str, int)  # style id, size in px
    runRequested = Signal(str, int)  # run folder, frame

    def __init__(self, settings, library, parent=None):
        super().__init__("Source", parent)
        self.settings, self.library = settings, library
        self.video = self.run_dir = ""
        self.kind = QComboBox()
        for key, label in SOURCES:
            self.kind.addItem(label, key)
        self.pages = QStackedWidget()
        self.kind.currentIndexChanged.connect(self.pages.setCurrentIndex)

        self.image_path, image_row = _path_row("Open…", self.choose_image)
        self.video_path, video_row = _path_row("Open…", self.choose_video)
        self.video_frame = _frame_spin()
        load_video = QPushButton("Load frame")
        load_video.clicked.connect(lambda: self.video and self.videoRequested.emit(
            self.video, self.video_frame.value()))
        self.style_combo = QComboBox()
        self.style_combo.setToolTip("a style from the library; its still is rendered")
        self.style_size = QSpinBox()
        self.style_size.setRange(64, 2048)
        self.style_size.setValue(512)
        self.style_size.setSuffix(" px")
        self.style_size.setToolTip("the still is rendered square, at this size")
        render = QPushButton("Render still")
        render.clicked.connect(lambda: self.style_combo.currentData() and
                               self.styleRequested.emit(self.style_combo.currentData(),
                                                        self.style_size.value()))
        self.run_path, run_row = _path_row("Choose…", self.choose_run)
        self.run_frame = _frame_spin()
        load_run = QPushButton("Load frame")
        load_run.clicked.connect(lambda: self.run_dir and self.runRequested.emit(
            self.run_dir, self.run_frame.value()))
        for w in (_page(image_row),
                  _page(video_row, _action_row("Frame:", self.video_frame, load_video)),
                  _page(self.style_combo, _action_row("Size:", self.style_size, render)),
                  _page(run_row, _action_row("Frame:", self.run_frame, load_run))):
            self.pages.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addWidget(self.kind)
        lay.addWidget(self.pages)

    def refresh_styles(self) -> None:
        """Fill the style list from the library (call after the library changes)."""
        keep = self.style_combo.currentData()
        self.style_combo.clear()
        for style in self.library.list():
            self.style_combo.addItem(style.name, style.id)
        self.style_combo.setCurrentIndex(max(self.style_combo.findData(keep), 0))

    # -- asking ----------------------------------------------------------------------------
    def choose_image(self) -> None:
        path = dialogs.open_file(self, "Open an image", self.settings.last_dir("spatial"),
                                 IMAGE_FILTER)
        if path:
            self.imageRequested.emit(path)

    def choose_video(self) -> None:
        path = dialogs.open_file(self, "Open a video", self.settings.last_dir("spatial"),
                                 VIDEO_FILTER)
        if path:
            self.videoRequested.emit(path, self.video_frame.value())

    def choose_run(self) -> None:
        path = dialogs.choose_folder(self, "Choose a NeRV-CLIP run folder",
                                     self.settings.last_dir("nerv-run"))
        if path:
            self.runRequested.emit(path, self.run_frame.value())

    # -- showing what is loaded ------------------------------------------------------------
    def mark(self, kind: str, target: str, number: int | None = None) -> None:
        """Show ``kind``'s page with ``target`` (a path or a style id) and its frame/size."""
        self.kind.setCurrentIndex(self.kind.findData(kind))
        label = {"image": self.image_path, "video": self.video_path,
                 "run": self.run_path}.get(kind)
        if label is not None:
            label.setText(Path(target).name)
            label.setToolTip(str(target))
        if kind == "video":
            self.video = str(target)
            self.settings.remember_dir("spatial", target)
        elif kind == "image":
            self.settings.remember_dir("spatial", target)
        elif kind == "run":
            self.run_dir = str(target)
            self.settings.remember_dir("nerv-run", target)
        elif kind == "style":
            i = self.style_combo.findData(target)
            if i >= 0:
                self.style_combo.setCurrentIndex(i)
        spin = {"video": self.video_frame, "run": self.run_frame,
                "style": self.style_size}.get(kind)
        if spin is not None and number is not None:
            spin.setValue(int(number))
