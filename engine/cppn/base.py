"""The shared starting network that new styles are fine-tuned from.

Interpolating the weights of two CPPNs only gives a sensible in-between when their hidden
units play the same roles, and two independently initialised networks share nothing: the
middle of such a morph is a third, unrelated pattern, flatter and greyer than either end
(bench/morph.py measures it). Fine-tuning every style from one fixed network (the "model
soups" condition) keeps the units aligned, so the morph walks nearly straight from one
picture to the other.

The base is nothing but a seeded initialisation, so it needs no file: ``CPPN(config,
seed=BASE_SEED)`` rebuilds it bit for bit wherever torch's CPU generator is unchanged (a
test pins its digest, so a torch that draws differently fails loudly instead of silently
making "shared base" styles that share nothing). Seed 0 is also the trainer's default
seed, so a default run starts from exactly the network it started from before bases
existed. A future base (trained, or another seed) gets a new id; the old id keeps its
meaning.
"""

from __future__ import annotations

import hashlib

import torch

from engine.cppn.model import CPPN, CPPNConfig
from engine.errors import SonolumeError

BASE_ID = "sonolume-base-v1"
#: base id -> the seed that rebuilds it (with the style's own architecture).
BASE_SEEDS: dict[str, int] = {BASE_ID: 0}


def check_base(base: str | None) -> None:
    """None (an independent start) or a known base id; anything else is refused."""
    if base is not None and base not in BASE_SEEDS:
        raise SonolumeError(f"unknown base network '{base}' (known: {', '.join(BASE_SEEDS)})")


def base_cppn(config: CPPNConfig | None = None, base: str = BASE_ID) -> CPPN:
    """A fresh copy of the base network for ``config`` (default architecture if None)."""
    check_base(base)
    return CPPN(config, seed=BASE_SEEDS[base])


def weights_digest(cppn) -> str:
    """SHA-256 over every weight in layer order: equal digests, equal networks."""
    h = hashlib.sha256()
    with torch.no_grad():
        for layer in [*cppn.hidden, cppn.out]:
            for t in (layer.weight, layer.bias):
                h.update(t.detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()
