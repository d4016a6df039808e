"""App start-up: seconds from a fresh interpreter to the main window shown, with and without
app.preload's libraries (triton, torchvision, open_clip) loaded before the window's threads start.

    .venv/bin/python bench/startup.py [--runs 5]

Why: app.preload moves about a second of imports from the first CLIP load (a worker
thread, while the preview draws) to start-up, on the GUI thread. This prints what that
costs at start, measured in one run: each run starts a new process per variant,
alternating, so a busy or cold disk affects both alike; the median of each is compared.
The first pair warms the disk cache and is not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import os, sys, time
t0 = time.perf_counter()
if sys.argv[1] == "without":
    import app.preload
    app.preload.MODULES = ()
from PySide6.QtWidgets import QApplication
from app.main import MainWindow
qapp = QApplication([])
window = MainWindow()
window.show()
qapp.processEvents()
print(time.perf_counter() - t0, flush=True)
os._exit(0)
"""


def one(variant: str, env: dict) -> float:
    done = subprocess.run([sys.executable, "-c", CHILD, variant], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"the {variant} run failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sonolume-startup-") as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=tmp,
                   XDG_DATA_HOME=tmp, XDG_CACHE_HOME=os.environ.get("XDG_CACHE_HOME", ""),
                   SONOLUME_PREVIEW="torch")
        if not env["XDG_CACHE_HOME"]:
            del env["XDG_CACHE_HOME"]
        one("with", env), one("without", env)  # warm the disk cache
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(args.runs):
            for variant in ("with", "without"):
                times[variant].append(one(variant, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'variant':<34}{'median s':>10}{'min s':>8}{'max s':>8}")
    for k, label in (("without", "window only"), ("with", "window + preload (shipped)")):
        print(f"{label:<34}{med[k]:>10.2f}{min(times[k]):>8.2f}{max(times[k]):>8.2f}")
    print(f"preload costs {med['with'] - med['without']:.2f} s at start "
          f"({med['with'] / med['without']:.2f}x); runs: {args.runs} each")


if __name__ == "__main__":
    main()
