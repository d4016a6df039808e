"""A CPPN between two others: their weights interpolated, layer by layer.

Only networks of the same shape can be mixed this way. Whether the middle looks like
anything depends on the pair: two networks fine-tuned from one base keep their hidden
units aligned and morph smoothly; two independently initialised ones may flash or go
muddy halfway (the issue's "model soups" question), which is why a morph can always be
swapped for a crossfade.
"""

from __future__ import annotations

from types import SimpleNamespace


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
