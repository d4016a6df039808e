"""What one NeRV-CLIP run is asked to do: the settings a run folder stores in ``run.json``
and a trainer validates. Kept apart from the trainer so that reading a finished run
(:mod:`engine.nerv.run`) never imports the training loop."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from engine.errors import SonolumeError
from engine.nerv import data as vdata
from engine.nerv.models import CLIP_HEADS

PIXEL_LOSSES = ("fusion6", "l2", "l1")
CONTRASTIVE = ("none", "infonce", "siglip")
DEFAULT_CLIP_WEIGHT = {"global": 0.1, "spatial": 0.5, "none": 0.0}


@dataclass
class NervTrainConfig:
    video: str
    size: tuple[int, int] = vdata.DEFAULT_SIZE  # (H, W)
    max_frames: int | None = None
    frame_step: int = 1
    split: str = "4_4_5"
    model: str = "nerv"
    embed: str | None = None  # overrides the model config's pe_B_L
    target_params: int | None = None  # overrides the model config's budget
    clip_head: str = "global"
    clip_loss_weight: float | None = None  # None: 0.1 global, 0.5 spatial
    warmup_epochs: int = 0  # pixel-only epochs before the CLIP loss joins
    epochs: int = 60
    batch_size: int = 1
    lr: float = 5e-3  # short CPU runs: +4-5 dB over 1e-3 (64x128 Bunny, 24 epochs)
    lr_warmup: float = 0.1  # fraction of all steps with a linear LR ramp
    pixel_loss: str = "fusion6"
    contrastive: str = "none"  # across the frames of a batch: infonce | siglip
    contrastive_weight: float = 0.1
    temperature: float = 0.07
    neighbour_weight: float = 0.0  # > 0: spatial loss with neighbour consistency
    sequence_weight: float = 0.0  # > 0: learnable combined sequence similarity loss
    eval_every: int = 10
    seed: int = 0

    @property
    def clip_weight(self) -> float:
        if self.clip_head == "none":
            return 0.0
        if self.clip_loss_weight is None:
            return DEFAULT_CLIP_WEIGHT[self.clip_head]
        return float(self.clip_loss_weight)

    def validate(self) -> None:
        if self.clip_head not in CLIP_HEADS:
            raise SonolumeError(f"clip head must be one of {', '.join(CLIP_HEADS)}")
        if self.pixel_loss not in PIXEL_LOSSES:
            raise SonolumeError(f"pixel loss must be one of {', '.join(PIXEL_LOSSES)}")
        if self.contrastive not in CONTRASTIVE:
            raise SonolumeError(f"contrastive loss must be one of {', '.join(CONTRASTIVE)}")
        if self.epochs < 1:
            raise SonolumeError("epochs must be at least 1")
        if not 0 <= self.warmup_epochs:
            raise SonolumeError("warmup epochs must be >= 0")
        if self.batch_size < 1:
            raise SonolumeError("batch size must be at least 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise SonolumeError("learning rate must be positive")
        if not 0 <= self.lr_warmup < 1:
            raise SonolumeError("lr warmup must be a fraction in [0, 1)")
        for name in ("clip_weight", "contrastive_weight", "neighbour_weight",
                     "sequence_weight"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise SonolumeError(f"{name.replace('_', ' ')} must be >= 0")
        if self.clip_head == "none" and (self.contrastive != "none" or self.sequence_weight):
            raise SonolumeError("contrastive and sequence losses need a CLIP head "
                                "(CLIP head global or spatial)")
        if self.neighbour_weight and self.clip_head != "spatial":
            raise SonolumeError("the neighbour-consistency loss needs the spatial CLIP head")
        if (self.contrastive != "none" or self.sequence_weight) and self.batch_size < 2:
            raise SonolumeError("contrastive and sequence losses compare the frames of a "
                                "batch: use a batch size of 2 or more")
        if self.eval_every < 1:
            raise SonolumeError("eval_every must be at least 1")
        vdata.parse_split(self.split)

    def to_json(self) -> dict:
        d = asdict(self)
        d["size"] = list(self.size)
        return d

    @classmethod
    def from_json(cls, data: dict) -> NervTrainConfig:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in data.items() if k in known}
        d["size"] = tuple(d["size"])
        return cls(**d)
