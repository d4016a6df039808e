"""A CPPN between two others: their weights interpolated, layer by layer.

Only networks of the same shape can be mixed this way. Whether the middle looks like
anything depends on the pair: two networks fine-tuned from one base
(:mod:`engine.cppn.base`) keep their hidden units aligned and morph nearly as straight as
a crossfade; two independently initialised ones go muddy and flash halfway (the issue's
"model soups" question). bench/morph.py measured it: the worst step between consecutive
in-betweens is ~1.6-2.0x a crossfade's for shared-base pairs and 4-7x for independent
ones. :func:`morph_fallback` therefore measures every pair the same way, at a small size
(a few milliseconds, cached per pair), and a show crossfades a pair that is not smooth.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import SimpleNamespace

#: A morph is smooth when its worst step is at most this many times a crossfade's worst
#: step over the same frames. Measured (bench/morph.py): shared-base pairs 1.6-2.0,
#: independent pairs 4-7 (the bundled seeded patterns, all independent, 1.4-9).
SMOOTH_LIMIT = 3.0
CHECK_SIZE = 32  # pixels a side: the check's pictures
CHECK_STEPS = 16  # in-betweens the check draws
_CACHE_SIZE = 64
_checked: OrderedDict[tuple, Smoothness] = OrderedDict()
_lock = threading.Lock()  # the preview and an export may schedule at the same time


def _layers(cppn) -> list:
    return [*cppn.hidden, cppn.out]


def can_morph(a, b) -> bool:
    """Same layer count and every weight of the same shape (and the same free inputs)."""
    if a is b:
        return True
    la, lb = _layers(a), _layers(b)
    if len(la) != len(lb) or a.config.extra_inputs != b.config.extra_inputs:
        return False
    return all(x.weight.shape == y.weight.shape and x.bias.shape == y.bias.shape
               for x, y in zip(la, lb))


def morph_cppn(a, b, w: float):
    """An object renderers accept as a CPPN (``hidden``, ``out``, ``config``) whose weights
    are ``(1 - w) * a + w * b``. The two must pass :func:`can_morph`."""
    import torch

    w = float(w)
    with torch.no_grad():
        def mix(x, y):
            return SimpleNamespace(weight=torch.lerp(x.weight.detach(), y.weight.detach(), w),
                                   bias=torch.lerp(x.bias.detach(), y.bias.detach(), w))

        hidden = [mix(x, y) for x, y in zip(a.hidden, b.hidden)]
        out = mix(a.out, b.out)
    return SimpleNamespace(hidden=hidden, out=out, config=a.config)


def morph_network(a, b, w: float):
    """The in-between as a real :class:`~engine.cppn.model.CPPN` (what code that calls
    ``cppn.render`` or saves weights needs); :func:`morph_cppn` is the light form."""
    import torch

    from engine.cppn.model import CPPN

    mixed = morph_cppn(a, b, w)
    net = CPPN(a.config)
    with torch.no_grad():
        for dst, src in zip(_layers(net), _layers(mixed)):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return net.eval()


@dataclass(frozen=True)
class Smoothness:
    """How a morph moves, in mean absolute pixel change (0..1) per step of ``1/steps``."""

    worst_step: float  # the largest change between consecutive in-betweens
    crossfade_step: float  # what a linear crossfade changes per step: mean |A - B| / steps
    steps: int

    @property
    def ratio(self) -> float:
        """Worst morph step over a crossfade's step: ~1 walks straight from A to B, a few
        means a flash or a detour through something else. Two near-identical pictures
        (nothing to cross) count as smooth when the morph barely moves either."""
        floor = 1e-3 / self.steps  # a thousandth of the range over the whole morph
        return self.worst_step / max(self.crossfade_step, floor)

    @property
    def smooth(self) -> bool:
        return self.ratio <= SMOOTH_LIMIT


def render_weights(cppn, size: int, extras=None):
    """(size*size, 3) colours in [0, 1] of anything shaped like a CPPN (a morph too)."""
    import torch

    from engine.cppn.model import coordinate_grid

    h = coordinate_grid(size, size, extras, cppn.config.extra_inputs)
    with torch.no_grad():
        for layer in cppn.hidden:
            h = torch.addmm(layer.bias, h, layer.weight.t()).sin_()
        return torch.sigmoid(torch.addmm(cppn.out.bias, h, cppn.out.weight.t()))


def morph_frames(a, b, steps: int, size: int, extras=None) -> list:
    """The pictures at w = 0, 1/steps, ..., 1 (each (size*size, 3) in [0, 1])."""
    return [render_weights(morph_cppn(a, b, k / steps), size, extras)
            for k in range(steps + 1)]


def measure(a, b, steps: int = CHECK_STEPS, size: int = CHECK_SIZE) -> Smoothness:
    """Draw the morph's in-betweens and compare its steps with a crossfade's."""
    frames = morph_frames(a, b, steps, size)
    worst = max(float((y - x).abs().mean()) for x, y in zip(frames, frames[1:]))
    across = float((frames[-1] - frames[0]).abs().mean()) / steps
    return Smoothness(worst, across, steps)


def _digest(cppn) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for layer in _layers(cppn):
        for t in (layer.weight, layer.bias):
            h.update(t.detach().float().contiguous().numpy().tobytes())
    return h.digest()


def smoothness(a, b) -> Smoothness:
    """:func:`measure` at the check's size, cached per pair of weights (keyed by their
    digest, so a network edited in place is measured again)."""
    key = tuple(sorted((_digest(a), _digest(b))))
    with _lock:
        found = _checked.get(key)
        if found is not None:
            _checked.move_to_end(key)
            return found
    found = measure(a, b)
    with _lock:
        _checked[key] = found
        while len(_checked) > _CACHE_SIZE:
            _checked.popitem(last=False)
    return found


def morph_fallback(a, b) -> str | None:
    """Why a morph from ``a`` to ``b`` should be a crossfade instead, or None when the
    morph is fine (same shape and smooth)."""
    if not can_morph(a, b):
        return "the two styles differ in shape"
    if a is b:
        return None
    s = smoothness(a, b)
    if not math.isfinite(s.ratio) or not s.smooth:
        return (f"the two styles do not morph smoothly (worst in-between step "
                f"{s.ratio:.1f}x a crossfade's)")
    return None


def style_base(style) -> str | None:
    """The base network a library style was fine-tuned from (style.json's ``base``), or
    None: bundled patterns, styles trained with ``--independent`` or before bases."""
    meta = getattr(style, "meta", None)
    base = meta.get("base") if isinstance(meta, dict) else None
    return base if isinstance(base, str) and base else None


def shared_base(a, b) -> str | None:
    """The base both styles were fine-tuned from, if they share one."""
    base = style_base(a)
    return base if base is not None and base == style_base(b) else None
