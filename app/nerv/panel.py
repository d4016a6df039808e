"""Research panel: fit a NeRV / HNeRV (+ CLIP head) to a video and see how well it learned
pixels and semantics — live curves, original vs reconstruction for any frame, per-frame
similarity of train vs unseen frames — then evaluate and verify the run, or open a
finished run folder and browse it.

The engine (engine.nerv) does the work; app.nerv.jobs runs it on worker threads and
app.nerv.views draws what comes back. Every user-facing problem goes through app.dialogs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import dialogs
from app.clip_service import ask_for_clip_weights
from app.common import format_seconds
from app.nerv.form import VIDEO_FILTER, NervForm
from app.nerv.jobs import (
    RunStart,
    default_run_dir,
    evaluate,
    open_run,
    resume_nerv,
    runs_root,
    train_nerv,
    verify,
)
from app.nerv.views import (
    RANDOM_NOTE,
    CurvesView,
    FramePairView,
    PerFrameView,
    ResultsView,
    format_eval,
    format_verify,
)
from app.workers import Worker
from engine.errors import ClipUnavailable, VideoMissing

log = logging.getLogger("sonolume.app.nerv")


class NervPanel(QWidget):
    """``NervPanel(settings, clip_service)``. Signals: ``busyChanged(bool)`` while a worker
    runs, ``runFinished(str)`` with the run folder after training, ``openSettings()`` when
    the user asks to change the CLIP."""

    busyChanged = Signal(bool)
    runFinished = Signal(str)
    openSettings = Signal()

    def __init__(self, settings, clip_service, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.clip_service = clip_service
        self.run_dir: Path | None = None
        self.moved_videos: dict[Path, str] = {}  # run folder -> where its video is now
        self._task_run_dir: Path | None = None
        self._retry = None  # a task to start again once the failed one has ended
        self.worker: Worker | None = None
        self.task = ""
        self.history: list[dict] = []
        self.evals: list[dict] = []
        self.last_result = None
        self.last_error: str = ""
        self.random_clip = False
        self._texts: dict[str, str] = {}
        self._build()
        self._update_buttons()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.form = NervForm(self.settings)
        self.form.openSettings.connect(self.openSettings.emit)
        self.form.videoChanged.connect(lambda _: self._update_buttons())
        self.frames = FramePairView()
        top = QHBoxLayout()
        top.addWidget(self.form)
        top.addWidget(self.frames, 1)

        self.start_button = QPushButton("Start training")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop; the 'last' checkpoint is saved so you can resume")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("continue the shown run from its 'last' checkpoint, up "
                                      "to the epochs set above")
        self.resume_button.clicked.connect(self.resume)
        self.open_button = QPushButton("Open run…")
        self.open_button.setToolTip("browse a finished run folder")
        self.open_button.clicked.connect(self.choose_run)
        self.eval_button = QPushButton("Evaluate")
        self.eval_button.setToolTip("PSNR, MS-SSIM, CLIP similarity for all / train / unseen "
                                    "frames; writes eval/frames.csv and TensorBoard scalars")
        self.eval_button.clicked.connect(self.evaluate)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setToolTip("did the CLIP head learn? baselines, retrieval R@K, "
                                      "sequence similarity")
        self.verify_button.clicked.connect(self.verify)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.resume_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        for b in (self.open_button, self.eval_button, self.verify_button):
            buttons.addWidget(b)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.status = QLabel("Choose a video and press Start, or open a finished run.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.run_label.setTextFormat(Qt.TextFormat.RichText)
        self.run_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.show_folder = QPushButton("Show folder")
        self.show_folder.clicked.connect(
            lambda: self.run_dir and dialogs.open_folder(self.run_dir))
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_label, 1)
        run_row.addWidget(self.show_folder)

        self.curves = CurvesView()
        self.per_frame = PerFrameView()
        self.results = ResultsView()
        bottom = QHBoxLayout()
        bottom.addWidget(self.per_frame, 1)
        bottom.addWidget(self.results, 1)
        self.frames.frameChanged.connect(self.per_frame.set_current)
        self.per_frame.frameClicked.connect(self.frames.set_frame)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(top, 3)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(run_row)
        lay.addWidget(self.curves, 2)
        lay.addLayout(bottom, 2)

    # -- the form's public face -------------------------------------------------------------------
    @property
    def video(self) -> str | None:
        return self.form.video

    def set_video(self, path) -> bool:
        """Fit ``path`` next; an unreadable file is reported (dialogs.error), not kept."""
        return self.form.set_video(path)

    def update_clip_label(self) -> None:
        """Call when the CLIP choice in the settings changed."""
        self.form.update_clip_label()

    # -- actions -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.worker is not None

    def start(self) -> bool:
        if self.busy:
            return False
        cfg = self.form.config()
        if cfg is None:
            return False
        typed = self.form.out.text().strip()
        out = Path(typed) if typed else default_run_dir(cfg.video)
        if (out / "run.json").exists():
            dialogs.error(self, "NeRV training", f"{out} already holds a run: open it and "
                          "press Resume, or choose another run folder.")
            return False
        self.form.save()
        spec = self.settings.clip_spec() if cfg.clip_head != "none" else None
        self._reset_views()
        self.run_dir = out
        self._show_run_label(None)
        self._launch("train", train_nerv, cfg, spec, self.clip_service, out,
                     self.form.threads.value() or None, self.form.device())
        return True

    def resume(self) -> bool:
        if self.busy or self.run_dir is None:
            return False
        if not (self.run_dir / "last.safetensors").is_file():
            dialogs.error(self, "Resume", f"{self.run_dir} has no checkpoint to resume from.")
            return False
        self._launch("train", resume_nerv, self.run_dir, self.form.epochs.value(),
                     self.form.threads.value() or None, self.form.resume_device())
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.status.setText("cancelling…")
            self.worker.cancel()

    def shutdown(self) -> None:
        self.cancel()

    def choose_run(self) -> None:
        root = runs_root()
        folder = dialogs.choose_folder(self, "Open a NeRV run",
                                       str(root if root.is_dir() else Path.home()))
        if folder:
            self.open_run(folder)

    def open_run(self, folder) -> bool:
        if self.busy:
            return False
        folder = Path(folder)
        self._launch("open", open_run, folder, "best", self.moved_videos.get(folder))
        return True

    def evaluate(self) -> bool:
        if self.busy or self.run_dir is None:
            return False
        self._launch("eval", evaluate, self.run_dir, self.clip_service, "best",
                     self.moved_videos.get(self.run_dir))
        return True

    def verify(self) -> bool:
        if self.busy or self.run_dir is None:
            return False
        self._launch("verify", verify, self.run_dir, "best",
                     self.moved_videos.get(self.run_dir))
        return True

    def _launch(self, task: str, fn, *args) -> None:
        self.task = task
        self._task_run_dir = Path(args[0]) if task in ("open", "eval", "verify") else None
        self.last_error = ""
        names = {"train": "NeRV training", "open": "opening the run",
                 "eval": "evaluating the run", "verify": "verifying the run"}
        self.progress.setValue(0)
        self.progress.setFormat(f"{names[task]}…")
        self.worker = Worker(fn, *args, name=names[task]).on(
            progress=self._on_progress, finished=self._on_finished, errored=self._on_error,
            cancelled=self._on_cancelled, done=self._on_done)
        self._update_buttons()
        self.busyChanged.emit(True)
        self.worker.start()

    def _update_buttons(self) -> None:
        busy = self.busy
        has_run = self.run_dir is not None and (
            (self.run_dir / "best.safetensors").is_file()
            or (self.run_dir / "last.safetensors").is_file())
        self.start_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.resume_button.setEnabled(not busy and has_run and self._unfinished())
        self.open_button.setEnabled(not busy)
        self.eval_button.setEnabled(not busy and has_run)
        self.verify_button.setEnabled(not busy and has_run and self._has_head())
        self.show_folder.setEnabled(self.run_dir is not None and self.run_dir.is_dir())

    def _unfinished(self) -> bool:
        import json

        try:
            state = json.loads((self.run_dir / "last.json").read_text())
            info = json.loads((self.run_dir / "run.json").read_text())
        except (OSError, ValueError):
            return False
        return state.get("epoch", 0) < max(info["config"]["epochs"], self.form.epochs.value())

    def _has_head(self) -> bool:
        import json

        try:
            info = json.loads((self.run_dir / "run.json").read_text())
        except (OSError, ValueError):
            return False
        return info.get("config", {}).get("clip_head", "none") != "none"

    # -- views -----------------------------------------------------------------------------------
    def _reset_views(self) -> None:
        self.history, self.evals, self._texts = [], [], {}
        self.curves.clear()
        self.per_frame.set_data(None)
        self.frames.set_frames(None)
        self.results.clear()

    def _show_run_label(self, start: RunStart | None, extra: str = "") -> None:
        where = f"Run folder: {self.run_dir}" if self.run_dir else ""
        if start is not None:
            params = ", ".join(f"{k} {v:,}" for k, v in start.params.items() if v)
            clip = ""
            if start.clip_label:
                clip = f" · CLIP {start.clip_label}"
                if start.random_clip:
                    clip += (f" <span style='color:#e04040'><b>{RANDOM_NOTE}</b></span>")
            # the CPU is the ordinary case; a GPU is worth saying (it is a choice made)
            on = f" · on {start.device}" if start.device != "cpu" else ""
            where += (f"<br>{len(start.originals)} frames: {start.train} train, "
                      f"{start.unseen} unseen · parameters: {params}{clip}{on}")
        self.run_label.setText(where + extra)

    def _show_results(self, key: str, text: str) -> None:
        self._texts[key] = text
        self.results.setPlainText("\n\n".join(self._texts[k] for k in ("run", "eval", "verify")
                                              if k in self._texts))

    # -- worker signals -------------------------------------------------------------------------
    def _on_progress(self, msg) -> None:
        kind = msg[0]
        if kind == "status":
            self.status.setText(msg[1])
        elif kind == "targets":
            done, total = msg[1], msg[2]
            self.progress.setValue(int(100 * done / max(total, 1)))
            self.progress.setFormat(f"CLIP targets {done}/{total} images")
        elif kind == "start":
            start: RunStart = msg[1]
            self.history, self.evals = list(start.history), list(start.evals)
            self.frames.set_frames(start.originals, start.roles)
            self.curves.set_history(self.history)
            self.curves.set_evals(self.evals)
            self.random_clip = start.random_clip
            self._show_run_label(start)
            self._show_results("run", start.description)
            self._update_buttons()
        elif kind in ("step", "eval"):
            ev, fresh = msg[1], msg[2]
            self.history.extend(fresh)
            if fresh:
                self.curves.set_history(self.history)
            pct = int(100 * ev.step / max(ev.total_steps, 1))
            self.progress.setValue(pct)
            loss = ev.losses.get("pixel_loss")
            loss_text = f" · pixel loss {loss:.4f}" if loss is not None else ""
            self.progress.setFormat(f"epoch {ev.epoch}/{ev.epochs} · step {ev.step}/"
                                    f"{ev.total_steps}{loss_text} · ETA {format_seconds(ev.eta)}")
            if kind == "eval":
                self.evals.append(dict(ev.metrics))
                self.curves.set_evals(self.evals)
                snap = msg[3]
                self.frames.set_reconstructions(snap.reconstructions, snap.metrics)
                self.per_frame.set_data(snap.metrics)

    def _on_finished(self, result) -> None:
        if self.task == "train":
            self._train_finished(result)
        elif self.task == "open":
            self._run_opened(result)
        elif self.task == "eval":
            self._show_results("eval", format_eval(result))
            self.status.setText(f"evaluated; wrote {Path(result['run']) / 'eval'}")
            self.progress.setValue(100)
            self.progress.setFormat("evaluation done")
        elif self.task == "verify":
            self._show_results("verify", format_verify(result))
            verdict = "beats" if result.get("beats_all_baselines") else "does NOT beat"
            self.status.setText(f"verified: the CLIP head {verdict} all three baselines"
                                + (" (random CLIP: testing only)" if result.get("random_clip")
                                   else ""))
            self.progress.setValue(100)
            self.progress.setFormat("verification done")

    def _train_finished(self, result) -> None:
        self.last_result = result
        self.progress.setValue(100)
        self.progress.setFormat(f"done: {result.epochs} epochs")
        line = result.summary()
        if self.random_clip:
            line += " — random CLIP: testing only"
        self.status.setText(line)
        if result.run_dir is not None:
            self.runFinished.emit(str(result.run_dir))

    def _run_opened(self, run) -> None:
        self._reset_views()
        self.run_dir = run.run_dir
        self.history, self.evals = list(run.history), list(run.evals)
        self.form.epochs.setValue(max(self.form.epochs.value(), run.epochs))
        roles = run.snapshot.metrics.get("role")
        self.frames.set_frames(run.originals, roles)
        self.frames.set_reconstructions(run.snapshot.reconstructions, run.snapshot.metrics)
        self.per_frame.set_data(run.snapshot.metrics)
        self.curves.set_history(self.history)
        self.curves.set_evals(self.evals)
        info = run.info
        cfg = info["config"]
        random = (f" <span style='color:#e04040'><b>{RANDOM_NOTE}</b></span>"
                  if run.random_clip else "")
        self.run_label.setText(
            f"Run folder: {run.run_dir}<br>{run.checkpoint} checkpoint, epoch {run.epoch}/"
            f"{run.epochs} · {len(run.originals)} frames {cfg['size'][0]}x{cfg['size'][1]} · "
            f"split {info['split']['text']} · model {cfg['model']}, {cfg['clip_head']} head"
            + (f" · CLIP {run.clip_label}" if run.clip_label else "") + random)
        self._show_results("run", info["model"].get("description", ""))
        if run.summary:
            self._show_results("eval", format_eval(run.summary))
        if run.verify:
            self._show_results("verify", format_verify(run.verify))
        self.status.setText(f"opened {run.run_dir.name}: use the slider to browse frames"
                            + ("; Evaluate / Verify add the full metrics" if not run.summary
                               else ""))
        self.progress.setValue(100)
        self.progress.setFormat("run opened")

    def _on_error(self, err) -> None:
        self.last_error = err.message
        self.progress.setFormat("failed")
        self.status.setText(err.message)
        if isinstance(err.exception, ClipUnavailable):
            self.handle_clip_unavailable(err.message)
            return
        if isinstance(err.exception, VideoMissing) and self._locate_video(err.exception):
            return
        titles = {"train": "NeRV training failed", "open": "Cannot open the run",
                  "eval": "Evaluation failed", "verify": "Verification failed"}
        dialogs.error(self, titles.get(self.task, "NeRV"), err.message,
                      err.traceback if err.is_bug else "")

    def _locate_video(self, exc: VideoMissing) -> bool:
        """Ask where a run's moved video is now and retry the task with it (the engine
        checks it is the same file). False: the user gave up, the caller reports."""
        task, run_dir = self.task, self._task_run_dir
        if task not in ("open", "eval", "verify") or run_dir is None:
            return False
        name = Path(exc.path).name
        path = dialogs.open_file(self, f"Where is {name} now?",
                                 self.settings.last_dir("video"), VIDEO_FILTER)
        if not path:
            return False
        self.moved_videos[Path(run_dir)] = str(path)
        self.settings.remember_dir("video", path)
        self.status.setText(f"using {path} for this run")
        retry = {"open": lambda: self.open_run(run_dir), "eval": self.evaluate,
                 "verify": self.verify}
        self._retry = retry[task]  # started by _on_done, once this worker has ended
        return True

    def handle_clip_unavailable(self, message: str) -> None:
        """Explain how to provide CLIP weights; a chosen checkpoint file is stored in the
        settings (press Start again to use it)."""
        choice = ask_for_clip_weights(self, self.settings, message)
        if choice == "checkpoint":
            self.form.update_clip_label()
            self.status.setText(f"CLIP checkpoint set to {self.settings.clip_checkpoint}; "
                                "press Start to train.")
        elif choice == "settings":
            self.openSettings.emit()

    def _on_cancelled(self, message: str) -> None:
        self.progress.setFormat("cancelled")
        self.status.setText(message)

    def _on_done(self) -> None:
        self.worker = None
        self.task = ""
        self._update_buttons()
        self.busyChanged.emit(False)
        retry, self._retry = self._retry, None
        if retry is not None:
            retry()
