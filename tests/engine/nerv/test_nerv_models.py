import math

import pytest
import torch

from engine.errors import SonolumeError
from engine.nerv.models import (
    NervConfig,
    add_model_config,
    auto_strides,
    box_pool_matrix,
    create_model,
    get_model_config,
    list_models,
    parse_embed,
    positional_encoding,
)


def test_registry_and_factory():
    assert {"nerv", "hnerv", "nerv-0.75m", "hnerv-0.75m"} <= set(list_models())
    assert get_model_config("hnerv").kind == "hnerv"
    with pytest.raises(SonolumeError, match="unknown NeRV model"):
        get_model_config("nope")
    add_model_config("test-small", NervConfig(kind="nerv", target_params=None, fc_dim=8))
    m = create_model("test-small", (32, 64))
    assert m.config.fc_dim == 8
    with pytest.raises(SonolumeError, match="unknown NeRV settings"):
        create_model("nerv", (32, 64), colour="red")


def test_positional_encoding_default_is_160_dims_of_sin_and_cos():
    base, levels = parse_embed("pe_1.25_80")
    assert (base, levels) == (1.25, 80)
    t = torch.tensor([0.0, 0.5, 1.0])
    pe = positional_encoding(t, base, levels)
    assert pe.shape == (3, 160)
    assert torch.allclose(pe[1, 0], torch.tensor(math.sin(0.5 * math.pi)))
    assert torch.allclose(pe[1, 80 + 1], torch.tensor(math.cos(1.25 * 0.5 * math.pi)), atol=1e-6)
    for bad in ("pe_1_80", "pe_1.25", "fourier_2_10"):
        with pytest.raises(SonolumeError):
            parse_embed(bad)


def test_outputs_and_heads():
    boxes = torch.tensor([[0, 0, 0.5, 1], [0.25, 0, 0.75, 1], [0.5, 0, 1, 1]])
    m = create_model("nerv-tiny", (32, 64), clip_dim=16, clip_head="spatial", patch_boxes=boxes)
    out = m(times=torch.tensor([0.0, 1.0]))
    assert out["rgb"].shape == (2, 3, 32, 64)
    assert 0 <= out["rgb"].min() and out["rgb"].max() <= 1
    assert out["clip_spatial"].shape == (2, 3, 16)
    h = create_model("hnerv-tiny", (32, 64), clip_dim=16, clip_head="global", num_frames=8)
    out = h(frames=torch.rand(2, 3, 32, 64))
    assert out["clip_global"].shape == (2, 16) and "clip_spatial" not in out
    assert "rgb" in create_model("nerv-tiny", (32, 64))(times=torch.zeros(1))
    with pytest.raises(SonolumeError, match="patch grid"):
        create_model("nerv-tiny", (32, 64), clip_dim=16, clip_head="spatial")


def test_equal_parameter_budgets():
    n = create_model("nerv-0.75m", (128, 256), num_frames=132).parameter_counts()
    h = create_model("hnerv-0.75m", (128, 256), num_frames=132).parameter_counts()
    for c in (n, h):
        assert abs(c["representation"] - 750_000) / 750_000 < 0.02
    # HNeRV's representation counts its per-frame embeddings, never its encoder
    assert h["embeddings"] == 132 * 8 * 4 * 8
    assert h["representation"] == h["stem"] + h["decoder"] + h["embeddings"]
    assert h["encoder"] > 0 and h["total_trainable"] > h["representation"]


def test_strides_follow_the_frame_size():
    assert auto_strides((128, 256)) == (4, 4, 2)
    assert auto_strides((640, 1280)) == (5, 4, 4, 2)
    assert auto_strides((720, 1280)) == (5, 4, 4)
    m = create_model("nerv-tiny", (128, 256))
    assert m.base_hw == (4, 8)
    with pytest.raises(SonolumeError, match="common factor"):
        auto_strides((31, 67))


def test_box_pooling_is_an_exact_area_average():
    m = box_pool_matrix(torch.tensor([[0, 0, 1, 1], [0, 0, 0.5, 0.5], [0.125, 0, 0.375, 1]]),
                        4, 4)
    assert torch.allclose(m.sum(1), torch.ones(3))
    assert torch.allclose(m[0], torch.full((16,), 1 / 16))
    top_left = torch.zeros(4, 4)
    top_left[:2, :2] = 0.25
    assert torch.allclose(m[1], top_left.flatten())
    # a box covering half of column 0 and half of column 1
    half = torch.zeros(4, 4)
    half[:, :2] = 1 / 8
    assert torch.allclose(m[2], half.flatten())
