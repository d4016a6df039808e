"""Spatial CLIP maps: a grid of overlapping patches over a picture, one CLIP embedding per
patch, and the views the inspector shows (text-query heatmaps, patch-to-patch similarity,
predicted-vs-true agreement, coherence) rendered over the picture.

``engine.spatial.grid`` is pure maths (import it freely); ``maps`` needs torch and a CLIP;
``views`` works on numpy arrays; ``render`` draws with Pillow.
"""

from engine.spatial.grid import PatchGrid, default_patch_stride, make_grid

__all__ = ["PatchGrid", "default_patch_stride", "make_grid"]
