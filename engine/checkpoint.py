"""Training checkpoints: model weights, optimizer state and run notes in one safetensors file.

Both trainers (CPPN styles, NeRV) need the same thing: stop at any step and later continue
to exactly the weights an uninterrupted run reaches. That takes the optimizer's full state
(Adam's moments and step counts), not just the weights. ``torch.save`` would pickle it, and
a pickle runs code when loaded, so a shared run folder could attack whoever resumes it;
safetensors holds only tensors. The optimizer state is therefore split: its per-parameter
tensors go into the safetensors file, its scalars (step counts) into JSON.

The notes (iteration, history, settings) travel inside the safetensors header as well, so
weights and notes are replaced by one rename and can never disagree after a crash. A
readable copy is written to ``json_path`` for people and for tools that only want the
notes; a checkpoint written before this module (notes only in that JSON, Adam tensors named
``adam.<param>``, steps in ``adam_steps``) still loads.

Layout of the tensors: ``<module>.<state-dict key>`` for each module, and
``optim.<module>.<parameter>.<state key>`` for the optimizer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch

from engine import atomic
from engine.errors import SonolumeError

FORMAT = "sonolume-checkpoint"
VERSION = 1
OPTIM_PREFIX = "optim."
_LEGACY_OPTIM_PREFIX = "adam."
_INFO_KEY = "sonolume.info"


class CheckpointError(SonolumeError):
    """A checkpoint that cannot be read, or does not fit the model it is loaded into."""


def _named_params(modules: Mapping[str, torch.nn.Module]
                  ) -> Iterator[tuple[str, torch.nn.Parameter]]:
    for prefix, module in modules.items():
        for name, p in module.named_parameters():
            yield f"{prefix}.{name}", p


def _optimizer_state(optimizer, modules) -> tuple[dict[str, torch.Tensor], dict]:
    """Per-parameter tensors (named ``optim.<param>.<key>``) and the scalar rest (JSON)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pname, p in _named_params(modules):
        state = optimizer.state.get(p)
        if not state:
            continue
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                tensors[f"{OPTIM_PREFIX}{pname}.{key}"] = value.detach().cpu().contiguous()
            elif isinstance(value, torch.Tensor):
                scalars.setdefault(pname, {})[key] = {"value": value.item(),
                                                      "dtype": str(value.dtype)[6:]}
            elif isinstance(value, (int, float, bool)) or value is None:
                scalars.setdefault(pname, {})[key] = {"value": value}
            else:
                raise TypeError(f"cannot checkpoint optimizer state {key!r} of type "
                                f"{type(value).__name__}")
    return tensors, {"type": type(optimizer).__name__, "state": scalars}


def save(path: str | Path, modules: Mapping[str, torch.nn.Module], optimizer=None,
         info: dict | None = None, json_path: str | Path | None = None,
         metadata: Mapping[str, str] | None = None) -> Path:
    """Write weights of ``modules`` (prefix -> module), ``optimizer``'s state and ``info``
    (JSON-able notes) to ``path`` atomically; also write ``info`` to ``json_path`` if given.

    ``info`` may hold NaN (a diverged loss belongs in the history); the JSON copy then uses
    Python's ``NaN`` token, which Python's reader accepts."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"{prefix}.{k}": v.detach().cpu().contiguous()
               for prefix, module in modules.items() for k, v in module.state_dict().items()}
    notes = {"format": FORMAT, "version": VERSION, "info": dict(info or {})}
    if optimizer is not None:
        opt_tensors, notes["optimizer"] = _optimizer_state(optimizer, modules)
        tensors.update(opt_tensors)
    header = {str(k): str(v) for k, v in (metadata or {}).items()}
    header[_INFO_KEY] = json.dumps(notes)
    with atomic.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    if json_path is not None:
        atomic.write_text(json_path, json.dumps(notes["info"], indent=1) + "\n")
    return path


def _read(path: Path, json_path: Path | None) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
        tensors = load_file(str(path))
        if _INFO_KEY in header:
            notes = json.loads(header[_INFO_KEY])
        elif json_path is not None:
            notes = _upgrade_legacy(json.loads(Path(json_path).read_text()))
        else:
            raise ValueError("no notes in the file and no JSON beside it")
        if not isinstance(notes, dict) or not isinstance(notes.get("info"), dict):
            raise ValueError("notes are not a JSON object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    except Exception as exc:  # safetensors raises its own error type for a damaged header
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    return tensors, notes


def _upgrade_legacy(info: dict) -> dict:
    """A checkpoint from before this module: notes only in the JSON, Adam steps there."""
    steps = info.get("adam_steps", {}) if isinstance(info, dict) else {}
    state = {name: {"step": {"value": float(v), "dtype": "float32"}} for name, v in steps.items()}
    return {"format": FORMAT, "version": 0, "info": info,
            "optimizer": {"type": "Adam", "state": state}}


def read_info(path: str | Path, json_path: str | Path | None = None) -> dict:
    """The notes saved with a checkpoint (without loading it into anything)."""
    return _read(Path(path), Path(json_path) if json_path else None)[1]["info"]


def load(path: str | Path, modules: Mapping[str, torch.nn.Module], optimizer=None,
         json_path: str | Path | None = None) -> dict:
    """Load weights into ``modules`` and state into ``optimizer``; returns the saved notes.

    The optimizer's tensors are copied into tensors shaped and placed like their parameter
    (a channels-last weight keeps channels-last moments; a CUDA parameter gets CUDA state).
    Learning rates are not restored: the caller's settings decide them on resume."""
    path = Path(path)
    tensors, notes = _read(path, Path(json_path) if json_path else None)
    legacy = notes.get("version", VERSION) == 0
    for prefix, module in modules.items():
        cut = len(prefix) + 1
        state = {k[cut:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {path} does not match its settings "
                                  f"({str(exc).splitlines()[0]})") from exc
    if optimizer is not None:
        _load_optimizer(optimizer, modules, tensors, notes.get("optimizer") or {}, legacy)
    return notes["info"]


def _load_optimizer(optimizer, modules, tensors, saved: dict, legacy: bool) -> None:
    scalars = saved.get("state", {})
    on_device = {id(p): bool(g.get("fused") or g.get("capturable"))
                 for g in optimizer.param_groups for p in g["params"]}
    single = len(modules) == 1
    for pname, p in _named_params(modules):
        if legacy:
            # Old CPPN files named Adam tensors without the module prefix, NeRV's with it.
            short = pname.split(".", 1)[1] if single else pname
            names = {short: f"{_LEGACY_OPTIM_PREFIX}{short}",
                     pname: f"{_LEGACY_OPTIM_PREFIX}{pname}"}
            found = [(n, stem) for n, stem in names.items() if f"{stem}.exp_avg" in tensors]
            if not found:
                continue
            key_name, stem = found[0]
            entry: dict = {k.rsplit(".", 1)[1]: v for k, v in tensors.items()
                           if k.startswith(stem + ".") and "." not in k[len(stem) + 1:]}
            scalar = scalars.get(key_name, {})
        else:
            stem = f"{OPTIM_PREFIX}{pname}"
            entry = {k[len(stem) + 1:]: v for k, v in tensors.items()
                     if k.startswith(stem + ".") and "." not in k[len(stem) + 1:]}
            scalar = scalars.get(pname, {})
        if not entry and not scalar:
            continue
        state: dict = {}
        for key, value in entry.items():
            if value.shape == p.shape:
                state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)
            else:
                state[key] = value.to(p.device)
        for key, item in scalar.items():
            dtype = item.get("dtype")
            if dtype is None:
                state[key] = item["value"]
            else:
                device = p.device if on_device.get(id(p)) else "cpu"
                state[key] = torch.tensor(item["value"], dtype=getattr(torch, dtype),
                                          device=device)
        optimizer.state[p] = state
