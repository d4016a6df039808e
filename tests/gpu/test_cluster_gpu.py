"""Cluster training on a node with a GPU: the task asks Ray for it and trains there."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile

import pytest


def test_cluster_training_takes_the_gpu(cuda, tmp_path, tiny_clip_config):
    ray = pytest.importorskip("ray")
    from engine.clip import ClipSpec
    from engine.cluster.train import TrainJob, train_on_cluster, training_resources
    from engine.cppn.train import Prompt, TrainConfig
    from engine.styles.library import Library

    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    folder = tempfile.mkdtemp(prefix="sonolume-ray-gpu-")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             _temp_dir=folder)
    try:
        assert training_resources(ray, 1) == {"num_cpus": 1, "num_gpus": 1}
        config = TrainConfig.from_preset("draft", [Prompt("red fire")], schedule=[(2, 40)],
                                        cutouts=1)
        landed = train_on_cluster([TrainJob("red fire", config)],
                                  ClipSpec(config=str(tiny_clip_config)),
                                  Library(tmp_path / "lib"), cluster="")
        assert landed[0].error is None and landed[0].style is not None
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
