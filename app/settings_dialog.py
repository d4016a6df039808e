"""Preferences: library folder, CLIP model / checkpoint / random test config, preview."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import dialogs

COMMON_MODELS = ("RN50", "RN101", "ViT-B-32", "ViT-B-16", "ViT-L-14")
DIALOG_WIDTH = 640


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setStyleSheet("color: palette(dark);")
    return label


def _path_row(edit: QLineEdit, browse) -> QWidget:
    w = QWidget()
    row = QHBoxLayout(w)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(edit, 1)
    b = QPushButton("Browse…")
    b.clicked.connect(browse)
    row.addWidget(b)
    clear = QPushButton("Clear")
    clear.clicked.connect(edit.clear)
    row.addWidget(clear)
    return w


class SettingsDialog(QDialog):
    def __init__(self, settings, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle("Sonolume settings")

        self.library = QLineEdit(settings.library_dir)
        self.library.setPlaceholderText("default: $SONOLUME_LIBRARY or your data folder")
        lib_box = QGroupBox("Style library")
        lf = QFormLayout(lib_box)
        lf.addRow("Your styles folder:", _path_row(self.library, self._browse_library))
        lf.addRow(_note("Bundled styles are always shown too (read-only)."))

        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(COMMON_MODELS)
        self.model.setCurrentText(settings.clip_model)
        self.pretrained = QLineEdit(settings.clip_pretrained)
        self.checkpoint = QLineEdit(settings.clip_checkpoint)
        self.checkpoint.setPlaceholderText("optional: a downloaded checkpoint file for the model")
        self.random = QLineEdit(settings.clip_config)
        self.random.setPlaceholderText("leave empty for real use")
        clip_box = QGroupBox("CLIP (judges images during training, powers semantic search)")
        cf = QFormLayout(clip_box)
        cf.addRow("Model:", self.model)
        cf.addRow("Pretrained tag:", self.pretrained)
        cf.addRow("Checkpoint file:", _path_row(self.checkpoint, self._browse_checkpoint))
        how = _note("Online, open_clip downloads the weights on first use. Offline, download "
                    "the checkpoint file elsewhere and choose it here (it overrides the tag).")
        cf.addRow(how)
        warn = _note("<b style='color:#e04040'>random CLIP — testing only</b>: an open_clip "
                     "model config JSON with random weights. Its judgements are noise; styles "
                     "trained with it are marked RANDOM CLIP. Leave empty for real use.")
        cf.addRow("Random CLIP config:", _path_row(self.random, self._browse_config))
        cf.addRow(warn)

        self.preview_path = QComboBox()
        for key, text in (("auto", "automatic (measure and pick the faster)"),
                          ("gl", "OpenGL shader"), ("torch", "torch (CPU/GPU, adaptive size)")):
            self.preview_path.addItem(text, key)
        self.preview_path.setCurrentIndex(
            max(0, self.preview_path.findData(settings.preview_path)))
        self.fps = QSpinBox()
        self.fps.setRange(5, 60)
        self.fps.setValue(settings.target_fps)
        self.fps.setSuffix(" fps")
        prev_box = QGroupBox("Live preview")
        pf = QFormLayout(prev_box)
        pf.addRow("Renderer:", self.preview_path)
        pf.addRow("Target frame rate:", self.fps)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(lib_box)
        lay.addWidget(clip_box)
        lay.addWidget(prev_box)
        lay.addWidget(buttons)
        self.setFixedWidth(DIALOG_WIDTH)
        for note in self.findChildren(QLabel):
            if note.wordWrap():  # Qt's dialogs do not grow for wrapped text by themselves
                note.setMinimumHeight(note.heightForWidth(DIALOG_WIDTH - 60))

    def _browse_library(self):
        path = dialogs.choose_folder(self, "Styles folder",
                                     self.library.text() or self.settings.last_dir("library"))
        if path:
            self.library.setText(path)

    def _browse_checkpoint(self):
        path = dialogs.open_file(self, "CLIP checkpoint", self.settings.last_dir("clip"),
                                 "CLIP checkpoints (*.pt *.pth *.bin *.safetensors);;"
                                 "All files (*)")
        if path:
            self.checkpoint.setText(path)
            self.settings.remember_dir("clip", path)

    def _browse_config(self):
        path = dialogs.open_file(self, "Random CLIP config (testing only)",
                                 self.settings.last_dir("clip"), "JSON (*.json)")
        if path:
            self.random.setText(path)

    def apply(self) -> None:
        s = self.settings
        s.library_dir = self.library.text().strip()
        s.clip_model = self.model.currentText().strip() or "RN50"
        s.clip_pretrained = self.pretrained.text().strip() or "openai"
        s.clip_checkpoint = self.checkpoint.text().strip()
        s.clip_config = self.random.text().strip()
        s.preview_path = self.preview_path.currentData()
        s.target_fps = self.fps.value()
        s.sync()
