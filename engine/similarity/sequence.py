"""How alike two embedding *sequences* are (e.g. predicted vs true CLIP embeddings of a
video's frames).

Inputs are ``(T, D)`` tensors (one sequence; the result is a 0-d tensor) or ``(B, T, D)``
batches (the result has shape ``(B,)``), of any norm: every function L2-normalises along
the last axis itself. All results are cosine-like, in [-1, 1], 1 meaning identical.

Strategies and what they can and cannot see:

* :func:`global_similarity` pools each sequence over time (mean or max) and compares the
  pooled vectors. Blind to order: a shuffled copy scores like the original.
* :func:`local_similarity` pools sliding windows and compares windows at the same
  positions. Sees order at the scale of the window; hurt by time warps.
* :func:`temporal_similarity` aligns the two sequences with (hard) dynamic time warping
  and averages the cosine along the best monotone path. Forgives time warps, not
  shuffles.
* :class:`AttentionSimilarity` lets every predicted step attend (learned multi-head
  cross-attention) over the target steps and averages the attended cosine.
* :class:`CombinedSimilarity` is a weighted mean of the above with learnable weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

STRATEGIES = ("global", "local", "attention", "temporal")
DEFAULT_WEIGHTS = {"global_": 1.0, "local": 0.5, "attention": 0.3, "temporal": 0.2}


def _check(pred: torch.Tensor, target: torch.Tensor, same_length: bool = False):
    if pred.dim() not in (2, 3) or target.dim() != pred.dim():
        raise ValueError(
            f"expected two (T, D) or two (B, T, D) tensors, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    if pred.shape[-1] != target.shape[-1]:
        raise ValueError(f"embedding sizes differ: {pred.shape[-1]} vs {target.shape[-1]}")
    if pred.dim() == 3 and pred.shape[0] != target.shape[0]:
        raise ValueError(f"batch sizes differ: {pred.shape[0]} vs {target.shape[0]}")
    if pred.shape[-2] == 0 or target.shape[-2] == 0:
        raise ValueError("empty sequence")
    if same_length and pred.shape[-2] != target.shape[-2]:
        raise ValueError(
            f"sequence lengths differ ({pred.shape[-2]} vs {target.shape[-2]}); use "
            "temporal_similarity or global_similarity for sequences of different lengths"
        )
    return F.normalize(pred.float(), dim=-1), F.normalize(target.float(), dim=-1)


def global_similarity(pred: torch.Tensor, target: torch.Tensor, pool: str = "mean"):
    """Cosine of the time-pooled sequences. ``pool``: "mean" or "max" (element-wise max
    over time of the normalised embeddings). Lengths may differ."""
    p, t = _check(pred, target)
    if pool == "mean":
        p, t = p.mean(dim=-2), t.mean(dim=-2)
    elif pool == "max":
        p, t = p.amax(dim=-2), t.amax(dim=-2)
    else:
        raise ValueError(f"pool must be 'mean' or 'max', not {pool!r}")
    return F.cosine_similarity(p, t, dim=-1, eps=1e-8)


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start indices of windows of ``window`` steps every ``stride`` steps; the last window
    is aligned to the end so every step is covered."""
    window = max(1, min(window, length))
    stride = max(1, stride)
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def local_similarity(
    pred: torch.Tensor, target: torch.Tensor, window: int = 16, stride: int | None = None
):
    """Mean cosine of mean-pooled windows at the same positions in both sequences.

    ``window`` is clamped to the sequence length T (so T <= window is global mean
    similarity); ``stride`` defaults to ``window // 2`` (half overlap) and the last window
    is aligned to the end. Both sequences must have the same length."""
    p, t = _check(pred, target, same_length=True)
    length = p.shape[-2]
    window = max(1, min(int(window), length))
    stride = max(1, window // 2) if stride is None else int(stride)
    if stride < 1:
        raise ValueError("stride must be >= 1")
    starts = torch.tensor(window_starts(length, window, stride), device=p.device)
    idx = starts[:, None] + torch.arange(window, device=p.device)[None, :]  # (n, w)
    pw = p[..., idx, :].mean(dim=-2)  # (..., n, D)
    tw = t[..., idx, :].mean(dim=-2)
    return F.cosine_similarity(pw, tw, dim=-1, eps=1e-8).mean(dim=-1)


def dtw_path(cost: np.ndarray, band: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-total-cost monotone alignment path through ``cost`` (n, m), from (0, 0) to
    (n-1, m-1) with steps (1,0), (0,1), (1,1). ``band`` (optional) is a Sakoe-Chiba
    radius around the stretched diagonal. Returns (rows, cols) index arrays.

    The dynamic programme runs over anti-diagonals, so it is O(n + m) numpy operations."""
    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    if band is not None:
        i = np.arange(n)[:, None] * (m - 1) / max(n - 1, 1)
        cost = np.where(np.abs(np.arange(m)[None, :] - i) <= max(band, 1), cost, np.inf)
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for k in range(2, n + m + 1):  # k = i + j with 1-based i, j
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        best = np.minimum(np.minimum(acc[i - 1, j], acc[i, j - 1]), acc[i - 1, j - 1])
        acc[i, j] = cost[i - 1, j - 1] + best
    rows, cols = [n - 1], [m - 1]
    i, j = n, m
    while (i, j) != (1, 1):
        options = ((acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j),
                   (acc[i, j - 1], i, j - 1))
        _, i, j = min(options, key=lambda o: o[0])  # ties prefer the diagonal (first)
        rows.append(i - 1)
        cols.append(j - 1)
    return np.array(rows[::-1]), np.array(cols[::-1])


def temporal_similarity(pred: torch.Tensor, target: torch.Tensor, band: int | None = None):
    """Mean cosine along the hard-DTW alignment of the two sequences (lengths may differ).

    The path is found on the detached cosine-distance matrix (hard DTW, not soft-DTW);
    the returned mean is differentiable through the cosines on that path, which is what a
    training loss needs (the path itself is piecewise constant)."""
    p, t = _check(pred, target)
    if p.dim() == 3:
        return torch.stack([temporal_similarity(a, b, band) for a, b in zip(p, t)])
    sim = p @ t.T
    rows, cols = dtw_path((1.0 - sim).detach().cpu().numpy(), band=band)
    rows = torch.from_numpy(rows).to(sim.device)
    cols = torch.from_numpy(cols).to(sim.device)
    return sim[rows, cols].mean()


class AttentionSimilarity(nn.Module):
    """Learnable multi-head cross-attention similarity.

    Each predicted step queries the target steps; head h forms attention weights
    ``softmax(scale * <q_h, k_h>)`` from normalised, learned projections of the two
    sequences, and scores the expected full-embedding cosine under those weights. The
    result is the mean over steps and heads, so it stays a cosine in [-1, 1].

    The projections start as the identity (head h sees slice h of the embedding) and the
    scale at 100, so an untrained module already scores identical sequences ~1 and learns
    from there; gradients reach the projections, the scale and both inputs. Being a soft
    match it is exactly 1 only when attention is one-hot: slow-moving sequences (video)
    spread it over near-duplicate neighbours, whose cosines are near 1 anyway (a smooth
    random walk with neighbour cosine ~0.98 scores ~0.987 against itself with 4 heads).
    Order is invisible to it, like global pooling, but it matches step by step."""

    def __init__(self, dim: int, heads: int = 4, init_scale: float = 100.0):
        super().__init__()
        if dim < 1 or heads < 1 or heads > dim:
            raise ValueError(f"need 1 <= heads <= dim, got heads={heads}, dim={dim}")
        self.dim, self.heads = dim, heads
        self.head_dim = dim // heads
        inner = self.head_dim * heads
        self.q = nn.Linear(dim, inner, bias=False)
        self.k = nn.Linear(dim, inner, bias=False)
        with torch.no_grad():
            self.q.weight.copy_(torch.eye(inner, dim))
            self.k.weight.copy_(torch.eye(inner, dim))
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def attention(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Attention weights (..., heads, T_pred, T_target)."""
        p, t = _check(pred, target)
        q = F.normalize(self.q(p).unflatten(-1, (self.heads, self.head_dim)), dim=-1)
        k = F.normalize(self.k(t).unflatten(-1, (self.heads, self.head_dim)), dim=-1)
        logits = torch.einsum("...thd,...shd->...hts", q, k) * self.log_scale.exp()
        return logits.softmax(dim=-1)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, t = _check(pred, target)
        if p.shape[-1] != self.dim:
            raise ValueError(f"module built for dim {self.dim}, got {p.shape[-1]}")
        attn = self.attention(p, t)  # (..., H, T, S)
        cos = (p @ t.transpose(-1, -2)).unsqueeze(-3)  # (..., 1, T, S)
        return (attn * cos).sum(dim=-1).mean(dim=(-1, -2))


class CombinedSimilarity(nn.Module):
    """Weighted mean of the global, local, attention and temporal similarities.

    ``weights`` uses the key ``global_`` (or ``global``) for the global term; a weight of
    0 drops that strategy. With ``learnable=True`` the weights are trained (kept positive
    as ``exp`` of a parameter). The result is ``sum(w_i * s_i) / sum(w_i)``, a cosine in
    [-1, 1]; note that a *maximised* combined similarity with learnable weights drifts
    toward whichever strategy is easiest to satisfy, so train the weights against a
    contrastive objective or keep ``learnable=False`` for a plain training target.

    ``forward`` returns ``(combined, parts)`` where ``parts`` maps each used strategy name
    ("global", "local", "attention", "temporal") to its tensor."""

    def __init__(
        self,
        dim: int,
        weights: dict | None = None,
        learnable: bool = True,
        use_attention: bool = True,
        heads: int = 4,
        window: int = 16,
        pool: str = "mean",
    ):
        super().__init__()
        given = dict(DEFAULT_WEIGHTS if weights is None else weights)
        if "global" in given:
            given["global_"] = given.pop("global")
        unknown = set(given) - {"global_", "local", "attention", "temporal"}
        if unknown:
            raise ValueError(f"unknown similarity weights: {sorted(unknown)}")
        names, values = [], []
        for name in STRATEGIES:
            w = float(given.get("global_" if name == "global" else name, 0.0))
            if w < 0:
                raise ValueError(f"weight for {name} must be >= 0")
            if w == 0 or (name == "attention" and not use_attention):
                continue
            names.append(name)
            values.append(w)
        if not names:
            raise ValueError("all similarity weights are zero")
        self.names = tuple(names)
        log_w = torch.tensor(values).log()
        if learnable:
            self.log_weights = nn.Parameter(log_w)
        else:
            self.register_buffer("log_weights", log_w)
        self.attention = AttentionSimilarity(dim, heads) if "attention" in names else None
        self.window, self.pool = window, pool

    def weights(self) -> dict[str, float]:
        w = self.log_weights.detach().exp()
        return {n: float(v) for n, v in zip(self.names, w / w.sum())}

    def forward(self, pred: torch.Tensor, target: torch.Tensor):
        parts: dict[str, torch.Tensor] = {}
        for name in self.names:
            if name == "global":
                parts[name] = global_similarity(pred, target, pool=self.pool)
            elif name == "local":
                parts[name] = local_similarity(pred, target, window=self.window)
            elif name == "attention":
                parts[name] = self.attention(pred, target)
            else:
                parts[name] = temporal_similarity(pred, target)
        w = self.log_weights.exp()
        stacked = torch.stack([parts[n] for n in self.names], dim=-1)
        return (stacked * w).sum(dim=-1) / w.sum(), parts
