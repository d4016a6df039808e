import numpy as np
import pytest
import torch

from engine.cppn.model import CPPN, CPPNConfig, coordinate_grid, to_uint8


def test_default_size_matches_seed():
    assert CPPN().parameter_count() == 51_587  # 4 x 128, 12 inputs: the seed's ~51.6K


def test_render_matches_forward_and_shapes():
    m = CPPN(seed=3)
    img = m.render(17, 9)
    assert img.shape == (3, 9, 17)
    ref = m(coordinate_grid(17, 9, None, 9)).t().reshape(3, 9, 17)
    assert torch.allclose(img, ref, atol=1e-5)


def test_init_is_seeded_and_not_flat():
    a, b = CPPN(seed=1).render(64, 64), CPPN(seed=1).render(64, 64)
    assert torch.equal(a, b)
    assert not torch.equal(a, CPPN(seed=2).render(64, 64))
    # a pattern: varied colours, neither saturated nor flat
    assert 0.05 < a.std().item() < 0.45
    assert 0.2 < a.mean().item() < 0.8


def test_coordinates_cover_longer_side_and_extras():
    g = coordinate_grid(40, 20, torch.arange(2.0), 2)
    assert g.shape == (800, 5)
    assert g[:, 0].min() > -np.pi and g[:, 0].max() < np.pi
    assert g[:, 1].abs().max() < np.pi / 2
    assert torch.all(g[:, 3] == 0) and torch.all(g[:, 4] == 1)
    with pytest.raises(ValueError):
        coordinate_grid(0, 5)
    with pytest.raises(ValueError):
        coordinate_grid(4, 4, torch.zeros(3), 2)


def test_config_round_trip_rejects_unknown():
    cfg = CPPNConfig(hidden=32, layers=3)
    assert CPPNConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError):
        CPPNConfig.from_json({"hidden": 32, "evil": 1})


def test_to_uint8():
    img = torch.tensor([[[0.0, 1.0]], [[0.5, 2.0]], [[-1.0, 0.25]]])
    out = to_uint8(img)
    assert out.dtype == np.uint8 and out.shape == (1, 2, 3)
    assert out[0, 0].tolist() == [0, 128, 0] and out[0, 1].tolist() == [255, 255, 64]
