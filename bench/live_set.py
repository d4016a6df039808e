"""What a live set costs: per features step live (beside the analysis of that step, the
reference in the same run), the replay a render of a recorded set does before its first
frame, and the size of the steps file.

    .venv/bin/python bench/live_set.py [--minutes 10]

Feeds the bundled demo track (44.1 kHz stereo, 1024-sample blocks) through the streaming
analyzer and a LiveSet playing two bundled styles, records it, then replays the steps as
``sonolume render`` does (extended to ``--minutes`` by repeating the recorded steps).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    import soundfile as sf

    from engine.audio.live import LiveAnalyzer
    from engine.control.live_set import LiveSet
    from engine.scene import Scene
    from engine.scene.live_steps import LiveSteps
    from engine.styles.library import Library

    print("load before:", open("/proc/loadavg").read().split()[:3])
    lib = Library(None)
    styles = [lib.get("seeded-pattern-01-ember-rings"), lib.get("seeded-pattern-04-pastel-mosaic")]
    y, sr = sf.read(str(ROOT / "resources" / "audio" / "demo.ogg"), dtype="float32",
                    always_2d=True)
    scene = Scene({s.id: s for s in styles}, preset="punchy")
    analyzer = LiveAnalyzer(sr, 2)
    live = LiveSet(scene, analyzer, fps=30)
    with tempfile.TemporaryDirectory() as d:
        live.start_recording(Path(d) / "bench.json")
        t_an = t_set = 0.0
        n = 0
        for i in range(0, len(y), 1024):
            t0 = time.perf_counter()
            steps = analyzer.push(y[i:i + 1024])
            t1 = time.perf_counter()
            live.take(y[i:i + 1024], steps)
            t2 = time.perf_counter()
            t_an += t1 - t0
            t_set += t2 - t1
            n += len(steps)
            if i == 20 * 1024 * 43:
                live.perform("style.next")
        path = live.stop_recording()
        steps_file = path.with_name(path.stem + ".steps.safetensors")
        size = steps_file.stat().st_size
        rec = LiveSteps.load(steps_file)
    print(f"{n} steps over {len(y) / sr:.1f} s ({n / (len(y) / sr):.1f} a second)")
    print(f"live, per step: analysis {1e3 * t_an / n:.3f} ms (reference), live set "
          f"(reactivity step, params for one shape, recording the block) "
          f"{1e3 * t_set / n:.3f} ms = {t_set / t_an:.2f}x the analysis")
    per_hour = size / (len(y) / sr) * 3600 / 2**20
    print(f"steps file: {size / n:.0f} bytes a step, {per_hour:.1f} MiB an hour")

    # a long set: the recorded steps repeated to --minutes, replayed as a render does
    times, dts, cols, chroma = rec.arrays()
    reps = max(1, int(round(args.minutes * 60 / times[-1])))
    long = LiveSteps(rec.fps, rec.state, rec.state_time)
    span = times[-1] + dts[-1]
    long._arrays = (np.concatenate([times + k * span for k in range(reps)]),
                    np.tile(dts, reps), {k: np.tile(v, reps) for k, v in cols.items()},
                    np.tile(chroma, (reps, 1)))
    t0 = time.perf_counter()
    long.replay(scene.effective_preset(), 0, scene.automation, 9)
    t_replay = time.perf_counter() - t0
    m = len(long)
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    t0 = time.perf_counter()
    for _ in range(10):
        a @ a
    gflops = 10 * 2 * 1024 ** 3 / (time.perf_counter() - t0) / 1e9
    print(f"replay of {m} steps ({m / 43.07 / 60:.1f} min): {t_replay:.2f} s, "
          f"{m / t_replay:.0f} steps/s = {m / 43.07 / t_replay:.0f} s of set a second; "
          f"fp32 matmul roof now {gflops:.0f} GFLOP/s; cpus {os.cpu_count()}")
    print("load after:", open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()
