"""The NeRV-CLIP panel's training settings: video, model preset, size, epochs, CLIP head
and loss weight, warmup, split (checked as you type), threads, the device (only where a
CUDA GPU is present), run folder, and which CLIP makes the targets. Values persist in the
app settings under ``nerv/``."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QWidget,
)

from app import dialogs
from app.clip_service import show_clip_choice
from app.nerv.jobs import runs_root
from engine.errors import SonolumeError
from engine.nerv.data import DEFAULT_SIZE, parse_hw, parse_split, probe_video
from engine.nerv.models import list_models
from engine.nerv.train import NervTrainConfig, device_choices

VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm *.avi *.m4v *.gif);;All files (*)"
HEADS = (("global", "global: one embedding per frame"),
         ("spatial", "spatial: one embedding per patch"),
         ("none", "none: pixels only"))


class NervForm(QGroupBox):
    """The settings box. ``config()`` turns it into a validated NervTrainConfig or tells
    the user (dialogs.error) what to fix; ``set_video`` probes the file at once, so an
    unreadable video is reported when chosen, not minutes later."""

    videoChanged = Signal(str)
    openSettings = Signal()

    def __init__(self, settings, parent=None):
        super().__init__("Training", parent)
        self.settings = settings
        self.video: str | None = None
        self._build()
        self.load()
        self.update_clip_label()

    def _build(self) -> None:
        self.video_label = QLabel("no video chosen")
        # a long file name must not widen the form (the full path is in the tooltip)
        self.video_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                       QSizePolicy.Policy.Preferred)
        self.video_info = QLabel()
        self.video_info.setStyleSheet("color: palette(mid);")
        self.video_info.hide()
        choose = QPushButton("Choose…")
        choose.setToolTip("any video ffmpeg reads; its audio is ignored")
        choose.clicked.connect(self.choose_video)
        video_row = QHBoxLayout()
        video_row.addWidget(self.video_label, 1)
        video_row.addWidget(choose)

        self.model = QComboBox()
        for name in list_models():
            self.model.addItem(name, name)
        self.model.setToolTip("nerv: frame time -> frame; hnerv: frame -> tiny embedding -> "
                              "frame. '-tiny' presets train in seconds, for a quick look.")
        self.size = QLineEdit(f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}")
        self.size.setToolTip("frame size HEIGHTxWIDTH; 128x256 trains a 0.75M model at "
                             "~40 ms per frame and epoch on a laptop CPU")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100000)
        self.epochs.setValue(60)
        self.eval_every = QSpinBox()
        self.eval_every.setRange(1, 10000)
        self.eval_every.setValue(10)
        self.eval_every.setToolTip("epochs between evaluations (curves, reconstructions, "
                                   "per-frame scores and the 'best' checkpoint)")
        self.head = QComboBox()
        for key, label in HEADS:
            self.head.addItem(label, key)
        self.head.currentIndexChanged.connect(lambda _: self._head_changed())
        self.clip_weight = QDoubleSpinBox()
        self.clip_weight.setRange(-0.05, 100.0)
        self.clip_weight.setSingleStep(0.05)
        self.clip_weight.setDecimals(2)
        self.clip_weight.setSpecialValueText("default")
        self.clip_weight.setValue(-0.05)
        self.warmup = QSpinBox()
        self.warmup.setRange(0, 100000)
        self.warmup.setToolTip("pixel-only epochs before the CLIP loss joins")
        self.split = QLineEdit("4_4_5")
        self.split.setToolTip("a_b_c: frames in groups of c; positions < a train, positions "
                              ">= b are held out as unseen. 'all' fits every frame.")
        self.split.textChanged.connect(self.check_split)
        self.split_error = QLabel()
        self.split_error.setWordWrap(True)
        self.split_error.setStyleSheet("color: #e04040;")
        self.split_error.hide()
        self.threads = QSpinBox()
        self.threads.setRange(0, os.cpu_count() or 64)
        self.threads.setSpecialValueText("auto")
        self.threads.setToolTip("torch threads while training; 1 is often faster on a busy "
                                "machine or for tiny frames")
        # Only where there is a choice: without a CUDA GPU the CPU is the one device.
        choices = device_choices()
        self.device_combo: QComboBox | None = None
        if len(choices) > 1:
            self.device_combo = QComboBox()
            for key, label in choices:
                self.device_combo.addItem(label, key)
            self.device_combo.setToolTip("where the network trains (Resume continues on "
                                         "this device too)")
        self.out = QLineEdit()
        self.out.setPlaceholderText(f"new folder in {runs_root()}")
        self.out.setToolTip("run folder: checkpoints, CLIP targets, TensorBoard logs, eval")
        out_choose = QToolButton()
        out_choose.setText("…")
        out_choose.setToolTip("choose the run folder")
        out_choose.clicked.connect(self.choose_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(out_choose)
        self.clip_label = QLabel()
        self.clip_label.setTextFormat(Qt.TextFormat.RichText)
        clip_change = QToolButton()
        clip_change.setText("…")
        clip_change.setToolTip("choose the CLIP model or a checkpoint file in Settings")
        clip_change.clicked.connect(self.openSettings.emit)
        clip_row = QHBoxLayout()
        clip_row.addWidget(self.clip_label, 1)
        clip_row.addWidget(clip_change)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Video:", video_row)
        form.addRow("", self.video_info)
        form.addRow("Model:", self.model)
        form.addRow("Size (HxW):", self.size)
        form.addRow("Epochs:", self.epochs)
        form.addRow("Evaluate every:", self.eval_every)
        form.addRow("CLIP head:", self.head)
        form.addRow("CLIP loss weight:", self.clip_weight)
        form.addRow("Warmup epochs:", self.warmup)
        form.addRow("Split:", self.split)
        form.addRow("", self.split_error)
        form.addRow("Threads:", self.threads)
        if self.device_combo is not None:
            form.addRow("Device:", self.device_combo)
        form.addRow("Run folder:", out_row)
        form.addRow("CLIP:", clip_row)
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced ▸")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.advanced_button.toggled.connect(self._show_advanced)
        form.addRow(self.advanced_button)
        self.advanced = self._build_advanced()
        form.addRow(self.advanced)
        self.advanced.hide()
        self.setLayout(form)
        self.setMaximumWidth(380)
        self._head_changed()

    def _build_advanced(self) -> QWidget:
        """The optimiser and the optional losses (the CLI's flags of the same names)."""
        box = QWidget()
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 1.0)
        self.lr.setSingleStep(0.0005)
        self.lr.setValue(NervTrainConfig.lr)
        self.lr.setToolTip("peak learning rate (Adam, cosine schedule)")
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setToolTip("frames per step; contrastive and sequence losses need 2+")
        self.pixel_loss = QComboBox()
        for key, label in (("fusion6", "Fusion6: 0.7·L1 + 0.3·(1 − SSIM)"), ("l2", "L2"),
                           ("l1", "L1")):
            self.pixel_loss.addItem(label, key)
        self.contrastive = QComboBox()
        for key in ("none", "infonce", "siglip"):
            self.contrastive.addItem(key, key)
        self.contrastive.setToolTip("contrast each frame's predicted CLIP embedding with the "
                                    "other frames of its batch")
        self.contrastive_weight = QDoubleSpinBox()
        self.contrastive_weight.setRange(0.0, 100.0)
        self.contrastive_weight.setSingleStep(0.05)
        self.contrastive_weight.setValue(NervTrainConfig.contrastive_weight)
        self.neighbour_weight = QDoubleSpinBox()
        self.neighbour_weight.setRange(0.0, 100.0)
        self.neighbour_weight.setSingleStep(0.05)
        self.neighbour_weight.setSpecialValueText("off")
        self.neighbour_weight.setToolTip("spatial head: keep adjacent patches' embeddings as "
                                         "alike as the measured ones are")
        self.sequence_weight = QDoubleSpinBox()
        self.sequence_weight.setRange(0.0, 100.0)
        self.sequence_weight.setSingleStep(0.05)
        self.sequence_weight.setSpecialValueText("off")
        self.sequence_weight.setToolTip("learnable sequence similarity (global, local, "
                                        "temporal and attention) over the frames of a batch")
        form = QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Learning rate:", self.lr)
        form.addRow("Batch size:", self.batch)
        form.addRow("Pixel loss:", self.pixel_loss)
        contrast = QHBoxLayout()
        contrast.addWidget(self.contrastive, 1)
        contrast.addWidget(QLabel("weight"))
        contrast.addWidget(self.contrastive_weight)
        form.addRow("Contrastive:", contrast)
        form.addRow("Neighbour weight:", self.neighbour_weight)
        form.addRow("Sequence weight:", self.sequence_weight)
        return box

    def _show_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setText("Advanced ▾" if on else "Advanced ▸")

    def load(self) -> None:
        s = self.settings
        i = self.model.findData(s.get_str("nerv/model", "nerv"))
        self.model.setCurrentIndex(max(i, 0))
        self.size.setText(s.get_str("nerv/size", self.size.text()))
        self.epochs.setValue(s.get_int("nerv/epochs", self.epochs.value()))
        self.eval_every.setValue(s.get_int("nerv/eval_every", self.eval_every.value()))
        self.head.setCurrentIndex(max(self.head.findData(s.get_str("nerv/head", "global")), 0))
        self.split.setText(s.get_str("nerv/split", self.split.text()))
        self.threads.setValue(s.get_int("nerv/threads", 0))
        if self.device_combo is not None:
            i = self.device_combo.findData(s.get_str("nerv/device", "cuda"))
            self.device_combo.setCurrentIndex(max(i, 0))
        self.batch.setValue(s.get_int("nerv/batch_size", 1))
        i = self.pixel_loss.findData(s.get_str("nerv/pixel_loss", "fusion6"))
        self.pixel_loss.setCurrentIndex(max(i, 0))
        i = self.contrastive.findData(s.get_str("nerv/contrastive", "none"))
        self.contrastive.setCurrentIndex(max(i, 0))

    def save(self) -> None:
        s = self.settings
        s.set("nerv/model", self.model.currentData())
        s.set("nerv/size", self.size.text().strip())
        s.set("nerv/epochs", self.epochs.value())
        s.set("nerv/eval_every", self.eval_every.value())
        s.set("nerv/head", self.head.currentData())
        s.set("nerv/split", self.split.text().strip())
        s.set("nerv/threads", self.threads.value())
        if self.device_combo is not None:
            s.set("nerv/device", self.device_combo.currentData())
        s.set("nerv/batch_size", self.batch.value())
        s.set("nerv/pixel_loss", self.pixel_loss.currentData())
        s.set("nerv/contrastive", self.contrastive.currentData())

    def _head_changed(self) -> None:
        head = self.head.currentData()
        on = head != "none"
        self.clip_weight.setEnabled(on)
        self.warmup.setEnabled(on)
        default = {"global": 0.1, "spatial": 0.5}.get(head, 0.0)
        self.clip_weight.setToolTip(f"λ for the CLIP loss 1 − cos ('default': {default} for "
                                    f"the {head} head)" if on else "no CLIP head")

    def check_split(self) -> bool:
        try:
            parse_split(self.split.text())
        except SonolumeError as exc:
            self.split_error.setText(str(exc))
            self.split_error.show()
            return False
        self.split_error.hide()
        self.split_error.setText("")
        return True

    def update_clip_label(self) -> None:
        show_clip_choice(self.clip_label, self.settings.clip_spec(), "makes the targets",
                         "The CLIP targets and similarities are noise. ")

    def choose_video(self) -> None:
        path = dialogs.open_file(self, "Choose a video to fit", self.settings.last_dir("video"),
                                 VIDEO_FILTER)
        if path:
            self.set_video(path)

    def set_video(self, path) -> bool:
        """Use ``path`` for the next training; an unreadable file is reported, not kept."""
        path = str(path)
        try:
            meta = probe_video(path)
            if not meta.get("size") or not meta.get("codec"):
                raise SonolumeError(f"{path} has no video stream")
        except SonolumeError as exc:
            dialogs.error(self, "Cannot use this video", str(exc))
            return False
        self.video = path
        self.settings.remember_dir("video", path)
        w, h = meta["size"]
        fps, dur = meta.get("fps") or 0, meta.get("duration") or 0
        frames = f", ~{round(fps * dur)} frames" if fps and dur else ""
        self.video_label.setText(Path(path).name)
        self.video_label.setToolTip(path)
        self.video_info.setText(f"{w}x{h}, {fps:g} fps{frames}")
        self.video_info.show()
        self.videoChanged.emit(path)
        return True

    def choose_out(self) -> None:
        root = runs_root()
        folder = dialogs.choose_folder(self, "Run folder",
                                       str(root if root.is_dir() else Path.home()))
        if folder:
            self.out.setText(folder)

    def device(self) -> str:
        """Where training runs: the chosen device, or the CPU where there is no choice."""
        return self.device_combo.currentData() if self.device_combo is not None else "cpu"

    def resume_device(self) -> str | None:
        """The device for Resume: the one chosen, or (no choice shown) None, which lets
        the engine continue where the run last trained, or on the CPU."""
        return self.device_combo.currentData() if self.device_combo is not None else None

    def config(self) -> NervTrainConfig | None:
        """The training settings, or None after telling the user what is wrong."""
        if not self.video:
            dialogs.error(self, "NeRV training", "Choose a video to fit first.")
            return None
        if not self.check_split():
            dialogs.error(self, "NeRV training", self.split_error.text())
            return None
        try:
            weight = self.clip_weight.value()
            cfg = NervTrainConfig(
                video=self.video, size=parse_hw(self.size.text()), split=self.split.text(),
                model=self.model.currentData(), clip_head=self.head.currentData(),
                clip_loss_weight=None if weight < 0 else weight,
                warmup_epochs=self.warmup.value(), epochs=self.epochs.value(),
                eval_every=min(self.eval_every.value(), self.epochs.value()),
                lr=self.lr.value(), batch_size=self.batch.value(),
                pixel_loss=self.pixel_loss.currentData(),
                contrastive=self.contrastive.currentData(),
                contrastive_weight=self.contrastive_weight.value(),
                neighbour_weight=self.neighbour_weight.value(),
                sequence_weight=self.sequence_weight.value())
            cfg.validate()
        except SonolumeError as exc:
            dialogs.error(self, "NeRV training", str(exc))
            return None
        return cfg
