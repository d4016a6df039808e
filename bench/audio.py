"""Audio analysis: seconds per minute of audio (cold and cached), and peak memory against
track length up to 3 hours.

Every measurement runs in a fresh Python process, as a user's `sonolume analyze` would:

* cold, first process: a new file, the process's first analysis (numba's on-disk cache
  already warm: the very first run on a machine adds ~10 s of compilation once)
* cold, warm process: a new file analysed after another one in the same process
* cached: the same file again in a new process (import + cache read + resample to fps)
* long tracks: synthetic 44.1 kHz mono FLAC of 10 minutes and 3 hours (1 hour with
  --quick), analysis time and peak RSS of the process.

    .venv/bin/python bench/audio.py [--quick] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from engine.audio.analyze import analyze
t_import = time.perf_counter() - t0
paths, cache = sys.argv[1:-1], sys.argv[-1]
times = []
for p in paths:
    t = time.perf_counter()
    f = analyze(p, fps=30.0, cache_dir=cache)
    times.append(time.perf_counter() - t)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"import": t_import, "times": times, "duration": f.duration,
                  "tempo": f.tempo, "maxrss_kib": rss}))
"""


def child(paths: list[Path], cache: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, *map(str, paths), str(cache)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_track(path: Path, minutes: float, sr: int = 44100, channels: int = 1) -> Path:
    """A 124 BPM drum-and-bass-line loop, streamed to disk a block at a time."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    bar = int(round(4 * 60 / 124 * sr))
    t = np.arange(bar) / sr
    loop = 0.08 * np.sin(2 * np.pi * 55 * t)
    kt = np.arange(int(0.2 * sr)) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-kt * 30)) / sr) * np.exp(-kt * 15)
    for b in range(4):
        i = b * bar // 4
        loop[i:i + kick.size] += 0.6 * kick[: bar - i]
    total = int(minutes * 60 * sr)
    with sf.SoundFile(str(path), "w", sr, channels, format="FLAC", subtype="PCM_16") as f:
        done = 0
        while done < total:
            n = min(bar, total - done)
            block = loop[:n] + 0.01 * rng.standard_normal(n)
            f.write(np.repeat(block[:, None], channels, axis=1).astype(np.float32))
            done += n
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 hour instead of 3 for the long track")
    ap.add_argument("--no-readme", action="store_true", help="do not append to bench/README.md")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sonolume-bench-audio-") as tmp:
        tmp = Path(tmp)
        demo = ROOT / "resources" / "audio" / "demo.ogg"
        five = write_track(tmp / "five.flac", 5.0, channels=2)
        five_b = write_track(tmp / "five-b.flac", 5.0, sr=48000, channels=2)
        # Warm numba's on-disk cache once (not timed).
        child([demo], tmp / "warmup-cache")

        cold_first = child([five], tmp / "c1")
        cold_warm = child([five_b, five], tmp / "c2")  # second file: a warm process
        cached = child([five], tmp / "c1")
        demo_cold = child([demo], tmp / "c3")
        demo_cached = child([demo], tmp / "c3")
        per_min = 60.0 / cold_first["duration"]
        rows += [
            ("5 min 44.1 kHz stereo FLAC, new file, first in process",
             f"{cold_first['times'][0]:.2f} s", f"{cold_first['times'][0] * per_min:.2f} s/min"),
            ("same length, new file, warm process",
             f"{cold_warm['times'][1]:.2f} s", f"{cold_warm['times'][1] * per_min:.2f} s/min"),
            ("5 min, cached (new process; + import "
             f"{cached['import']:.2f} s)", f"{cached['times'][0]:.3f} s",
             f"{cached['times'][0] * per_min:.4f} s/min"),
            ("demo.ogg (36 s Vorbis), new file", f"{demo_cold['times'][0]:.2f} s", ""),
            ("demo.ogg, cached", f"{demo_cached['times'][0]:.3f} s", ""),
        ]
        long_rows = []
        hours = 1.0 if args.quick else 3.0
        for minutes in (10.0, hours * 60):
            path = write_track(tmp / f"long-{minutes:g}.flac", minutes)
            size = path.stat().st_size
            r = child([path], tmp / f"l{minutes:g}")
            long_rows.append((minutes, size, r))
            path.unlink()
    lines = []
    for minutes, size, r in long_rows:
        lines.append((f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min",
                      f"{size / 2**20:.0f} MiB", f"{r['times'][0]:.1f} s",
                      f"{r['times'][0] / minutes:.2f} s/min", f"{r['maxrss_kib'] / 1024:.0f} MiB"))
    cpu = platform.processor() or platform.machine()
    report = [
        f"## Audio analysis (bench/audio.py{' --quick' if args.quick else ''}, "
        f"{time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}. "
        "Each figure from a fresh process; numba's on-disk cache warm.",
        "",
        "| case | time | per minute of audio |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "Long tracks (44.1 kHz mono FLAC, streamed: memory must not grow with length):",
        "",
        "| length | file | analysis | per minute | peak RSS of the process |",
        "|---|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in lines],
        "",
    ]
    text = "\n".join(report)
    print(text)
    if not args.no_readme:
        readme = ROOT / "bench" / "README.md"
        prev = readme.read_text() if readme.exists() else "# Benchmarks\n\n"
        readme.write_text(prev.rstrip("\n") + "\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
