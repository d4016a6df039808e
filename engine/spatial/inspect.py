"""Assemble the inspector's views for one picture: the panels to draw and a JSON-able
report. The CLI draws every panel into one PNG; the GUI can call the same functions and
draw panels one at a time with :func:`engine.spatial.render.render_overlay`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.spatial import views
from engine.spatial.maps import SpatialMap

RANDOM_NOTE = "random CLIP: for testing only, these values are noise"


@dataclass
class Panel:
    key: str  # "query", "relative", "click", "agreement", "coherence", ...
    title: str
    values: np.ndarray  # (rows, cols)
    colormap: str = "viridis"
    vmin: float | None = None
    vmax: float | None = None
    highlight: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)


def _best(values: np.ndarray) -> list[int] | None:
    """(row, col) of the highest finite value; None when there is none (a 1x1 grid has
    no neighbours, so its coherence is undefined)."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    v = np.where(finite, values, -np.inf)
    r, c = np.unravel_index(int(np.argmax(v)), v.shape)
    return [int(r), int(c)]


def _round(a) -> list:
    """Nested lists for JSON, undefined values (NaN) as null: NaN is not JSON."""
    a = np.round(np.asarray(a, dtype=np.float64), 5)
    return np.where(np.isfinite(a), a, None).tolist()


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def build_panels(
    true_map: SpatialMap,
    queries: list[str] | None = None,
    text_emb: np.ndarray | None = None,
    click: tuple[int, int] | None = None,
    pred_map: SpatialMap | None = None,
    relative: bool = False,
) -> list[Panel]:
    """The views to show, in order: per query a cosine heatmap (``relative``: softmax over
    the queries instead, when there are >= 2) followed, with a predicted map, by the
    predicted map's heatmap on the same colour range; then similarity to the clicked patch
    (and its predicted twin); then per-patch predicted-vs-true agreement; the coherence
    map when nothing else was asked for."""
    grid = true_map.grid
    panels: list[Panel] = []
    queries = list(queries or [])

    def shared(a, b):  # one colour range for a true/predicted pair, so colours compare
        both = np.concatenate([np.ravel(a), np.ravel(b)])
        both = both[np.isfinite(both)]
        return (float(both.min()), float(both.max())) if both.size else (None, None)

    if queries:
        if text_emb is None:
            raise ValueError("queries need their text embeddings")
        heat = views.query_heatmaps(true_map.embeddings, text_emb, grid)
        shown = views.relative_heatmaps(heat) if relative and len(queries) > 1 else heat
        pheat = (views.query_heatmaps(pred_map.embeddings, text_emb, grid)
                 if pred_map is not None else None)
        for i, (q, h, s) in enumerate(zip(queries, heat, shown)):
            if relative and len(queries) > 1:
                panels.append(Panel("relative", f'"{q}": share among the queries (softmax)',
                                    s, "inferno", 0.0, 1.0, extra={"query": q}))
                continue
            lo, hi = shared(h, pheat[i]) if pheat is not None else (None, None)
            panels.append(Panel("query", f'"{q}": cosine per patch', h, "viridis", lo, hi,
                                extra={"query": q}))
            if pheat is not None:
                panels.append(Panel("query_predicted", f'"{q}": cosine per patch (predicted)',
                                    pheat[i], "viridis", lo, hi, extra={"query": q}))
    if click is not None:
        sim = views.patch_similarity(true_map.embeddings, grid, *click)
        psim = (views.patch_similarity(pred_map.embeddings, grid, *click)
                if pred_map is not None else None)
        lo, hi = shared(sim, psim) if psim is not None else (None, None)
        panels.append(Panel("click", f"similarity to patch {click[0]},{click[1]}", sim,
                            "magma", lo, hi, highlight=tuple(click)))
        if psim is not None:
            panels.append(Panel("click_predicted",
                                f"similarity to patch {click[0]},{click[1]} (predicted)",
                                psim, "magma", lo, hi, highlight=tuple(click)))
    if pred_map is not None:
        agree = views.agreement(pred_map.embeddings, true_map.embeddings, grid)
        # auto range: the worst patches stand out even when all are close to 1
        panels.append(Panel("agreement", "predicted vs true: cosine per patch", agree,
                            "coolwarm"))
    if not panels:
        panels.append(Panel("coherence", "coherence: mean cosine to neighbouring patches",
                            views.coherence_map(true_map.embeddings, grid), "viridis"))
    return panels


def build_report(
    true_map: SpatialMap,
    panels: list[Panel],
    source: dict,
    pred_map: SpatialMap | None = None,
) -> dict:
    """A JSON-able summary of the map and every panel (values as nested lists)."""
    grid = true_map.grid
    report = {
        "source": source,
        "grid": grid.to_json(),
        "clip": {"label": true_map.clip_label, "random": bool(true_map.random_clip)},
        "cached": bool(true_map.info.get("cached", False)),
        "coherence": _finite(views.coherence(true_map.embeddings, grid)),
        "panels": [],
    }
    if true_map.random_clip:
        report["warning"] = RANDOM_NOTE
    if pred_map is not None:
        agree = views.agreement(pred_map.embeddings, true_map.embeddings, grid)
        report["predicted"] = {
            **pred_map.info,
            "agreement": views.summary(agree),
            "coherence": _finite(views.coherence(pred_map.embeddings, grid)),
            "neighbour_consistency": _finite(views.neighbour_consistency(
                pred_map.embeddings, true_map.embeddings, grid)),
        }
    for p in panels:
        entry = {"view": p.key, "title": p.title, **p.extra, **views.summary(p.values),
                 "best_patch": _best(p.values), "values": _round(p.values)}
        if p.highlight is not None:
            entry["patch"] = list(p.highlight)
        report["panels"].append(entry)
    return report
