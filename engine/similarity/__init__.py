"""Similarity strategies, losses and metrics shared by NeRV-CLIP training/eval, the spatial
CLIP maps and the style library's semantic search.

Everything here is pure torch on embedding tensors (any norm: inputs are L2-normalised
inside), so callers never have to remember to normalise first.
"""

from engine.similarity.losses import (
    combined_loss,
    cosine_loss,
    info_nce,
    siglip_loss,
    spatial_loss,
)
from engine.similarity.metrics import (
    cosine_summary,
    recall_at_k,
    recall_from_similarity,
    verification_baselines,
)
from engine.similarity.sequence import (
    AttentionSimilarity,
    CombinedSimilarity,
    dtw_path,
    global_similarity,
    local_similarity,
    temporal_similarity,
)

__all__ = [
    "AttentionSimilarity",
    "CombinedSimilarity",
    "combined_loss",
    "cosine_loss",
    "cosine_summary",
    "dtw_path",
    "global_similarity",
    "info_nce",
    "local_similarity",
    "recall_at_k",
    "recall_from_similarity",
    "siglip_loss",
    "spatial_loss",
    "temporal_similarity",
    "verification_baselines",
]
