"""Small styles for fast library tests (imported by the style tests)."""

from __future__ import annotations

from engine.cppn.model import CPPN, CPPNConfig

SMALL = CPPNConfig(hidden=16, layers=2, extra_inputs=2)


def small_cppn(seed: int = 0) -> CPPN:
    return CPPN(SMALL, seed=seed)


def meta(name: str = "Sunset", **more) -> dict:
    return {"name": name, "prompts": [{"text": f"{name.lower()} glow", "weight": 1.0}],
            "negatives": ["text"], "clip": {"model": "RN50", "pretrained": "openai",
                                            "random": False, "label": "RN50/openai"},
            "trained": True, "score": 0.25, "seed": 1, "schedule": [[10, 64]], **more}


def entries(folder) -> list[str]:
    """What is in a library folder besides its permanent lock file, sorted."""
    from engine.styles.library import LOCK_FILE

    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_FILE)


def tiny_thumb():
    import numpy as np

    return np.full((4, 4, 3), 128, np.uint8)
