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
T(1) / serial. The machine is shared, so the load average is printed beside the figures,
with the CPU seconds the workers (and their ffmpeg) really got and that over the render's
wall time ("cores got"): the work is the same with 1 and 2 workers, so the speed-up is the
ratio of cores got, which other programs on the machine decide.

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
# nothing is written into the home folder and nothing else can join. Ray starts workers at
# nice 15; on a machine shared with other work that measures the scheduler, not us.
os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
os.environ.setdefault("RAY_worker_niceness", "0")


import numpy as np  # noqa: E402

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
SHOW_FPS = 30.0
CHUNK_SECONDS = 2.0


def _warm() -> int:
    """Import what a chunk task imports, so worker start-up is not timed."""
    import engine.render  # noqa: F401
    import engine.scene.draw  # noqa: F401

    time.sleep(1.0)  # long enough that every worker gets one
    return os.getpid()


def cpu_seconds(pids) -> float:
    """User + system CPU of these processes and their finished children (ffmpeg), from
    /proc (Linux): what the workers really got from a shared machine."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / tick


def run_with(workers: int, scene, seconds: float, fps: float, out: Path, tmp: Path):
    ray = require_ray()
    tmp.mkdir(exist_ok=True)
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             _temp_dir=str(tmp / f"ray{workers}"))
    try:
        warm = ray.remote(num_cpus=1)(_warm)
        pids = set(ray.get([warm.remote() for _ in range(workers)]))
        load = os.getloadavg()[0]
        cpu0 = cpu_seconds(pids)
        result = export_chunked(
            ExportRequest(scene, out, size=(1920, 1080), fps=fps, quality="fast",
                          duration=seconds),
            cluster="", chunk_seconds=CHUNK_SECONDS)
        return result, load, cpu_seconds(pids) - cpu0
    finally:
        ray.shutdown()


def decode(path: Path) -> np.ndarray:
    out = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f",
                          "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], capture_output=True,
                         check=True).stdout
    return np.frombuffer(out, np.uint8)


def decode_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(decode(path).tobytes()).hexdigest()


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


def join_rates(chunk: bytes, frames_per_chunk: int, chunks: int, folder: Path,
               per_chunk_frames: int) -> tuple[float, float, float]:
    """The join of the 4K show, measured: a show-sized chunk is made by stream-copying the
    test chunk (``per_chunk_frames`` frames) onto itself, then ``chunks`` of those are
    joined as the render joins them. Returns (seconds of that join, seconds per byte,
    AAC seconds per second of audio, timed on the demo track)."""
    from engine.audio.analyze import audio_info
    from engine.cluster.chunks import write_listing

    exe = ffmpeg_exe()
    frag = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4"]
    (folder / "small.mp4").write_bytes(chunk)
    reps = max(1, math.ceil(frames_per_chunk / per_chunk_frames))
    listing = write_listing(folder, ["small.mp4"] * reps)
    subprocess.run([exe, "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", *frag, str(folder / "big.mp4")], check=True)
    listing = write_listing(folder, ["big.mp4"] * chunks)
    total = (folder / "big.mp4").stat().st_size * chunks
    t = time.perf_counter()
    subprocess.run([exe, "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", "-movflags", "+faststart", "-f", "mp4",
                    str(folder / "joined.mp4")], check=True)
    join_s = time.perf_counter() - t
    (folder / "joined.mp4").unlink()
    t = time.perf_counter()
    subprocess.run([exe, "-loglevel", "error", "-y", "-i", str(TRACK), "-c:a", "aac", "-b:a",
                    "192k", "-f", "mp4", str(folder / "audio.mp4")], check=True)
    aac_rate = (time.perf_counter() - t) / audio_info(TRACK)["duration"]
    return join_s, join_s / total, aac_rate


def plain_vs_chunked(scene, seconds: float, fps: float, chunked: Path, folder: Path):
    """The ordinary export of the same request against the chunked file: how far apart
    their decoded frames are (two x264 runs that cut GOPs differently)."""
    from engine.export import export

    plain = folder / "plain.mp4"
    export(ExportRequest(scene, plain, size=(1920, 1080), fps=fps, quality="fast",
                         renderer="torch", duration=seconds))
    a, b = decode(plain), decode(chunked)  # uint8, compared in 8 MB blocks (1080p: GBs)
    if a.shape != b.shape:
        return a.shape, b.shape, None, None
    sq, top = 0.0, 0
    for i in range(0, a.size, 8 << 20):
        d = a[i:i + (8 << 20)].astype(np.int16) - b[i:i + (8 << 20)]
        sq += float(np.dot(d.astype(np.float64), d))
        top = max(top, int(np.abs(d).max()))
    mse = sq / a.size
    return a.shape, b.shape, 10 * np.log10(255 ** 2 / max(mse, 1e-12)), top


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
        plain = plain_vs_chunked(scene, args.seconds, args.fps, runs[1][3], tmp)
        out_bytes = runs[1][3].stat().st_size
        spp = draw_seconds_per_pixel(scene, args.fps)
        enc4k, chunk4k = encode_4k_seconds_per_frame(scene, SHOW_FPS)
        bytes4k = len(chunk4k) / 6
        show_frames = round(SHOW_SECONDS * SHOW_FPS)
        gop = gop_frames(SHOW_FPS)
        chunk_frames = gop * max(1, round(4.0 * SHOW_FPS / gop))  # the default 4 s chunks
        n_chunks = math.ceil(show_frames / chunk_frames)
        join4k, copy_rate, aac_rate = join_rates(chunk4k, chunk_frames, n_chunks, tmp, 6)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [f"### bench/cluster.py ({platform.machine()}, {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d')}, Ray {require_ray().__version__})", "",
             f"1080p fast (drawn 480x270), {args.seconds:g} s at {args.fps:g} fps = "
             f"{runs[1][0].frames} frames in {runs[1][0].timings['chunks']} chunks of "
             f"{CHUNK_SECONDS:g} s; track analysed once beforehand in {analyse_s:.1f} s; "
             f"fastest of {max(1, args.repeats)} interleaved runs each.", "",
             "| workers | total s | split s | render s | join+mux s | serial share | "
             "speed-up | load avg | worker CPU s | cores got |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    t1 = runs[1][0].seconds
    for n, (res, load, cpu, _out) in runs.items():
        tm = res.timings
        serial = tm["prepare"] + tm["join"]
        lines.append(f"| {n} | {res.seconds:.1f} | {tm['prepare']:.2f} | {tm['render']:.1f} "
                     f"| {tm['join']:.2f} | {100 * serial / res.seconds:.1f}% | "
                     f"{t1 / res.seconds:.2f}x | {load:.1f} | {cpu:.1f} | "
                     f"{cpu / res.timings['render']:.2f} |")
    lines += ["", f"The 1- and 2-worker videos decode to identical frames: {same}. The "
              "ordinary (unchunked) export of the same request against them: "
              + (f"PSNR {plain[2]:.1f} dB, largest difference {plain[3]:.0f}/255 "
                 "(different GOP cuts, so different x264 decisions)." if plain[2] is not None
                 else f"different shapes {plain[0]} vs {plain[1]}!"), ""]

    # -- scale model: a 5-minute 4K show at standard quality -----------------------------
    fps = args.fps
    frames = show_frames
    frame_s = spp * SHOW_SIZE[0] * SHOW_SIZE[1] + enc4k
    chunk_s = frame_s * chunk_frames
    r1 = runs[1][0]
    show_bytes = bytes4k * frames
    serial = r1.timings["prepare"] + join4k + aac_rate * SHOW_SECONDS
    total1 = serial + n_chunks * chunk_s
    lines += [f"Scale model, 5-minute 4K30 show at standard ({frames} frames, {n_chunks} "
              f"chunks of {chunk_frames}): a frame costs {frame_s:.1f} s on one core "
              f"(draw {spp * 1e9:.0f} ns/pixel measured at 960x540, x264 medium 4K "
              f"{enc4k:.2f} s/frame measured, {bytes4k / 1e3:.0f} kB/frame); serial "
              f"{serial:.0f} s (split {r1.timings['prepare']:.2f} s + the join of {n_chunks} "
              f"chunks, {show_bytes / 1e9:.2f} GB, by stream copy {join4k:.1f} s measured + "
              f"AAC of 5 min at {1 / aac_rate:.0f}x realtime measured), Amdahl's limit "
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
    r2 = runs[2][0]
    per_frame = r2.timings["render"] / r2.frames  # measured with 2 workers
    song_serial = (r2.timings["prepare"] + copy_rate * out_bytes / r2.duration * song
                   + aac_rate * song)
    song_total = song_serial + per_frame * song * fps
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
