"""``--device`` on train and render: a machine without CUDA refuses ``cuda`` at once with
the reason and the alternative, instead of failing deep inside torch."""

from __future__ import annotations

import pytest
import torch

from engine.cli.main import main

pytestmark = pytest.mark.skipif(torch.cuda.is_available(),
                                reason="this machine has a CUDA GPU: the refusal is for "
                                       "machines without one")


def test_train_on_cuda_without_a_gpu(tiny_clip_config, library_dir, tmp_path, monkeypatch,
                                     capsys):
    monkeypatch.setenv("SONOLUME_RUNS", str(tmp_path / "runs"))
    code = main(["train", "red fire", "--device", "cuda", "--clip-config",
                 str(tiny_clip_config), "--steps", "2", "--quiet"])
    err = capsys.readouterr().err
    assert code != 0 and "no CUDA GPU" in err and "--device cpu" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_render_on_cuda_without_a_gpu(library_dir, tmp_path, capsys):
    code = main(["render", "seeded-pattern-01-ember-rings", "resources/audio/demo.ogg",
                 "-o", str(tmp_path / "x.mp4"), "--device", "cuda", "--duration", "0.5"])
    err = capsys.readouterr().err
    assert code != 0 and "--device cuda" in err and "no CUDA GPU" in err
    assert not (tmp_path / "x.mp4").exists()


def test_auto_trains_on_the_cpu_here(tiny_clip_config, library_dir, tmp_path, monkeypatch,
                                     capsys):
    monkeypatch.setenv("SONOLUME_RUNS", str(tmp_path / "runs"))
    assert main(["train", "red fire", "--device", "auto", "--clip-config",
                 str(tiny_clip_config), "--steps", "2", "--quiet"]) == 0
    assert "saved style 'red fire'" in capsys.readouterr().out
