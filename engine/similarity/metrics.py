"""Retrieval and agreement metrics on embeddings (plain floats out, for reports/JSON).

Ties are counted *against* the query (pessimistic), so a collapsed model that maps
everything to the same vector scores chance, not perfect recall.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _flat(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x).detach().float()
    if x.dim() == 1:
        x = x[None]
    return F.normalize(x.reshape(-1, x.shape[-1]), dim=-1)


def recall_from_similarity(sim: torch.Tensor, relevant: torch.Tensor,
                           ks=(1, 5, 10)) -> dict[str, float]:
    """Recall@K from a (Q, C) similarity matrix and a (Q, C) boolean mask of relevant
    candidates (several may be relevant, e.g. text -> styles with labels). A query is a
    hit at K when its best-ranked relevant candidate is within the top K, where the rank
    counts every non-relevant candidate scoring >= it. K is clamped to C. Queries with no
    relevant candidate are skipped; keys are ``"R@k"`` for the requested k."""
    sim = torch.as_tensor(sim).detach().float()
    relevant = torch.as_tensor(relevant).bool()
    if sim.dim() != 2 or sim.shape != relevant.shape:
        raise ValueError(f"need (Q, C) sim and mask, got {tuple(sim.shape)}, "
                         f"{tuple(relevant.shape)}")
    keep = relevant.any(dim=1)
    sim, relevant = sim[keep], relevant[keep]
    if sim.shape[0] == 0:
        raise ValueError("no query has a relevant candidate")
    best = sim.masked_fill(~relevant, float("-inf")).amax(dim=1, keepdim=True)
    rank = ((sim >= best) & ~relevant).sum(dim=1)  # 0 = first place
    n = sim.shape[1]
    return {f"R@{k}": float((rank < min(int(k), n)).float().mean()) for k in ks}


def recall_at_k(pred: torch.Tensor, target: torch.Tensor, ks=(1, 5, 10)) -> dict[str, float]:
    """Recall@K of retrieving target i from pred i among all N targets (cosine).

    ``k`` is clamped to N, so batches smaller than k work (and score 1.0 at that k)."""
    p, t = _flat(pred), _flat(target)
    if p.shape != t.shape:
        raise ValueError(f"shapes differ: {tuple(p.shape)} vs {tuple(t.shape)}")
    if p.shape[0] == 0:
        raise ValueError("empty batch")
    return recall_from_similarity(p @ t.T, torch.eye(p.shape[0], dtype=torch.bool), ks)


def _summary(values: torch.Tensor) -> dict[str, float]:
    v = values.detach().float().flatten()
    return {
        "mean": float(v.mean()),
        "std": float(v.std(unbiased=False)),
        "min": float(v.min()),
        "max": float(v.max()),
        "median": float(v.median()),
    }


def cosine_summary(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """mean / std / min / max / median of the cosine between matching rows (any leading
    shape; rows are the last axis)."""
    if torch.as_tensor(pred).shape != torch.as_tensor(target).shape:
        raise ValueError("pred and target shapes differ")
    p, t = _flat(pred), _flat(target)
    return _summary((p * t).sum(dim=-1))


def _derangement(n: int, gen: torch.Generator) -> torch.Tensor:
    """A random permutation with no fixed point (identity when n < 2: nothing to swap)."""
    if n < 2:
        return torch.arange(n)
    while True:  # a random permutation is a derangement with probability ~1/e
        perm = torch.randperm(n, generator=gen)
        if not (perm == torch.arange(n)).any():
            return perm


def verification_baselines(pred: torch.Tensor, target: torch.Tensor, seed: int = 0) -> dict:
    """Did a prediction head learn anything? Compare the matched cosine with what chance
    gives. ``pred``/``target``: (N, D) (rows are samples / time steps) or (B, T, D) clips.

    * ``true``: mean cosine of matching rows.
    * ``random``: random unit vectors (a random predictor) vs the targets.
    * ``shuffled_pairs``: predictions vs the targets of *other* samples (a derangement;
      for (B, T, D): clip b's predictions vs clip b' != b, time-aligned).
    * ``temporal_shuffle``: predictions in shuffled time order vs the targets (for
      (N, D): the rows shuffled; for (B, T, D): time shuffled within each clip). A head
      that ignores time (predicts the clip mean) scores about ``true`` here.
    * ``margin``: ``true`` minus the largest baseline (> 0 means it beat all of them).
    """
    p = torch.as_tensor(pred).detach().float()
    t = torch.as_tensor(target).detach().float()
    if p.shape != t.shape or p.dim() not in (2, 3):
        raise ValueError(f"expected matching (N, D) or (B, T, D), got {tuple(p.shape)}, "
                         f"{tuple(t.shape)}")
    p, t = F.normalize(p, dim=-1), F.normalize(t, dim=-1)
    # offset so the baselines' draws never coincide with data made by manual_seed(seed)
    gen = torch.Generator().manual_seed(seed * 7919 + 1_234_567)

    def mean_cos(a, b):
        return float((a * b).sum(dim=-1).mean())

    rnd = F.normalize(torch.randn(t.shape, generator=gen), dim=-1)
    out = {"true": mean_cos(p, t), "random": mean_cos(rnd, t)}
    if p.dim() == 2:
        out["shuffled_pairs"] = mean_cos(p, t[_derangement(p.shape[0], gen)])
        out["temporal_shuffle"] = mean_cos(p[torch.randperm(p.shape[0], generator=gen)], t)
    else:
        out["shuffled_pairs"] = mean_cos(p, t[_derangement(p.shape[0], gen)])
        perms = torch.stack([torch.randperm(p.shape[1], generator=gen) for _ in range(len(p))])
        out["temporal_shuffle"] = mean_cos(torch.gather(
            p, 1, perms[..., None].expand(-1, -1, p.shape[-1])), t)
    out["margin"] = out["true"] - max(out["random"], out["shuffled_pairs"],
                                      out["temporal_shuffle"])
    return out
