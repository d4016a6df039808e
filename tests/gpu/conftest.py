"""What every CUDA test needs: a GPU, or a skip that says there is none.

These tests check the paths bench/gpu.py measures (training, the torch renderer, fp16
inference, the GL renderer on a real GPU, the export, NeRV) for correctness, so a GPU day
starts from known-good code: ``.venv/bin/pytest tests/gpu`` first, then bench/gpu.py."""

from __future__ import annotations

import pytest
import torch

NO_CUDA = (f"no CUDA GPU: torch {torch.__version__} (built for CUDA "
           f"{torch.version.cuda or 'none'}) sees none on this machine; these tests check "
           "the GPU paths and run where a GPU is present")


@pytest.fixture(scope="session")
def cuda() -> torch.device:
    if not torch.cuda.is_available():
        pytest.skip(NO_CUDA)
    return torch.device("cuda")
