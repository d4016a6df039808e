"""Draw a :class:`~engine.scene.scene.Frame` with the ordinary renderers.

A single-style frame is one ``renderer.render`` call, exactly as before scenes (no copy,
no blending). A transition draws both styles (one renderer per style, so neither reloads
its weights each frame) and combines the two pictures on the CPU:

* ``crossfade`` / ``zoom``: ``(1 - mix) * A + mix * B``;
* ``bloom``: B shows where A's luminance (stretched to the frame's own darkest and
  brightest pixel) is above a threshold that falls from the top to below the bottom as
  ``mix`` rises, with a soft edge, so the new style grows out of the old pattern's
  brightest regions first;
* ``morph``: one network with interpolated weights (:mod:`engine.scene.morph`), drawn once.

The blends cost a few array operations per pixel, nothing next to a CPPN (see
bench/transitions.py: a transition frame stays within ~2x a single-style frame).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from engine.render.base import Renderer
from engine.scene.morph import morph_cppn

BLOOM_SOFTNESS = 0.25  # luminance range of the bloom's edge
_LUMA = np.array([0.299, 0.587, 0.114], np.float32) / 255.0


def sibling_factory(renderer: Renderer) -> Callable | None:
    """How to make another renderer like ``renderer`` for a second style (same device,
    precision and GL context); None when the kind is unknown (then one renderer is
    switched between styles with ``set_cppn``)."""
    from engine.render.torch_renderer import TorchRenderer

    if isinstance(renderer, TorchRenderer):
        return lambda cppn: TorchRenderer(cppn, device=renderer.device, dtype=renderer.dtype,
                                          chunk=renderer.chunk, bf16x3=renderer.bf16x3)
    if getattr(renderer, "name", "") == "gl" and getattr(renderer, "ctx", None) is not None:
        return lambda cppn: type(renderer)(cppn, ctx=renderer.ctx)
    return None


class SceneDrawer:
    """Keeps one renderer per style and draws frames.

    ``first``: a ready renderer already holding ``first_cppn`` (the caller's; released by
    the caller, never here). ``make``: builds a renderer for another CPPN; without it the
    first renderer is switched between styles. Renderers made here are released by
    :meth:`release`."""

    def __init__(self, first: Renderer | None = None, first_cppn=None,
                 make: Callable | None = None, keep: int | None = None,
                 switch: bool = False):
        if first is None and make is None:
            raise ValueError("SceneDrawer needs a renderer or a way to make one")
        if switch and first is None:
            raise ValueError("switch=True needs the renderer to switch")
        # ``switch``: one renderer for every style, given each network in turn (the live
        # preview: a torch renderer takes a new network in microseconds, and one renderer
        # keeps one set of buffers while a VJ clicks through the library).
        self.make = None if switch else (
            make if make is not None or first is None else sibling_factory(first))
        self.first = first
        # id(cppn) -> (cppn, renderer), least recently used first. The CPPN is held so its
        # id cannot be reused by a new network while its renderer is cached.
        self._by_cppn: OrderedDict[int, tuple[object, Renderer]] = OrderedDict()
        self._owned: list[Renderer] = []
        self._holds = first_cppn  # what the shared first renderer holds now
        self._morph: Renderer | None = None
        # ``keep``: at most this many renderers made here (the live preview, where a user
        # clicks through the library); the least recently used one is released first.
        self.keep = keep
        if self.make is not None and first is not None and first_cppn is not None:
            self._by_cppn[id(first_cppn)] = (first_cppn, first)

    def renderer_for(self, cppn) -> Renderer:
        if self.make is None:  # one renderer, switched between styles
            if self._holds is not cppn:
                self.first.set_cppn(cppn)
                self._holds = cppn
            return self.first
        entry = self._by_cppn.get(id(cppn))
        if entry is not None and entry[0] is cppn:
            self._by_cppn.move_to_end(id(cppn))
            return entry[1]
        if self.keep is not None:
            self._evict(self.keep - 1)
        r = self.make(cppn)
        self._owned.append(r)
        self._by_cppn[id(cppn)] = (cppn, r)
        return r

    def _evict(self, room: int) -> None:
        owned = [k for k, (_, r) in self._by_cppn.items() if r is not self.first]
        for k in owned[: max(0, len(owned) - room)]:
            _, r = self._by_cppn.pop(k)
            self._owned.remove(r)
            r.release()

    def draw(self, frame, width: int, height: int) -> np.ndarray:
        """The frame as (height, width, 3) uint8."""
        layers = frame.layers
        if len(layers) == 1:
            return self.renderer_for(layers[0].cppn).render(layers[0].params, width, height)
        a, b = layers
        mix = float(frame.mix)
        if frame.mode == "morph":
            return self._draw_morph(a, b, mix, width, height)
        pa = self.renderer_for(a.cppn).render(a.params, width, height)
        pb = self.renderer_for(b.cppn).render(b.params, width, height)
        if frame.mode == "bloom":
            luma = pa.astype(np.float32) @ _LUMA
            lo, hi = float(luma.min()), float(luma.max())
            luma = (luma - lo) / max(hi - lo, 1e-3)  # a dim pattern blooms as well
            edge = 1.0 - mix * (1.0 + BLOOM_SOFTNESS)
            w = np.clip((luma - edge) / BLOOM_SOFTNESS, 0.0, 1.0)[..., None]
        else:
            w = np.float32(mix)
        out = pa.astype(np.float32)
        out += w * (pb.astype(np.float32) - out)
        out += 0.5
        return out.astype(np.uint8)

    def _draw_morph(self, a, b, mix, width, height) -> np.ndarray:
        cppn = morph_cppn(a.cppn, b.cppn, mix)
        if self.make is None:
            self.first.set_cppn(cppn)
            self._holds = cppn
            return self.first.render(a.params, width, height)
        if self._morph is None:
            self._morph = self.make(cppn)
            self._owned.append(self._morph)
        else:
            self._morph.set_cppn(cppn)
        return self._morph.render(a.params, width, height)

    def release(self) -> None:
        for r in self._owned:
            r.release()
        self._owned.clear()
        self._by_cppn = OrderedDict((k, v) for k, v in self._by_cppn.items()
                                    if v[1] is self.first)
        self._morph = None
