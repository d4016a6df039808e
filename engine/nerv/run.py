"""The NeRV-CLIP run folder: its format (one definition, read and written here) and a
finished (or paused) run opened for viewing, which the GUI panel and the ``eval`` /
``verify`` commands read.

Run folder::

    run.json                      settings, frames, split, model, CLIP, grid, sizes
    targets.npz                   the CLIP targets used (a copy from the cache)
    last.safetensors/.json        weights + Adam state / position, history
    best.safetensors/.json        the lowest training objective seen at an evaluation
    tb/                           TensorBoard scalars (train/*, eval/*)
    eval/                         per-frame CSV, summary.json, verify.json

A checkpoint is one :mod:`engine.checkpoint` file: the modules ``model`` (the VideoINR)
and, when the run learns a sequence similarity, ``sequence``, with Adam's state and the
run's position (epoch, batch in epoch, step), history and evaluations in its header; the
JSON beside it is a readable copy of that state. Runs from before engine.checkpoint (state
only in the JSON, Adam tensors named ``adam.*``) still open and resume. Every file is
written atomically (engine.atomic).

    run = NervRun.open("runs/bunny")          # the 'best' checkpoint (else 'last')
    run.original(i), run.reconstruction(i)    # uint8 (H, W, 3)
    run.similarities()                         # per-frame arrays (psnr, clip_similarity...)
    run.spatial_map(i)                         # ((P, D), grid_hw, frame_size)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine import checkpoint as ckpt
from engine.atomic import atomic_path, remove_stale_temporaries, write_text
from engine.errors import SonolumeError, VideoMissing
from engine.nerv import data as vdata
from engine.nerv.config import NervTrainConfig
from engine.nerv.models import NervConfig, VideoINR
from engine.nerv.targets import grid_from_json, normalised_boxes

RUN_JSON = "run.json"
TARGETS = "targets.npz"
RUN_KIND = "sonolume-nerv-run"
RUN_VERSION = 1
LAST, BEST = "last", "best"
CHECKPOINT_NAMES = (LAST, BEST)
CHECKPOINT_FORMAT = "sonolume-nerv"
TENSORBOARD_DIR = "tb"
EVAL_DIR = "eval"


# -- the format ------------------------------------------------------------------------------

def frame_times(n: int) -> torch.Tensor:
    """Frame i of n at t = i / (n - 1) in [0, 1] (NeRV's time input)."""
    return torch.arange(n, dtype=torch.float64) / max(n - 1, 1)


def checkpoint_path(run_dir: str | Path, name: str) -> Path:
    """The weights file of checkpoint ``name`` (``last`` or ``best``)."""
    return Path(run_dir) / f"{name}.safetensors"


def checkpoint_state_path(run_dir: str | Path, name: str) -> Path:
    """The JSON beside checkpoint ``name``: position, Adam step counts, history."""
    return Path(run_dir) / f"{name}.json"


def has_checkpoint(run_dir: str | Path, name: str) -> bool:
    return checkpoint_path(run_dir, name).is_file()


def read_run_info(run_dir: str | Path) -> dict:
    """``run.json``, checked to be a NeRV run's."""
    run_dir = Path(run_dir)
    try:
        info = json.loads((run_dir / RUN_JSON).read_text())
    except (OSError, ValueError) as exc:
        raise SonolumeError(f"{run_dir} is not a NeRV run (no readable {RUN_JSON})") from exc
    if not isinstance(info, dict) or info.get("kind") != RUN_KIND:
        raise SonolumeError(f"{run_dir} is not a NeRV run")
    return info


def write_run_info(run_dir: str | Path, info: dict) -> Path:
    """Write ``run.json`` as a run (re)starts, removing what a killed run left half-written
    in the folder (engine.atomic's temporaries older than a few hours)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for folder in (run_dir, run_dir / EVAL_DIR):
        remove_stale_temporaries(folder)
    return write_text(run_dir / RUN_JSON, json.dumps(info, indent=1))


def read_targets(run_dir: str | Path) -> dict[str, np.ndarray] | None:
    """The CLIP targets the run trained against, or None when it stored none."""
    path = Path(run_dir) / TARGETS
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        return {k: np.array(data[k]) for k in data.files}


def write_targets(run_dir: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    path = Path(run_dir) / TARGETS
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return path


def save_checkpoint(run_dir: str | Path, name: str, modules: Mapping[str, torch.nn.Module],
                    optimizer, state: dict) -> Path:
    """Write checkpoint ``name`` through :mod:`engine.checkpoint`: weights, Adam's state and
    ``state`` (position, history) in one file replaced by one rename, plus the readable JSON
    copy beside it."""
    return ckpt.save(checkpoint_path(run_dir, name), modules, optimizer, state,
                           json_path=checkpoint_state_path(run_dir, name),
                           metadata={"format": CHECKPOINT_FORMAT})


def load_checkpoint(run_dir: str | Path, name: str, modules: Mapping[str, torch.nn.Module],
                    optimizer=None) -> dict:
    """Load checkpoint ``name`` into ``modules`` (and ``optimizer``); returns its state.
    Runs written before engine.checkpoint (notes only in the JSON, ``adam.`` tensors) load
    too. Raises :class:`engine.checkpoint.CheckpointError` (a SonolumeError)."""
    return ckpt.load(checkpoint_path(run_dir, name), modules, optimizer,
                           json_path=checkpoint_state_path(run_dir, name))


def read_checkpoint_state(run_dir: str | Path, name: str) -> dict:
    """The state saved with checkpoint ``name`` (position, history, evaluations)."""
    return ckpt.read_info(checkpoint_path(run_dir, name),
                                checkpoint_state_path(run_dir, name))


def read_module_state(run_dir: str | Path, name: str, prefix: str) -> dict[str, torch.Tensor]:
    """One module's state dict from checkpoint ``name`` (its tensors named ``prefix.*``),
    read without loading the rest."""
    from safetensors import safe_open

    cut = len(prefix) + 1
    with safe_open(str(checkpoint_path(run_dir, name)), framework="pt") as fh:
        return {k[cut:]: fh.get_tensor(k) for k in fh.keys() if k.startswith(prefix + ".")}


# -- a run opened for viewing ----------------------------------------------------------------

def _u8(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) uint8."""
    return (rgb.clamp(0, 1).permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).numpy()


class NervRun:
    def __init__(self, run_dir: str | Path, checkpoint: str = BEST, video: str | None = None):
        self.run_dir = Path(run_dir)
        self.info = read_run_info(self.run_dir)
        self.config = NervTrainConfig.from_json(self.info["config"])
        self.video = video or self.info["frames"]["video"]
        if checkpoint == BEST and not has_checkpoint(self.run_dir, BEST):
            checkpoint = LAST
        if not has_checkpoint(self.run_dir, checkpoint):
            raise SonolumeError(f"{self.run_dir} has no '{checkpoint}' checkpoint yet")
        self.checkpoint = checkpoint
        self.grid = grid_from_json(self.info["grid"]) if self.info.get("grid") else None
        clip = self.info.get("clip") or {}
        head = self.config.clip_head
        self.model = VideoINR(
            NervConfig.from_json(self.info["model"]["config"]), self.config.size,
            clip_dim=int(clip.get("dim", 0)), clip_head=head,
            patch_boxes=normalised_boxes(self.grid) if self.grid is not None else None,
            num_frames=self.frame_count,
        )
        self.state = load_checkpoint(self.run_dir, checkpoint, {"model": self.model})
        self.model.eval()
        self._sequence_state = (read_module_state(self.run_dir, checkpoint, "sequence")
                                if self.config.sequence_weight else {})
        self._frames: np.ndarray | None = None
        self._targets: dict[str, torch.Tensor] | None = None
        self._pred: dict[str, torch.Tensor] | None = None
        self.spatial_map = lru_cache(maxsize=64)(self._spatial_map)

    @classmethod
    def open(cls, run_dir: str | Path, checkpoint: str = BEST,
             video: str | None = None) -> NervRun:
        return cls(run_dir, checkpoint, video)

    # -- facts -----------------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        return int(self.info["frames"]["count"])

    @property
    def frame_size(self) -> tuple[int, int]:
        return tuple(self.config.size)

    @property
    def train_indices(self) -> list[int]:
        return list(self.info["split"]["train"])

    @property
    def unseen_indices(self) -> list[int]:
        return list(self.info["split"]["unseen"])

    def role(self, i: int) -> str:
        return vdata.parse_split(self.info["split"]["text"]).role(i)

    @property
    def clip_label(self) -> str | None:
        return (self.info.get("clip") or {}).get("label")

    @property
    def trained_on(self) -> str:
        """The device of the run's latest training session, e.g. ``cuda:0 (NVIDIA H200)``
        (runs from before devices were recorded trained on the CPU). Viewing, evaluating
        and verifying run on the CPU whatever it was: checkpoints are device-free."""
        return (self.info.get("device") or {}).get("label", "cpu")

    @property
    def random_clip(self) -> bool:
        return bool((self.info.get("clip") or {}).get("random"))

    @property
    def epoch(self) -> int:
        return int(self.state.get("epoch", 0))

    @property
    def history(self) -> list[dict]:
        return list(self.state.get("history", []))

    @property
    def evals(self) -> list[dict]:
        return list(self.state.get("evals", []))

    # -- data --------------------------------------------------------------------------------------
    def frames(self) -> np.ndarray:
        """All original frames, uint8 (N, H, W, 3), decoded like in training."""
        if self._frames is None:
            if not Path(self.video).is_file():
                raise VideoMissing(f"the run's video {self.video} is missing; give its new "
                                   "location (--video PATH on the command line)", self.video)
            if vdata.file_sha256(self.video) != self.info["frames"]["sha256"]:
                raise SonolumeError(f"{self.video} is not the video this run was trained on")
            cfg = self.config
            self._frames = vdata.load_frames(self.video, cfg.size, cfg.max_frames,
                                             cfg.frame_step)
        return self._frames

    def frames_tensor(self, indices=None) -> torch.Tensor:
        f = self.frames() if indices is None else self.frames()[indices]
        return torch.from_numpy(np.ascontiguousarray(f)).permute(0, 3, 1, 2).float() / 255

    def targets(self) -> dict[str, torch.Tensor]:
        """The CLIP targets used in training (``global`` (N, D), ``spatial`` (N, P, D))."""
        if self._targets is None:
            arrays = read_targets(self.run_dir) or {}
            self._targets = {k: torch.from_numpy(v) for k, v in arrays.items()}
        return self._targets

    # -- predictions -------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, indices=None, batch: int = 8) -> dict[str, torch.Tensor]:
        idx = torch.arange(self.frame_count) if indices is None else torch.as_tensor(
            indices).reshape(-1)
        times = frame_times(self.frame_count)
        outs: dict[str, list] = {}
        for chunk in idx.split(batch):
            if self.model.config.kind == "nerv":
                out = self.model(times=times[chunk])
            else:
                out = self.model(frames=self.frames_tensor(chunk.numpy()))
            for k, v in out.items():
                outs.setdefault(k, []).append(v)
        return {k: torch.cat(v) for k, v in outs.items()}

    def predictions(self) -> dict[str, torch.Tensor]:
        """Outputs for every frame (computed once)."""
        if self._pred is None:
            self._pred = self.predict()
        return self._pred

    def original(self, i: int) -> np.ndarray:
        return self.frames()[self._check(i)]

    def reconstruction(self, i: int) -> np.ndarray:
        i = self._check(i)
        rgb = self._pred["rgb"][i] if self._pred is not None else self.predict([i])["rgb"][0]
        return _u8(rgb)

    def _check(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < self.frame_count:
            raise SonolumeError(f"frame {i} is outside 0..{self.frame_count - 1}")
        return i

    def predicted_embedding(self, i: int) -> np.ndarray | None:
        """The CLIP head's unit embedding(s) for frame i: (D,) global or (P, D) spatial."""
        key = f"clip_{self.config.clip_head}"
        out = self.predict([self._check(i)])
        if key not in out:
            return None
        return F.normalize(out[key][0], dim=-1).numpy()

    def _spatial_map(self, i: int):
        if self.config.clip_head != "spatial" or self.grid is None:
            raise SonolumeError("this run has no spatial CLIP head (train with --clip-head "
                                "spatial)")
        emb = self.predicted_embedding(i)
        return emb, self.grid.shape, self.frame_size

    def similarities(self) -> dict[str, np.ndarray]:
        """Per-frame arrays: ``psnr``, ``clip_similarity`` (head vs target; mean over
        patches for a spatial head), ``role`` (train / unseen / skipped)."""
        pred = self.predictions()
        frames = self.frames_tensor()
        mse = (pred["rgb"] - frames).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        out = {"frame": np.arange(self.frame_count),
               "role": np.array([self.role(i) for i in range(self.frame_count)]),
               "psnr": (-10 * torch.log10(mse)).numpy()}
        head = self.config.clip_head
        tg = self.targets()
        if f"clip_{head}" in pred and head in tg:
            sim = F.cosine_similarity(pred[f"clip_{head}"], tg[head], dim=-1)
            if sim.dim() == 2:
                out["clip_similarity_min_patch"] = sim.min(dim=1).values.numpy()
                sim = sim.mean(dim=1)
            out["clip_similarity"] = sim.numpy()
        return out


def predict_spatial_map(run_dir: str | Path, frame_index: int):
    """The spatial CLIP head's map for one frame: (np.ndarray (P, D) unit rows,
    grid_hw (rows, cols), frame_size (H, W)). Runs are kept open between calls."""
    path = Path(run_dir).resolve()
    stamps = tuple(p.stat().st_mtime_ns if p.exists() else 0
                   for p in (checkpoint_path(path, BEST), checkpoint_path(path, LAST)))
    return _open_cached(str(path), stamps).spatial_map(int(frame_index))


@lru_cache(maxsize=4)
def _open_cached(run_dir: str, _stamps: tuple) -> NervRun:
    return NervRun(run_dir)
