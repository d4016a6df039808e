"""Style + track -> MP4 (H.264 yuv420p + AAC) with the track's matching segment.

The scene code is the live preview's: the same :func:`engine.reactive.compute_params`
track, read with ``track.at(t)`` at each frame time, drawn by the same renderers. Frames go
as raw RGB through a pipe into the bundled ffmpeg, which also cuts and encodes the audio,
so nothing big touches the disk. Video and audio lengths are both exactly ``frames / fps``
(no ``-shortest``).

Safety: the video is written to a hidden temporary file next to the target and renamed
into place only when ffmpeg has finished successfully. Cancel (token or Ctrl-C), a crash,
ffmpeg failing (disk full, unreadable track) all end with the temporary removed and the
target untouched. ffmpeg runs in its own session so a terminal Ctrl-C reaches only us,
and we decide what happens to the partial file.
"""

from __future__ import annotations

import math
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import Cancelled, SonolumeError
from engine.export.ffmpeg import Encoding, encode_command, explain_failure, ffmpeg_exe

MAX_SIDE = 8192
MIN_FREE_BYTES = 16 << 20
MAX_WORKERS = 16
WORKER_CHUNK = 4096  # rows per matmul for a single-threaded renderer: fits in L2
SIZES = {"1080p": (1920, 1080), "720p": (1280, 720), "vertical": (1080, 1920),
         "square": (1080, 1080)}


@dataclass(frozen=True)
class Quality:
    """``render_scale``: the CPPN is drawn at this fraction of the output size and ffmpeg
    rescales (the CPPN is smooth, so a lower internal size costs little sharpness and
    saves the square of the factor in compute; > 1 supersamples)."""

    render_scale: float
    encoding: Encoding
    description: str


QUALITIES = {
    "fast": Quality(0.25, Encoding(crf=21, preset="superfast"),
                    "CPPN drawn at 1/4 of the size (1/16 of the pixels) and upscaled"),
    "standard": Quality(1.0, Encoding(crf=20, preset="medium"),
                        "CPPN drawn at the full size"),
    "high": Quality(1.5, Encoding(crf=16, preset="slow", audio_bitrate="256k"),
                    "CPPN drawn at 1.5x the size and averaged down (anti-aliased)"),
}


@dataclass(frozen=True)
class ExportProgress:
    stage: str  # "analyse", "render", "finish"
    done: int  # frames written (render stage)
    total: int
    elapsed: float  # seconds since the export started
    fraction: float  # [0, 1] of the stage

    @property
    def eta(self) -> float | None:
        if self.stage != "render" or self.done < 1:
            return None
        return self.elapsed_render / self.done * (self.total - self.done)

    elapsed_render: float = 0.0


@dataclass
class ExportResult:
    path: Path
    frames: int
    fps: float
    duration: float
    size: tuple[int, int]
    render_size: tuple[int, int]
    renderer: str
    seconds: float
    render_seconds: float
    timings: dict = field(default_factory=dict)

    @property
    def realtime(self) -> float:
        """Video seconds made per wall-clock second (1.0 = as fast as it plays)."""
        return self.duration / self.seconds if self.seconds > 0 else math.inf


def _check_cancel(cancel) -> None:
    if cancel is None:
        return
    if cancel.is_set() if hasattr(cancel, "is_set") else cancel():
        raise Cancelled("the export was cancelled; no file was written")


def render_size_for(size: tuple[int, int], scale: float) -> tuple[int, int]:
    w, h = size
    return max(2, round(w * scale)), max(2, round(h * scale))


def _check_args(size, fps, quality, start, duration) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise SonolumeError(f"bad size {size!r}: give (width, height)") from None
    if not (16 <= w <= MAX_SIDE and 16 <= h <= MAX_SIDE):
        raise SonolumeError(f"video size {w}x{h} is out of range (16 to {MAX_SIDE} per side)")
    if w % 2 or h % 2:
        raise SonolumeError(f"video size {w}x{h}: H.264 (yuv420p) needs even width and "
                            "height")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 1 <= fps <= 240):
        raise SonolumeError(f"fps must be between 1 and 240, not {fps!r}")
    if quality not in QUALITIES:
        raise SonolumeError(f"unknown quality '{quality}' (use: {', '.join(QUALITIES)})")
    if not (math.isfinite(start) and start >= 0):
        raise SonolumeError(f"start must be 0 or more seconds, not {start}")
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise SonolumeError(f"duration must be more than 0 seconds, not {duration}")
    return w, h


def _temp_target(out: Path) -> Path:
    """Create the hidden temporary sibling (which also proves the folder is writable)."""
    if out.is_dir():
        raise SonolumeError(f"output {out} is a folder; give a file name like out.mp4")
    parent = out.parent
    if not parent.is_dir():
        raise SonolumeError(f"the folder {parent} does not exist")
    try:
        fd, name = tempfile.mkstemp(dir=parent, prefix=f".{out.name}.", suffix=".part")
        os.close(fd)
    except OSError as exc:
        raise SonolumeError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
    try:
        free = shutil.disk_usage(parent).free
    except OSError:
        free = MIN_FREE_BYTES
    if free < MIN_FREE_BYTES:
        Path(name).unlink(missing_ok=True)
        raise SonolumeError(f"the disk holding {parent} is full "
                            f"({free >> 20} MiB free; need at least {MIN_FREE_BYTES >> 20})")
    return Path(name)


def _umask() -> int:
    """The process umask, read without changing it (Linux), else the common 022."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _load_cppn(style):
    if hasattr(style, "load_cppn"):
        return style.load_cppn(), getattr(style, "name", "style")
    if hasattr(style, "config") and hasattr(style, "hidden"):
        return style, "cppn"
    raise SonolumeError(f"not a style or CPPN: {type(style).__name__}")


class _Pipe:
    """ffmpeg fed from a writer thread, so rendering the next frame overlaps the pipe
    write of the last one; stderr collected by another thread (no deadlock on a full
    stderr pipe)."""

    def __init__(self, cmd: list[str]):
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise SonolumeError(f"cannot start ffmpeg: {exc}") from exc
        self.err_chunks: list[bytes] = []
        self.queue: queue.Queue = queue.Queue(maxsize=3)
        self.write_error: BaseException | None = None
        self.write_seconds = 0.0
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._err.start()
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    def _read_err(self):
        for chunk in iter(lambda: self.proc.stderr.read(4096), b""):
            self.err_chunks.append(chunk)

    def _write(self):
        while True:
            item = self.queue.get()
            if item is None:
                break
            if self.write_error is not None:
                continue  # drain so the producer never blocks
            t = time.perf_counter()
            try:
                self.proc.stdin.write(item)
            except (OSError, ValueError) as exc:  # ValueError: closed by kill()
                self.write_error = exc
            self.write_seconds += time.perf_counter() - t

    @property
    def stderr(self) -> str:
        return b"".join(self.err_chunks).decode("utf-8", "replace")

    def put(self, frame_bytes) -> None:
        if self.write_error is not None or self.proc.poll() not in (None, 0):
            raise SonolumeError(f"ffmpeg stopped: {explain_failure(self._wait_err())}")
        self.queue.put(frame_bytes)

    def _wait_err(self) -> str:
        self._err.join(timeout=5)
        return self.stderr

    def finish(self) -> None:
        self.queue.put(None)
        self._writer.join()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        rc = self.proc.wait()
        self._err.join(timeout=5)
        if rc != 0 or self.write_error is not None:
            raise SonolumeError(f"ffmpeg failed: {explain_failure(self.stderr)}")

    def kill(self) -> None:
        """Stop ffmpeg now (its partial output is the caller's to delete)."""
        if self.proc.poll() is None:
            self.proc.kill()  # first, so a write blocked on the pipe fails at once
        try:
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        while True:  # we are the only producer: after draining, the stop marker fits
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        self.queue.put(None)
        self.proc.wait()
        self._writer.join(timeout=5)


class _FrameStream:
    """The frames in order. A CPU torch renderer runs one frame per core in worker
    threads, each single-threaded: whole frames in parallel need no synchronisation,
    while torch's own two-thread ops wait at a barrier per op and collapse when anything
    else (ffmpeg's encoder, the GUI, other programs) wants a core (measured 3-4x slower
    on 2 busy cores; bench/README.md). GL and GPU renderers draw in this thread."""

    def __init__(self, rend, cppn, params, start, fps, n, size, cancel):
        self.rend, self.cppn, self.params = rend, cppn, params
        self.start, self.fps, self.n, self.size, self.cancel = start, fps, n, size, cancel
        self.render_seconds = 0.0
        self.workers = 1
        from engine.render import TorchRenderer

        if isinstance(rend, TorchRenderer) and rend.device.type == "cpu":
            self.workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS, n))

    def _one(self, rend, i):
        t = time.perf_counter()
        frame = rend.render(self.params.at(self.start + i / self.fps), *self.size)
        return frame, time.perf_counter() - t

    def __iter__(self):
        if self.workers == 1:
            for i in range(self.n):
                _check_cancel(self.cancel)
                frame, dt = self._one(self.rend, i)
                self.render_seconds += dt
                yield frame
            return
        yield from self._parallel()

    def _parallel(self):
        import torch

        from engine.render import TorchRenderer

        local = threading.local()

        def work(i):
            rend = getattr(local, "rend", None)
            if rend is None:
                rend = local.rend = TorchRenderer(self.cppn, device="cpu",
                                                  dtype=self.rend.dtype, chunk=WORKER_CHUNK)
            return self._one(rend, i)

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sonolume-render")
        try:
            pending: deque = deque()
            nxt = 0
            for _ in range(self.n):
                while nxt < self.n and len(pending) < 2 * self.workers:
                    pending.append(pool.submit(work, nxt))
                    nxt += 1
                _check_cancel(self.cancel)
                frame, dt = pending.popleft().result()
                self.render_seconds += dt / self.workers
                yield frame
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(threads)


def export_video(
    style,
    track_path,
    out_path,
    size: tuple[int, int] = (1280, 720),
    fps: float = 30.0,
    reactivity="punchy",
    start: float = 0.0,
    duration: float | None = None,
    quality: str = "standard",
    renderer: str = "auto",
    seed: int = 0,
    features=None,
    library_dir=None,
    progress: Callable[[ExportProgress], None] | None = None,
    cancel=None,
    warn: Callable[[str], None] | None = None,
) -> ExportResult:
    """Render ``style`` (a library Style or a CPPN) reacting to ``track_path`` into an MP4.

    ``start``/``duration`` pick a segment of the track (seconds; default to its end).
    ``reactivity``: a preset name, path or Preset. ``renderer``: "auto", "gl" or "torch", or
    a ready renderer instance (reused, not released). ``features``: AudioFeatures at
    ``fps`` if already analysed. Raises SonolumeError (Cancelled when cancelled); in every
    failure the target path is left as it was and no temporary file remains."""
    from engine.audio.analyze import analyze, audio_info
    from engine.reactive import compute_params, load_preset
    from engine.render import Renderer, make_renderer

    t_start = time.perf_counter()
    w, h = _check_args(size, fps, quality, start, duration)
    q = QUALITIES[quality]
    track_path = Path(track_path)
    out = Path(out_path).expanduser()
    info = audio_info(track_path)
    if info["duration"] <= 0:
        raise SonolumeError(f"the track {track_path} has no audio")
    if start >= info["duration"]:
        raise SonolumeError(f"start {start:g} s is past the end of the track "
                            f"({info['duration']:.2f} s)")
    seg = info["duration"] - start if duration is None else min(duration,
                                                                info["duration"] - start)
    n_frames = max(1, round(seg * fps))
    exact = n_frames / fps
    preset = load_preset(reactivity, library_dir)
    cppn, style_name = _load_cppn(style)
    rw, rh = render_size_for((w, h), q.render_scale)

    def report(stage, done, total, render_elapsed=0.0):
        if progress is not None:
            progress(ExportProgress(stage, done, total, time.perf_counter() - t_start,
                                    done / total if total else 1.0, render_elapsed))

    tmp = _temp_target(out)  # proves the folder is writable before any long work
    pipe = None
    own_renderer = not isinstance(renderer, Renderer)
    rend = None
    try:
        _check_cancel(cancel)
        if features is None or abs(float(features.fps) - fps) > 1e-9:
            report("analyse", 0, 1)
            features = analyze(track_path, fps=fps, cancel=cancel,
                               progress=lambda f, stage="": report("analyse", f, 1))
        t_analysed = time.perf_counter()
        params = compute_params(features, preset, extra_inputs=cppn.config.extra_inputs,
                                seed=seed)
        rend = make_renderer(cppn, renderer, warn=warn) if own_renderer else renderer
        channels = 1 if info["channels"] == 1 else 2
        rate = info["sample_rate"] if 8000 <= info["sample_rate"] <= 48000 else 48000
        cmd = encode_command(
            ffmpeg_exe(), str(tmp), frame_size=(rw, rh), out_size=(w, h), fps=fps,
            audio=str(track_path), start=start, duration=exact, encoding=q.encoding,
            audio_channels=channels, audio_rate=rate,
            comment=f"Sonolume: style '{style_name}', reactivity '{preset.name}', "
                    f"quality {quality}")
        pipe = _Pipe(cmd)
        t_render0 = time.perf_counter()
        frames = _FrameStream(rend, cppn, params, start, fps, n_frames, (rw, rh), cancel)
        for i, frame in enumerate(frames):
            pipe.put(frame.tobytes())
            report("render", i + 1, n_frames, time.perf_counter() - t_render0)
        render_s = frames.render_seconds
        t_rendered = time.perf_counter()
        report("finish", 0, 1)
        pipe.finish()
        t_encoded = time.perf_counter()
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it private; a video is not
        os.replace(tmp, out)
    except BaseException:
        if pipe is not None:
            pipe.kill()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if own_renderer and rend is not None:
            rend.release()
    report("finish", 1, 1)
    total = time.perf_counter() - t_start
    return ExportResult(
        path=out, frames=n_frames, fps=float(fps), duration=exact, size=(w, h),
        render_size=(rw, rh), renderer=getattr(rend, "description", rend.name),
        seconds=total, render_seconds=render_s,
        timings={"analyse": t_analysed - t_start, "render_loop": t_rendered - t_render0,
                 "render": render_s, "pipe_write": pipe.write_seconds,
                 "encode_tail": t_encoded - t_rendered},
    )
