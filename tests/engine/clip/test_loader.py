import time

import pytest
import torch

from engine.clip import ClipSpec, load_clip
from engine.errors import ClipUnavailable


def test_random_config_loads_warns_and_is_marked(tiny_clip_config):
    seen = []
    clip = load_clip(ClipSpec(config=str(tiny_clip_config)), warn=seen.append)
    assert clip.random
    assert "RANDOM" in seen[0]
    assert "random CLIP" in clip.label
    assert clip.spec.to_json()["random"] is True
    assert clip.image_size == 64


def test_text_embeddings_are_unit_norm_and_cached(tiny_clip):
    a = tiny_clip.encode_text(["a red sunset", "ocean waves"])
    assert a.shape == (2, 64)
    assert torch.allclose(a.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert "a red sunset" in tiny_clip._text_cache
    b = tiny_clip.encode_text(["a red sunset"])
    assert torch.equal(a[0], b[0])


def test_image_encoding_is_differentiable(tiny_clip):
    img = torch.rand(2, 3, 100, 80, requires_grad=True)
    emb = tiny_clip.encode_image(img)
    assert emb.shape == (2, 64)
    emb.sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_offline_pretrained_fails_fast_with_both_remedies(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = time.perf_counter()
    with pytest.raises(ClipUnavailable) as err:
        load_clip(ClipSpec(model="RN50", pretrained="openai"))
    assert time.perf_counter() - t < 5
    msg = str(err.value)
    assert "resnet50_clip.openai" in msg and "--clip-checkpoint" in msg


def test_missing_checkpoint_and_bad_config(tmp_path):
    with pytest.raises(ClipUnavailable, match="not found"):
        load_clip(ClipSpec(checkpoint=str(tmp_path / "nope.pt")))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ClipUnavailable, match="not valid JSON"):
        load_clip(ClipSpec(config=str(bad)))
    with pytest.raises(ClipUnavailable, match="unknown CLIP model"):
        load_clip(ClipSpec(model="NoSuchModel", pretrained="openai"))
