"""Chunked rendering on Ray: the same render with 1 and 2 local workers, the serial part
(split, join, mux) as a share of the total, and a scale model built from those figures.

Goals (issue 13): 2 workers >= 1.8x one; the serial part under 5% of a 1080p render.

What runs: a bundled style on the demo track, 1080p at ``fast`` quality (the CPU user's
1080p: drawn at 480x270, upscaled by ffmpeg, x264 superfast), ``--seconds`` of video in
2 s chunks, through :func:`engine.cluster.render.export_chunked` on a local Ray instance
started with 1, then 2 CPUs (workers warmed first, so Python start-up is not counted; the
track is analysed once beforehand and that time reported on its own). The 1-worker run's
frames decoded must equal the 2-worker run's (checked).

The scale model predicts a 5-minute 4K show at ``standard`` (every pixel drawn, x264
medium) on N workers: T(N) = serial + ceil(chunks / N) x chunk time, where the chunk time
comes from a measured single-threaded 960x540 draw scaled by pixel count to 4K plus a
measured 4K x264 medium encode per frame, and the serial part from the measured split and
join scaled to the 4K file (stream copy: bytes) and 5 minutes of AAC. Amdahl's limit is
T(1) / serial. The machine is shared, so the load average is printed beside the figures.

    .venv/bin/python bench/cluster.py [--seconds 8] [--fps 30] [--out table.md]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Ray reads its authentication mode once, at import: a random token for this run, so
# nothing is written into the home folder and nothing else can join.
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))


from engine.audio.analyze import analyze  # noqa: E402
from engine.cluster import require_ray  # noqa: E402
from engine.cluster.chunks import (  # noqa: E402
    ChunkJob,
    chunk_command,
    gop_frames,
)
from engine.cluster.render import export_chunked  # noqa: E402
from engine.export import QUALITIES, ExportRequest, ffmpeg_exe  # noqa: E402
from engine.scene import Scene  # noqa: E402
from engine.styles.library import Library  # noqa: E402

STYLE = "seeded-pattern-01-ember-rings"
TRACK = ROOT / "resources" / "audio" / "demo.ogg"
SHOW_SECONDS = 300.0
SHOW_SIZE = (3840, 2160)
CHUNK_SECONDS = 2.0


def _warm() -> int:
    """Import what a chunk task imports, so worker start-up is not timed."""
    import engine.render  # noqa: F401
    import engine.scene.draw  # noqa: F401

    time.sleep(1.0)  # long enough that every worker gets one
    return os.getpid()


def run_with(workers: int, scene, seconds: float, fps: float, out: Path, tmp: Path):
    ray = require_ray()
    tmp.mkdir(exist_ok=True)
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(tmp / f"ray{workers}"))
    try:
        warm = ray.remote(num_cpus=1)(_warm)
        pids = set(ray.get([warm.remote() for _ in range(workers)]))
        load = os.getloadavg()[0]
        result = export_chunked(
            ExportRequest(scene, out, size=(1920, 1080), fps=fps, quality="fast",
                          duration=seconds),
            cluster="", chunk_seconds=CHUNK_SECONDS)
        return result, load, len(pids)
    finally:
        ray.shutdown()


def decode_hash(path: Path) -> str:
    import hashlib

    out = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f",
                          "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], capture_output=True,
                         check=True).stdout
    return hashlib.sha256(out).hexdigest()


def draw_seconds_per_pixel(scene, fps: float) -> float:
    """Single-threaded fp32 draw (the chunk tasks' way) at 960x540, best of 2."""
    import torch

    from engine.cluster.chunks import _cpu_drawer

    torch.set_num_threads(1)
    drawer = _cpu_drawer()
    w, h = 960, 540
    frame = scene.frame_at(1.0)
    drawer.draw(frame, w, h)
    best = math.inf
    for _ in range(2):
        t = time.perf_counter()
        drawer.draw(frame, w, h)
        best = min(best, time.perf_counter() - t)
    drawer.release()
    return best / (w * h)


def encode_4k_seconds_per_frame(scene, fps: float, frames: int = 6) -> tuple[float, bytes]:
    """x264 medium at 4K (the standard quality's encoder) on moving CPPN frames: drawn at
    960x540 and scaled up in the same ffmpeg run, the scale costed in. Returns seconds per
    frame and bytes per frame."""
    import torch

    from engine.cluster.chunks import _cpu_drawer

    torch.set_num_threads(1)
    drawer = _cpu_drawer()
    raw = b"".join(drawer.draw(scene.frame_at(i / fps), 960, 540).tobytes()
                   for i in range(frames))
    drawer.release()
    job = ChunkJob(scene, 0.0, fps, (960, 540), SHOW_SIZE, QUALITIES["standard"].encoding)
    t = time.perf_counter()
    out = subprocess.run(chunk_command(ffmpeg_exe(), job), input=raw, capture_output=True,
                         check=True).stdout
    return (time.perf_counter() - t) / frames, out


def join_rates(chunk: bytes, folder: Path, total_bytes: float = 200e6) -> tuple[float, float]:
    """The two costs of the join that grow with the show: stream copy (seconds per byte,
    one 4K chunk listed over and over until ``total_bytes``) and AAC encoding (seconds per
    second of audio, the demo track)."""
    from engine.cluster.chunks import write_listing

    (folder / "c.mp4").write_bytes(chunk)
    copies = max(1, int(total_bytes // len(chunk)))
    listing = write_listing(folder, ["c.mp4"] * copies)
    exe = ffmpeg_exe()
    t = time.perf_counter()
    subprocess.run([exe, "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", "-f", "mp4", str(folder / "joined.mp4")],
                   check=True)
    copy_rate = (time.perf_counter() - t) / (copies * len(chunk))
    t = time.perf_counter()
    subprocess.run([exe, "-loglevel", "error", "-y", "-i", str(TRACK), "-c:a", "aac", "-b:a",
                    "192k", "-f", "mp4", str(folder / "audio.mp4")], check=True)
    from engine.audio.analyze import audio_info

    aac_rate = (time.perf_counter() - t) / audio_info(TRACK)["duration"]
    return copy_rate, aac_rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="video length (default 8)")
    ap.add_argument("--fps", type=float, default=15.0,
                    help="frames per second (default 15: 4 chunks of 2 s for 2 workers)")
    ap.add_argument("--repeats", type=int, default=2,
                    help="runs per worker count, interleaved; the fastest counts (default 2)")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args()

    style = Library().get(STYLE)
    t = time.perf_counter()
    features = analyze(TRACK, fps=args.fps)
    analyse_s = time.perf_counter() - t
    scene = Scene.single(style, features=features, preset="punchy", track=TRACK)

    tmp = Path(tempfile.mkdtemp(prefix="sonolume-bench-cluster-"))
    try:
        runs: dict = {}
        for rep in range(max(1, args.repeats)):  # interleaved: load bursts hit both alike
            for n in (1, 2):
                out = tmp / f"w{n}-{rep}.mp4"
                run = (*run_with(n, scene, args.seconds, args.fps, out, tmp / str(rep)), out)
                if n not in runs or run[0].seconds < runs[n][0].seconds:
                    runs[n] = run
        same = decode_hash(runs[1][3]) == decode_hash(runs[2][3])
        out_bytes = runs[1][3].stat().st_size
        spp = draw_seconds_per_pixel(scene, args.fps)
        enc4k, chunk4k = encode_4k_seconds_per_frame(scene, args.fps)
        bytes4k = len(chunk4k) / 6
        copy_rate, aac_rate = join_rates(chunk4k, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [f"### bench/cluster.py ({platform.machine()}, {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d')}, Ray {require_ray().__version__})", "",
             f"1080p fast (drawn 480x270), {args.seconds:g} s at {args.fps:g} fps = "
             f"{runs[1][0].frames} frames in {runs[1][0].timings['chunks']} chunks of "
             f"{CHUNK_SECONDS:g} s; track analysed once beforehand in {analyse_s:.1f} s; "
             f"fastest of {max(1, args.repeats)} interleaved runs each.", "",
             "| workers | total s | split s | render s | join+mux s | serial share | "
             "speed-up | load avg |", "|---|---|---|---|---|---|---|---|"]
    t1 = runs[1][0].seconds
    for n, (res, load, _pids, _out) in runs.items():
        tm = res.timings
        serial = tm["prepare"] + tm["join"]
        lines.append(f"| {n} | {res.seconds:.1f} | {tm['prepare']:.2f} | {tm['render']:.1f} "
                     f"| {tm['join']:.2f} | {100 * serial / res.seconds:.1f}% | "
                     f"{t1 / res.seconds:.2f}x | {load:.1f} |")
    lines += ["", f"The 1- and 2-worker videos decode to identical frames: {same}.", ""]

    # -- scale model: a 5-minute 4K show at standard quality -----------------------------
    fps = args.fps
    frames = round(SHOW_SECONDS * fps)
    gop = gop_frames(fps)
    chunk_frames = gop * max(1, round(4.0 * fps / gop))  # the default 4 s chunks
    n_chunks = math.ceil(frames / chunk_frames)
    frame_s = spp * SHOW_SIZE[0] * SHOW_SIZE[1] + enc4k
    chunk_s = frame_s * chunk_frames
    r1 = runs[1][0]
    show_bytes = bytes4k * frames
    serial = r1.timings["prepare"] + copy_rate * show_bytes + aac_rate * SHOW_SECONDS
    total1 = serial + n_chunks * chunk_s
    lines += [f"Scale model, 5-minute 4K show at standard ({frames} frames, {n_chunks} "
              f"chunks of {chunk_frames}): a frame costs {frame_s:.1f} s on one core "
              f"(draw {spp * 1e9:.0f} ns/pixel measured at 960x540, x264 medium 4K "
              f"{enc4k:.2f} s/frame measured, {bytes4k / 1e3:.0f} kB/frame); serial "
              f"{serial:.0f} s (split {r1.timings['prepare']:.2f} s + stream copy of "
              f"{show_bytes / 1e9:.1f} GB at {1e-6 / copy_rate:.0f} MB/s measured, an upper "
              "bound: the 6-frame test chunk's per-file cost counted per byte + AAC of "
              f"5 min at {1 / aac_rate:.0f}x realtime measured), Amdahl's limit "
              f"{total1 / serial:,.0f}x.", "",
              "| workers | predicted | speed-up | efficiency | limited by |",
              "|---|---|---|---|---|"]
    for n in (1, 8, 32):
        rounds = math.ceil(n_chunks / n)
        tn = serial + rounds * chunk_s
        why = ("the chunk count: " + f"{rounds} rounds of {chunk_s / 60:.0f} min for "
               f"{n_chunks / n:.2f} chunks each") if n > 1 else "one core"
        lines.append(f"| {n} | {tn / 3600:.1f} h | {total1 / tn:.1f}x | "
                     f"{100 * total1 / tn / n:.0f}% | {why} |")
    lines += ["", f"Serial fraction of the 1-worker 4K show: {100 * serial / total1:.3f}%."]
    # The same model for a 3-minute song at this run's 1080p settings, 2 workers.
    song = 180.0
    per_frame = r1.timings["render"] / r1.frames
    song_serial = (r1.timings["prepare"] + copy_rate * out_bytes / r1.duration * song
                   + aac_rate * song)
    song_total = song_serial + per_frame * song * fps / 2
    lines += [f"A 3-minute song at this run's 1080p fast on 2 workers: serial "
              f"{song_serial:.1f} s of {song_total / 60:.0f} min predicted "
              f"({100 * song_serial / song_total:.2f}%)."]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
