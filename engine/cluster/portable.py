"""A Scene that travels: everything a worker needs, nothing that points at this disk.

A cluster node has an installed Sonolume and nothing else of ours: no library folder, no
user presets, no track. So the scene sent through Ray's object store carries each style's
weights as safetensors bytes (no pickle of a torch module, the same format a style folder
holds), the reactivity preset resolved to its object, and the analysed features; paths are
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PortableStyle:
    """A style as bytes: ``name`` (for logs), ``architecture`` (CPPNConfig JSON) and
    ``weights`` (safetensors). Quacks like a library Style for the Scene."""

    id: str
    name: str
    architecture: dict
    weights: bytes

    @classmethod
    def of(cls, key: str, source) -> PortableStyle:
        import torch
        from safetensors.torch import save

        cppn = source.load_cppn() if hasattr(source, "load_cppn") else source
        state = {k: v.detach().to("cpu", torch.float32).contiguous()
                 for k, v in cppn.state_dict().items()}
        return cls(id=key, name=str(getattr(source, "name", key)),
                   architecture=cppn.config.to_json(),
                   weights=save(state, metadata={"format": "pt"}))

    def load_cppn(self):
        from safetensors.torch import load

        from engine.cppn.model import CPPN, CPPNConfig
        from engine.styles.style import check_tensors

        config = CPPNConfig.from_json(self.architecture)
        tensors = load(self.weights)
        check_tensors(tensors, config, f"style '{self.name}' sent to the cluster")
        cppn = CPPN(config)
        cppn.load_state_dict(tensors)
        return cppn.eval()


def portable_scene(scene):
    """A copy of ``scene`` whose styles are :class:`PortableStyle` and whose preset is the
    loaded object; ``track`` and ``library_dir`` are dropped (workers never read files)."""
    styles = {key: PortableStyle.of(key, scene.cppn(key)) for key in scene.styles}
    for key, p in styles.items():  # keep the names the metadata and logs show
        name = getattr(scene.styles[key], "name", None)
        if name is not None:
            styles[key] = PortableStyle(p.id, str(name), p.architecture, p.weights)
    return scene.copy(styles=styles, preset=scene.loaded_preset(), track=None,
                      library_dir=None)
