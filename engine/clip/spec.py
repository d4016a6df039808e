"""Which CLIP to use, as plain data: what the loader loads, what a loaded model reports
as its ``spec``, and what keys cached results. It imports nothing heavy, so the loader and
the model both build on it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "RN50"
DEFAULT_PRETRAINED = "openai"


@dataclass(frozen=True)
class ClipSpec:
    """Which CLIP to use: a model name with a pretrained tag, a local checkpoint, or a
    random-weight config file (testing only). Exactly one source is used, in the order
    config > checkpoint > tag."""

    model: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    checkpoint: str | None = None
    config: str | None = None

    @property
    def label(self) -> str:
        if self.config:
            return f"{Path(self.config).stem} (random CLIP)"
        if self.checkpoint:
            return f"{self.model} ({Path(self.checkpoint).name})"
        return f"{self.model}/{self.pretrained}"

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "pretrained": None if (self.config or self.checkpoint) else self.pretrained,
            "checkpoint": Path(self.checkpoint).name if self.checkpoint else None,
            "random": bool(self.config),
        }

    def cache_identity(self) -> dict:
        """What about this choice changes the embeddings, for keys of cached results:
        the config file's content, or the checkpoint's path, size and time."""
        import hashlib

        ident = {"label": self.label, "spec": self.to_json()}
        if self.config:
            try:
                ident["config_sha256"] = hashlib.sha256(Path(self.config).read_bytes()) \
                    .hexdigest()
            except OSError:
                pass
        if self.checkpoint:
            p = Path(self.checkpoint)
            try:
                st = p.stat()
                ident["checkpoint"] = [str(p.resolve()), st.st_size, int(st.st_mtime)]
            except OSError:
                pass
        return ident
