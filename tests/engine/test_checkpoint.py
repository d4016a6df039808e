import json

import pytest
import torch
from safetensors.torch import save_file

from engine import atomic, checkpoint
from engine.errors import SonolumeError


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _steps(model, opt, n, start=0):
    for i in range(start, start + n):
        g = torch.Generator().manual_seed(i)
        x = torch.randn(16, 4, generator=g)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_resume_continues_to_the_same_weights(tmp_path):
    ref = _model()
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    _steps(ref, ref_opt, 10)

    a = _model()
    a_opt = torch.optim.Adam(a.parameters(), lr=1e-2)
    _steps(a, a_opt, 4)
    path = checkpoint.save(tmp_path / "ck.safetensors", {"net": a}, a_opt,
                           {"iteration": 4, "loss": float("nan")},
                           json_path=tmp_path / "ck.json")

    b = _model(seed=99)
    b_opt = torch.optim.Adam(b.parameters(), lr=1e-2)
    info = checkpoint.load(path, {"net": b}, b_opt)
    assert info["iteration"] == 4
    assert info["loss"] != info["loss"]  # NaN survives
    assert json.loads((tmp_path / "ck.json").read_text().replace("NaN", "null"))["iteration"] == 4
    _steps(b, b_opt, 6, start=4)
    for (k, va), vb in zip(ref.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-7), k
    step = b_opt.state[b[0].weight]["step"]
    assert isinstance(step, torch.Tensor) and float(step) == 10
    assert not atomic.stale_temporaries(tmp_path, older_than_s=-1)


def test_notes_and_weights_live_in_one_file(tmp_path):
    """A crash between the two writes must not pair new weights with old notes: the notes
    inside the safetensors file win over the JSON copy."""
    m = _model()
    path = checkpoint.save(tmp_path / "ck.safetensors", {"net": m}, None, {"iteration": 7},
                           json_path=tmp_path / "ck.json")
    (tmp_path / "ck.json").write_text(json.dumps({"iteration": 3}))
    assert checkpoint.read_info(path, tmp_path / "ck.json")["iteration"] == 7


def test_old_format_with_adam_tensors_and_json_steps_loads(tmp_path):
    a = _model()
    opt = torch.optim.Adam(a.parameters(), lr=1e-2)
    _steps(a, opt, 3)
    tensors = {f"cppn.{k}": v.contiguous() for k, v in a.state_dict().items()}
    steps = {}
    for name, p in a.named_parameters():
        st = opt.state[p]
        tensors[f"adam.{name}.exp_avg"] = st["exp_avg"].contiguous()
        tensors[f"adam.{name}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
        steps[name] = float(st["step"])
    save_file(tensors, str(tmp_path / "old.safetensors"))
    (tmp_path / "old.json").write_text(json.dumps({"iteration": 3, "adam_steps": steps}))

    b = _model(seed=5)
    b_opt = torch.optim.Adam(b.parameters(), lr=1e-2)
    info = checkpoint.load(tmp_path / "old.safetensors", {"cppn": b}, b_opt,
                           json_path=tmp_path / "old.json")
    assert info["iteration"] == 3
    for name, p in b.named_parameters():
        ref = opt.state[dict(a.named_parameters())[name]]
        assert torch.equal(b_opt.state[p]["exp_avg_sq"], ref["exp_avg_sq"])
        assert float(b_opt.state[p]["step"]) == 3
        assert torch.equal(p, dict(a.named_parameters())[name])


def test_damaged_or_mismatched_checkpoints_raise_one_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(SonolumeError, match="cannot read checkpoint"):
        checkpoint.load(bad, {"net": _model()})
    with pytest.raises(SonolumeError, match="cannot read checkpoint"):
        checkpoint.read_info(tmp_path / "missing.safetensors")
    path = checkpoint.save(tmp_path / "ck.safetensors", {"net": _model()})
    other = torch.nn.Linear(3, 3)
    with pytest.raises(checkpoint.CheckpointError, match="does not match"):
        checkpoint.load(path, {"net": other})


def test_a_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    m = _model()
    path = checkpoint.save(tmp_path / "ck.safetensors", {"net": m}, None, {"iteration": 1})
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", boom)
    with pytest.raises(OSError):
        checkpoint.save(path, {"net": m}, None, {"iteration": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.safetensors"]
