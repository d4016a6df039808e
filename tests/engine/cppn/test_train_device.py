"""Choosing where training runs: a clear refusal for a device that cannot be used, before
any work starts (the CUDA runs themselves are checked in tests/gpu)."""

from __future__ import annotations

import pytest
import torch

from engine.cppn.train import Prompt, TrainConfig, Trainer, check_device
from engine.errors import SonolumeError

no_gpu = pytest.mark.skipif(torch.cuda.is_available(),
                            reason="this machine has a CUDA GPU: the refusal is for machines "
                                   "without one")


def _config() -> TrainConfig:
    return TrainConfig.from_preset("draft", [Prompt("red fire")], schedule=[(2, 32)],
                                   cutouts=1)


def test_cpu_is_always_there():
    assert check_device("cpu").type == "cpu"


@no_gpu
def test_cuda_without_a_gpu_is_refused_with_the_reason():
    with pytest.raises(SonolumeError, match="no CUDA GPU.*--device cpu"):
        check_device("cuda")


def test_bf16_training_on_the_cpu_is_refused():
    with pytest.raises(SonolumeError, match="bf16 training is for CUDA"):
        check_device("cpu", "bf16")


def test_unknown_devices_and_precisions_are_refused():
    with pytest.raises(SonolumeError, match="unknown device 'gpu0'"):
        check_device("gpu0")
    with pytest.raises(SonolumeError, match="cpu or cuda, not 'meta'"):
        check_device("meta")
    with pytest.raises(SonolumeError, match="fp16 would need loss scaling"):
        check_device("cpu", "fp16")


def test_the_trainer_follows_clip_and_keeps_the_result_on_the_host(tiny_clip):
    trainer = Trainer(_config(), tiny_clip)
    assert trainer.device.type == "cpu"
    result = trainer.run()
    assert next(result.cppn.parameters()).device.type == "cpu"


@no_gpu
def test_the_trainer_refuses_cuda_here(tiny_clip):
    with pytest.raises(SonolumeError, match="no CUDA GPU"):
        Trainer(_config(), tiny_clip, device="cuda")
