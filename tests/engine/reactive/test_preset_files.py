"""Where user reactivity presets live and how they are written (issue 10)."""

import subprocess
import sys

import pytest

from engine import atomic
from engine.reactive import load_preset, preset_from_json, save_preset
from engine.reactive.preset import PresetError


def test_the_preset_module_finds_its_folder_without_the_style_library(library_dir):
    code = ("import sys, engine.reactive.preset as p; "
            "print(p.user_preset_dir()); "
            "print([m for m in sys.modules if m.startswith('engine.styles')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == [str(library_dir / "reactivity"), "[]"]


def test_a_failed_save_keeps_the_old_preset_and_leaves_no_temporary(library_dir, monkeypatch):
    first = preset_from_json({"name": "mine", "targets": {"zoom": {"source": "rms"}}})
    path = save_preset(first)
    before = path.read_bytes()

    second = preset_from_json({"name": "mine", "targets": {"pulse": {"source": "rms"}}})
    import builtins

    real_open = builtins.open

    def failing_open(file, mode="r", *args, **kwargs):
        if "w" in mode and atomic.is_temporary(file):
            fh = real_open(file, mode, *args, **kwargs)
            fh.close()
            raise OSError(28, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(builtins, "open", failing_open)
        with pytest.raises(PresetError, match="No space left"):
            save_preset(second)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["mine.json"]
    assert list(load_preset("mine").targets) == ["zoom"]
