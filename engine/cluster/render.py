"""Render a video in chunks: on this machine, or spread over a Ray cluster.

:func:`export_chunked` takes the same :class:`~engine.export.ExportRequest` as the ordinary
export and writes the same kind of file (H.264 yuv420p + AAC of the track's segment,
faststart, renamed into place at the end), but as chunks of whole GOPs
(:mod:`engine.cluster.chunks`). ``cluster=None`` encodes the chunks here, one after another
with the frames of each drawn in parallel threads; ``cluster=""`` starts a local Ray
instance and ``cluster="host:port"`` joins a cluster, where each chunk is one Ray task.
Both encode the same chunks the same way, so their files decode to the same frames.

Driver side, in order: analyse the track (once, here), make the scene portable (weights
as bytes) and put it in Ray's object store, submit one task per chunk, collect the chunk
bytes into a hidden temporary folder beside the target, then one ffmpeg run joins them by
stream copy and muxes the audio into a temporary file that is renamed over the target.
Cancel (token, Ctrl-C, SIGTERM) cancels every task (``force``: their workers are killed)
and removes both temporaries. A worker that dies mid-chunk (``kill -9``, a node lost) is
retried by Ray (``max_retries``); its chunk is drawn again from the start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable

from engine import atomic
from engine.atomic import temp_path
from engine.cluster import ClusterError, connect, disconnect, task_error
from engine.cluster.chunks import (
    DEFAULT_CHUNK_SECONDS,
    Chunk,
    ChunkJob,
    encode_chunk,
    join_command,
    plan_chunks,
    run_join,
    write_listing,
)
from engine.errors import Cancelled
from engine.export.ffmpeg import ffmpeg_exe
from engine.export.video import (
    QUALITIES,
    ExportProgress,
    ExportRequest,
    ExportResult,
    _check_cancel,
    _temp_target,
    _Toucher,
    _what,
    prepare_scene,
    render_size_for,
    resolve,
)

MAX_RETRIES = 3  # Ray retries of a chunk whose worker died (system failures only)
POLL_S = 0.25


def chunk_name(index: int) -> str:
    return f"chunk-{index:05d}.mp4"


def render_chunk_task(job: ChunkJob, chunk: Chunk, counter=None, hook=None) -> bytes:
    """One Ray task: draw and encode ``chunk``. ``counter``: an actor told the frames done
    (progress over all workers); ``hook(chunk, frame)``: called on the worker before each
    frame (tests use it to kill the worker mid-chunk)."""
    def before(i):
        if hook is not None:
            hook(chunk, i)

    def drawn(n):
        if counter is not None:
            counter.set.remote(chunk.index, n)

    if counter is not None:
        counter.set.remote(chunk.index, 0)  # a retried chunk starts its count again
    return encode_chunk(job, chunk, threads=1, before=before, drawn=drawn)


class FrameCounter:
    """Frames done per chunk, as told by the tasks; a Ray actor on the cluster."""

    def __init__(self):
        self.done: dict[int, int] = {}

    def set(self, index: int, n: int) -> None:
        self.done[index] = n

    def total(self) -> int:
        return sum(self.done.values())


def export_chunked(request: ExportRequest, *, cluster: str | None = None,
                   chunk_seconds: float = DEFAULT_CHUNK_SECONDS, workers: int | None = None,
                   progress: Callable[[ExportProgress], None] | None = None, cancel=None,
                   warn: Callable[[str], None] | None = None, max_retries: int = MAX_RETRIES,
                   hook: Callable | None = None) -> ExportResult:
    """Render ``request`` as GOP-aligned chunks joined without re-encoding.

    ``cluster``: None renders here; ``""`` (or "local") starts a local Ray instance with
    ``workers`` CPUs (default: all); an address joins that cluster (a Ray already
    connected in this process is used as it is). ``workers`` here: threads drawing frames
    (default: the cores). ``request.renderer`` is not used: chunks are drawn by the fp32
    CPU torch renderer, the one that draws the same bits on every worker. ``hook`` runs on
    the worker before each frame (see :func:`render_chunk_task`). Errors, cancel and
    leftovers behave as in :func:`engine.export.export`; ``timings`` in the result has
    ``analyse``, ``connect`` (Ray start or join; cluster only), ``prepare`` (the split:
    portable scene, object store, submission), ``render`` (chunks: the parallel part),
    ``join`` (concat + audio mux + rename) and ``chunks`` (how many)."""

    t_start = time.perf_counter()
    p = resolve(request)
    r, scene, track_path, out, info = request, p.scene, p.track, p.output, p.info
    fps, start, quality = r.fps, r.start, r.quality
    w, h = p.size
    q = QUALITIES[quality]
    n_frames, exact = p.frames, p.duration
    chunks = plan_chunks(n_frames, fps, chunk_seconds)
    preset = scene.loaded_preset()
    for s in scene.segments:  # a broken style fails now, not on a worker
        scene.cppn(s.style)
    rw, rh = render_size_for((w, h), q.render_scale)

    def report(stage, done, total, render_elapsed=0.0):
        if progress is not None:
            progress(ExportProgress(stage, done, total, time.perf_counter() - t_start,
                                    done / total if total else 1.0, render_elapsed))

    tmp = _temp_target(out, warn)
    touch = _Toucher(tmp)
    parts = temp_path(out, ".chunks")
    timings: dict = {}
    try:
        parts.mkdir()
        _check_cancel(cancel)
        scene = prepare_scene(scene, track_path, fps, report, touch, cancel)
        t_analysed = time.perf_counter()
        timings["analyse"] = t_analysed - t_start

        def on_chunk(chunk: Chunk, data: bytes) -> None:
            (parts / chunk_name(chunk.index)).write_bytes(data)
            touch()

        t_render0 = time.perf_counter()

        def frames_done(n):
            touch()
            report("render", n, n_frames, time.perf_counter() - t_render0)

        if cluster is None:
            job = ChunkJob(scene, start, fps, (rw, rh), (w, h), q.encoding)
            timings["prepare"] = time.perf_counter() - t_analysed
            t_render0 = time.perf_counter()
            _render_here(job, chunks, workers, cancel, hook, on_chunk, frames_done)
            renderer = "torch cpu fp32, chunked here"
            timings["render"] = time.perf_counter() - t_render0
        else:
            renderer = _render_on_ray(scene, chunks, start, fps, (rw, rh), (w, h), q,
                                      cluster, workers, cancel, hook, on_chunk, frames_done,
                                      max_retries, timings)
        t_rendered = time.perf_counter()
        report("finish", 0, 1)
        channels = 1 if info["channels"] == 1 else 2
        rate = info["sample_rate"] if 8000 <= info["sample_rate"] <= 48000 else 48000
        listing = write_listing(parts, [chunk_name(c.index) for c in chunks])
        run_join(join_command(
            ffmpeg_exe(), listing, tmp, audio=str(track_path), start=start, duration=exact,
            encoding=q.encoding, audio_channels=channels, audio_rate=rate,
            comment=f"Sonolume: {_what(scene)}, reactivity '{preset.name}', "
                    f"quality {quality}, {len(chunks)} chunks"), cancel)
        atomic.commit(tmp, out, mode=0o666)
        timings["join"] = time.perf_counter() - t_rendered
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    report("finish", 1, 1)
    total = time.perf_counter() - t_start
    timings["chunks"] = len(chunks)
    return ExportResult(path=out, frames=n_frames, fps=float(fps), duration=exact,
                        size=(w, h), render_size=(rw, rh), renderer=renderer, seconds=total,
                        render_seconds=timings["render"], timings=timings)


def _render_here(job, chunks, workers, cancel, hook, on_chunk, frames_done) -> None:
    threads = max(1, workers if workers is not None else (os.cpu_count() or 1))
    done = 0
    for chunk in chunks:
        def before(i, chunk=chunk):
            _check_cancel(cancel)
            if hook is not None:
                hook(chunk, i)

        def drawn(n, base=done):
            frames_done(base + n)

        on_chunk(chunk, encode_chunk(job, chunk, threads=threads, before=before,
                                     drawn=drawn))
        done += chunk.count


def _render_on_ray(scene, chunks, start, fps, frame_size, out_size, q, cluster, workers,
                   cancel, hook, on_chunk, frames_done, max_retries, timings) -> str:
    from engine.cluster.portable import portable_scene

    t0 = time.perf_counter()
    address = None if cluster in ("", "local") else cluster
    ray, started = connect(address, num_cpus=workers)
    timings["connect"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    refs: dict = {}
    counter = None
    try:
        job = ChunkJob(portable_scene(scene), start, fps, frame_size, out_size, q.encoding)
        job_ref = ray.put(job)
        counter = ray.remote(num_cpus=0)(FrameCounter).remote()
        task = ray.remote(num_cpus=1, max_retries=int(max_retries))(render_chunk_task)
        refs = {task.remote(job_ref, c, counter, hook): c for c in chunks}
        timings["prepare"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cpus = ray.cluster_resources().get("CPU", 0)
        shown = 0
        while refs:
            _check_cancel(cancel)
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
            for ref in ready:
                chunk = refs.pop(ref)
                try:
                    data = ray.get(ref)
                except Exception as exc:
                    raise task_error(exc) from exc
                on_chunk(chunk, data)
            with contextlib.suppress(Exception):
                n = ray.get(counter.total.remote(), timeout=5)
                if n != shown:
                    shown = n
                    frames_done(n)
        frames_done(sum(c.count for c in chunks))
        timings["render"] = time.perf_counter() - t0
        return f"torch cpu fp32 on a Ray cluster ({cpus:g} CPUs)"
    except BaseException:
        for ref in refs:  # stop every task still queued or running
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        if counter is not None:
            with contextlib.suppress(Exception):
                ray.kill(counter)
        disconnect(ray, started)


__all__ = ["ClusterError", "Cancelled", "FrameCounter", "export_chunked",
           "render_chunk_task"]
