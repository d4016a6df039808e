"""NeRV and HNeRV video networks with optional CLIP heads, behind an open_clip-like registry.

* NeRV: frame time t in [0, 1] -> positional encoding ``pe_B_L`` (sin and cos of
  B^i * pi * t for i < L) -> MLP -> a small feature map -> up-blocks -> RGB.
* HNeRV: the frame itself -> a small conv encoder -> a tiny embedding (a few channels at
  the base resolution) -> the same kind of decoder.

An up-block is conv(k) to C_out * s^2 channels -> PixelShuffle(s) -> GELU; channel counts
shrink by ``reduce`` per block down to ``lower_width`` and kernel sizes grow from
``kernel_min`` to ``kernel_max`` (HNeRV's schedule: a cheap 1x1 conv where channels are
wide, 3x3 where the map is large).

CLIP heads read one decoder feature map (``clip_tap``: 0 = the base map, k = after the
k-th up-block):

* global: mean-pool the map -> MLP -> one embedding per frame;
* spatial: average the map inside each patch box of the CLIP patch grid (an exact,
  area-weighted pooling matrix, so overlapping patches work) -> the same kind of MLP
  with a learned per-patch offset -> one embedding per patch.

Sizes: a config names a parameter budget (``target_params``); the factory picks the base
width ``fc_dim`` whose *representation* - what must be stored to decode the video: the
decoder, plus the per-frame embeddings for HNeRV, never the encoder or CLIP heads, as in
the HNeRV paper - is closest to it, so NeRV and HNeRV compare at equal size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import SonolumeError

CLIP_HEADS = ("none", "global", "spatial")
STRIDE_STYLES = ("coarse", "fine")
ENCODERS = ("conv", "convnext")

# -- configs and the registry -----------------------------------------------------------------


@dataclass(frozen=True)
class NervConfig:
    kind: str = "nerv"  # "nerv" (time in) or "hnerv" (frame in)
    embed: str = "pe_1.25_80"  # NeRV's positional encoding pe_B_L
    stem_dim: int = 128  # NeRV: hidden width of the t -> feature-map MLP
    fc_dim: int = 64  # channels of the base feature map (chosen from target_params)
    enc_dim: int = 8  # HNeRV: channels of the per-frame embedding
    enc_width: int = 32  # HNeRV: first encoder width (doubles per stage, max 4x)
    reduce: float = 1.2  # channel reduction per up-block
    lower_width: int = 12  # no up-block narrower than this
    kernel_min: int = 1
    kernel_max: int = 3
    strides: tuple[int, ...] | None = None  # None: chosen from the frame size
    base_short: int = 4  # aim for a base map whose short side is at least this
    # "coarse": largest strides first (5, 4, 4); "fine": the last stride-4 stage split in
    # two stride-2 stages (5, 4, 2, 2), as the NeRV/HNeRV papers decode: thin cheap stages
    # at full size instead of one wide one (measured on CPU, 160x320 Bunny: faster and
    # sharper at equal size).
    stride_style: str = "coarse"
    # HNeRV encoder: "conv" (strided convs + 3x3 convs, the first design) or "convnext"
    # (patchify conv + one depthwise/pointwise residual block per stage, a ConvNeXt-style
    # stage as in the HNeRV paper, the first one on 5x5 patches: far less work).
    encoder: str = "conv"
    # RGB = sigmoid(out_scale * conv): 2 is the HNeRV code's 0.5 * tanh(x) + 0.5 (with
    # Adam a steeper output moves the picture faster for the same step in the weights).
    out_scale: float = 1.0
    target_params: int | None = 750_000  # representation budget; None keeps fc_dim
    clip_tap: int = 1
    clip_hidden: int = 256

    def to_json(self) -> dict:
        data = asdict(self)
        data["strides"] = list(self.strides) if self.strides else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> NervConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SonolumeError(f"unknown NeRV settings: {', '.join(sorted(unknown))}")
        data = dict(data)
        if data.get("strides") is not None:
            data["strides"] = tuple(int(s) for s in data["strides"])
        return cls(**data)


# NeRV's decoder (Chen et al. 2021): 3x3 convs, channels halve per block down to 16, four
# up-sampling stages from a 2-row base map (160x320: 2x4 -> 5, 4, 2, 2), as the HNeRV
# code's NeRV but narrowing to 16 rather than 12 channels (+0.1 dB at 0.35M, +0.7 dB at
# 0.75M on 160x320 Bunny); much less work than the first layout here (three stages from
# 4x8, nothing narrower than 32). Figures against the official code: bench/nerv.py.
_FINE = dict(base_short=2, stride_style="fine")
_NERV = dict(kind="nerv", kernel_min=3, kernel_max=3, reduce=2.0, lower_width=16, **_FINE)
# HNeRV's decoder (Chen et al. 2023): kernels 1 -> 3 -> 5, channels shrink by 1.2 (to 12).
_HNERV_DECODER = dict(kernel_min=1, kernel_max=5, reduce=1.2, lower_width=12, **_FINE)
# HNeRV's encoder: ConvNeXt-style stages, a 16-channel embedding on the base map, and the
# HNeRV code's output 0.5 tanh(x) + 0.5. The encoder is 96 wide (the paper's 64): it is
# not stored, costs ~10% more time per step, and with the output measured +1.0 dB at 0.35M
# (60 epochs, 160x320 Bunny: 29.63 against 28.61 dB).
_HNERV = dict(kind="hnerv", encoder="convnext", enc_width=96, enc_dim=16, out_scale=2.0,
              **_HNERV_DECODER)

_MODEL_CONFIGS: dict[str, NervConfig] = {
    # The pair the HNeRV paper compares (its Bunny point is 0.75M parameters each).
    "nerv": NervConfig(**_NERV),
    "hnerv": NervConfig(**_HNERV),
    # NeRV's time input with HNeRV's decoder (isolates the decoder from the embedding).
    "nerv-hd": NervConfig(kind="nerv", **_HNERV_DECODER),
    "nerv-0.75m": NervConfig(**_NERV, target_params=750_000),
    "hnerv-0.75m": NervConfig(**_HNERV, target_params=750_000),
    # A bigger pair (the seed project's multi-patch model had 1.51M parameters).
    "nerv-1.5m": NervConfig(**_NERV, target_params=1_500_000, stem_dim=256),
    "hnerv-1.5m": NervConfig(**_HNERV, target_params=1_500_000),
    # Small enough for unit tests and quick looks.
    "nerv-tiny": NervConfig(kind="nerv", target_params=60_000, stem_dim=64, clip_hidden=64,
                            **_FINE),
    "hnerv-tiny": NervConfig(kind="hnerv", target_params=60_000, encoder="convnext",
                             enc_width=16, clip_hidden=64, **_FINE),
}

# Models trained before the layouts above (runs store their full config, so they reopen
# with the layout they were trained with): three stages from a 4-row base, conv encoder.
# Kept by name for comparisons.
_MODEL_CONFIGS.update({
    "nerv-v1": NervConfig(kind="nerv", kernel_min=3, kernel_max=3, reduce=2.0,
                          lower_width=32),
    "hnerv-v1": NervConfig(kind="hnerv", kernel_min=1, kernel_max=5, reduce=1.2,
                           lower_width=12),
})


def list_models() -> list[str]:
    return sorted(_MODEL_CONFIGS)


def get_model_config(name: str) -> NervConfig:
    try:
        return _MODEL_CONFIGS[name]
    except KeyError:
        raise SonolumeError(
            f"unknown NeRV model '{name}' (known: {', '.join(list_models())})"
        ) from None


def add_model_config(name: str, config: NervConfig) -> None:
    _validate(config)
    _MODEL_CONFIGS[name] = config


def _validate(cfg: NervConfig) -> None:
    if cfg.kind not in ("nerv", "hnerv"):
        raise SonolumeError(f"model kind must be nerv or hnerv, got '{cfg.kind}'")
    parse_embed(cfg.embed)
    if not (1 <= cfg.kernel_min <= cfg.kernel_max <= 7) or cfg.kernel_min % 2 == 0 \
            or cfg.kernel_max % 2 == 0:
        raise SonolumeError("kernel sizes must be odd, 1 <= kernel_min <= kernel_max <= 7")
    if not (0 < cfg.out_scale <= 16 and math.isfinite(cfg.out_scale)):
        raise SonolumeError("out_scale must be in (0, 16]")
    if cfg.reduce < 1 or cfg.lower_width < 1 or cfg.fc_dim < 1 or cfg.enc_dim < 1:
        raise SonolumeError(f"bad NeRV widths in {cfg}")
    if cfg.target_params is not None and cfg.target_params < 1000:
        raise SonolumeError("target_params must be at least 1000")
    if cfg.stride_style not in STRIDE_STYLES:
        raise SonolumeError(f"stride_style must be one of {', '.join(STRIDE_STYLES)}, "
                            f"got '{cfg.stride_style}'")
    if cfg.encoder not in ENCODERS:
        raise SonolumeError(f"encoder must be one of {', '.join(ENCODERS)}, "
                            f"got '{cfg.encoder}'")


# -- helpers ------------------------------------------------------------------------------------


def parse_embed(text: str) -> tuple[float, int]:
    """'pe_1.25_80' -> (1.25, 80)."""
    parts = (text or "").split("_")
    try:
        if len(parts) != 3 or parts[0] != "pe":
            raise ValueError
        base, levels = float(parts[1]), int(parts[2])
    except ValueError:
        raise SonolumeError(f"bad embedding '{text}': use pe_B_L, e.g. pe_1.25_80") from None
    if not (1.0 < base <= 4.0 and 1 <= levels <= 256):
        raise SonolumeError(f"bad embedding '{text}': need 1 < B <= 4 and 1 <= L <= 256")
    return base, levels


def positional_encoding(t: torch.Tensor, base: float, levels: int) -> torch.Tensor:
    """(B,) times in [0, 1] -> (B, 2L): sin then cos of B^i * pi * t, i < L.

    Computed in float64: B^79 is ~4.5e7 at the default, where float32 would round the
    phase to noise that depends on the batch."""
    freqs = base ** torch.arange(levels, dtype=torch.float64, device=t.device) * math.pi
    phase = t.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([phase.sin(), phase.cos()], dim=1).to(torch.float32)


def auto_strides(frame_size: tuple[int, int], base_short: int = 4,
                 style: str = "coarse") -> tuple[int, ...]:
    """Up-sampling strides (largest first, each <= 5) whose product divides both sides and
    leaves a base map whose short side is >= base_short but otherwise as small as
    possible. 128x256 -> (4, 4, 2): base 4x8; 640x1280 -> (5, 4, 4, 2): base 4x8. The
    "fine" style splits a last stride 4 into 2, 2: 160x320 from a 2-row base -> (5, 4, 2, 2)
    (the HNeRV paper's Bunny decoder) instead of (5, 4, 4)."""
    h, w = frame_size
    g = math.gcd(h, w)
    best = 1
    for d in range(1, g + 1):
        if g % d == 0 and min(h, w) // d >= base_short and _splits(d) is not None:
            best = d
    strides = _splits(best) or ()
    if style == "fine" and strides and strides[-1] == 4:
        strides = strides[:-1] + (2, 2)
    if not strides:
        raise SonolumeError(
            f"frame size {h}x{w} cannot be up-sampled from a small base map; use sides "
            "with a common factor such as 8 (e.g. 64x128, 128x256)"
        )
    return strides


def _splits(d: int) -> tuple[int, ...] | None:
    out, rest = [], d
    while rest > 1:
        for s in (5, 4, 3, 2):
            if rest % s == 0:
                out.append(s)
                rest //= s
                break
        else:
            return None
    return tuple(sorted(out, reverse=True))


def box_pool_matrix(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(P, 4) boxes (x0, y0, x1, y1) in [0, 1] frame units -> (P, h*w) weights averaging an
    h x w feature map over each box, by exact overlap area with each cell. Built on the
    boxes' device (the head's buffer: the GPU when the model trains there)."""
    ys = torch.arange(h + 1, dtype=torch.float64, device=boxes.device) / h
    xs = torch.arange(w + 1, dtype=torch.float64, device=boxes.device) / w
    b = boxes.to(torch.float64)
    oy = (torch.minimum(ys[None, 1:], b[:, 3:4]) - torch.maximum(ys[None, :-1], b[:, 1:2]))
    ox = (torch.minimum(xs[None, 1:], b[:, 2:3]) - torch.maximum(xs[None, :-1], b[:, 0:1]))
    area = oy.clamp_min(0)[:, :, None] * ox.clamp_min(0)[:, None, :]
    area = area.reshape(len(b), h * w)
    return (area / area.sum(1, keepdim=True).clamp_min(1e-12)).to(torch.float32)


# -- modules -------------------------------------------------------------------------------------


class UpBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out * stride * stride, kernel, padding=kernel // 2)
        self.shuffle = nn.PixelShuffle(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.shuffle(self.conv(x)))


class Decoder(nn.Module):
    """Base feature map (B, fc_dim, h0, w0) -> features after each block and RGB."""

    def __init__(self, cfg: NervConfig, strides: tuple[int, ...]):
        super().__init__()
        widths = [cfg.fc_dim]
        for _ in strides:
            widths.append(max(int(round(widths[-1] / cfg.reduce)), cfg.lower_width))
        self.widths = widths
        self.blocks = nn.ModuleList(
            UpBlock(widths[i], widths[i + 1], s, min(cfg.kernel_min + 2 * i, cfg.kernel_max))
            for i, s in enumerate(strides)
        )
        self.rgb = nn.Conv2d(widths[-1], 3, 3, padding=1)
        self.out_scale = float(cfg.out_scale)

    def forward(self, x: torch.Tensor, tap: int | None = None):
        feats = x if tap == 0 else None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if tap == i + 1:
                feats = x
        out = self.rgb(x)
        if self.out_scale != 1.0:
            out = out * self.out_scale
        return torch.sigmoid(out), feats


class ClipHead(nn.Module):
    """Pooled decoder features -> CLIP embeddings: (B, D) for one box, (B, P, D) for many."""

    def __init__(self, channels: int, dim: int, boxes: torch.Tensor, hidden: int = 256):
        super().__init__()
        self.register_buffer("boxes", boxes.to(torch.float32).reshape(-1, 4).clone())
        self.patches = int(self.boxes.shape[0])
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, dim)
        self.offset = nn.Parameter(torch.zeros(self.patches, hidden)) if self.patches > 1 \
            else None
        # Per-patch output offset: set to the mean target by init_bias, so the MLP only has
        # to learn how each frame departs from the average (CLIP embeddings of one video
        # are close together: cos ~0.7-0.99).
        self.bias = nn.Parameter(torch.zeros(self.patches, dim))
        self._pool: dict[tuple[int, int], torch.Tensor] = {}

    def pool(self, feats: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feats.shape
        if self.patches == 1:
            return feats.mean(dim=(2, 3))[:, None, :]
        key = (h, w)
        if key not in self._pool:
            self._pool[key] = box_pool_matrix(self.boxes, h, w)
        m = self._pool[key].to(feats)
        return torch.einsum("pn,bcn->bpc", m, feats.reshape(b, c, h * w))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc1(self.pool(feats)))
        if self.offset is not None:
            x = x + self.offset
        x = F.gelu(self.fc2(x))
        out = self.out(x) + self.bias
        return out[:, 0] if self.patches == 1 else out

    @torch.no_grad()
    def init_bias(self, mean: torch.Tensor) -> None:
        """Start the predictions at ``mean`` ((D,) or (P, D), e.g. the mean training
        target) and shrink the last layer so the MLP's initial part is a small offset."""
        self.bias.copy_(mean.reshape(-1, self.bias.shape[-1]).expand_as(self.bias))
        self.out.weight.mul_(0.1)
        self.out.bias.zero_()


class Encoder(nn.Module):
    """HNeRV's frame -> embedding: strided convs (the decoder's strides, reversed), then a
    1x1 conv to ``enc_dim`` channels at the base resolution."""

    def __init__(self, cfg: NervConfig, strides: tuple[int, ...]):
        super().__init__()
        layers, c = [], 3
        width = cfg.enc_width
        for s in reversed(strides):
            layers += [nn.Conv2d(c, width, s, stride=s), nn.GELU(),
                       nn.Conv2d(width, width, 3, padding=1), nn.GELU()]
            c, width = width, min(width * 2, cfg.enc_width * 4)
        layers.append(nn.Conv2d(c, cfg.enc_dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames)


class ConvNextStage(nn.Module):
    """Down-sample by ``stride`` (a patchify conv, kernel = stride), then one residual block:
    depthwise 7x7 conv, LayerNorm over channels, 1x1 conv to 4x the width, GELU, 1x1 conv
    back, times a per-channel gain that starts small (so each block starts close to the
    identity and the encoder trains stably from the first step)."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm_before: bool):
        super().__init__()
        self.norm_before = norm_before
        self.down_norm = nn.LayerNorm(c_in if norm_before else c_out, eps=1e-6)
        self.down = nn.Conv2d(c_in, c_out, stride, stride=stride)
        self.dw = nn.Conv2d(c_out, c_out, 7, padding=3, groups=c_out)
        self.norm = nn.LayerNorm(c_out, eps=1e-6)
        self.pw1 = nn.Conv2d(c_out, 4 * c_out, 1)
        self.pw2 = nn.Conv2d(4 * c_out, c_out, 1)
        self.gain = nn.Parameter(torch.full((c_out, 1, 1), 1e-6))

    @staticmethod
    def _channel_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
        # LayerNorm over C of an NCHW tensor: on channels_last memory the permuted view is
        # contiguous, so this costs no copy.
        return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_before:
            x = self.down(self._channel_norm(self.down_norm, x))
        else:
            x = self._channel_norm(self.down_norm, self.down(x))
        y = self._channel_norm(self.norm, self.dw(x))
        y = self.pw2(F.gelu(self.pw1(y)))
        return x + self.gain * y


class ConvNextEncoder(nn.Module):
    """HNeRV's frame -> embedding as in its paper: one ConvNeXt-style stage per decoder
    stride, in the decoder's order (largest first: the frame is cut into 5x5 patches at
    once, so every block runs on a small map), ``enc_width`` channels throughout, the last
    stage ``enc_dim`` channels at the base resolution. At the paper's width 64 it has
    half the parameters of :class:`Encoder` (0.20M vs 0.43M at 160x320) and a fraction of
    its work; the presets use 96 (0.44M, not stored with the video)."""

    def __init__(self, cfg: NervConfig, strides: tuple[int, ...]):
        super().__init__()
        widths = [cfg.enc_width] * (len(strides) - 1) + [cfg.enc_dim]
        stages, c = [], 3
        for i, (s, w) in enumerate(zip(strides, widths)):
            stages.append(ConvNextStage(c, w, s, norm_before=i > 0))
            c = w
        self.stages = nn.Sequential(*stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.stages(frames)


class VideoINR(nn.Module):
    """A NeRV or HNeRV with its heads. ``forward`` returns a dict: ``rgb`` (B, 3, H, W) in
    [0, 1], and ``clip_global`` (B, D) / ``clip_spatial`` (B, P, D) when those heads exist
    (unnormalised: the losses normalise)."""

    def __init__(
        self,
        config: NervConfig,
        frame_size: tuple[int, int],
        clip_dim: int = 0,
        clip_head: str = "none",
        patch_boxes: torch.Tensor | None = None,
        num_frames: int | None = None,
    ):
        super().__init__()
        _validate(config)
        if clip_head not in CLIP_HEADS:
            raise SonolumeError(f"--clip-head must be one of {', '.join(CLIP_HEADS)}")
        if clip_head != "none" and clip_dim < 1:
            raise SonolumeError("a CLIP head needs the CLIP embedding size")
        if clip_head == "spatial" and (patch_boxes is None or len(patch_boxes) == 0):
            raise SonolumeError("the spatial CLIP head needs the patch grid")
        self.config = config
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.clip_head = clip_head
        self.clip_dim = int(clip_dim)
        self.num_frames = num_frames
        h, w = self.frame_size
        self.strides = tuple(config.strides) if config.strides else auto_strides(
            self.frame_size, config.base_short, config.stride_style)
        total = math.prod(self.strides)
        if h % total or w % total:
            raise SonolumeError(f"strides {self.strides} do not divide the frame size {h}x{w}")
        self.base_hw = (h // total, w // total)
        bh, bw = self.base_hw
        if config.kind == "nerv":
            self.pe = parse_embed(config.embed)
            self.stem = nn.Sequential(
                nn.Linear(2 * self.pe[1], config.stem_dim), nn.GELU(),
                nn.Linear(config.stem_dim, config.fc_dim * bh * bw), nn.GELU(),
            )
            self.encoder = None
        else:
            self.pe = None
            self.encoder = (ConvNextEncoder(config, self.strides)
                            if config.encoder == "convnext" else Encoder(config, self.strides))
            self.stem = nn.Sequential(nn.Conv2d(config.enc_dim, config.fc_dim, 1), nn.GELU())
        self.decoder = Decoder(config, self.strides)
        tap = min(max(config.clip_tap, 0), len(self.strides))
        self.tap = tap if clip_head != "none" else None
        channels = self.decoder.widths[tap]
        self.head = None
        if clip_head == "global":
            self.head = ClipHead(channels, clip_dim, torch.tensor([[0.0, 0.0, 1.0, 1.0]]),
                                 config.clip_hidden)
        elif clip_head == "spatial":
            self.head = ClipHead(channels, clip_dim, torch.as_tensor(patch_boxes),
                                 config.clip_hidden)

    # -- inputs --------------------------------------------------------------------------------
    @property
    def embedding_numel(self) -> int:
        """Values stored per frame (HNeRV's embedding); 0 for NeRV (t is free)."""
        if self.config.kind == "nerv":
            return 0
        return self.config.enc_dim * self.base_hw[0] * self.base_hw[1]

    def base_map(self, times: torch.Tensor | None = None,
                 frames: torch.Tensor | None = None) -> torch.Tensor:
        bh, bw = self.base_hw
        if self.config.kind == "nerv":
            if times is None:
                raise ValueError("NeRV needs frame times")
            x = self.stem(positional_encoding(times, *self.pe))
            return x.reshape(-1, self.config.fc_dim, bh, bw)
        if frames is None:
            raise ValueError("HNeRV needs the frames")
        return self.stem(self.encoder(frames))

    def forward(self, times: torch.Tensor | None = None,
                frames: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x = self.base_map(times, frames)
        rgb, feats = self.decoder(x, self.tap)
        out = {"rgb": rgb}
        if self.head is not None:
            out[f"clip_{self.clip_head}"] = self.head(feats)
        return out

    # -- sizes ---------------------------------------------------------------------------------
    def parameter_counts(self) -> dict[str, int]:
        def n(m):
            return sum(p.numel() for p in m.parameters()) if m is not None else 0

        counts = {
            "stem": n(self.stem),
            "decoder": n(self.decoder),
            "encoder": n(self.encoder),
            "clip_head": n(self.head),
            "embeddings": self.embedding_numel * (self.num_frames or 0),
        }
        counts["representation"] = counts["stem"] + counts["decoder"] + counts["embeddings"]
        counts["total_trainable"] = sum(p.numel() for p in self.parameters())
        return counts

    def describe(self) -> str:
        c = self.parameter_counts()
        cfg = self.config
        bh, bw = self.base_hw
        parts = [f"{cfg.kind.upper()} {self.frame_size[0]}x{self.frame_size[1]}",
                 f"strides {'x'.join(map(str, self.strides))} from {bh}x{bw}x{cfg.fc_dim}",
                 f"representation {_m(c['representation'])} params "
                 f"(stem+decoder {_m(c['stem'] + c['decoder'])}"]
        if cfg.kind == "hnerv":
            parts[-1] += (f" + embeddings {self.num_frames or '?'} frames x "
                          f"{self.embedding_numel} = {_m(c['embeddings'])}); "
                          f"encoder {_m(c['encoder'])} (not stored)")
        else:
            parts[-1] += f"; input {cfg.embed} = {2 * self.pe[1]} dims)"
        if self.head is not None:
            what = "global" if self.clip_head == "global" else f"{self.head.patches} patches"
            parts.append(f"CLIP {what} head {_m(c['clip_head'])} params")
        parts.append(f"total trainable {_m(c['total_trainable'])}")
        return "; ".join(parts)


def _m(n: int) -> str:
    return f"{n / 1e6:.3f}M" if n >= 100_000 else f"{n / 1e3:.1f}K"


def create_model(
    name: str | NervConfig,
    frame_size: tuple[int, int],
    clip_dim: int = 0,
    clip_head: str = "none",
    patch_boxes: torch.Tensor | None = None,
    num_frames: int | None = None,
    seed: int | None = None,
    **overrides,
) -> VideoINR:
    """The one factory: a registered name (or a config) plus overrides of its fields. With
    ``target_params`` set, fc_dim is chosen so the representation is closest to it."""
    cfg = get_model_config(name) if isinstance(name, str) else name
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        known = {f.name for f in fields(NervConfig)}
        bad = set(overrides) - known
        if bad:
            raise SonolumeError(f"unknown NeRV settings: {', '.join(sorted(bad))}")
        cfg = replace(cfg, **overrides)
    _validate(cfg)
    if cfg.target_params:
        cfg = replace(cfg, fc_dim=_fit_width(cfg, frame_size, num_frames))
    if seed is not None:
        torch.manual_seed(seed)
    return VideoINR(cfg, frame_size, clip_dim, clip_head, patch_boxes, num_frames)


def _fit_width(cfg: NervConfig, frame_size, num_frames) -> int:
    """fc_dim whose representation size is closest to cfg.target_params (sizes grow
    monotonically with fc_dim, so a bisection on the meta-device count is enough)."""

    def size(fc: int) -> int:
        with torch.device("meta"):
            m = VideoINR(replace(cfg, fc_dim=fc, target_params=None), frame_size,
                         num_frames=num_frames)
        return m.parameter_counts()["representation"]

    target = cfg.target_params
    lo, hi = 4, 8
    while size(hi) < target and hi < 8192:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if size(mid) < target:
            lo = mid
        else:
            hi = mid
    return lo if abs(size(lo) - target) <= abs(size(hi) - target) else hi
