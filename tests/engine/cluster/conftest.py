"""One local Ray instance for the cluster tests: 2 CPUs, no dashboard, its files in a
temporary folder, a random token instead of one written into the home folder."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile

import pytest


@pytest.fixture(scope="session")
def ray_local():
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    # before Ray's first import: it reads the mode once, then workers inherit it
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    ray = pytest.importorskip("ray")
    folder = tempfile.mkdtemp(prefix="sonolume-ray-")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=folder)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(folder, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
