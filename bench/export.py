"""Export throughput as a multiple of real time, split into render / encode / mux, and the
PSNR that the ``fast`` quality (CPPN drawn at 1/4 size, upscaled by ffmpeg) costs.

Cases (short segments of the bundled demo track, 30 fps):
* fast 1280x720: 4 s; standard 640x360: 2 s (standard 720p renders ~0.3-1 fps on 2 CPU
  cores, too slow for a bench run; its cost per pixel is the same as 360p's)

For each: the real ``export_video`` end to end (wall time, x realtime), then the same work
in three separate passes to attribute it: render all frames to memory, encode them (video
only, same settings), mux the audio (copy video + AAC).

PSNR: full-size renders against 1/2, 1/3 and 1/4-size renders upscaled by ffmpeg's bicubic
scaler (exactly the export's path), at 720p, for a bundled seeded style (smooth), a CPPN
with fine texture (a stand-in for a trained style's detail) and a near-noise worst case.

    .venv/bin/python bench/export.py [--no-readme]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.audio.analyze import analyze  # noqa: E402
from engine.cppn.model import CPPN, CPPNConfig  # noqa: E402
from engine.export import QUALITIES, export_video, ffmpeg_exe, render_size_for  # noqa: E402
from engine.export.ffmpeg import encode_command  # noqa: E402
from engine.export.video import _FrameStream  # noqa: E402
from engine.reactive import compute_params  # noqa: E402
from engine.render import TorchRenderer, make_renderer  # noqa: E402
from engine.runtime import tune_allocator  # noqa: E402
from engine.styles.library import BUNDLED_DIR, Library  # noqa: E402

TRACK = ROOT / "resources" / "audio" / "demo.ogg"
STYLE = "seeded-pattern-01-ember-rings"
START = 20.0
CASES = [("fast", (1280, 720), 4.0), ("standard", (640, 360), 2.0)]


def split_passes(cppn, quality, size, seconds, tmp: Path) -> dict:
    fps = 30.0
    q = QUALITIES[quality]
    rsize = render_size_for(size, q.render_scale)
    n = round(seconds * fps)
    feats = analyze(TRACK, fps=fps)
    params = compute_params(feats, "punchy", extra_inputs=cppn.config.extra_inputs)
    rend = make_renderer(cppn, "auto")
    t = time.perf_counter()
    frames = [f.tobytes() for f in _FrameStream(rend, cppn, params, START, fps, n, rsize,
                                                None)]
    t_render = time.perf_counter() - t
    video = tmp / "video.mp4"
    cmd = encode_command(ffmpeg_exe(), str(video), frame_size=rsize, out_size=size, fps=fps,
                         audio=None, start=0, duration=n / fps, encoding=q.encoding)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for f in frames:
        proc.stdin.write(f)
    proc.stdin.close()
    proc.wait()
    t_encode = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
                    "-ss", str(START), "-t", str(n / fps), "-i", str(TRACK), "-map", "0:v",
                    "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
                    "-movflags", "+faststart", str(tmp / "muxed.mp4")], check=True)
    t_mux = time.perf_counter() - t
    rend.release()
    return {"render": t_render, "encode": t_encode, "mux": t_mux, "frames": n,
            "renderer": getattr(rend, "description", rend.name)}


def upscaled(frame: np.ndarray, size) -> np.ndarray:
    """ffmpeg's bicubic upscale of one RGB frame, as the export's filter does it."""
    h, w, _ = frame.shape
    W, H = size
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt",
         "rgb24", "-s", f"{w}x{h}", "-i", "pipe:0", "-vf", f"scale={W}:{H}:flags=bicubic",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        input=frame.tobytes(), capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(H, W, 3)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def fast_psnr(cppn, size=(1280, 720), frames=3) -> dict:
    feats = analyze(TRACK, fps=30.0)
    params = compute_params(feats, "punchy", extra_inputs=cppn.config.extra_inputs)
    r = TorchRenderer(cppn)
    out = {}
    times = [START + k * 1.7 for k in range(frames)]
    full = [r.render(params.at(t), *size) for t in times]
    for scale in (1 / 2, 1 / 3, 1 / 4):
        rs = render_size_for(size, scale)
        vals = [psnr(f, upscaled(r.render(params.at(t), *rs), size))
                for f, t in zip(full, times)]
        out[scale] = float(np.mean(vals))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()
    tune_allocator()
    style = Library(Path(tempfile.gettempdir()) / ".sonolume-bench-nolib",
                    bundled_dir=BUNDLED_DIR).get(STYLE)
    cppn = style.load_cppn()
    analyze(TRACK, fps=30.0)  # cache the features: analysis is bench/audio.py's subject
    lines = [f"\n## Export (bench/export.py, {date.today().isoformat()})\n",
             f"Machine: {os.cpu_count()} cores ({platform.machine()}); style '{style.name}' "
             f"(4x128), reactivity punchy, demo.ogg from {START:g} s, 30 fps, features "
             "cached. 'x realtime' = video seconds made per wall-clock second.\n",
             "| quality | size (drawn at) | frames | end to end | x realtime | render | "
             "encode | mux | renderer |",
             "|---|---|---|---|---|---|---|---|---|"]
    for quality, size, seconds in CASES:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            res = export_video(style, TRACK, tmp / "out.mp4", size=size, quality=quality,
                               start=START, duration=seconds)
            sp = split_passes(cppn, quality, size, seconds, tmp)
        total = sp["render"] + sp["encode"] + sp["mux"]
        share = {k: sp[k] / total for k in ("render", "encode", "mux")}
        w, h = size
        rw, rh = res.render_size
        lines.append(
            f"| {quality} | {w}x{h} ({rw}x{rh}) | {res.frames} | {res.seconds:.1f} s | "
            f"{res.realtime:.3f} | {sp['render']:.1f} s ({share['render']:.0%}) | "
            f"{sp['encode']:.2f} s ({share['encode']:.0%}) | {sp['mux']:.2f} s "
            f"({share['mux']:.0%}) | {sp['renderer']} |")
        print(lines[-1], flush=True)
        if quality == "fast":
            fast_rt = res.realtime
    minutes = 180 / fast_rt / 60
    lines.append(f"\nA 3-minute track at 720p30, `fast`: about {minutes:.0f} min on this machine "
                 f"({fast_rt:.3f}x realtime, from the row above).\n")
    lines.append("PSNR of frames drawn smaller and upscaled by ffmpeg (bicubic) against "
                 "full-size frames, 1280x720, mean of 3 frames of the punchy track:\n")
    lines.append("| CPPN | 1/2 size (1/4 of the work) | 1/3 (1/9) | 1/4 (1/16, `fast`) |")
    lines.append("|---|---|---|---|")
    for name, net in [(f"bundled '{style.name}' (smooth)", cppn),
                      ("fine texture (first_gain 3, hidden_gain 2)",
                       CPPN(CPPNConfig(first_gain=3.0, hidden_gain=2.0), seed=3)),
                      ("near-noise, worst case (first_gain 10, hidden_gain 2)",
                       CPPN(CPPNConfig(first_gain=10.0, hidden_gain=2.0), seed=3))]:
        p = fast_psnr(net)
        lines.append(f"| {name} | {p[1 / 2]:.1f} dB | {p[1 / 3]:.1f} dB | {p[1 / 4]:.1f} dB |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_readme:
        with open(ROOT / "bench" / "README.md", "a", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
