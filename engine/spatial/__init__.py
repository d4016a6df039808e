"""Spatial CLIP maps: a grid of overlapping patches over a picture, one CLIP embedding per
patch, and the views the inspector shows (text-query heatmaps, patch-to-patch similarity,
predicted-vs-true agreement, coherence) rendered over the picture.

``grid`` is pure maths (import it freely); ``pictures`` reads an image or a video frame,
bounded in size; ``maps`` cuts, embeds and caches patches (torch and a CLIP); ``views``
turns maps into (rows, cols) numpy arrays; ``render`` draws them over the picture with
Pillow; ``inspect`` picks the panels and builds the JSON report
(shared by the CLI and the GUI). A NeRV-CLIP run's predicted map is
``engine.nerv.predicted``'s: NeRV builds on spatial maps, not the other way round.
"""

from engine.spatial.grid import PatchGrid, default_patch_stride, make_grid

__all__ = ["PatchGrid", "default_patch_stride", "make_grid"]
