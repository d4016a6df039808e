"""Training losses on embeddings (any norm: all normalise along the last axis first).

Row i of ``a`` and row i of ``b`` are a matching pair; the other rows of the batch are
the negatives for the contrastive losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pairs(a: torch.Tensor, b: torch.Tensor):
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(
            f"expected two (N, D) tensors of the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    if a.shape[0] == 0:
        raise ValueError("empty batch")
    return F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float | torch.Tensor = 0.07):
    """Symmetric CLIP contrastive loss: the mean of cross-entropy a->b and b->a over the
    cosine logits divided by ``temperature``. A batch of one gives 0 (nothing to tell
    apart)."""
    a, b = _pairs(a, b)
    logits = a @ b.T / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def siglip_loss(
    a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor = 10.0,
    bias: float | torch.Tensor = -10.0,
):
    """SigLIP pairwise sigmoid loss (Zhai et al. 2023): every (i, j) pair is a binary
    match / no-match decision on ``t * cos + bias``; summed over pairs and divided by the
    batch size, as in the paper. ``t`` and ``bias`` may be learnable tensors."""
    a, b = _pairs(a, b)
    logits = t * (a @ b.T) + bias
    labels = 2.0 * torch.eye(a.shape[0], device=a.device) - 1.0
    return -F.logsigmoid(labels * logits).sum() / a.shape[0]


def cosine_loss(pred: torch.Tensor, target: torch.Tensor):
    """1 - mean cosine between matching rows (any leading shape)."""
    if pred.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return 1.0 - F.cosine_similarity(pred.float(), target.float(), dim=-1, eps=1e-8).mean()


def neighbour_pairs(grid_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Index pairs (p, q) of 4-adjacent patches (right and down neighbours) on a row-major
    grid of ``grid_hw = (rows, cols)`` patches."""
    rows, cols = int(grid_hw[0]), int(grid_hw[1])
    idx = torch.arange(rows * cols).view(rows, cols)
    right = (idx[:, :-1].reshape(-1), idx[:, 1:].reshape(-1))
    down = (idx[:-1, :].reshape(-1), idx[1:, :].reshape(-1))
    return torch.cat([right[0], down[0]]), torch.cat([right[1], down[1]])


def spatial_loss(
    pred: torch.Tensor, target: torch.Tensor, grid_hw: tuple[int, int],
    neighbour_weight: float = 0.1,
):
    """Loss for a spatial CLIP map: ``pred`` and ``target`` are (P, D) or (T, P, D) with
    P = rows * cols patches in row-major order.

    * ``local``: mean over patches (and frames) of 1 - cos(pred_p, target_p).
    * ``neighbour``: for every pair of 4-adjacent patches (p, q), the squared difference
      between the predicted similarity cos(pred_p, pred_q) and the true one
      cos(target_p, target_q), averaged; it asks the map to keep the scene's similarity
      structure, not just each patch.

    Returns ``(local + neighbour_weight * neighbour, {"local", "neighbour", "total"})``.
    """
    if pred.shape != target.shape or pred.dim() not in (2, 3):
        raise ValueError(
            f"expected two (P, D) or (T, P, D) tensors of the same shape, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    rows, cols = int(grid_hw[0]), int(grid_hw[1])
    if rows * cols != pred.shape[-2]:
        raise ValueError(f"grid {rows}x{cols} has {rows * cols} patches, maps have "
                         f"{pred.shape[-2]}")
    p = F.normalize(pred.float(), dim=-1)
    t = F.normalize(target.float(), dim=-1)
    local = 1.0 - (p * t).sum(dim=-1).mean()
    a, b = neighbour_pairs((rows, cols))
    if a.numel():
        a, b = a.to(p.device), b.to(p.device)
        sp = (p[..., a, :] * p[..., b, :]).sum(dim=-1)
        st = (t[..., a, :] * t[..., b, :]).sum(dim=-1)
        neighbour = (sp - st).pow(2).mean()
    else:
        neighbour = p.new_zeros(())
    total = local + neighbour_weight * neighbour
    return total, {"local": local, "neighbour": neighbour, "total": total}


def combined_loss(global_loss: torch.Tensor, sequence_loss: torch.Tensor,
                  sequence_weight: float = 0.5):
    """``global_loss + sequence_weight * sequence_loss`` (additive: the global term keeps
    its scale whatever the sequence weight)."""
    if sequence_weight < 0:
        raise ValueError("sequence_weight must be >= 0")
    return global_loss + sequence_weight * sequence_loss
