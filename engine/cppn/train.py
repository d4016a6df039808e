"""Train a CPPN until CLIP judges its image to match the prompts.

Every random choice of step ``i`` (cutout boxes, flips, latent jitter) comes from a
generator seeded by ``(seed, i)``, and the checkpoint holds Adam's full state, so a run that
is cancelled and resumed lands on exactly the same weights as one that never stopped.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine import checkpoint
from engine.cppn.base import BASE_ID, base_cppn, check_base
from engine.cppn.model import CPPN, CPPNConfig, coordinate_grid, to_uint8
from engine.errors import Cancelled, SonolumeError
from engine.runtime import tune_allocator


@dataclass(frozen=True)
class TrainPreset:
    """A named training recipe with the words people choose it by. The CLI's help, its
    ``--list-presets`` and the app's preset menu all read these, so they cannot drift."""

    name: str
    label: str  # short menu text
    description: str  # what it is for, in one line
    schedule: tuple[tuple[int, int], ...]  # (iterations, resolution) stages
    cutouts: int
    # torch.compile pays ~30 s once for ~1.4-2.4x faster steps: worth it on long runs only.
    compile: bool = False

    @property
    def total_iterations(self) -> int:
        return sum(n for n, _ in self.schedule)

    def summary(self) -> str:
        """The recipe in numbers, e.g. '400 @ 256² + 400 @ 512², 4 cutouts'."""
        stages = " + ".join(f"{n} @ {r}²" for n, r in self.schedule)
        return f"{stages}, {self.cutouts} cutouts" + (", compiled" if self.compile else "")

    def settings(self) -> dict:
        """The TrainConfig fields this preset sets."""
        return {"schedule": [tuple(s) for s in self.schedule], "cutouts": self.cutouts,
                "compile": self.compile}


TRAIN_PRESETS: dict[str, TrainPreset] = {p.name: p for p in (
    # CPU-friendly: one small resolution and few cutouts; see bench/README.md for timings.
    TrainPreset("draft", "draft (fast)", "one small resolution: a few minutes on a laptop CPU",
                ((150, 192),), 4),
    # The seed project's recipe.
    TrainPreset("standard", "standard", "the seed recipe, 256² then 512²: best with a GPU",
                ((400, 256), (400, 512)), 4, compile=True),
    TrainPreset("high", "high", "longer, more cutouts: for a GPU",
                ((400, 256), (600, 512)), 8, compile=True),
)}
DEFAULT_PRESET = "draft"
# The settings of each preset as TrainConfig fields (the form older callers read).
PRESETS: dict[str, dict] = {name: p.settings() for name, p in TRAIN_PRESETS.items()}
# --steps beyond this is a typo, not a plan: a million 512² steps is weeks on a GPU.
MAX_STEPS = 1_000_000


def list_presets() -> list[TrainPreset]:
    """Every training preset, fastest first."""
    return list(TRAIN_PRESETS.values())

MAX_RESOLUTION = 2048
CHECKPOINT = "checkpoint.safetensors"
RUN_JSON = "run.json"


@dataclass
class Prompt:
    text: str
    weight: float = 1.0


@dataclass
class TrainConfig:
    prompts: list[Prompt]
    negatives: list[str] = field(default_factory=list)
    negative_weight: float = 0.3
    image_prompt: str | None = None
    image_prompt_weight: float = 1.0
    preset: str = "standard"
    schedule: list[tuple[int, int]] = field(default_factory=lambda: [(400, 256), (400, 512)])
    cutouts: int = 4
    cutout_min: float = 0.5
    lr: float = 1e-3
    seed: int = 0
    cppn: CPPNConfig = field(default_factory=CPPNConfig)
    latent_jitter: float = 0.1
    preview_every: int = 25
    preview_size: int = 128
    checkpoint_every: int = 50
    # Also checkpoint when this many seconds passed since the last one: a 512² step can take
    # 5 s on a CPU, so 50 steps would leave minutes of work unsaved.
    checkpoint_seconds: float = 60.0
    # torch.compile the CPPN and CLIP's image tower: ~1.4-2.4x faster steps for a one-off
    # ~30 s compile, so it pays off on long presets only.
    compile: bool = False
    # Start from the shared base network (engine.cppn.base), so any two styles trained this
    # way morph smoothly; None starts from a network seeded by ``seed`` (independent).
    base: str | None = BASE_ID

    @classmethod
    def from_preset(cls, preset: str, prompts: list[Prompt], **overrides) -> TrainConfig:
        if preset not in TRAIN_PRESETS:
            raise SonolumeError(f"unknown preset '{preset}' "
                                f"(choose {', '.join(TRAIN_PRESETS)})")
        values = TRAIN_PRESETS[preset].settings()
        values.update({k: v for k, v in overrides.items() if v is not None})
        cfg = cls(prompts=prompts, preset=preset, **values)
        cfg.validate()
        return cfg

    @property
    def total_iterations(self) -> int:
        return sum(n for n, _ in self.schedule)

    def validate(self) -> None:
        texts = [p.text.strip() for p in self.prompts]
        if not any(texts) and not self.image_prompt:
            raise SonolumeError("give at least one non-empty prompt (or an image prompt)")
        if any(not t for t in texts):
            raise SonolumeError("empty prompt: every prompt needs some text")
        for p in self.prompts:
            if not math.isfinite(p.weight) or p.weight <= 0:
                raise SonolumeError(f"prompt weight must be positive, got {p.weight} for "
                                    f"'{p.text}'")
        if any(not n.strip() for n in self.negatives):
            raise SonolumeError("empty negative prompt")
        if not self.schedule:
            raise SonolumeError("the resolution schedule is empty")
        for iters, res in self.schedule:
            if iters < 1 or not (32 <= res <= MAX_RESOLUTION):
                raise SonolumeError(f"bad schedule stage {iters} iterations @ {res}px "
                                    f"(iterations >= 1, 32 <= resolution <= {MAX_RESOLUTION})")
        if not 1 <= self.cutouts <= 64:
            raise SonolumeError(f"cutouts must be 1..64, got {self.cutouts}")
        if not 0.1 <= self.cutout_min <= 1.0:
            raise SonolumeError("cutout_min must be in [0.1, 1]")
        if self.image_prompt and not Path(self.image_prompt).is_file():
            raise SonolumeError(f"image prompt not found: {self.image_prompt}")
        check_base(self.base)

    def to_json(self) -> dict:
        data = asdict(self)
        data["cppn"] = self.cppn.to_json()
        data["schedule"] = [list(s) for s in self.schedule]
        return data

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        data = dict(data)
        data["prompts"] = [Prompt(**p) for p in data["prompts"]]
        data["cppn"] = CPPNConfig.from_json(data["cppn"])
        data["schedule"] = [tuple(s) for s in data["schedule"]]
        # Runs saved before bases existed started from their own seed.
        data.setdefault("base", None)
        return cls(**data)


@dataclass
class TrainProgress:
    iteration: int
    total: int
    resolution: int
    loss: float
    similarity: float
    elapsed: float
    eta: float
    preview: np.ndarray | None = None


@dataclass
class TrainResult:
    cppn: CPPN
    config: TrainConfig
    score: float
    seconds: float
    history: list[dict]
    clip: dict
    thumbnail: np.ndarray

    def style_meta(self, name: str) -> dict:
        """The style.json fields the library stores for a finished run."""
        cfg = self.config
        return {
            "name": name,
            "prompts": [{"text": p.text, "weight": p.weight} for p in cfg.prompts],
            "negatives": list(cfg.negatives),
            "image_prompt": Path(cfg.image_prompt).name if cfg.image_prompt else None,
            "clip": self.clip,
            "architecture": cfg.cppn.to_json(),
            "schedule": [list(s) for s in cfg.schedule],
            "cutouts": cfg.cutouts,
            "seed": cfg.seed,
            "base": cfg.base,
            "score": round(self.score, 5),
            "trained": True,
            "extra": {"preset": cfg.preset, "train_seconds": round(self.seconds, 1),
                      "iterations": cfg.total_iterations, "lr": cfg.lr},
        }


def _step_generator(seed: int, iteration: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + iteration)


def _stage_at(schedule, iteration: int) -> int:
    done = 0
    for iters, res in schedule:
        done += iters
        if iteration < done:
            return res
    return schedule[-1][1]


def _absolute_spec(spec: dict) -> dict:
    """File paths in a ClipSpec made absolute, so the printed resume command works from
    any folder (the user may have given ``--clip-config tiny.json``)."""
    spec = dict(spec)
    for key in ("checkpoint", "config"):
        if spec.get(key):
            spec[key] = os.path.abspath(os.path.expanduser(spec[key]))
    return spec


def _load_image(path: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise SonolumeError(f"cannot read image prompt {path}: {exc}") from exc
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)


#: Precisions of CLIP's image tower while training (the CPPN always trains in fp32: its
#: sines of arguments up to ~10 lose most of their digits in 8-bit-mantissa bf16).
CLIP_PRECISIONS = ("fp32", "bf16")


def check_device(device, clip_precision: str = "fp32") -> torch.device:
    """The torch device to train on, or a SonolumeError saying why it cannot be used:
    CUDA asked for where torch sees no GPU, bf16 where the GPU (or the CPU) has none.
    ``"auto"``: a CUDA GPU when torch sees one, else the CPU (the CLI's default; the NeRV
    trainer resolves it here too, so both trainers read ``--device`` the same way)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise SonolumeError(f"unknown device '{device}' (use cpu or cuda)") from exc
    if dev.type not in ("cpu", "cuda"):
        raise SonolumeError(f"training runs on cpu or cuda, not '{dev.type}'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SonolumeError("device cuda asked for, but torch sees no CUDA GPU here "
                            f"(torch {torch.__version__}, built for CUDA "
                            f"{torch.version.cuda or 'none'}); use --device cpu")
    if clip_precision not in CLIP_PRECISIONS:
        raise SonolumeError(f"CLIP precision must be one of {', '.join(CLIP_PRECISIONS)}, "
                            f"got '{clip_precision}' (fp16 would need loss scaling; bf16 "
                            "does not)")
    if clip_precision == "bf16":
        if dev.type != "cuda":
            raise SonolumeError("bf16 training is for CUDA GPUs; on a CPU it is emulated "
                                "and slower than fp32")
        if not torch.cuda.is_bf16_supported():
            raise SonolumeError(f"this GPU ({torch.cuda.get_device_name(dev)}) has no "
                                "bf16; train in fp32")
    return dev


class Trainer:
    """One training run. ``run_dir`` (optional) receives checkpoints for resume.

    ``device``: where the CPPN trains; default the device CLIP was loaded on (the two must
    agree: every step passes the image through CLIP). ``clip_precision="bf16"`` runs
    CLIP's image tower under CUDA autocast (its convolutions/attention dominate a step on
    a GPU); gradients still reach the fp32 CPPN. Checkpoints are device-free, so a run
    started on a GPU resumes on a CPU and back."""

    def __init__(self, config: TrainConfig, clip, run_dir: str | Path | None = None,
                 device: str | torch.device | None = None, clip_precision: str = "fp32"):
        config.validate()
        tune_allocator()
        clip_device = torch.device(getattr(clip, "device", "cpu"))
        self.device = check_device(clip_device if device is None else device, clip_precision)
        if (self.device.type, self.device.index or 0) != (clip_device.type,
                                                          clip_device.index or 0):
            raise SonolumeError(f"CLIP is loaded on {clip_device} but training was asked "
                                f"to run on {self.device}: load it with "
                                f"load_clip(spec, device='{self.device}')")
        self.clip_precision = clip_precision
        self.config = config
        self.clip = clip
        # Absolute: the resume command printed on a stop must work from any folder.
        self.run_dir = Path(run_dir).absolute() if run_dir else None
        self._saved_at = time.monotonic()
        if config.base:
            self.cppn = base_cppn(config.cppn, config.base)
        else:
            self.cppn = CPPN(config.cppn, seed=config.seed)
        self.cppn.to(self.device)  # the base is drawn on the CPU (bit-exact), then moved
        self.optimizer = torch.optim.Adam(self.cppn.parameters(), lr=config.lr)
        self.iteration = 0
        self.elapsed = 0.0
        self.history: list[dict] = []
        self.job: dict = {}  # caller's notes kept with checkpoints (e.g. the style name)
        self._targets()
        self._grids: dict[int, torch.Tensor] = {}
        self._forward = self.cppn
        self._encode = self.clip.model.encode_image
        if config.compile:
            self._forward = torch.compile(self.cppn)
            self._encode = torch.compile(self.clip.model.encode_image)
        self.compile_fallback: str | None = None

    # -- targets ---------------------------------------------------------------------------
    def _targets(self) -> None:
        cfg = self.config
        pos, weights = [], []
        if cfg.prompts:
            pos.append(self.clip.encode_text([p.text for p in cfg.prompts]))
            weights += [p.weight for p in cfg.prompts]
        if cfg.image_prompt:
            with torch.no_grad():
                pos.append(self.clip.encode_image(
                    _load_image(cfg.image_prompt).to(self.device)))
            weights.append(cfg.image_prompt_weight)
        self.positives = torch.cat(pos)
        w = torch.tensor(weights, dtype=torch.float32, device=self.device)
        self.weights = w / w.sum()
        self.negatives = self.clip.encode_text(cfg.negatives) if cfg.negatives else None

    def similarity(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Weighted cosine similarity of each image embedding to the positive targets."""
        return (embeddings @ self.positives.t()) @ self.weights

    # -- one step --------------------------------------------------------------------------
    def _grid(self, res: int) -> torch.Tensor:
        if res not in self._grids:
            grid = coordinate_grid(res, res, None, self.config.cppn.extra_inputs)
            self._grids = {res: grid.to(self.device)}
        return self._grids[res]

    def _cutouts(self, image: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        cfg, res, size = self.config, image.shape[-1], self.clip.image_size
        crops = []
        for _ in range(cfg.cutouts):
            frac = cfg.cutout_min + (1 - cfg.cutout_min) * torch.rand((), generator=gen).item()
            side = max(8, int(res * frac))
            x0 = int(torch.randint(0, res - side + 1, (), generator=gen))
            y0 = int(torch.randint(0, res - side + 1, (), generator=gen))
            crop = image[:, :, y0 : y0 + side, x0 : x0 + side]
            crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False,
                                 antialias=side > size)
            if torch.rand((), generator=gen).item() < 0.5:
                crop = crop.flip(-1)
            crops.append(crop)
        return torch.cat(crops)

    def _embed(self, crops: torch.Tensor) -> torch.Tensor:
        clip = self.clip
        x = clip.prepare((crops - clip.mean) / clip.std)
        if self.clip_precision == "bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                return F.normalize(self._encode(x).float(), dim=-1)
        return F.normalize(self._encode(x).float(), dim=-1)

    def step(self) -> tuple[float, float]:
        cfg = self.config
        res = _stage_at(cfg.schedule, self.iteration)
        gen = _step_generator(cfg.seed, self.iteration)
        grid = self._grid(res)
        if cfg.cppn.extra_inputs and cfg.latent_jitter > 0:
            # drawn on the CPU generator whatever the device: the same run on any device
            jitter = torch.randn(cfg.cppn.extra_inputs, generator=gen) * cfg.latent_jitter
            jitter = jitter.to(self.device)
            grid = grid.clone()
            grid[:, 3:] = jitter
        try:
            image = self._forward(grid).t().reshape(1, 3, res, res)
            emb = self._embed(self._cutouts(image, gen))
        except Exception as exc:  # noqa: BLE001 - compile needs a C toolchain; run eagerly
            if self._forward is self.cppn:
                raise
            self.compile_fallback = f"torch.compile unavailable ({type(exc).__name__}); eager"
            self._forward, self._encode = self.cppn, self.clip.model.encode_image
            image = self._forward(grid).t().reshape(1, 3, res, res)
            emb = self._embed(self._cutouts(image, gen))
        sim = self.similarity(emb)
        loss = (1 - sim).mean()
        if self.negatives is not None:
            loss = loss + cfg.negative_weight * (emb @ self.negatives.t()).clamp_min(0).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        return loss.item(), sim.mean().item()

    # -- evaluation ------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> float:
        """CLIP similarity on fixed views (whole frame, four corners, centre) at the final
        resolution: the same views for every style, so scores compare across runs."""
        res = self.config.schedule[-1][1]
        image = self.cppn.render(res, res).unsqueeze(0)
        views = [image]
        for fx, fy, frac in ((0, 0, .75), (1, 0, .75), (0, 1, .75), (1, 1, .75), (.5, .5, .6)):
            side = int(res * frac)
            x0, y0 = int((res - side) * fx), int((res - side) * fy)
            views.append(image[:, :, y0 : y0 + side, x0 : x0 + side])
        size = self.clip.image_size
        batch = torch.cat([F.interpolate(v, size=(size, size), mode="bilinear",
                                         align_corners=False, antialias=True) for v in views])
        return float(self.similarity(self.clip.encode_image(batch, resize=False)).mean())

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self) -> Path | None:
        if self.run_dir is None:
            return None
        config = self.config.to_json()
        if config.get("image_prompt"):
            config["image_prompt"] = os.path.abspath(config["image_prompt"])
        info = {"config": config, "iteration": self.iteration,
                "elapsed": self.elapsed, "history": self.history,
                "clip": self.clip.spec.to_json() | {"label": self.clip.label},
                "clip_spec": _absolute_spec(asdict(self.clip.spec)), "job": self.job}
        checkpoint.save(self.run_dir / CHECKPOINT, {"cppn": self.cppn}, self.optimizer, info,
                        json_path=self.run_dir / RUN_JSON)
        self._saved_at = time.monotonic()
        return self.run_dir

    @staticmethod
    def stored_clip_spec(run_dir: str | Path):
        """The ClipSpec a run was started with, so a resume uses the same CLIP."""
        from engine.clip.loader import ClipSpec

        try:
            info = json.loads((Path(run_dir) / RUN_JSON).read_text())
            return ClipSpec(**info["clip_spec"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SonolumeError(f"cannot resume from {run_dir}: not a readable training run "
                                f"({exc})") from exc

    @classmethod
    def resume(cls, run_dir: str | Path, clip) -> Trainer:
        run_dir = Path(run_dir)
        try:
            info = checkpoint.read_info(run_dir / CHECKPOINT, run_dir / RUN_JSON)
            config = TrainConfig.from_json(info["config"])
        except (SonolumeError, ValueError, KeyError, TypeError) as exc:
            raise SonolumeError(f"cannot resume from {run_dir}: not a readable training run "
                                f"({exc})") from exc
        trainer = cls(config, clip, run_dir)
        try:
            checkpoint.load(run_dir / CHECKPOINT, {"cppn": trainer.cppn}, trainer.optimizer,
                            json_path=run_dir / RUN_JSON)
        except checkpoint.CheckpointError as exc:
            raise SonolumeError(f"checkpoint in {run_dir} does not match its settings "
                                f"({exc})") from exc
        trainer.iteration = int(info["iteration"])
        trainer.elapsed = float(info.get("elapsed", 0.0))
        trainer.history = list(info.get("history", []))
        trainer.job = dict(info.get("job", {}))
        return trainer

    # -- the loop --------------------------------------------------------------------------
    def _eta(self, stage_times: dict[int, list[float]]) -> float:
        """Remaining seconds, scaling the measured step time by pixel count for stages not
        reached yet (a 512² step costs ~4x a 256² one)."""
        cfg = self.config
        res_now = _stage_at(cfg.schedule, max(self.iteration - 1, 0))
        recent = stage_times.get(res_now, [])[-20:]
        if not recent:
            return float("nan")
        per_px = (sum(recent) / len(recent)) / (res_now * res_now)
        remaining, done = 0.0, 0
        for iters, res in cfg.schedule:
            left = max(0, min(iters, done + iters - self.iteration))
            done += iters
            if left:
                t = stage_times.get(res)
                step = sum(t[-20:]) / len(t[-20:]) if t else per_px * res * res
                remaining += left * step
        return remaining

    def run(
        self,
        on_progress: Callable[[TrainProgress], None] | None = None,
        cancel=None,
    ) -> TrainResult:
        cfg = self.config
        total = cfg.total_iterations
        stage_times: dict[int, list[float]] = {}
        torch.manual_seed(cfg.seed)
        try:
            while self.iteration < total:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(self.stop_message())
                res = _stage_at(cfg.schedule, self.iteration)
                t0 = time.perf_counter()
                loss, sim = self.step()
                dt = time.perf_counter() - t0
                self.elapsed += dt
                stage_times.setdefault(res, []).append(dt)
                self.history.append({"it": self.iteration, "loss": round(loss, 5),
                                     "sim": round(sim, 5)})
                if self.run_dir and (self.iteration % cfg.checkpoint_every == 0 or
                                     time.monotonic() - self._saved_at >= cfg.checkpoint_seconds):
                    self.save_checkpoint()
                if on_progress:
                    preview = None
                    if self.iteration % cfg.preview_every == 0 or self.iteration == total:
                        preview = to_uint8(self.cppn.render(cfg.preview_size, cfg.preview_size))
                    on_progress(TrainProgress(self.iteration, total, res, loss, sim,
                                              self.elapsed, self._eta(stage_times), preview))
        except KeyboardInterrupt:
            raise Cancelled(self.stop_message()) from None
        score = self.evaluate()
        if self.run_dir:
            self.save_checkpoint()
        thumb = to_uint8(self.cppn.render(256, 256))
        clip_info = self.clip.spec.to_json() | {"label": self.clip.label}
        # The library, thumbnails and renderers take a host-side network.
        cppn = self.cppn if self.device.type == "cpu" else copy.deepcopy(self.cppn).cpu()
        return TrainResult(cppn, cfg, score, self.elapsed, self.history, clip_info, thumb)

    def stop_message(self) -> str:
        """Save a checkpoint (when the run has a folder) and say how to continue: what every
        way of stopping a run early reports."""
        saved = self.save_checkpoint()
        where = f"; resume with: sonolume train --resume {saved}" if saved else ""
        done = f"{self.iteration}/{self.config.total_iterations}"
        return f"training stopped at iteration {done}{where}"


def with_schedule_scale(config: TrainConfig, steps: int | None) -> TrainConfig:
    """Scale every stage so the total is ``steps`` (keeps the stage proportions); ``None``
    keeps the preset's schedule. Zero is refused rather than read as "the default": a user
    who typed ``--steps 0`` did not ask for the full preset."""
    if steps is None:
        return config
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise SonolumeError(f"--steps must be a whole number from 1 to {MAX_STEPS:,}, "
                            f"got {steps}")
    if steps < len(config.schedule):
        raise SonolumeError(f"--steps must be at least {len(config.schedule)} for this preset")
    total = config.total_iterations
    stages = [(max(1, round(n * steps / total)), r) for n, r in config.schedule]
    return replace(config, schedule=stages)
