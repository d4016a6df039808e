import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from style_helpers import SMALL, meta, small_cppn

from engine.errors import StyleError
from engine.styles import style as style_mod
from engine.styles.style import SCHEMA_VERSION, read_style, write_style


def test_round_trip_preserves_weights_meta_and_unknown_keys(tmp_path):
    cppn = small_cppn(3)
    st = write_style(tmp_path / "s", cppn, meta(future_key={"a": 1}))
    assert sorted(p.name for p in st.path.iterdir()) == ["style.json", "thumb.png",
                                                         "weights.safetensors"]
    again = read_style(tmp_path / "s")
    assert again.id == "s" and again.name == "Sunset" and again.trained
    assert again.meta["future_key"] == {"a": 1}
    assert again.meta["schema_version"] == SCHEMA_VERSION
    assert again.meta["architecture"] == SMALL.to_json()
    assert again.meta["created"].endswith("Z") and again.meta["favourite"] is False
    loaded = again.load_cppn()
    assert torch.equal(loaded.render(32, 16), cppn.render(32, 16))
    from PIL import Image

    with Image.open(again.thumb_path) as im:
        assert im.size == (256, 256) and im.mode == "RGB"


def test_given_thumbnail_is_used(tmp_path):
    thumb = np.zeros((8, 8, 3), np.uint8)
    thumb[..., 0] = 200
    st = write_style(tmp_path / "s", small_cppn(), meta(), thumb=thumb)
    from PIL import Image

    with Image.open(st.thumb_path) as im:
        assert im.size == (8, 8) and im.getpixel((0, 0)) == (200, 0, 0)


def test_untrained_meta_needs_only_a_name(tmp_path):
    st = write_style(tmp_path / "s", small_cppn(), {"name": "Plain"})
    assert not st.trained and st.meta["clip"] is None and st.meta["prompts"] == []
    assert st.clip_label.startswith("none")


def test_refuses_existing_folder_unless_overwrite(tmp_path):
    write_style(tmp_path / "s", small_cppn(1), meta("A"))
    with pytest.raises(StyleError, match="already exists"):
        write_style(tmp_path / "s", small_cppn(2), meta("B"))
    write_style(tmp_path / "s", small_cppn(2), meta("B"), overwrite=True)
    assert read_style(tmp_path / "s").name == "B"
    assert [p.name for p in tmp_path.iterdir()] == ["s"]


def test_nan_weights_are_not_saved(tmp_path):
    cppn = small_cppn()
    with torch.no_grad():
        cppn.out.bias[0] = float("nan")
    with pytest.raises(StyleError, match="NaN"):
        write_style(tmp_path / "s", cppn, meta())
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("stage", ["_write_file", "encode_png", "rename"])
def test_crash_mid_write_leaves_nothing(tmp_path, monkeypatch, stage):
    calls = {"n": 0}

    def boom(*a, **k):
        calls["n"] += 1
        if stage != "_write_file" or calls["n"] == 2:  # after the weights are on disk
            raise RuntimeError("simulated crash")
        return real(*a, **k)

    real = getattr(os if stage == "rename" else style_mod, stage)
    if stage == "rename":
        monkeypatch.setattr(os, "rename", boom)
    else:
        monkeypatch.setattr(style_mod, stage, boom)
    with pytest.raises(RuntimeError):
        write_style(tmp_path / "s", small_cppn(), meta())
    assert list(tmp_path.iterdir()) == []


def test_crash_during_overwrite_keeps_the_old_style(tmp_path, monkeypatch):
    write_style(tmp_path / "s", small_cppn(1), meta("Old"))
    real = os.rename
    calls = {"n": 0}

    def second_rename_fails(a, b):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(a, b)

    monkeypatch.setattr(os, "rename", second_rename_fails)
    with pytest.raises(StyleError, match="No space left"):
        write_style(tmp_path / "s", small_cppn(2), meta("New"), overwrite=True)
    monkeypatch.undo()
    assert read_style(tmp_path / "s").name == "Old"
    assert [p.name for p in tmp_path.iterdir()] == ["s"]


def _style(tmp_path):
    return write_style(tmp_path / "s", small_cppn(), meta()).path


def _edit_meta(folder, **changes):
    data = json.loads((folder / "style.json").read_text())
    data.update(changes)
    for k, v in list(data.items()):
        if v is KeyError:
            del data[k]
    (folder / "style.json").write_text(json.dumps(data))


@pytest.mark.parametrize("breakage, message", [
    (lambda f: (f / "style.json").unlink(), "missing style.json"),
    (lambda f: (f / "weights.safetensors").unlink(), "missing weights.safetensors"),
    (lambda f: (f / "style.json").write_text("{not json"), "bad JSON"),
    (lambda f: (f / "style.json").write_bytes(b"\xff\xfe\x00"), "not UTF-8"),
    (lambda f: (f / "style.json").write_text("[1, 2]"), "expected a JSON object"),
    (lambda f: _edit_meta(f, schema_version=99), "newer Sonolume"),
    (lambda f: _edit_meta(f, schema_version="1"), "bad schema_version"),
    (lambda f: _edit_meta(f, name=KeyError), "missing key 'name'"),
    (lambda f: _edit_meta(f, architecture=KeyError, trained=KeyError), "missing keys"),
    (lambda f: _edit_meta(f, name=""), "name is empty"),
    (lambda f: _edit_meta(f, prompts=[{"weight": 1}]), "prompts\\[0\\] has no text"),
    (lambda f: _edit_meta(f, score="high"), "'score'"),
    (lambda f: _edit_meta(f, created="yesterday"), "ISO 8601"),
    (lambda f: _edit_meta(f, trained="yes"), "'trained'"),
    (lambda f: _edit_meta(f, clip={"random": True}), "'clip'"),
    (lambda f: _edit_meta(f, architecture={"hidden": 16, "layers": 2, "bogus": 1}),
     "bad architecture"),
    (lambda f: _edit_meta(f, architecture={**SMALL.to_json(), "hidden": 32}),
     "has shape .* needs"),
    (lambda f: _edit_meta(f, architecture={**SMALL.to_json(), "layers": 3}),
     "missing tensors hidden.2"),
    (lambda f: (f / "weights.safetensors").write_bytes(b"garbage"), "not a valid safetensors"),
    (lambda f: save_file({**{k: v for k, v in small_cppn().state_dict().items()},
                          "out.bias": torch.tensor([0.0, float("nan"), 0.0])},
                         f / "weights.safetensors"), "NaN or infinite"),
    (lambda f: save_file({**{k: v for k, v in small_cppn().state_dict().items()},
                          "evil": torch.zeros(1)}, f / "weights.safetensors"),
     "unexpected tensors evil"),
    (lambda f: save_file({k: v.to(torch.int32) for k, v in small_cppn().state_dict().items()},
                         f / "weights.safetensors"), "expected floating point"),
])
def test_read_reports_specific_problems(tmp_path, breakage, message):
    folder = _style(tmp_path)
    breakage(folder)
    with pytest.raises(StyleError, match=message):
        read_style(folder)


def test_load_cppn_checks_weights_again(tmp_path):
    folder = _style(tmp_path)
    st = read_style(folder)
    state = {k: v.clone() for k, v in small_cppn().state_dict().items()}
    state["hidden.0.weight"] = torch.zeros(3, 3)
    save_file(state, folder / "weights.safetensors")
    with pytest.raises(StyleError, match="hidden.0.weight has shape"):
        st.load_cppn()


def test_random_clip_is_never_hidden(tmp_path):
    st = write_style(tmp_path / "s", small_cppn(), meta(
        clip={"model": "tiny", "random": True, "label": "tiny"}))
    assert "random" in st.clip_label.lower() and st.clip_random
    assert "RANDOM" in st.kind
