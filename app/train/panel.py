"""Train styles from text prompts: weighted prompts, negatives, preset, seed; a queue of
jobs (a mood board trains one style per prompt); live preview, progress with ETA and a
similarity curve. Finished styles land in the library at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.clip_service import ask_for_clip_weights, show_clip_choice
from app.common import format_seconds, to_qimage
from app.workers import Worker
from engine.cppn.train import DEFAULT_PRESET, TRAIN_PRESETS, list_presets
from engine.errors import ClipUnavailable

log = logging.getLogger("sonolume.app.train")

@dataclass
class TrainJob:
    prompts: list[tuple[str, float]]
    negatives: list[str] = field(default_factory=list)
    preset: str = "draft"
    seed: int = 0
    steps: int = 0  # 0: the preset's own schedule
    independent: bool = False  # start from the seed, not the shared base network
    name: str = ""
    state: str = "waiting"  # waiting, running, done, failed, cancelled
    note: str = ""

    @property
    def label(self) -> str:
        return self.name or " + ".join(t for t, _ in self.prompts)[:60]


def train_job(job: TrainJob, clip_service, spec, user_dir, bundled_dir, *, progress, cancel):
    """Runs on a worker thread: load CLIP, train, save into the library. Returns the Style."""
    from engine.cppn.train import Prompt, TrainConfig, Trainer, with_schedule_scale
    from engine.styles.library import Library

    progress(("status", f"loading CLIP {spec.label}…"))
    clip = clip_service.get(spec)
    if cancel.is_set():
        return None
    cfg = TrainConfig.from_preset(
        job.preset, [Prompt(t, w) for t, w in job.prompts], negatives=list(job.negatives),
        seed=job.seed)
    cfg = with_schedule_scale(cfg, job.steps or None)
    if job.independent:
        cfg = replace(cfg, base=None)
    cfg.preview_every = max(1, min(10, cfg.total_iterations // 30 or 1))
    cfg.validate()
    progress(("status", "training…" + (" (compiling first, ~30 s)" if cfg.compile else "")))
    trainer = Trainer(cfg, clip)
    result = trainer.run(on_progress=lambda ev: progress(("step", ev)), cancel=cancel)
    progress(("status", "saving…"))
    library = Library(user_dir, bundled_dir)
    return library.add(result.cppn, result.style_meta(job.label), result.thumbnail)


class PromptRow(QWidget):
    removed = Signal(object)

    def __init__(self, text: str = "", weight: float = 1.0, removable: bool = True):
        super().__init__()
        self.text = QLineEdit(text)
        self.text.setPlaceholderText("describe the image, e.g. 'neon jellyfish in deep sea'")
        self.weight = QDoubleSpinBox()
        self.weight.setRange(0.05, 10.0)
        self.weight.setSingleStep(0.25)
        self.weight.setValue(weight)
        self.weight.setToolTip("weight of this prompt in the blend")
        self.weight.setFixedWidth(70)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text, 1)
        row.addWidget(self.weight)
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("remove this prompt")
        self.remove.clicked.connect(lambda: self.removed.emit(self))
        row.addWidget(self.remove)
        self.remove.setVisible(removable)


class MoodBoardDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Mood board")
        self.edit = QPlainTextEdit()
        self.edit.setPlaceholderText("one prompt per line, e.g.\nmolten gold waves\n"
                                     "frozen aurora\nneon rain on glass")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Queue all")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Each line becomes its own style, trained one after another "
                             "with the preset, negatives and seed of the Train panel."))
        lay.addWidget(self.edit)
        lay.addWidget(buttons)
        self.resize(420, 300)

    def prompts(self) -> list[str]:
        return [line.strip() for line in self.edit.toPlainText().splitlines()
                if line.strip() and not line.strip().startswith("#")]


class TrainPanel(QWidget):
    styleTrained = Signal(object)  # Style
    openSettings = Signal()
    busyChanged = Signal(bool)

    def __init__(self, settings, clip_service, library, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.clip_service = clip_service
        self.library = library
        self.jobs: list[TrainJob] = []
        self.worker: Worker | None = None
        self.current: TrainJob | None = None
        self.paused_reason = ""
        self._sims: list[tuple[int, float]] = []
        self._build()
        self.update_clip_label()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.rows: list[PromptRow] = []
        self.prompt_box = QVBoxLayout()
        self.prompt_box.setSpacing(3)
        add = QPushButton("+ Add prompt")
        add.setToolTip("blend several prompts into one style, each with a weight")
        add.clicked.connect(lambda: self.add_prompt_row())
        self.negative = QLineEdit()
        self.negative.setPlaceholderText("what to avoid, e.g. 'text; watermark' (optional)")
        self.preset = QComboBox()
        for i, preset in enumerate(list_presets()):  # the engine's registry, as the CLI's
            self.preset.addItem(preset.label, preset.name)
            self.preset.setItemData(i, f"{preset.description} ({preset.summary()})",
                                    Qt.ItemDataRole.ToolTipRole)
        self.preset_note = QLabel(TRAIN_PRESETS[DEFAULT_PRESET].description)
        self.preset_note.setWordWrap(True)
        self.preset_note.setStyleSheet("color: palette(mid);")
        self.preset.currentIndexChanged.connect(
            lambda _: self.preset_note.setText(TRAIN_PRESETS[self.preset.currentData()]
                                               .description))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.independent = QCheckBox("Independent start (not the shared base)")
        self.independent.setToolTip("more variety between seeds, but the style morphs poorly "
                                    "into others, so shows crossfade it instead")
        self.steps = QSpinBox()
        self.steps.setRange(0, 100000)
        self.steps.setSpecialValueText("preset default")
        self.steps.setToolTip("total training iterations (0: the preset's schedule)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("style name (default: the prompt)")
        self.clip_label = QLabel()
        self.clip_label.setWordWrap(True)
        self.clip_label.setTextFormat(Qt.TextFormat.RichText)
        clip_change = QPushButton("Change…")
        clip_change.setToolTip("choose the CLIP model or a checkpoint file in Settings")
        clip_change.clicked.connect(self.openSettings.emit)
        clip_row = QHBoxLayout()
        clip_row.addWidget(self.clip_label, 1)
        clip_row.addWidget(clip_change)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        prompts = QVBoxLayout()
        prompts.addLayout(self.prompt_box)
        prompts.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)
        form.addRow("Prompts:", prompts)
        form.addRow("Negative:", self.negative)
        form.addRow("Preset:", self.preset)
        form.addRow("", self.preset_note)
        form.addRow("Seed:", self.seed)
        form.addRow("", self.independent)
        form.addRow("Iterations:", self.steps)
        form.addRow("Name:", self.name)
        form.addRow("CLIP:", clip_row)
        self.add_prompt_row(removable=False)

        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start_from_form)
        self.mood_button = QPushButton("Mood board…")
        self.mood_button.setToolTip("queue several prompts, one style each")
        self.mood_button.clicked.connect(self.mood_board)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the style being trained now (the queue goes on)")
        self.cancel_button.clicked.connect(self.cancel_current)
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.mood_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.status = QLabel("Type a prompt and press Start. Finished styles appear in the "
                             "library.")
        self.status.setWordWrap(True)

        self.preview = QLabel()
        self.preview.setFixedSize(160, 160)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #202020; color: #aaaaaa; border-radius: 4px;")
        self.preview.setText("live image\nappears here")
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(160)
        self.plot.setMinimumWidth(120)
        self.plot.setLabel("left", "CLIP similarity")
        self.plot.setLabel("bottom", "iteration")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.hideButtons()
        self.curve_raw = self.plot.plot([], [], pen=pg.mkPen((120, 160, 220, 110), width=1))
        self.curve_avg = self.plot.plot([], [], pen=pg.mkPen((255, 190, 60), width=2))
        self.plot_hint = pg.TextItem("similarity over\nthe iterations", color=(170, 170, 170),
                                     anchor=(0.5, 0.5))
        self.plot_hint.setPos(0.5, 0.5)
        self.plot.addItem(self.plot_hint)
        live = QHBoxLayout()
        live.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        live.addWidget(self.plot, 1)

        self.queue = QListWidget()
        self.queue.setMaximumHeight(110)
        self.queue.setToolTip("training queue: jobs run one after another")
        clear = QPushButton("Clear finished")
        clear.clicked.connect(self.clear_finished)
        queue_box = QGroupBox("Queue")
        ql = QVBoxLayout(queue_box)
        ql.setContentsMargins(6, 6, 6, 6)
        ql.addWidget(self.queue)
        ql.addWidget(clear, 0, Qt.AlignmentFlag.AlignRight)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(live)
        layout.addWidget(queue_box)
        layout.addStretch(1)

    def add_prompt_row(self, text: str = "", weight: float = 1.0, removable: bool = True):
        row = PromptRow(text, weight, removable)
        row.removed.connect(self._remove_row)
        row.text.returnPressed.connect(self.start_from_form)
        self.rows.append(row)
        self.prompt_box.addWidget(row)
        return row

    def _remove_row(self, row: PromptRow) -> None:
        if len(self.rows) > 1:
            self.rows.remove(row)
            row.setParent(None)
            row.deleteLater()

    def update_clip_label(self) -> None:
        show_clip_choice(self.clip_label, self.settings.clip_spec(), "judges the images",
                         "Its judgements are noise; styles trained with it are marked "
                         "RANDOM CLIP. ")

    # -- jobs ------------------------------------------------------------------------------
    def job_from_form(self) -> TrainJob | None:
        prompts = [(r.text.text().strip(), r.weight.value()) for r in self.rows]
        prompts = [(t, w) for t, w in prompts if t]
        if not prompts:
            dialogs.error(self, "Train", "Type a prompt first: a few words describing the "
                          "picture you want.")
            return None
        negatives = [n.strip() for n in self.negative.text().split(";") if n.strip()]
        return TrainJob(prompts=prompts, negatives=negatives, preset=self.preset.currentData(),
                        seed=self.seed.value(), steps=self.steps.value(),
                        name=self.name.text().strip(),
                        independent=self.independent.isChecked())

    def start_from_form(self) -> None:
        job = self.job_from_form()
        if job is not None:
            self.enqueue([job])

    def mood_board(self) -> None:
        dlg = MoodBoardDialog(self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        base = self.job_from_form_defaults()
        jobs = [TrainJob(prompts=[(p, 1.0)], negatives=base.negatives, preset=base.preset,
                         seed=base.seed, steps=base.steps, independent=base.independent)
                for p in dlg.prompts()]
        self.enqueue(jobs)

    def job_from_form_defaults(self) -> TrainJob:
        negatives = [n.strip() for n in self.negative.text().split(";") if n.strip()]
        return TrainJob(prompts=[], negatives=negatives, preset=self.preset.currentData(),
                        seed=self.seed.value(), steps=self.steps.value(),
                        independent=self.independent.isChecked())

    def enqueue(self, jobs: list[TrainJob]) -> None:
        for job in jobs:
            self.jobs.append(job)
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, job)
            self.queue.addItem(item)
            self._update_item(job)
        self.resume_queue()

    def _item(self, job: TrainJob) -> QListWidgetItem | None:
        for i in range(self.queue.count()):
            item = self.queue.item(i)
            if item.data(Qt.ItemDataRole.UserRole) is job:
                return item
        return None

    def _update_item(self, job: TrainJob) -> None:
        item = self._item(job)
        if item is None:
            return
        mark = {"waiting": "⏳", "running": "▶", "done": "✓", "failed": "✗",
                "cancelled": "■"}[job.state]
        item.setText(f"{mark} {job.label}" + (f" — {job.note}" if job.note else ""))

    def clear_finished(self) -> None:
        for i in reversed(range(self.queue.count())):
            job = self.queue.item(i).data(Qt.ItemDataRole.UserRole)
            if job.state in ("done", "failed", "cancelled"):
                self.queue.takeItem(i)
                self.jobs.remove(job)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def _next(self) -> None:
        if self.worker is not None or self.paused_reason:
            return
        job = next((j for j in self.jobs if j.state == "waiting"), None)
        if job is None:
            self.start_button.setText("Start training")
            self.cancel_button.setEnabled(False)
            self.busyChanged.emit(False)
            return
        self.current = job
        job.state, job.note = "running", ""
        self._update_item(job)
        self._sims = []
        self.curve_raw.setData([], [])
        self.curve_avg.setData([], [])
        self.progress.setValue(0)
        self.progress.setFormat(f"{job.label[:40]}: starting…")
        self.start_button.setText("Add to queue")
        self.cancel_button.setEnabled(True)
        self.busyChanged.emit(True)
        spec = self.settings.clip_spec()
        self.worker = Worker(
            train_job, job, self.clip_service, spec, self.library.user_dir,
            self.library.bundled_dir, name=f"training '{job.label}'",
        ).on(progress=self._on_progress, finished=self._on_finished, errored=self._on_error,
             cancelled=self._on_cancelled, done=self._on_done)
        self.worker.start()

    def cancel_current(self) -> None:
        if self.worker is not None:
            self.status.setText("cancelling…")
            self.worker.cancel()

    def shutdown(self) -> None:
        for job in self.jobs:
            if job.state == "waiting":
                job.state = "cancelled"
        self.cancel_current()

    # -- worker signals ----------------------------------------------------------------------
    def _on_progress(self, msg) -> None:
        kind, value = msg
        if kind == "status":
            self.status.setText(value)
            return
        ev = value
        pct = int(100 * ev.iteration / max(ev.total, 1))
        self.progress.setValue(pct)
        self.progress.setFormat(
            f"{ev.iteration}/{ev.total} · {ev.resolution}px · sim {ev.similarity:.3f} · "
            f"ETA {format_seconds(ev.eta)}")
        if self.current is not None:
            self.current.note = f"{pct}%"
            self._update_item(self.current)
        self._sims.append((ev.iteration, ev.similarity))
        self.plot_hint.setVisible(False)
        xs = np.array([s[0] for s in self._sims], float)
        ys = np.array([s[1] for s in self._sims], float)
        self.curve_raw.setData(xs, ys)
        if len(ys) > 1:
            a = 0.15
            avg = np.empty_like(ys)
            avg[0] = ys[0]
            for i in range(1, len(ys)):
                avg[i] = a * ys[i] + (1 - a) * avg[i - 1]
            self.curve_avg.setData(xs, avg)
        if ev.preview is not None:
            pm = QPixmap.fromImage(to_qimage(ev.preview))
            self.preview.setPixmap(pm.scaled(self.preview.size(),
                                             Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))

    def _on_finished(self, style) -> None:
        job = self.current
        if style is None:
            self._on_cancelled("cancelled")
            return
        score = style.meta.get("score")
        job.state, job.note = "done", (f"score {score:.3f}" if score is not None else "done")
        self._update_item(job)
        self.progress.setValue(100)
        self.progress.setFormat(f"{job.label[:40]}: done")
        random = " (random CLIP: testing only)" if style.clip_random else ""
        self.status.setText(f"saved '{style.name}' to the library{random}")
        self.styleTrained.emit(style)

    def _on_error(self, err) -> None:
        job = self.current
        if isinstance(err.exception, ClipUnavailable):
            # Every queued job would fail the same way: hold the queue (this job stays in
            # it) and explain the fix.
            job.state, job.note = "waiting", "on hold: CLIP weights missing"
            self._update_item(job)
            self.progress.setFormat("on hold: CLIP weights missing")
            self.status.setText(err.message)
            self.paused_reason = "clip"
            self.handle_clip_unavailable(err.message)
            return
        job.state, job.note = "failed", err.message[:80]
        self._update_item(job)
        self.progress.setFormat(f"{job.label[:40]}: failed")
        self.status.setText(err.message)
        dialogs.error(self, "Training failed", err.message,
                          err.traceback if err.is_bug else "")

    def handle_clip_unavailable(self, message: str) -> None:
        choice = ask_for_clip_weights(self, self.settings, message)
        if choice == "checkpoint":
            self.update_clip_label()
            self.status.setText(f"CLIP checkpoint set to {self.settings.clip_checkpoint}")
            self.resume_queue()
            return
        if choice == "settings":
            self.openSettings.emit()
        if any(j.state == "waiting" for j in self.jobs):
            self.status.setText(message + "\n\nThe queue is on hold until CLIP weights are "
                                "available; press Start to try again.")

    def resume_queue(self) -> None:
        for job in self.jobs:
            if job.state == "waiting":
                job.note = ""
                self._update_item(job)
        self.paused_reason = ""
        self._next()

    def _on_cancelled(self, message: str) -> None:
        job = self.current
        job.state, job.note = "cancelled", ""
        self._update_item(job)
        self.progress.setFormat(f"{job.label[:40]}: cancelled")
        self.status.setText(message)

    def _on_done(self) -> None:
        self.worker = None
        self.current = None
        if self.paused_reason:
            self.cancel_button.setEnabled(False)
            self.start_button.setText("Start training")
            self.busyChanged.emit(False)
            return
        self._next()
