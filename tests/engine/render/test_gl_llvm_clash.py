"""Mesa's llvmpipe and triton each carry an LLVM: importing triton after a Mesa GL context
exists used to kill the process (the CLI test run died with a segfault). Each case runs in
a subprocess, since the failure is a crash."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                reason="triton is not installed: nothing can clash")

SCRIPT = """
from engine.render.gl_renderer import GLUnavailable, create_headless_context
try:
    ctx = create_headless_context()
except GLUnavailable as exc:
    print("NO-GL", exc)
    raise SystemExit(0)
print(ctx.info["GL_RENDERER"])
import torch._dynamo  # pulls triton in, as torch.compile and open_clip do
import triton
print("TRITON-OK")
"""


def test_gl_context_then_triton_import_survives():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=180)
    if "NO-GL" in proc.stdout:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "TRITON-OK" in proc.stdout
