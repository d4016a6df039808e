"""A Scene + track -> MP4 (H.264 yuv420p + AAC) with the track's matching segment.

What to draw comes only from the :class:`~engine.scene.Scene` (the same object the live
preview asks), how and where from one typed :class:`ExportRequest`; later features (shows,
a render cluster) extend the request instead of adding parameters. ``export_video(style,
track, out, ...)`` stays as the one-style shortcut. Frames go as raw RGB through a pipe
into the bundled ffmpeg, which also cuts and encodes the audio, so nothing big touches the
disk. Video and audio lengths are both exactly ``frames / fps`` (no ``-shortest``).

Safety: the video is written to a hidden temporary file next to the target (named by
:func:`engine.atomic.temp_path`) and renamed into place only when ffmpeg has finished
successfully. Cancel (token or Ctrl-C), a crash, ffmpeg failing (disk full, unreadable
track) all end with the temporary removed and the target untouched. A ``kill -9`` cannot
clean up, so each export first removes what an earlier killed one left in the target
folder; a running export touches its temporary at least every :data:`TOUCH_EVERY_S`
seconds, so only a dead one's temporary gets old. ffmpeg runs in its own session so a
terminal Ctrl-C reaches only us, and we decide what happens to the partial file.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from engine import atomic
from engine.atomic import remove_stale_temporaries, stale_temporaries, temp_path
from engine.errors import Cancelled, SonolumeError
from engine.export.ffmpeg import Encoding, encode_command, explain_failure, ffmpeg_exe
from engine.export.sizes import MAX_SIDE, OUTPUT_SIZES

MIN_FREE_BYTES = 16 << 20
MAX_WORKERS = 16
WORKER_CHUNK = 4096  # rows per matmul for a single-threaded renderer: fits in L2
#: name -> (width, height), kept for callers of the old constant; the registry with
#: descriptions is :data:`engine.export.sizes.OUTPUT_SIZES`.
SIZES = {name: s.size for name, s in OUTPUT_SIZES.items()}
TOUCH_EVERY_S = 30.0
#: A video temporary untouched this long belongs to a killed export (a live one touches
#: its file every TOUCH_EVERY_S); other temporaries keep engine.atomic's longer limit.
VIDEO_STALE_S = 600.0
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")


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


def remove_leftovers(folder: Path) -> list[Path]:
    """Remove what killed exports left in ``folder``: our video temporaries untouched for
    :data:`VIDEO_STALE_S`, any other temporary of ours past engine.atomic's limit, and the
    ``.NAME.mp4.XXXX.part`` files of versions before the shared naming (same long limit).
    Returns what was removed."""
    removed = []
    for p in stale_temporaries(folder, older_than_s=VIDEO_STALE_S):
        if p.name.lower().endswith(VIDEO_SUFFIXES) and p.is_file() and not p.is_symlink():
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    removed += remove_stale_temporaries(folder)
    now = time.time()
    with contextlib.suppress(OSError):
        for p in folder.glob(".*.part"):
            stem = p.name[1:-len(".part")]
            if not stem.rsplit(".", 1)[0].lower().endswith(VIDEO_SUFFIXES):
                continue
            with contextlib.suppress(OSError):
                if p.is_file() and not p.is_symlink() and \
                        now - p.lstat().st_mtime > 6 * 3600:
                    p.unlink()
                    removed.append(p)
    return removed


def _temp_target(out: Path, warn: Callable[[str], None] | None = None) -> Path:
    """Create the hidden temporary sibling (which also proves the folder is writable),
    after clearing what a killed export left there."""
    if out.is_dir():
        raise SonolumeError(f"output {out} is a folder; give a file name like out.mp4")
    parent = out.parent
    if not parent.is_dir():
        raise SonolumeError(f"the folder {parent} does not exist")
    gone = remove_leftovers(parent)
    if gone and warn is not None:
        warn(f"removed {len(gone)} unfinished video file(s) an interrupted export left in "
             f"{parent}: {', '.join(p.name for p in gone[:3])}")
    tmp = temp_path(out)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except OSError as exc:
        raise SonolumeError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
    try:
        free = shutil.disk_usage(parent).free
    except OSError:
        free = MIN_FREE_BYTES
    if free < MIN_FREE_BYTES:
        tmp.unlink(missing_ok=True)
        raise SonolumeError(f"the disk holding {parent} is full "
                            f"({free >> 20} MiB free; need at least {MIN_FREE_BYTES >> 20})")
    return tmp


class _Toucher:
    """Keeps the temporary's mtime fresh while we work on it, so a concurrent export into
    the same folder never takes it for a dead one's leftover."""

    def __init__(self, path: Path):
        self.path = path
        self.last = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= TOUCH_EVERY_S:
            self.last = now
            with contextlib.suppress(OSError):
                os.utime(self.path)

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
    on 2 busy cores; bench/README.md). GL and GPU renderers draw in this thread. Every
    frame is ``scene.frame_at(start + i / fps)`` drawn by a SceneDrawer."""

    def __init__(self, rend, cppn, scene, start, fps, n, size, cancel, tick=None):
        from engine.scene.draw import SceneDrawer

        self.rend, self.scene = rend, scene
        self.start, self.fps, self.n, self.size, self.cancel = start, fps, n, size, cancel
        self.tick = tick or (lambda: None)
        self.render_seconds = 0.0
        self.workers = 1
        self.drawer = SceneDrawer(rend, cppn)
        from engine.render import TorchRenderer

        if isinstance(rend, TorchRenderer) and rend.device.type == "cpu":
            self.workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS, n))

    def _one(self, drawer, i):
        t = time.perf_counter()
        frame = drawer.draw(self.scene.frame_at(self.start + i / self.fps), *self.size)
        return frame, time.perf_counter() - t

    def __iter__(self):
        try:
            if self.workers == 1:
                for i in range(self.n):
                    _check_cancel(self.cancel)
                    self.tick()
                    frame, dt = self._one(self.drawer, i)
                    self.render_seconds += dt
                    yield frame
                return
            yield from self._parallel()
        finally:
            self.drawer.release()

    def _parallel(self):
        import torch

        from engine.render import TorchRenderer
        from engine.scene.draw import SceneDrawer

        local = threading.local()
        drawers: list = []
        dtype = self.rend.dtype
        x3 = getattr(self.rend, "bf16x3", False)

        def make(cppn):
            return TorchRenderer(cppn, device="cpu", dtype=dtype, chunk=WORKER_CHUNK,
                                 bf16x3=x3)

        def work(i):
            drawer = getattr(local, "drawer", None)
            if drawer is None:
                drawer = local.drawer = SceneDrawer(make=make)
                drawers.append(drawer)
            return self._one(drawer, i)

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
                self.tick()
                frame, dt = pending.popleft().result()
                self.render_seconds += dt / self.workers
                yield frame
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(threads)
            for d in drawers:
                d.release()


@dataclass(frozen=True)
class ExportRequest:
    """One export: what to draw (``scene``), how (``size``, ``fps``, ``quality``,
    ``renderer``), where (``output``) and which part (``start``, ``duration``; default to
    the track's end). ``track``: the audio, default ``scene.track``. ``renderer``: "auto",
    "gl", "torch" or a ready Renderer (reused for the first style, not released).
    ``device``: the torch renderer's device ("cpu", "cuda"); None: CUDA when present."""

    scene: object
    output: Path | str
    size: tuple[int, int] = (1280, 720)
    fps: float = 30.0
    quality: str = "standard"
    renderer: object = "auto"
    start: float = 0.0
    duration: float | None = None
    track: Path | str | None = None
    device: str | None = None


@dataclass(frozen=True)
class ResolvedRequest:
    """An ExportRequest checked against its track: what the local and the cluster export
    both start from."""

    scene: object  # a copy: edits to the caller's scene during the export change nothing
    track: Path
    output: Path
    info: dict  # audio_info of the track
    size: tuple[int, int]
    frames: int
    duration: float  # exactly frames / fps


def resolve(request: ExportRequest) -> ResolvedRequest:
    """Check a request (sizes, rates, range, track) and work out its frame count; one
    clear SonolumeError for anything a user got wrong."""
    from engine.audio.analyze import audio_info

    r = request
    size = _check_args(r.size, r.fps, r.quality, r.start, r.duration)
    scene = r.scene.copy()
    track = r.track if r.track is not None else scene.track
    if track is None:
        raise SonolumeError("no track to render: the scene has none and the request "
                            "names none")
    track = Path(track)
    info = audio_info(track)
    if info["duration"] <= 0:
        raise SonolumeError(f"the track {track} has no audio")
    if r.start >= info["duration"]:
        raise SonolumeError(f"start {r.start:g} s is past the end of the track "
                            f"({info['duration']:.2f} s)")
    left = info["duration"] - r.start
    seg = left if r.duration is None else min(r.duration, left)
    frames = max(1, round(seg * r.fps))
    return ResolvedRequest(scene, track, Path(r.output).expanduser(), info, size, frames,
                           frames / r.fps)


def prepare_scene(scene, track, fps: float, report, touch, cancel):
    """The scene with the track's features at the video rate (analysed again when they are
    not) and its reactivity and transitions computed once, so a bad preset fails before
    any frame and every worker reads the same tracks. ``touch`` keeps the export's
    temporary fresh during a long analysis. A recorded live set is not analysed: its
    reactivity is replayed from the steps it took."""
    from engine.audio.analyze import analyze

    features = scene.features
    # A recorded live set replays its own steps (engine.scene.live_steps): its audio is
    # only muxed, never analysed again.
    live = getattr(scene, "live", None) is not None
    if not live and (features is None or abs(float(features.fps) - fps) > 1e-9):
        report("analyse", 0, 1)

        def analysing(f, stage=""):
            touch()
            report("analyse", f, 1)

        features = analyze(track, fps=fps, cancel=cancel, progress=analysing)
        scene = scene.copy(features=features)
    for e in {scene.extra_inputs(s.style) for s in scene.segments}:
        scene.param_track(e)
    scene.windows()
    return scene


def export(request: ExportRequest, progress: Callable[[ExportProgress], None] | None = None,
           cancel=None, warn: Callable[[str], None] | None = None) -> ExportResult:
    """Render ``request`` into an MP4. Raises SonolumeError (Cancelled when cancelled); in
    every failure the target path is left as it was and no temporary file remains. The
    scene is copied first, so editing it meanwhile (the app's preview) changes nothing
    here. If the scene's features are not at ``fps`` the track is analysed again."""
    from engine.render import Renderer, make_renderer
    from engine.render.factory import QUALITY_BUDGETS

    t_start = time.perf_counter()
    p = resolve(request)
    r, scene, track_path, out, info = request, p.scene, p.track, p.output, p.info
    fps, start, quality = r.fps, r.start, r.quality
    w, h = p.size
    q = QUALITIES[quality]
    n_frames, exact = p.frames, p.duration
    preset = scene.loaded_preset()
    first_key = scene.style_at(start)
    cppn = scene.cppn(first_key)
    for s in scene.segments:  # a broken style fails now, not minutes into the render
        scene.cppn(s.style)
    rw, rh = render_size_for((w, h), q.render_scale)

    def report(stage, done, total, render_elapsed=0.0):
        if progress is not None:
            progress(ExportProgress(stage, done, total, time.perf_counter() - t_start,
                                    done / total if total else 1.0, render_elapsed))

    tmp = _temp_target(out, warn)  # proves the folder is writable before any long work
    touch = _Toucher(tmp)
    pipe = None
    renderer = r.renderer
    own_renderer = not isinstance(renderer, Renderer)
    rend = None
    try:
        _check_cancel(cancel)
        scene = prepare_scene(scene, track_path, fps, report, touch, cancel)
        t_analysed = time.perf_counter()
        # bf16 where the CPU has the hardware and the style stays within the quality's
        # error budget of fp32 (engine.render.factory.choose_precision): `fast` (p99.9
        # <= 4/255) takes plain bf16; standard/high (the GL-vs-torch tolerance) take the
        # AMX kernel's bf16x3 where it runs, else fp32.
        rend = make_renderer(cppn, renderer, warn=warn, device=r.device, precision="auto",
                             budget=QUALITY_BUDGETS[quality]) if own_renderer else renderer
        channels = 1 if info["channels"] == 1 else 2
        rate = info["sample_rate"] if 8000 <= info["sample_rate"] <= 48000 else 48000
        cmd = encode_command(
            ffmpeg_exe(), str(tmp), frame_size=(rw, rh), out_size=(w, h), fps=fps,
            audio=str(track_path), start=start, duration=exact, encoding=q.encoding,
            audio_channels=channels, audio_rate=rate,
            comment=f"Sonolume: {_what(scene)}, reactivity '{preset.name}', "
                    f"quality {quality}")
        pipe = _Pipe(cmd)
        t_render0 = time.perf_counter()
        frames = _FrameStream(rend, cppn, scene, start, fps, n_frames, (rw, rh), cancel,
                              tick=touch)
        for i, frame in enumerate(frames):
            pipe.put(frame.tobytes())
            report("render", i + 1, n_frames, time.perf_counter() - t_render0)
        render_s = frames.render_seconds
        t_rendered = time.perf_counter()
        report("finish", 0, 1)
        pipe.finish()
        t_encoded = time.perf_counter()
        atomic.commit(tmp, out, mode=0o666)  # created private; a video is not
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


def _what(scene) -> str:
    names = list(dict.fromkeys(str(getattr(scene.styles[s.style], "name", "cppn"))
                               for s in scene.segments))
    if len(names) == 1 and len(scene.segments) == 1:
        return f"style '{names[0]}'"
    shown = ", ".join(f"'{n}'" for n in names[:6]) + (", ..." if len(names) > 6 else "")
    return f"show of {len(scene.segments)} segments ({shown})"


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
    """One style for the whole track: :func:`export` of a one-segment Scene, kept for the
    callers written before scenes. ``style``: a library Style or a CPPN; ``reactivity``: a
    preset name, path or Preset; ``features``: AudioFeatures at ``fps`` if already
    analysed. New code builds an :class:`ExportRequest`."""
    from engine.scene import Scene

    if not (hasattr(style, "load_cppn") or (hasattr(style, "config")
                                             and hasattr(style, "hidden"))):
        raise SonolumeError(f"not a style or CPPN: {type(style).__name__}")
    scene = Scene.single(style, features=features, preset=reactivity, seed=seed,
                         track=track_path, library_dir=library_dir)
    request = ExportRequest(scene=scene, output=out_path, size=size, fps=fps,
                            quality=quality, renderer=renderer, start=start,
                            duration=duration)
    return export(request, progress=progress, cancel=cancel, warn=warn)


# -- choosing the quality for the machine --------------------------------------------------

#: ``auto`` draws every pixel when the export would run at least this fast (video seconds
#: per wall-clock second) at full size; below it, ``fast``.
AUTO_MIN_REALTIME = 0.5


@dataclass(frozen=True)
class QualityChoice:
    """What ``--quality auto`` decided and why: measured seconds per frame at full size
    and at the chosen size, with the renderer that will draw."""

    quality: str
    full_seconds_per_frame: float
    seconds_per_frame: float
    frames: int
    transition_frames: int
    fps: float
    renderer: str
    size: tuple[int, int]

    @property
    def expected_seconds(self) -> float:
        # A frame inside a transition draws two styles.
        return self.seconds_per_frame * (self.frames + self.transition_frames)

    @property
    def full_realtime(self) -> float:
        return 1.0 / (self.full_seconds_per_frame * self.fps)

    def line(self) -> str:
        w, h = self.size
        why = (f"full size keeps up ({self.full_realtime:.2f}x realtime)"
               if self.quality != "fast" else
               f"full size would run at {self.full_realtime:.2f}x realtime "
               f"({self.full_seconds_per_frame:.2f} s a frame)")
        return (f"quality: {self.quality} ({why} at {w}x{h} with {self.renderer}); "
                f"expected about {_fmt_duration(self.expected_seconds)} for "
                f"{self.frames} frames")


def _fmt_duration(s: float) -> str:
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}h{s // 60 % 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _time_frame(renderer, params, size, runs: int = 2) -> float:
    """Seconds per frame as the export will see them. A CPU torch renderer is timed on
    one thread and divided by the worker count, because the export draws one frame per
    core (torch's own threads collapse on a busy machine; see _FrameStream)."""
    from engine.render import TorchRenderer

    parallel = 1
    threads = None
    if isinstance(renderer, TorchRenderer) and renderer.device.type == "cpu":
        import torch

        parallel = max(1, min(os.cpu_count() or 1, MAX_WORKERS))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        renderer.render(params, *size)  # warm-up: grids, allocations, shader compile
        best = math.inf
        for _ in range(runs):
            t = time.perf_counter()
            renderer.render(params, *size)
            best = min(best, time.perf_counter() - t)
    finally:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
    return best / parallel


def choose_quality(renderer, cppn, size: tuple[int, int], fps: float, frames: int,
                   transition_frames: int = 0) -> QualityChoice:
    """Time frames with ``renderer`` (the one the export will use) and pick ``standard``
    when full size keeps up (:data:`AUTO_MIN_REALTIME`), else ``fast``.

    The ``fast`` size is timed first (cheap); a full-size frame is timed only when that
    does not already settle it, i.e. unless full size, estimated by pixel count, would be
    over 4x too slow (on a 2-core CPU a 720p frame takes seconds, which is the point)."""
    from engine.reactive.params import FrameParams

    params = FrameParams.neutral(int(cppn.config.extra_inputs))
    small_size = render_size_for(size, QUALITIES["fast"].render_scale)
    small = _time_frame(renderer, params, small_size)
    estimate = small * (size[0] * size[1]) / (small_size[0] * small_size[1])

    def keeps_up(spf: float) -> bool:
        return 1.0 / max(spf * fps, 1e-9) >= AUTO_MIN_REALTIME

    if not keeps_up(estimate / 4):
        full = estimate
    else:
        full = _time_frame(renderer, params, size, runs=1)
    quality, spf = ("standard", full) if keeps_up(full) else ("fast", small)
    return QualityChoice(quality, full, spf, int(frames), int(transition_frames), float(fps),
                         getattr(renderer, "description", renderer.name), tuple(size))
