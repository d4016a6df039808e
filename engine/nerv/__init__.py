"""NeRV-CLIP: implicit video networks (NeRV, HNeRV) that reconstruct a video's frames and
also predict each frame's CLIP embedding, globally and per patch.

    from engine.nerv import NervTrainConfig, NervTrainer, NervRun, evaluate_run, verify_run
"""

from engine.nerv.data import FrameSplit, load_frames, parse_hw, parse_split
from engine.nerv.evaluate import evaluate_run, ms_ssim_window, verify_run
from engine.nerv.models import (
    NervConfig,
    VideoINR,
    add_model_config,
    create_model,
    get_model_config,
    list_models,
)
from engine.nerv.run import NervRun, predict_spatial_map
from engine.nerv.train import NervProgress, NervTrainConfig, NervTrainer, NervTrainResult

__all__ = [
    "FrameSplit",
    "NervConfig",
    "NervProgress",
    "NervRun",
    "NervTrainConfig",
    "NervTrainResult",
    "NervTrainer",
    "VideoINR",
    "add_model_config",
    "create_model",
    "evaluate_run",
    "get_model_config",
    "list_models",
    "load_frames",
    "ms_ssim_window",
    "parse_hw",
    "parse_split",
    "predict_spatial_map",
    "verify_run",
]
