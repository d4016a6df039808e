"""What the inspector shows, as numpy arrays on the patch grid (rows, cols).

All inputs are patch embeddings (P, D) in the grid's row-major order, any norm. Values are
cosines in [-1, 1] unless said otherwise.
"""

from __future__ import annotations

import numpy as np

from engine.spatial.grid import PatchGrid


def _unit(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if hasattr(x, "detach"):
        a = x.detach().cpu().numpy().astype(np.float32)
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)


def _check(emb: np.ndarray, grid: PatchGrid) -> np.ndarray:
    e = _unit(emb)
    if e.ndim != 2 or e.shape[0] != grid.count:
        raise ValueError(f"embeddings of shape {e.shape} do not fit a {grid.rows}x{grid.cols} "
                         "grid")
    return e


def as_cells(values, grid: PatchGrid) -> np.ndarray:
    """(P,) or (rows, cols) values -> (rows, cols) float32."""
    v = np.asarray(values, dtype=np.float32)
    if v.shape == (grid.count,):
        return v.reshape(grid.rows, grid.cols)
    if v.shape == grid.shape:
        return v
    raise ValueError(f"values of shape {v.shape} do not fit a {grid.rows}x{grid.cols} grid")


def query_heatmaps(emb, text_emb, grid: PatchGrid) -> np.ndarray:
    """Cosine of every patch to every text query: (Q, rows, cols)."""
    e = _check(emb, grid)
    t = _unit(text_emb)
    if t.ndim == 1:
        t = t[None]
    return (t @ e.T).reshape(len(t), grid.rows, grid.cols)


def relative_heatmaps(heatmaps: np.ndarray) -> np.ndarray:
    """Per query, which patches match it *more than the other queries do* (softmax over
    queries at CLIP's usual logit scale of 100): (Q, rows, cols) in [0, 1]. Raw CLIP
    cosines vary little across patches; this view separates queries sharply. Needs
    Q >= 2 to mean anything."""
    h = np.asarray(heatmaps, dtype=np.float64) * 100.0
    h = np.exp(h - h.max(axis=0, keepdims=True))
    return (h / h.sum(axis=0, keepdims=True)).astype(np.float32)


def patch_similarity(emb, grid: PatchGrid, row: int, col: int) -> np.ndarray:
    """Cosine of every patch to patch (row, col): (rows, cols); 1 at the chosen patch."""
    e = _check(emb, grid)
    return (e @ e[grid.index(row, col)]).reshape(grid.rows, grid.cols)


def agreement(pred, true, grid: PatchGrid) -> np.ndarray:
    """Per-patch cosine between a predicted map and the measured one: (rows, cols)."""
    p, t = _check(pred, grid), _check(true, grid)
    if p.shape != t.shape:
        raise ValueError(f"predicted map {p.shape} and true map {t.shape} differ")
    return (p * t).sum(axis=1).reshape(grid.rows, grid.cols)


def neighbour_index(grid: PatchGrid) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (p, q) of 4-adjacent patches (right and down neighbours)."""
    idx = np.arange(grid.count).reshape(grid.rows, grid.cols)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return a, b


def coherence_map(emb, grid: PatchGrid) -> np.ndarray:
    """Mean cosine of each patch to its 4-adjacent neighbours: (rows, cols). NaN for a
    1x1 grid (no neighbours)."""
    e = _check(emb, grid)
    a, b = neighbour_index(grid)
    sims = (e[a] * e[b]).sum(axis=1)
    total = np.zeros(grid.count)
    count = np.zeros(grid.count)
    np.add.at(total, a, sims)
    np.add.at(total, b, sims)
    np.add.at(count, a, 1)
    np.add.at(count, b, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    return out.reshape(grid.rows, grid.cols).astype(np.float32)


def coherence(emb, grid: PatchGrid) -> float:
    """Neighbour consistency of one map: mean cosine over all 4-adjacent patch pairs (how
    smoothly the map varies across the picture). NaN for a 1x1 grid."""
    e = _check(emb, grid)
    a, b = neighbour_index(grid)
    if len(a) == 0:
        return float("nan")
    return float((e[a] * e[b]).sum(axis=1).mean())


def neighbour_consistency(pred, true, grid: PatchGrid) -> float:
    """Does the predicted map keep the true map's similarity structure? Over 4-adjacent
    pairs (p, q): ``1 - mean |cos(pred_p, pred_q) - cos(true_p, true_q)| / 2``, in [0, 1],
    1 when every neighbour similarity matches (the quantity ``spatial_loss`` trains, as a
    mean absolute rather than squared difference). NaN for a 1x1 grid."""
    p, t = _check(pred, grid), _check(true, grid)
    a, b = neighbour_index(grid)
    if len(a) == 0:
        return float("nan")
    sp = (p[a] * p[b]).sum(axis=1)
    st = (t[a] * t[b]).sum(axis=1)
    return float(1.0 - np.abs(sp - st).mean() / 2.0)


def summary(values) -> dict:
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "min": None, "max": None}
    return {"mean": round(float(v.mean()), 6), "min": round(float(v.min()), 6),
            "max": round(float(v.max()), 6)}


def cells_to_pixels(values, grid: PatchGrid) -> np.ndarray:
    """Paint each patch's value over its display cell (the frame split at midpoints between
    patch centres): (H, W) float32."""
    v = as_cells(values, grid)
    xe, ye = grid.cell_edges()
    col_of_x = np.repeat(np.arange(grid.cols), np.diff(xe))
    row_of_y = np.repeat(np.arange(grid.rows), np.diff(ye))
    return v[row_of_y[:, None], col_of_x[None, :]]
