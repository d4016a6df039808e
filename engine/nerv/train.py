"""Fit a NeRV / HNeRV (+ CLIP head) to a video.

The loop is built for two callers: the CLI (tqdm, Ctrl-C) and the GUI (``on_progress``
callbacks from a worker thread, a ``threading.Event`` to cancel). Every random choice of
epoch ``e`` (the frame order) comes from a generator seeded by ``(seed, e)`` and the
checkpoint holds Adam's full state plus the position inside the epoch, so a cancelled and
resumed run ends on the same weights as one that never stopped.

The run folder's format (file names, checkpoints, ``frame_times``) is
:mod:`engine.nerv.run`'s; this module only fills it.

Devices: a trainer lives on one device (``device="cpu"``, ``"cuda"`` or ``"auto"``, read by
:func:`engine.cppn.train.check_device` like the CPPN trainer's). The video's frames, the
frame times and the CLIP targets are copied there once, so a step only indexes them; the
random choices (initial weights, frame order) are drawn on the CPU whatever the device, and
checkpoints are written from CPU copies, so a run moves between a GPU and a CPU at any
checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.checkpoint import CheckpointError
from engine.cppn.train import check_device
from engine.errors import Cancelled, SonolumeError
from engine.nerv import data as vdata
from engine.nerv.config import (  # noqa: F401  (NervTrainConfig: callers import it here)
    CONTRASTIVE,
    DEFAULT_CLIP_WEIGHT,
    PIXEL_LOSSES,
    NervTrainConfig,
)
from engine.nerv.models import NervConfig, create_model
from engine.nerv.run import (  # noqa: F401  (RUN_JSON, TARGETS: callers import them here)
    BEST,
    LAST,
    RUN_JSON,
    RUN_KIND,
    RUN_VERSION,
    TARGETS,
    TENSORBOARD_DIR,
    frame_times,
    load_checkpoint,
    read_checkpoint_state,
    read_run_info,
    read_targets,
    save_checkpoint,
    write_run_info,
    write_targets,
)
from engine.nerv.targets import (
    cache_key,
    clip_cache_identity,
    default_cache_dir,
    grid_from_json,
    load_or_compute,
    normalised_boxes,
    patch_grid,
)
from engine.runtime import tune_allocator
from engine.spatial.grid import PatchGrid

SEQUENCE_WEIGHTS = {"global": 1.0, "local": 0.5, "temporal": 0.2, "attention": 0.3}


@dataclass
class NervProgress:
    """One report. ``phase``: "targets" (CLIP targets being computed: step/total are
    images), "train" (after each batch), "eval" (after an evaluation; ``metrics`` set),
    "done"."""

    phase: str
    epoch: int  # epochs completed when phase is eval/done, else the current (1-based)
    epochs: int
    step: int  # optimisation steps done
    total_steps: int
    losses: dict = field(default_factory=dict)
    lr: float = 0.0
    elapsed: float = 0.0
    eta: float = float("nan")
    metrics: dict | None = None


@dataclass
class NervTrainResult:
    run_dir: Path | None
    epochs: int
    seconds: float
    seconds_per_epoch: float
    history: list[dict]
    evals: list[dict]
    best: dict | None

    def summary(self) -> str:
        """One line for people (the CLI and the app print the same)."""
        last = self.evals[-1] if self.evals else {}
        line = (f"done: {self.epochs} epochs in {self.seconds:.1f} s "
                f"({self.seconds_per_epoch:.2f} s/epoch); PSNR train "
                f"{last.get('psnr_train', float('nan')):.2f} dB")
        if "psnr_unseen" in last:
            line += f", unseen {last['psnr_unseen']:.2f} dB"
        if "clip_similarity_train" in last:
            line += f"; CLIP head cos train {last['clip_similarity_train']:.4f}"
            if "clip_similarity_unseen" in last:
                line += f", unseen {last['clip_similarity_unseen']:.4f}"
        return line


def _tensor_frames(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255)


def _mib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_fits(need: dict[str, int], free: int, total: int, where: str) -> None:
    """Refuse, naming the sizes, a video whose tensors (``need``: what -> bytes) exceed the
    ``free`` bytes of device memory: failing here is clearer than an out-of-memory error
    from deep inside the copy or the first step."""
    size = sum(need.values())
    if size <= free:
        return
    parts = ", ".join(f"{what} {_mib(n)}" for what, n in need.items() if n)
    raise SonolumeError(f"the video does not fit on {where}: it needs {_mib(size)} ({parts}) "
                        f"and {_mib(free)} of the device's {_mib(total)} are free; use fewer "
                        "or smaller frames (--frames, --frame-step, --size) or --device cpu")


def device_label(device: torch.device) -> str:
    """``cuda:0 (NVIDIA H200)`` or ``cpu``: what people see and run.json records."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def ssim_window(frame_size: tuple[int, int]) -> int:
    """pytorch_msssim's Gaussian window for SSIM: 11 unless the frame is smaller."""
    return max(3, min(11, (min(frame_size) // 2) * 2 - 1))


def pixel_loss(kind: str, pred: torch.Tensor, target: torch.Tensor, win: int = 11):
    if kind == "l2":
        return F.mse_loss(pred, target)
    if kind == "l1":
        return F.l1_loss(pred, target)
    from pytorch_msssim import ssim

    # HNeRV's Fusion6: 0.7 * L1 + 0.3 * (1 - SSIM)
    return 0.7 * F.l1_loss(pred, target) + 0.3 * (
        1 - ssim(pred, target, data_range=1.0, size_average=True, win_size=win))


def clip_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - cos, averaged over frames (and patches)."""
    from engine.similarity import cosine_loss

    return cosine_loss(pred, target)


def make_adam(params, lr: float) -> torch.optim.Adam:
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # builds without a fused CPU kernel
        return torch.optim.Adam(params, lr=lr, foreach=True)


def lr_at(step: int, total: int, base: float, warmup: float) -> float:
    """Linear ramp for the first ``warmup`` fraction of steps, then cosine to 0."""
    ramp = int(total * warmup)
    if step < ramp:
        return base * (step + 1) / ramp
    progress = (step - ramp) / max(total - ramp, 1)
    return base * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _portable_spec(spec) -> dict:
    """The ClipSpec as JSON with absolute file paths (a run is reopened from anywhere)."""
    d = asdict(spec)
    for k in ("config", "checkpoint"):
        if d.get(k):
            d[k] = str(Path(d[k]).resolve())
    return d


def device_choices() -> list[tuple[str, str]]:
    """The devices training can use on this machine, best first, as (``device=`` value,
    label): a CUDA GPU when torch sees one, then the CPU. A form shows a choice only when
    there are two (a control that cannot do anything is not shown)."""
    out = []
    if torch.cuda.is_available():
        out.append(("cuda", f"GPU: {torch.cuda.get_device_name(0)}"))
    out.append(("cpu", "CPU"))
    return out


def resume_device(info: dict, log=print) -> str:
    """The device a resumed run continues on when none is asked for: the one it last
    trained on, or the CPU (with a note) when that was a GPU this machine does not have.
    Runs from before devices were recorded trained on the CPU."""
    kind = (info.get("device") or {}).get("type", "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        label = info["device"].get("label", "cuda")
        if log:
            log(f"this run last trained on {label}; torch sees no CUDA GPU here, so it "
                "continues on the CPU")
        return "cpu"
    return kind if kind in ("cpu", "cuda") else "cpu"


class NervTrainer:
    """One training run; ``run_dir`` (optional) receives checkpoints, targets, logs."""

    def __init__(
        self,
        config: NervTrainConfig,
        clip=None,
        clip_spec=None,
        run_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        on_progress: Callable[[NervProgress], None] | None = None,
        log=print,
        threads: int | None = None,
        cancel=None,
        device: str | torch.device = "cpu",
        _restore: dict | None = None,
    ):
        """``clip`` (a loaded ClipModel) or ``clip_spec`` (loaded only if the targets are
        not cached) is needed when ``config.clip_head`` is not "none". ``threads``: torch
        intra-op threads while training on the CPU (None: torch's default). On a busy
        machine, or for tiny frames, 1 thread is often faster than several (no waiting on
        descheduled workers). ``cancel`` (anything with ``is_set()``) stops the CLIP target
        computation here and, unless run() is given another, the training loop.

        ``device``: "cpu" (the default: a library caller's run stays where it was), "cuda"
        (a clear SonolumeError at once where torch sees no GPU) or "auto" (CUDA when
        present). The CLIP targets are computed wherever ``clip`` is loaded; only the
        finished targets move to ``device``."""
        config.validate()
        self.device = check_device(device)
        tune_allocator()
        self.config = cfg = config
        self.run_dir = Path(run_dir) if run_dir else None
        self.log = log or (lambda *_: None)
        self.on_progress = on_progress
        self.threads = threads
        self.cancel = cancel
        self._clip = clip
        self.clip_spec = clip_spec or (clip.spec if clip is not None else None)
        if cfg.clip_head != "none" and self.clip_spec is None:
            raise SonolumeError("a CLIP head needs a CLIP model (clip or clip_spec)")
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()

        # -- frames and split
        if not Path(cfg.video).is_file():
            raise SonolumeError(f"video not found: {cfg.video}")
        self.video_sha = vdata.file_sha256(cfg.video)
        if _restore is not None and _restore["frames"]["sha256"] != self.video_sha:
            raise SonolumeError(f"{cfg.video} has changed since this run started")
        self.frames_u8 = self._load_frames()
        frames = _tensor_frames(self.frames_u8)
        self.num_frames = n = len(frames)
        self.split = vdata.parse_split(cfg.split)
        self.train_idx, self.unseen_idx = self.split.check_frames(n)
        self.times = frame_times(n)

        # -- CLIP targets
        self.grid: PatchGrid | None = None
        self.targets: dict[str, torch.Tensor] = {}
        if cfg.clip_head != "none":
            self._prepare_targets(_restore)
        clip_dim = int(self.targets["global"].shape[-1]) if self.targets else 0

        # -- model, optimiser, optional learnable sequence similarity
        torch.manual_seed(cfg.seed)
        if _restore is not None:
            model_cfg = NervConfig.from_json(_restore["model"]["config"])
            self.model = create_model(model_cfg, cfg.size, clip_dim, cfg.clip_head,
                                      self._boxes(), n)
        else:
            self.model = create_model(cfg.model, cfg.size, clip_dim, cfg.clip_head,
                                      self._boxes(), n, embed=cfg.embed,
                                      target_params=cfg.target_params)
        if _restore is None and self.model.head is not None:
            tgt = self.targets[cfg.clip_head][self.train_idx]
            self.model.head.init_bias(F.normalize(tgt, dim=-1).mean(dim=0))
        self.sequence = None
        if cfg.sequence_weight:
            from engine.similarity import CombinedSimilarity

            self.sequence = CombinedSimilarity(clip_dim, weights=SEQUENCE_WEIGHTS,
                                               learnable=True)
        if self.device.type == "cpu":
            # channels_last: oneDNN's convolutions run without layout reorders (measured
            # ~15% faster per step at 128x256 on CPU). On a GPU fp32 convolutions gain
            # nothing from it, so there the layout stays torch's default.
            self.model.to(memory_format=torch.channels_last)
            frames = frames.contiguous(memory_format=torch.channels_last)
        self.frames = frames
        self._place()
        # fused Adam updates all tensors in one pass (one kernel launch on a GPU); its state
        # is made on the parameters' device at the first step.
        params = list(self.model.parameters())
        if self.sequence is not None:
            params += list(self.sequence.parameters())
        self.optimizer = make_adam(params, cfg.lr)
        self.ssim_win = ssim_window(cfg.size)

        self.epoch = 0  # completed epochs
        self.batch_in_epoch = 0  # batches done inside the current epoch
        self.step_count = 0
        self.elapsed = 0.0
        self.history: list[dict] = []
        self.evals: list[dict] = []
        self.best: dict | None = None
        self._epoch_sums: dict[str, float] = {}
        self._writer = None

    # -- set-up ----------------------------------------------------------------------------
    def _place(self) -> None:
        """Move the model (and sequence similarity), the frames, frame times and CLIP
        targets to the training device, once: a step then indexes them there instead of
        copying its batch from the host. (Before the optimizer exists: Adam's state is
        made on the parameters' device.)"""
        frames = self.frames
        need = {"frames": frames.nbytes, "frame times": self.times.nbytes,
                "CLIP targets": sum(t.nbytes for t in self.targets.values())}
        where = device_label(self.device)
        if self.device.type == "cuda":
            free, total = torch.cuda.mem_get_info(self.device)
            check_fits(need, free, total, where)
        try:
            self.frames = frames.to(self.device)
            self.times = self.times.to(self.device)
            self.targets = {k: v.to(self.device) for k, v in self.targets.items()}
        except torch.OutOfMemoryError as exc:
            raise SonolumeError(f"the video does not fit on {where}: it needs "
                                f"{_mib(sum(need.values()))}; use fewer or smaller frames "
                                "(--frames, --frame-step, --size) or --device cpu") from exc
        self._train_idx = torch.tensor(self.train_idx, device=self.device)
        self.model.to(self.device)
        if self.sequence is not None:
            self.sequence.to(self.device)

    def _load_frames(self) -> np.ndarray:
        cfg = self.config
        return vdata.load_frames(cfg.video, cfg.size, cfg.max_frames, cfg.frame_step)

    def _frames_info(self) -> dict:
        cfg = self.config
        return {"size": list(cfg.size), "max_frames": cfg.max_frames, "step": cfg.frame_step}

    def clip(self):
        """The CLIP that computes the targets: the one given, else loaded on the training
        device (the targets of a long video take CPU minutes, GPU seconds)."""
        if self._clip is None:
            from engine.clip import load_clip

            self._clip = load_clip(self.clip_spec, device=str(self.device))
        return self._clip

    def _prepare_targets(self, restore: dict | None) -> None:
        cfg = self.config
        spatial = cfg.clip_head == "spatial"
        if spatial:
            self.grid = (grid_from_json(restore["grid"]) if restore and restore.get("grid")
                         else patch_grid(cfg.size))
        arrays = read_targets(self.run_dir) if (restore is not None and self.run_dir) \
            else None
        if arrays is None:
            key = cache_key(self.video_sha, self._frames_info(),
                            clip_cache_identity(self.clip_spec), self.grid, spatial)
            total = self.num_frames * (1 + (self.grid.count if self.grid else 0))
            self.log(f"CLIP targets: {self.clip_spec.label}, {self.num_frames} frames"
                     + (f", {self.grid.count} patches each ({self.grid.rows}x"
                        f"{self.grid.cols} grid, {self.grid.patch} px at stride "
                        f"{self.grid.stride}, coverage {self.grid.coverage:.0%})"
                        if self.grid else ""))

            def progress(done, _total):
                if self.on_progress:
                    self.on_progress(NervProgress("targets", 0, cfg.epochs, done, total))

            arrays, cached = load_or_compute(self.cache_dir, key, self.frames_u8, self.clip,
                                             self.grid, progress, self.cancel)
            self.log("CLIP targets: " + ("loaded from cache" if cached else
                                         f"computed and cached in {self.cache_dir}"))
            if self.run_dir is not None:
                write_targets(self.run_dir, arrays)
        self.targets = {k: torch.from_numpy(v) for k, v in arrays.items()}

    def _boxes(self):
        return normalised_boxes(self.grid) if self.grid is not None else None

    # -- one step ------------------------------------------------------------------------------
    def model_inputs(self, idx: torch.Tensor) -> dict:
        if self.model.config.kind == "nerv":
            return {"times": self.times[idx]}
        return {"frames": self.frames[idx]}

    def losses(self, idx: torch.Tensor, out: dict, clip_on: bool) -> dict[str, torch.Tensor]:
        cfg = self.config
        target = self.frames[idx]
        parts = {"pixel_loss": pixel_loss(cfg.pixel_loss, out["rgb"], target, self.ssim_win)}
        total = parts["pixel_loss"]
        key = f"clip_{cfg.clip_head}"
        if key in out:
            pred = out[key]
            tgt = self.targets[cfg.clip_head][idx]
            if cfg.clip_head == "spatial" and cfg.neighbour_weight:
                from engine.similarity import spatial_loss

                closs, _ = spatial_loss(pred, tgt, self.grid.shape, cfg.neighbour_weight)
            else:
                closs = clip_loss(pred, tgt)
            parts["clip_loss"] = closs
            pooled_p = pred if pred.dim() == 2 else pred.mean(dim=1)
            pooled_t = tgt if tgt.dim() == 2 else tgt.mean(dim=1)
            if cfg.contrastive != "none" and len(idx) > 1:
                from engine.similarity import info_nce, siglip_loss

                c = (info_nce(pooled_p, pooled_t, cfg.temperature)
                     if cfg.contrastive == "infonce" else siglip_loss(pooled_p, pooled_t))
                parts["contrastive_loss"] = c
                closs = closs + cfg.contrastive_weight * c
            if self.sequence is not None and len(idx) > 1:
                order = torch.argsort(idx)
                sim, _ = self.sequence(pooled_p[order], pooled_t[order])
                parts["sequence_loss"] = 1 - sim
                closs = closs + cfg.sequence_weight * (1 - sim)
            if clip_on:
                total = total + cfg.clip_weight * closs
        parts["total_loss"] = total
        return parts

    def _epoch_batches(self, epoch: int) -> list[torch.Tensor]:
        """Frame order of ``epoch``: a permutation seeded by (seed, epoch). With a sequence
        loss the batches are runs of consecutive training frames (in shuffled order), so
        the loss sees real sequences."""
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        train = torch.tensor(self.train_idx)
        b = cfg.batch_size
        if self.sequence is not None:
            chunks = list(train.split(b))
            order = torch.randperm(len(chunks), generator=gen).tolist()
            return [chunks[i].to(self.device) for i in order]
        perm = train[torch.randperm(len(train), generator=gen)]
        # drawn on the CPU (the same order on any device), moved once per epoch
        return list(perm.to(self.device).split(b))

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.train_idx) / self.config.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    def train_step(self, idx: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        lr = lr_at(self.step_count, self.total_steps, cfg.lr, cfg.lr_warmup)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.model.train()
        out = self.model(**self.model_inputs(idx))
        parts = self.losses(idx, out, clip_on=self.epoch >= cfg.warmup_epochs)
        self.optimizer.zero_grad(set_to_none=True)
        parts["total_loss"].backward()
        self.optimizer.step()
        self.step_count += 1
        # one device-to-host copy for all the losses (each float() would wait on its own)
        names = list(parts)
        values = dict(zip(names, torch.stack([parts[k].detach().float()
                                              for k in names]).tolist()))
        values["lr"] = lr
        return values

    # -- evaluation during training -------------------------------------------------------------
    @torch.no_grad()
    def predict(self, indices=None, batch: int = 8) -> dict[str, torch.Tensor]:
        """Model outputs for frames ``indices`` (default all), in eval mode, on the
        training device (like ``frames`` and ``targets``)."""
        self.model.eval()
        idx = (torch.arange(self.num_frames, device=self.device) if indices is None
               else torch.as_tensor(indices, device=self.device).reshape(-1))
        outs: dict[str, list] = {}
        for chunk in idx.split(batch):
            for k, v in self.model(**self.model_inputs(chunk)).items():
                outs.setdefault(k, []).append(v)
        return {k: torch.cat(v) for k, v in outs.items()}

    @torch.no_grad()
    def quick_eval(self) -> dict:
        """PSNR and CLIP-head similarity for train / unseen frames, and the training
        objective (full CLIP weight) on the train frames: what "best" means."""
        cfg = self.config
        out = self.predict()
        mse = (out["rgb"] - self.frames).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        psnr = -10 * torch.log10(mse)
        m = {"epoch": self.epoch}
        groups = {"all": list(range(self.num_frames)), "train": self.train_idx,
                  "unseen": self.unseen_idx}
        for name, ids in groups.items():
            if ids:
                m[f"psnr_{name}"] = float(psnr[ids].mean())
        key = f"clip_{cfg.clip_head}"
        sims = None
        if key in out:
            sims = F.cosine_similarity(out[key], self.targets[cfg.clip_head], dim=-1)
            if sims.dim() == 2:
                sims = sims.mean(dim=1)
            for name, ids in groups.items():
                if ids:
                    m[f"clip_similarity_{name}"] = float(sims[ids].mean())
        tr = self._train_idx
        objective = pixel_loss(cfg.pixel_loss, out["rgb"][tr], self.frames[tr], self.ssim_win)
        if key in out:
            objective = objective + cfg.clip_weight * clip_loss(
                out[key][tr], self.targets[cfg.clip_head][tr])
        m["objective"] = float(objective)
        return m

    # -- live views (for a GUI's progress callback, on the training thread) ----------------------
    def original(self, i: int) -> np.ndarray:
        """Frame i as decoded for training, uint8 (H, W, 3)."""
        return self.frames_u8[int(i)]

    @torch.no_grad()
    def reconstruction(self, i: int) -> np.ndarray:
        """The current model's frame i, uint8 (H, W, 3), on the host."""
        rgb = self.predict([int(i)])["rgb"][0]
        return (rgb.clamp(0, 1).permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).cpu().numpy()

    @torch.no_grad()
    def frame_similarities(self) -> dict[str, np.ndarray]:
        """Per-frame ``psnr`` and ``clip_similarity`` (head vs target, mean over patches)
        of the current model, with each frame's ``role`` (train / unseen / skipped)."""
        cfg = self.config
        out = self.predict()
        mse = (out["rgb"] - self.frames).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        res = {"role": np.array([self.split.role(i) for i in range(self.num_frames)]),
               "psnr": (-10 * torch.log10(mse)).cpu().numpy()}
        key = f"clip_{cfg.clip_head}"
        if key in out:
            sim = F.cosine_similarity(out[key], self.targets[cfg.clip_head], dim=-1)
            res["clip_similarity"] = (sim.mean(dim=1) if sim.dim() == 2 else sim).cpu().numpy()
        return res

    # -- checkpoints -----------------------------------------------------------------------------
    def run_info(self) -> dict:
        cfg = self.config
        return {
            "kind": RUN_KIND,
            "version": RUN_VERSION,
            "config": cfg.to_json(),
            "frames": {"count": self.num_frames, "sha256": self.video_sha,
                       "video": str(Path(cfg.video).resolve()),
                       "size": list(cfg.size), "max_frames": cfg.max_frames,
                       "step": cfg.frame_step},
            "split": {"text": self.split.text, "train": self.train_idx,
                      "unseen": self.unseen_idx},
            "model": {"name": cfg.model, "config": self.model.config.to_json(),
                      "strides": list(self.model.strides),
                      "base_hw": list(self.model.base_hw),
                      "params": self.model.parameter_counts(),
                      "description": self.model.describe()},
            "clip": None if self.clip_spec is None else {
                "label": self.clip_spec.label, "spec": _portable_spec(self.clip_spec),
                "random": bool(getattr(self.clip_spec, "config", None)),
                "dim": int(self.targets["global"].shape[-1]) if self.targets else 0},
            "grid": self.grid.to_json() if self.grid else None,
            "ssim_win_size": self.ssim_win,
            # the device of the latest session (run.json is rewritten as each one starts);
            # a resume without a device choice continues there when it can
            "device": {"type": self.device.type, "label": device_label(self.device)},
        }

    def save_checkpoint(self, name: str) -> Path | None:
        if self.run_dir is None:
            return None
        state = {"epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                 "step": self.step_count, "elapsed": self.elapsed,
                 "epoch_sums": self._epoch_sums, "history": self.history,
                 "evals": self.evals, "best": self.best}
        return save_checkpoint(self.run_dir, name, self._modules(), self.optimizer, state)

    def _modules(self) -> dict[str, torch.nn.Module]:
        """What a checkpoint holds, by name (the prefixes of its tensors)."""
        modules = {"model": self.model}
        if self.sequence is not None:
            modules["sequence"] = self.sequence
        return modules

    def _write_run_json(self) -> None:
        if self.run_dir is None:
            return
        write_run_info(self.run_dir, self.run_info())

    @classmethod
    def resume(cls, run_dir: str | Path, clip=None, clip_spec=None, epochs: int | None = None,
               device: str | torch.device | None = None, **kwargs) -> NervTrainer:
        """Continue ``run_dir`` from ``last`` (optionally to a new epoch total).

        ``device``: where to continue; None keeps the device the run last trained on
        (run.json), or the CPU where that was a GPU this machine lacks (said in the log):
        checkpoints hold CPU copies, so the run continues on either."""
        run_dir = Path(run_dir)
        try:
            info = read_run_info(run_dir)
            state = read_checkpoint_state(run_dir, LAST)
            config = NervTrainConfig.from_json(info["config"])
        except (SonolumeError, ValueError, KeyError, TypeError) as exc:
            raise SonolumeError(f"cannot resume from {run_dir}: not a readable NeRV run "
                                f"({exc})") from exc
        if epochs is not None:
            config.epochs = int(epochs)
        if clip_spec is None and clip is None and info.get("clip"):
            from engine.clip import ClipSpec

            clip_spec = ClipSpec(**info["clip"]["spec"])
        if device is None:
            device = resume_device(info, kwargs.get("log", print))
        trainer = cls(config, clip=clip, clip_spec=clip_spec, run_dir=run_dir,
                      device=device, _restore=info, **kwargs)
        try:
            # Adam's moments are copied into tensors laid out like their parameters
            # (channels_last), as the optimizer would have made them.
            load_checkpoint(run_dir, LAST, trainer._modules(), trainer.optimizer)
        except CheckpointError as exc:
            raise SonolumeError(f"checkpoint in {run_dir} does not match its settings "
                                f"({exc})") from exc
        trainer.epoch = int(state["epoch"])
        trainer.batch_in_epoch = int(state["batch_in_epoch"])
        trainer.step_count = int(state["step"])
        trainer.elapsed = float(state.get("elapsed", 0.0))
        trainer._epoch_sums = dict(state.get("epoch_sums", {}))
        trainer.history = list(state.get("history", []))
        trainer.evals = list(state.get("evals", []))
        trainer.best = state.get("best")
        return trainer

    # -- TensorBoard -------------------------------------------------------------------------------
    def writer(self):
        if self._writer is None and self.run_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.run_dir / TENSORBOARD_DIR),
                                         purge_step=self.epoch + 1 if self.epoch else None)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- the loop ------------------------------------------------------------------------------
    def _emit(self, ev: NervProgress) -> None:
        if self.on_progress is not None:
            self.on_progress(ev)

    def run(self, cancel=None) -> NervTrainResult:
        """Train to ``config.epochs``. ``cancel``: an object with ``is_set()`` (e.g. a
        threading.Event); when set, or on Ctrl-C, ``last`` is saved and Cancelled raised."""
        cfg = self.config
        cancel = cancel if cancel is not None else self.cancel
        self._write_run_json()
        self.log(self.model.describe())
        total = self.total_steps
        start_step, t_start = self.step_count, time.perf_counter()
        elapsed0 = self.elapsed
        on_cpu = self.device.type == "cpu"
        threads_before = torch.get_num_threads()
        if self.threads and on_cpu:
            torch.set_num_threads(int(self.threads))
        # Late in a fit many gradients and Adam moments fall below 1e-38 (subnormal floats),
        # which x86 cores handle far slower: on the 160x320 Bunny HNeRV after 55 epochs a
        # step took 248 ms on one thread, 125 ms with them flushed to zero. Values that
        # small move no weight visibly. (Set on this thread, the one that trains, and put
        # back when training stops, so the caller's later arithmetic keeps IEEE rules.)
        # A GPU's arithmetic is not slowed by them, and the flag is the CPU's only.
        if on_cpu:
            torch.set_flush_denormal(True)
        try:
            while self.epoch < cfg.epochs:
                batches = self._epoch_batches(self.epoch)
                for bi in range(self.batch_in_epoch, len(batches)):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(self._cancel_message())
                    values = self.train_step(batches[bi])
                    self.batch_in_epoch = bi + 1
                    for k, v in values.items():
                        self._epoch_sums[k] = self._epoch_sums.get(k, 0.0) + v
                    self._epoch_sums["n"] = self._epoch_sums.get("n", 0) + 1
                    self.elapsed = elapsed0 + time.perf_counter() - t_start
                    done = self.step_count - start_step
                    rate = (time.perf_counter() - t_start) / max(done, 1)
                    self._emit(NervProgress("train", self.epoch + 1, cfg.epochs,
                                            self.step_count, total, values, values["lr"],
                                            self.elapsed, rate * (total - self.step_count)))
                self._end_epoch()
        except KeyboardInterrupt:
            raise Cancelled(self._cancel_message()) from None
        except torch.OutOfMemoryError as exc:
            raise SonolumeError(
                f"out of memory on {device_label(self.device)} in epoch {self.epoch + 1} "
                f"with batches of {cfg.batch_size} {cfg.size[0]}x{cfg.size[1]} frames "
                f"({str(exc).splitlines()[0]}); use a smaller --batch-size or --size, or "
                "--device cpu (the last checkpoint is kept)") from exc
        finally:
            if on_cpu:
                torch.set_num_threads(threads_before)
                torch.set_flush_denormal(False)
            self.close()
        spe = self.elapsed / max(self.epoch, 1)
        self._emit(NervProgress("done", self.epoch, cfg.epochs, self.step_count, total,
                                elapsed=self.elapsed, eta=0.0,
                                metrics=self.evals[-1] if self.evals else None))
        return NervTrainResult(self.run_dir, self.epoch, self.elapsed, spe, self.history,
                               self.evals, self.best)

    def _end_epoch(self) -> None:
        cfg = self.config
        n = max(self._epoch_sums.pop("n", 1), 1)
        means = {k: v / n for k, v in self._epoch_sums.items()}
        self.epoch += 1
        self.batch_in_epoch = 0
        self._epoch_sums = {}
        record = {"epoch": self.epoch, **{k: round(v, 6) for k, v in means.items()},
                  "seconds": round(self.elapsed, 3)}
        self.history.append(record)
        w = self.writer()
        if w is not None:
            for k in ("pixel_loss", "clip_loss", "total_loss", "contrastive_loss",
                      "sequence_loss", "lr"):
                if k in means:
                    w.add_scalar(f"train/{k}", means[k], self.epoch)
        if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
            m = self.quick_eval()
            m["seconds"] = round(self.elapsed, 3)
            self.evals.append(m)
            if w is not None:
                for k, v in m.items():
                    if k.startswith(("psnr_", "clip_similarity_")):
                        w.add_scalar(f"eval/{k}", v, self.epoch)
                w.add_scalar("eval/objective", m["objective"], self.epoch)
                w.flush()
            if self.best is None or m["objective"] < self.best["objective"]:
                self.best = dict(m)
                self.save_checkpoint(BEST)
            self.save_checkpoint(LAST)
            self._emit(NervProgress("eval", self.epoch, cfg.epochs, self.step_count,
                                    self.total_steps, means, means.get("lr", 0.0),
                                    self.elapsed, metrics=m))
        elif self.run_dir is not None:
            self.save_checkpoint(LAST)

    def _cancel_message(self) -> str:
        saved = self.save_checkpoint(LAST)
        where = f"; resume with: sonolume nerv train --resume {self.run_dir}" if saved else ""
        return (f"NeRV training stopped in epoch {self.epoch + 1}/{self.config.epochs} "
                f"(step {self.step_count}){where}")
