"""Import a legacy ``.pth`` CPPN (a pickled PyTorch state_dict) without running any pickle
code: ``torch.load(weights_only=True)`` refuses anything but tensors and plain containers.

Sine CPPNs in the wild name their layers in many ways (``hidden.0`` / ``out`` as here,
``net.0`` ... in an ``nn.Sequential``, SIREN's ``net.0.linear``, ``fc1`` ... ``fc5``,
``layers.N`` + ``last``...). We ignore the names and read the structure: the linear layers
in order, each input width matching the previous output width, ending in 3 outputs (RGB).
The first layer's input width gives the extra inputs (beyond x, y, r).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from engine.cppn.model import COORD_INPUTS, CPPN, CPPNConfig
from engine.errors import StyleError

MAX_LEGACY_BYTES = 80 << 20
_WRAPPERS = ("state_dict", "model_state_dict", "model", "net", "cppn", "params", "weights")
_STRIP = ("module.", "_orig_mod.", "model.")


def _natural_key(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _unwrap(obj, label: str) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict):
        raise StyleError(f"{label}: expected a state_dict (a mapping of tensor names to "
                         f"tensors), found {type(obj).__name__}")
    tensors = {}
    for k, v in obj.items():
        if isinstance(v, torch.Tensor) and isinstance(k, str):
            for prefix in _STRIP:
                while k.startswith(prefix):
                    k = k[len(prefix):]
            tensors[k] = v
    if not tensors:
        raise StyleError(f"{label}: no tensors found in the file")
    return tensors


def _linear_layers(tensors: dict[str, torch.Tensor], label: str):
    """[(prefix, weight, bias or None)] for every 2-D '.weight', in chain order."""
    layers = []
    for key, w in tensors.items():
        if not key.endswith("weight") or w.ndim != 2:
            continue
        prefix = key[: -len("weight")]
        bias = tensors.get(prefix + "bias")
        if bias is not None and tuple(bias.shape) != (w.shape[0],):
            raise StyleError(f"{label}: bias {prefix}bias has shape {tuple(bias.shape)}, "
                             f"its weight has {w.shape[0]} outputs")
        layers.append((prefix.rstrip("._"), w, bias))
    if len(layers) < 2:
        raise StyleError(f"{label}: not a CPPN: found {len(layers)} linear layer(s), "
                         "need at least an input layer and an RGB output layer")

    def chains(seq):
        return all(a[1].shape[0] == b[1].shape[1] for a, b in zip(seq, seq[1:]))

    if not chains(layers):  # file order is module order for a state_dict; try name order
        layers = sorted(layers, key=lambda t: _natural_key(t[0]))
    if not chains(layers):
        shapes = ", ".join(f"{p or '?'} {tuple(w.shape)}" for p, w, _ in layers[:8])
        raise StyleError(f"{label}: the linear layers do not form a chain ({shapes})")
    return layers


def load_legacy_cppn(path: Path) -> tuple[CPPN, dict]:
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise StyleError(f"file not found: {path}")
    size = path.stat().st_size
    if size > MAX_LEGACY_BYTES:
        raise StyleError(f"{label}: too large for a CPPN ({size >> 20} MB)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        why = next((line for line in lines if "unsupported" in line.lower()),
                   lines[-1] if lines else "")
        if "global" in why.lower():  # a class or function reference: code, not data
            raise StyleError(
                f"{label}: refused: the file holds Python objects or code, not just tensors "
                f"(only plain state_dicts are imported; {why[:160]})"
            ) from exc
        raise StyleError(f"{label}: not a readable PyTorch weights file ({why[:160]})") from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, zip errors, ...
        raise StyleError(f"{label}: not a readable PyTorch weights file ({exc})"[:300]) from exc

    tensors = _unwrap(obj, label)
    layers = _linear_layers(tensors, label)
    first, *mid, last = layers
    hidden = first[1].shape[0]
    in_features = first[1].shape[1]
    if last[1].shape[0] != 3:
        raise StyleError(f"{label}: the last layer has {last[1].shape[0]} outputs; "
                         "a style CPPN draws RGB (3 outputs)")
    widths = {w.shape[0] for _, w, _ in [first, *mid]}
    if len(widths) != 1:
        raise StyleError(f"{label}: hidden layers have different widths {sorted(widths)}; "
                         "only uniform-width CPPNs can be imported")
    if in_features < COORD_INPUTS:
        raise StyleError(f"{label}: the first layer takes {in_features} inputs; a CPPN "
                         f"needs at least {COORD_INPUTS} (x, y, r)")
    try:
        config = CPPNConfig.from_json({"hidden": int(hidden), "layers": 1 + len(mid),
                                       "extra_inputs": int(in_features - COORD_INPUTS)})
    except ValueError as exc:
        raise StyleError(f"{label}: {exc}") from exc

    state = {}
    for i, (_, w, b) in enumerate([first, *mid]):
        state[f"hidden.{i}.weight"] = w
        state[f"hidden.{i}.bias"] = b if b is not None else torch.zeros(w.shape[0])
    state["out.weight"] = last[1]
    state["out.bias"] = last[2] if last[2] is not None else torch.zeros(3)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}
    bad = [k for k, v in state.items() if not torch.isfinite(v).all()]
    if bad:
        raise StyleError(f"{label}: weights contain NaN or infinite values ({bad[0]})")
    cppn = CPPN(config)
    cppn.load_state_dict(state)
    info = {"legacy_layers": [p for p, _, _ in layers]}
    unused = sorted(set(tensors) - {f"{p}.weight" if p else "weight" for p, _, _ in layers}
                    - {f"{p}.bias" if p else "bias" for p, _, _ in layers})
    if unused:
        info["legacy_unused_tensors"] = unused[:20]
    return cppn.eval(), info
