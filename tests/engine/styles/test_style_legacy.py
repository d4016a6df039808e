import collections
import os
import pickle

import pytest
import torch
from torch import nn

from engine.cppn.model import CPPN, CPPNConfig
from engine.errors import StyleError


class Siren(nn.Module):  # SIREN-style naming: net.N.linear
    class Layer(nn.Module):
        def __init__(self, a, b):
            super().__init__()
            self.linear = nn.Linear(a, b)

    def __init__(self, inputs=3, hidden=24, layers=3):
        super().__init__()
        dims = [inputs] + [hidden] * layers
        self.net = nn.Sequential(*[self.Layer(a, b) for a, b in zip(dims, dims[1:])],
                                 self.Layer(hidden, 3))


def _reference(state, inputs, layers):
    """What the legacy network computes: sin layers, sigmoid RGB out."""
    ws = [v for k, v in state.items() if k.endswith("weight")]
    bs = [v for k, v in state.items() if k.endswith("bias")]

    def f(x):
        for w, b in zip(ws[:-1], bs[:-1]):
            x = torch.sin(x @ w.t() + b)
        return torch.sigmoid(x @ ws[-1].t() + bs[-1])
    return f


@pytest.mark.parametrize("layout", ["ours", "sequential", "siren", "fc-names", "wrapped",
                                    "dataparallel", "compiled"])
def test_common_layouts_import_and_render_the_same(lib, tmp_path, layout):
    torch.manual_seed(0)
    if layout == "ours":
        state = CPPN(CPPNConfig(hidden=24, layers=3, extra_inputs=2), seed=1).state_dict()
        inputs = 5
    elif layout == "sequential":
        seq = nn.Sequential(nn.Linear(4, 24), nn.Identity(), nn.Linear(24, 24), nn.Identity(),
                            nn.Linear(24, 3))
        state, inputs = seq.state_dict(), 4
    elif layout == "siren":
        state, inputs = Siren().state_dict(), 3
    else:
        state = collections.OrderedDict()
        for i, (a, b) in enumerate([(3, 24), (24, 24), (24, 24), (24, 3)], start=1):
            state[f"fc{i}.weight"] = torch.randn(b, a)
            state[f"fc{i}.bias"] = torch.randn(b)
        inputs = 3
    if layout == "wrapped":
        payload = {"epoch": 3, "model_state_dict": state, "prompt": "a cat"}
    elif layout == "dataparallel":
        payload = collections.OrderedDict((f"module.{k}", v) for k, v in state.items())
    elif layout == "compiled":
        payload = collections.OrderedDict((f"_orig_mod.{k}", v) for k, v in state.items())
    else:
        payload = state
    path = tmp_path / f"{layout}.pth"
    torch.save(payload, path)
    st = lib.import_legacy_pth(path, None)
    assert st.name == layout and st.trained and st.meta["clip"] is None
    assert st.meta["extra"]["imported"] is True and st.meta["extra"]["imported_from"] == path.name
    assert st.meta["prompts"] == [] and "prompts and CLIP model unknown" in \
        st.meta["extra"]["import_note"]
    cppn = st.load_cppn()
    assert cppn.config.in_features == inputs and cppn.config.hidden == 24
    x = torch.rand(50, inputs) * 6 - 3
    assert torch.allclose(cppn(x), _reference(state, inputs, 3)(x), atol=1e-5)
    assert st.thumb_path is not None


def test_legacy_pickle_format_and_name(lib, tmp_path):
    path = tmp_path / "old.pt"
    torch.save(CPPN(CPPNConfig(hidden=8, layers=1, extra_inputs=0)).state_dict(), path,
               _use_new_zipfile_serialization=False)
    st = lib.import_file(path, "Old one")
    assert st.name == "Old one" and st.load_cppn().config.layers == 1


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/sonolume-pwned",))


@pytest.mark.parametrize("new_format", [True, False])
def test_malicious_pickle_is_rejected_without_running(lib, tmp_path, new_format):
    marker = "/tmp/sonolume-pwned"
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / "evil.pth"
    torch.save({"hidden.0.weight": torch.zeros(4, 3), "x": Evil()}, path,
               _use_new_zipfile_serialization=new_format)
    with pytest.raises(StyleError, match="refused: the file holds Python objects or code"):
        lib.import_legacy_pth(path, "evil")
    assert not os.path.exists(marker)
    assert not lib.user_dir.exists() or list(lib.user_dir.iterdir()) == []


def test_raw_pickle_with_code_is_rejected(lib, tmp_path):
    path = tmp_path / "raw.pth"
    path.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(StyleError, match="refused|not a readable"):
        lib.import_file(path)


@pytest.mark.parametrize("state, message", [
    ({"w": torch.zeros(3, 3)}, "found 0 linear layer"),
    ({"a.weight": torch.zeros(8, 3), "b.weight": torch.zeros(1, 8)}, "3 outputs"),
    ({"a.weight": torch.zeros(8, 3), "b.weight": torch.zeros(3, 5)}, "do not form a chain"),
    ({"a.weight": torch.zeros(8, 3), "b.weight": torch.zeros(6, 8),
      "c.weight": torch.zeros(3, 6)}, "different widths"),
    ({"a.weight": torch.zeros(8, 2), "b.weight": torch.zeros(3, 8)}, "at least 3"),
    ({"a.weight": torch.zeros(8, 3), "a.bias": torch.zeros(7), "b.weight": torch.zeros(3, 8)},
     "bias a.bias has shape"),
    ({"a.weight": torch.full((8, 3), float("nan")), "b.weight": torch.zeros(3, 8)}, "NaN"),
    ([1, 2, 3], "expected a state_dict"),
    ({"epoch": 4}, "no tensors"),
    ({"a.weight": torch.zeros(2000, 3), "b.weight": torch.zeros(3, 2000)}, "out of range"),
])
def test_unusable_state_dicts_are_explained(lib, tmp_path, state, message):
    path = tmp_path / "x.pth"
    torch.save(state, path)
    with pytest.raises(StyleError, match=message):
        lib.import_legacy_pth(path, "x")


def test_not_a_torch_file(lib, tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(b"\x80\x02 not really")
    with pytest.raises(StyleError, match="x.pth: not a readable PyTorch weights file"):
        lib.import_legacy_pth(path, "x")
    with pytest.raises(StyleError, match="not found"):
        lib.import_legacy_pth(tmp_path / "none.pth", "x")
