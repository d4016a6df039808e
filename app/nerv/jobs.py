"""The NeRV-CLIP panel's work, run on app.workers.Worker threads: train (or resume), open a
finished run, evaluate, verify.

Everything that touches a model happens here, on the worker thread: the trainer's live
views (reconstructions, per-frame similarities) are read inside its progress callback,
between optimisation steps, and sent to the GUI as plain numpy arrays.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import paths
from engine.errors import Cancelled

log = logging.getLogger("sonolume.app.nerv")

TRAIN_EVENT_INTERVAL = 0.1  # seconds between forwarded per-step events (the GUI's pace)


def runs_root() -> Path:
    """Where NeRV runs go by default (the ``nerv`` folder of `sonolume train`'s runs)."""
    return paths.nerv_runs_dir()


def default_run_dir(video: str | os.PathLike, root: Path | None = None) -> Path:
    """A new folder named after the video and the time, never an existing run."""
    root = root or runs_root()
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(video).stem)[:40]
    base = root / f"{stem or 'video'}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


@dataclass
class Snapshot:
    """What the views show of a model at one moment."""

    epoch: int
    reconstructions: np.ndarray  # uint8 (N, H, W, 3)
    metrics: dict[str, np.ndarray]  # per frame: role, psnr, clip_similarity (if a head)


@dataclass
class RunStart:
    """Sent once the trainer is built: facts for the status line and the frame views."""

    run_dir: Path | None
    originals: np.ndarray
    roles: np.ndarray
    train: int
    unseen: int
    params: dict
    description: str
    clip_label: str | None
    random_clip: bool
    epoch: int  # > 0 when resuming
    epochs: int
    history: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    device: str = "cpu"  # where it trains, e.g. "cuda:0 (NVIDIA H200)"


@dataclass
class OpenedRun:
    run_dir: Path
    info: dict
    checkpoint: str
    epoch: int
    epochs: int
    originals: np.ndarray
    snapshot: Snapshot
    history: list[dict]
    evals: list[dict]
    clip_label: str | None
    random_clip: bool
    summary: dict | None = None  # eval/summary.json, if evaluated
    verify: dict | None = None  # eval/verify.json, if verified


def _u8(rgb) -> np.ndarray:
    """(N, 3, H, W) floats in [0, 1] -> uint8 (N, H, W, 3)."""
    import torch

    return (rgb.clamp(0, 1).permute(0, 2, 3, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def trainer_snapshot(trainer) -> Snapshot:
    """All reconstructions and per-frame scores of the model being trained (call on the
    training thread, between steps)."""
    recon = _u8(trainer.predict()["rgb"])
    return Snapshot(trainer.epoch, recon, trainer.frame_similarities())


def train_nerv(config, clip_spec, clip_service, run_dir, threads=None, device="cpu", *,
               progress, cancel):
    """Train ``config`` into a new ``run_dir`` on ``device`` (the CLIP targets are computed
    where the app's CLIP is loaded). Progress messages: ("status", text),
    ("targets", done, total), ("start", RunStart), ("step", NervProgress, new_history),
    ("eval", NervProgress, new_history, Snapshot). Returns the NervTrainResult."""
    from engine.nerv.train import NervTrainer

    relay = _Relay(progress)
    clip = None
    if config.clip_head != "none":
        progress(("status", f"loading CLIP {clip_spec.label}…"))
        clip = clip_service.get(clip_spec)
    if cancel.is_set():
        raise Cancelled("NeRV training cancelled before it started")
    progress(("status", "decoding the video and preparing CLIP targets…"))
    trainer = NervTrainer(config, clip=clip,
                          clip_spec=clip_spec if config.clip_head != "none" else None,
                          run_dir=run_dir, on_progress=relay, log=log.info,
                          threads=threads or None, cancel=cancel, device=device)
    return relay.run(trainer)


def resume_nerv(run_dir, epochs=None, threads=None, device=None, *, progress, cancel):
    """Continue the run in ``run_dir`` from its 'last' checkpoint (to ``epochs`` in all),
    on ``device`` (None: where it last trained, or the CPU where that GPU is missing).
    Its CLIP targets are in the run folder, so no CLIP is loaded."""
    from engine.nerv.train import NervTrainer

    relay = _Relay(progress)
    progress(("status", f"reopening {run_dir}…"))
    trainer = NervTrainer.resume(run_dir, epochs=epochs, on_progress=relay, log=log.info,
                                 threads=threads or None, cancel=cancel, device=device)
    relay.sent = len(trainer.history)
    return relay.run(trainer)


class _Relay:
    """The trainer's on_progress, on the training thread: forwards per-step events at
    most every TRAIN_EVENT_INTERVAL seconds, and at each evaluation a Snapshot."""

    def __init__(self, progress):
        self.progress = progress
        self.trainer = None
        self.sent = 0
        self.last = 0.0

    def new_history(self) -> list[dict]:
        if self.trainer is None:
            return []
        fresh = self.trainer.history[self.sent:]
        self.sent = len(self.trainer.history)
        return [dict(r) for r in fresh]

    def __call__(self, ev) -> None:
        now = time.monotonic()
        due = now - self.last >= TRAIN_EVENT_INTERVAL or ev.step == ev.total_steps
        if ev.phase == "targets":
            if due:
                self.last = now
                self.progress(("targets", ev.step, ev.total_steps))
        elif ev.phase == "eval":
            self.progress(("eval", ev, self.new_history(), trainer_snapshot(self.trainer)))
        elif ev.phase == "done" or due:
            self.last = now
            self.progress(("step", ev, self.new_history()))

    def run(self, trainer):
        self.trainer = t = trainer
        info = t.run_info()
        clip_info = info.get("clip") or {}
        self.progress(("start", RunStart(
            run_dir=t.run_dir, originals=t.frames_u8,
            roles=np.array([t.split.role(i) for i in range(t.num_frames)]),
            train=len(t.train_idx), unseen=len(t.unseen_idx),
            params=t.model.parameter_counts(), description=t.model.describe(),
            clip_label=clip_info.get("label"), random_clip=bool(clip_info.get("random")),
            epoch=t.epoch, epochs=t.config.epochs,
            history=[dict(r) for r in t.history], evals=[dict(e) for e in t.evals],
            device=info["device"]["label"])))
        self.progress(("status", "training…"))
        return t.run()


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def open_run(run_dir, checkpoint: str = "best", video=None, *, progress, cancel) -> OpenedRun:
    """Load a run folder for browsing: frames, reconstructions, per-frame scores, the
    training curves and any evaluation / verification already written."""
    from engine.nerv.run import NervRun

    progress(("status", f"opening {run_dir}…"))
    run = NervRun(run_dir, checkpoint, video)
    originals = run.frames()
    if cancel.is_set():
        raise Cancelled("opening the run was cancelled")
    progress(("status", "reconstructing every frame…"))
    pred = run.predictions()
    sims = run.similarities()
    snap = Snapshot(run.epoch, _u8(pred["rgb"]), sims)
    eval_dir = run.run_dir / "eval"
    return OpenedRun(
        run_dir=run.run_dir, info=run.info, checkpoint=run.checkpoint, epoch=run.epoch,
        epochs=run.config.epochs, originals=originals, snapshot=snap, history=run.history,
        evals=run.evals, clip_label=run.clip_label, random_clip=run.random_clip,
        summary=_read_json(eval_dir / "summary.json"),
        verify=_read_json(eval_dir / "verify.json"),
    )


def evaluate(run_dir, clip_service, checkpoint: str = "best", video=None, *, progress,
             cancel) -> dict:
    """engine evaluate_run, with the run's own CLIP judging the reconstructions when it
    can be loaded (skipped with a note otherwise, like `sonolume nerv eval`)."""
    from engine.clip import ClipSpec
    from engine.errors import ClipUnavailable
    from engine.nerv.evaluate import evaluate_run
    from engine.nerv.run import NervRun

    run = NervRun(run_dir, checkpoint, video)
    clip, note = None, ""
    spec = (run.info.get("clip") or {}).get("spec")
    if spec:
        progress(("status", "loading the run's CLIP…"))
        try:
            clip = clip_service.get(ClipSpec(**spec))
        except ClipUnavailable as exc:
            note = f"CLIP's judgement of the reconstructions skipped: {exc}"
    if cancel.is_set():
        raise Cancelled("evaluation cancelled")
    progress(("status", "evaluating…"))
    summary = evaluate_run(run_dir, checkpoint, clip=clip, video=video)
    if note:
        summary["clip_note"] = note
    return summary


def verify(run_dir, checkpoint: str = "best", video=None, *, progress, cancel) -> dict:
    from engine.nerv.evaluate import verify_run

    progress(("status", "verifying the CLIP head against baselines…"))
    return verify_run(run_dir, checkpoint, video=video)
