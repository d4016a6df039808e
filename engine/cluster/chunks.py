"""A video as chunks of whole GOPs: plan, draw + encode one chunk, join them.

Two x264 runs over the same frames produce the same bytes only if they see the same
input the same way, so every chunk is one complete, independent encode: it starts with
an IDR frame (a closed GOP: nothing refers back across the boundary), keyframes come
every :func:`gop_frames`, and x264 runs with a fixed thread count (x264 is deterministic
for a given thread count, not across counts). Frames are drawn one at a time by a
single-threaded fp32 CPU torch renderer, the same code on every machine. The chunks are
joined by ffmpeg's concat demuxer with stream copy, so no pixel is encoded twice; whether
a chunk was made on this machine or on a cluster node, the joined file decodes to the same
frames (the tests hold it; across CPU kinds see the README's note).

Chunks travel as bytes (fragmented MP4 on ffmpeg's stdout), so a worker writes nothing
to its disk and a worker killed mid-chunk leaves nothing behind.
"""

from __future__ import annotations

import math
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from engine.errors import Cancelled, SonolumeError
from engine.export.ffmpeg import Encoding, explain_failure, ffmpeg_exe, fps_text

GOP_SECONDS = 2.0  # a keyframe every 2 s: seekable, and chunk boundaries land on GOPs
DEFAULT_CHUNK_SECONDS = 4.0
ENCODER_THREADS = 2  # fixed, so every machine writes the same bitstream
DRAW_CHUNK_ROWS = 4096  # the CPU renderer's rows per matmul (fits in L2)


def gop_frames(fps: float) -> int:
    return max(1, round(fps * GOP_SECONDS))


@dataclass(frozen=True)
class Chunk:
    index: int
    first: int  # frame number in the export (frame i is drawn at start + i / fps)
    count: int


def plan_chunks(n_frames: int, fps: float,
                chunk_seconds: float = DEFAULT_CHUNK_SECONDS) -> list[Chunk]:
    """Cut ``n_frames`` into chunks of whole GOPs, about ``chunk_seconds`` long (the last
    one takes the rest). Fewer, longer chunks waste less at boundaries (each starts with
    an IDR frame); more, shorter ones balance workers better and lose less to a retry."""
    if not (math.isfinite(chunk_seconds) and chunk_seconds > 0):
        raise SonolumeError(f"chunk length must be more than 0 seconds, not {chunk_seconds}")
    if n_frames < 1:
        raise SonolumeError("nothing to render: no frames")
    gop = gop_frames(fps)
    size = gop * max(1, round(chunk_seconds * fps / gop))
    return [Chunk(i, first, min(size, n_frames - first))
            for i, first in enumerate(range(0, n_frames, size))]


@dataclass(frozen=True)
class ChunkJob:
    """What every chunk shares: the (portable) scene, the frame clock and the encoding."""

    scene: object
    start: float
    fps: float
    frame_size: tuple[int, int]  # what the CPPN draws
    out_size: tuple[int, int]  # what ffmpeg writes (scaled when they differ)
    encoding: Encoding


def chunk_command(exe: str, job: ChunkJob) -> list[str]:
    """Raw RGB on stdin -> H.264 (no audio) as fragmented MP4 on stdout: one closed-GOP
    encode with the export's quality settings and a fixed keyframe interval."""
    rw, rh = job.frame_size
    w, h = job.out_size
    vf = []
    if (rw, rh) != (w, h):
        # the same filters as the ordinary export (engine.export.ffmpeg.encode_command)
        vf.append(f"scale={w}:{h}:flags={'bicubic' if rw * rh < w * h else 'area'}")
    vf.append("format=yuv420p")
    rate = fps_text(job.fps)
    gop = gop_frames(job.fps)
    return [exe, "-hide_banner", "-nostdin", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{rw}x{rh}", "-framerate", rate,
            "-i", "pipe:0", "-map", "0:v:0", "-vf", ",".join(vf),
            "-c:v", "libx264", "-preset", job.encoding.preset, "-crf", str(job.encoding.crf),
            "-pix_fmt", "yuv420p", "-r", rate, "-g", str(gop), "-flags", "+cgop",
            "-threads", str(ENCODER_THREADS), "-an",
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", "pipe:1"]


def _cpu_drawer():
    import torch

    from engine.render import TorchRenderer
    from engine.scene.draw import SceneDrawer

    return SceneDrawer(make=lambda cppn: TorchRenderer(cppn, device="cpu",
                                                      dtype=torch.float32,
                                                      chunk=DRAW_CHUNK_ROWS))


def draw_frames(job: ChunkJob, chunk: Chunk, threads: int = 1,
                before: Callable[[int], None] | None = None):
    """The chunk's frames in order as (h, w, 3) uint8, each drawn on one thread (torch
    single-threaded, so the bits never depend on how many threads draw). ``threads`` > 1
    draws that many frames at once (the local chunked render); ``before(i)`` runs before
    frame ``i`` is drawn (cancel checks, fault injection in tests)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    local = threading.local()
    drawers: list = []

    def draw(i):
        drawer = getattr(local, "drawer", None)
        if drawer is None:
            drawer = local.drawer = _cpu_drawer()
            drawers.append(drawer)
        return drawer.draw(job.scene.frame_at(job.start + i / job.fps), *job.frame_size)

    frames = range(chunk.first, chunk.first + chunk.count)
    try:
        if threads <= 1:
            for i in frames:
                if before is not None:
                    before(i)
                yield draw(i)
            return
        with ThreadPoolExecutor(threads, thread_name_prefix="sonolume-chunk") as pool:
            pending: list = []
            it = iter(frames)
            for _ in frames:
                while len(pending) < 2 * threads:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    if before is not None:
                        before(nxt)
                    pending.append(pool.submit(draw, nxt))
                yield pending.pop(0).result()
    finally:
        torch.set_num_threads(previous)
        for d in drawers:
            d.release()


def encode_chunk(job: ChunkJob, chunk: Chunk, threads: int = 1,
                 before: Callable[[int], None] | None = None,
                 drawn: Callable[[int], None] | None = None) -> bytes:
    """Draw and encode one chunk; returns its MP4 bytes. ``drawn(n)`` reports frames done
    in this chunk. Any failure (or an exception from ``before``) stops ffmpeg first."""
    exe = ffmpeg_exe()
    try:
        proc = subprocess.Popen(chunk_command(exe, job), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise SonolumeError(f"cannot start ffmpeg: {exc}") from exc
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [threading.Thread(target=lambda s=s, b=b: b.extend(iter(lambda: s.read(1 << 16),
                                                                       b"")), daemon=True)
               for s, b in ((proc.stdout, out), (proc.stderr, err))]
    for r in readers:
        r.start()
    try:
        for n, frame in enumerate(draw_frames(job, chunk, threads, before), start=1):
            try:
                proc.stdin.write(frame.tobytes())
            except OSError:
                break  # ffmpeg died: its stderr says why, below
            if drawn is not None:
                drawn(n)
        try:
            proc.stdin.close()
        except OSError:
            pass
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        for r in readers:
            r.join(timeout=10)
    if rc != 0:
        raise SonolumeError(f"ffmpeg failed on chunk {chunk.index}: "
                            f"{explain_failure(b''.join(err).decode('utf-8', 'replace'))}")
    return b"".join(out)


def join_command(exe: str, listing: Path, out: Path, *, audio: str | None, start: float,
                 duration: float, encoding: Encoding, audio_channels: int = 2,
                 audio_rate: int = 48000, comment: str = "") -> list[str]:
    """Chunks (a concat list) + the track's segment -> the final MP4: video by stream
    copy, audio encoded as the ordinary export does."""
    cmd = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "concat", "-safe", "0", "-i", str(listing)]
    if audio is not None:
        cmd += ["-ss", f"{start:.6f}", "-t", f"{duration:.6f}", "-i", audio]
    cmd += ["-map", "0:v:0"]
    if audio is not None:
        cmd += ["-map", "1:a:0"]
    cmd += ["-c:v", "copy"]
    if audio is not None:
        cmd += ["-c:a", "aac", "-b:a", encoding.audio_bitrate, "-ac", str(audio_channels),
                "-ar", str(audio_rate)]
    if comment:
        cmd += ["-metadata", f"comment={comment}"]
    cmd += ["-t", f"{duration:.6f}", "-movflags", "+faststart", "-f", "mp4", str(out)]
    return cmd


def write_listing(folder: Path, names: list[str]) -> Path:
    """The concat demuxer's list; names are relative to it (ours: no quotes to escape)."""
    listing = folder / "chunks.txt"
    listing.write_text("".join(f"file '{n}'\n" for n in names), encoding="utf-8")
    return listing


def run_join(cmd: list[str], cancel=None) -> None:
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise SonolumeError(f"cannot start ffmpeg: {exc}") from exc
    try:
        while True:
            try:
                _, stderr = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and (cancel.is_set() if hasattr(cancel, "is_set")
                                           else cancel()):
                    raise Cancelled("the export was cancelled; no file was written") from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise SonolumeError("ffmpeg could not join the chunks: "
                            f"{explain_failure(stderr.decode('utf-8', 'replace'))}")
