"""A loaded CLIP with the two operations Sonolume needs: embed prompts, embed images.

Text embeddings are cached per (model, prompt) because training, semantic search and
track suggestions ask for the same prompts again and again.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.clip.spec import ClipSpec


class ClipModel:
    def __init__(self, model, tokenizer, spec: ClipSpec, name: str, random: bool = False):
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.spec = spec
        self.name = name
        self.random = random
        cfg = getattr(model.visual, "preprocess_cfg", None) or {}
        size = cfg.get("size", getattr(model.visual, "image_size", 224))
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        mean = cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))
        std = cfg.get("std", (0.26862954, 0.26130258, 0.27577711))
        # On the model's device: the trainer normalises its cutouts where CLIP runs.
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self._text_cache: dict[str, torch.Tensor] = {}
        # ResNet image towers run their convolutions ~10-15% faster in NHWC on CPU
        # (oneDNN; measured on RN50 for training steps and inference). A ViT has one conv.
        convs = sum(isinstance(m, torch.nn.Conv2d) for m in self.model.visual.modules())
        self.channels_last = convs > 1
        if self.channels_last:
            self.model.visual.to(memory_format=torch.channels_last)

    @property
    def device(self) -> torch.device:
        """Where the weights are (``load_clip(spec, device=...)`` chose it)."""
        return next(self.model.parameters()).device

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def embed_dim(self) -> int:
        return int(self.encode_text([""]).shape[-1])

    @torch.no_grad()
    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Unit-norm text embeddings, one row per prompt (cached)."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        if missing:
            tokens = self.tokenizer(missing).to(self.device)
            emb = F.normalize(self.model.encode_text(tokens).float(), dim=-1)
            for p, e in zip(missing, emb):
                self._text_cache[p] = e
        return torch.stack([self._text_cache[p] for p in prompts])

    def encode_image(self, images: torch.Tensor, resize: bool = True) -> torch.Tensor:
        """Unit-norm embeddings of RGB images in [0, 1], shape (B, 3, H, W).

        Differentiable, so the trainer can push gradients into the CPPN through it."""
        if resize and images.shape[-2:] != (self.image_size, self.image_size):
            images = F.interpolate(
                images, size=(self.image_size, self.image_size), mode="bilinear",
                align_corners=False, antialias=True,
            )
        x = self.prepare((images - self.mean.to(images)) / self.std.to(images))
        return F.normalize(self.model.encode_image(x).float(), dim=-1)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised pixels in the memory layout the image tower runs fastest on."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
