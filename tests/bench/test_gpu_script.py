"""bench/gpu.py runs end to end: every section at toy sizes on the CPU (``--cpu-dry-run``),
so the script a GPU day depends on cannot rot between GPU days; and without a GPU and
without the flag it stops at once, saying so."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu.py"
SECTION_TITLES = ("Preview:", "Seed recipe", "Half precision:", "Export:", "NeRV / HNeRV")


@pytest.mark.timeout(120)
def test_dry_run_measures_every_section(tmp_path):
    md, js = tmp_path / "gpu.md", tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-dry-run", "--markdown",
                           str(md), "--json", str(js)], cwd=ROOT, capture_output=True,
                          text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-4000:]
    text = proc.stdout
    assert text == md.read_text()
    assert "| figure | goal | measured | met | how |" in text and "DRY RUN" in text
    for title in SECTION_TITLES:
        assert title in text, title
    data = json.loads(js.read_text())
    assert data["dry_run"] is True and data["failed"] == [] and data["device"] == "cpu"
    # figures came from real runs, not placeholders
    eager = data["seed"]["eager, fp32"]
    assert eager["seconds"] > 0 and 0 < eager["first_step"] <= eager["seconds"]
    assert data["preview"]["torch_fps"] > 0
    assert {e["quality"] for e in data["export"]} == {"standard", "fast"}
    assert all(e["x_realtime"] > 0 for e in data["export"])
    assert data["roofs"]["fp32"] > 0
    goals = {g[0] for g in data["goals"]}
    assert any(g.startswith("seed recipe") for g in goals)
    assert any(g.startswith("NERV s/epoch") for g in goals)
    assert any(g.startswith("HNERV s/epoch") for g in goals)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.timeout(60)
def test_without_a_gpu_it_says_so_and_stops():
    t = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT)], cwd=ROOT, capture_output=True,
                          text=True, timeout=50)
    assert proc.returncode == 2
    assert "NO GPU" in proc.stderr and "--cpu-dry-run" in proc.stderr
    assert proc.stdout == ""
    assert time.monotonic() - t < 30


def test_sections_are_checked():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--only", "seed,warp"], cwd=ROOT,
                          capture_output=True, text=True, timeout=50)
    assert proc.returncode == 2 and "unknown section(s) warp" in proc.stderr
