"""Render and train on a local Ray instance (2 CPUs): chunks joined by stream copy decode
to the frames of a local chunked render, a worker killed mid-chunk is retried, cancel
leaves nothing, a batch of prompts lands one style each and a failing one loses no other."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cluster import ClusterError, require_ray
from engine.cluster.chunks import gop_frames, plan_chunks
from engine.cluster.render import export_chunked
from engine.cppn.model import CPPN, CPPNConfig
from engine.errors import Cancelled, SonolumeError
from engine.export import ExportRequest, ffmpeg_exe, probe

ROOT = Path(__file__).resolve().parents[3]
SIZE, FPS = (64, 36), 10
SMALL = CPPNConfig(hidden=32, layers=3)


@pytest.fixture(scope="module", autouse=True)
def _isolated_cache(tmp_path_factory):
    old = os.environ.get("SONOLUME_CACHE_DIR")
    os.environ["SONOLUME_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("SONOLUME_CACHE_DIR", None)
    else:
        os.environ["SONOLUME_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    """3.5 s stereo: kicks at 120 BPM over a chord."""
    import soundfile as sf

    sr = 22050
    t = np.arange(int(3.5 * sr)) / sr
    chord = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    kick = np.zeros_like(t)
    for b in np.arange(0, 3.5, 0.5):
        k = (t >= b) & (t < b + 0.12)
        kick[k] += 0.6 * np.sin(2 * np.pi * 60 * (t[k] - b)) * np.exp(-(t[k] - b) * 30)
    y = np.stack([chord + kick, chord * 0.8 + kick], axis=1).astype(np.float32)
    path = tmp_path_factory.mktemp("track") / "beat.wav"
    sf.write(path, y, sr)
    return path


@pytest.fixture(scope="module")
def show(track):
    """Two styles with a crossfade: a show exercises every part of the portable scene."""
    from engine.audio.analyze import analyze
    from engine.scene import Scene
    from engine.scene.scene import Segment, Transition

    a, b = CPPN(SMALL, seed=1), CPPN(SMALL, seed=2)
    return Scene({"a": a, "b": b}, [Segment("a", 0.0, 1.5), Segment("b", 1.5, 99.0)],
                 [Transition("crossfade", 2)], features=analyze(track, fps=FPS),
                 preset="punchy", seed=3, track=track)


def decode(path: Path) -> np.ndarray:
    out = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f",
                          "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], capture_output=True,
                         check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, SIZE[1], SIZE[0], 3)


def request(scene, out: Path) -> ExportRequest:
    return ExportRequest(scene, out, size=SIZE, fps=FPS, quality="standard")


@pytest.fixture(scope="module")
def local_frames(show, tmp_path_factory) -> np.ndarray:
    out = tmp_path_factory.mktemp("local") / "local.mp4"
    result = export_chunked(request(show, out), chunk_seconds=1.0, workers=2)
    assert result.timings["chunks"] == 2
    return decode(out)


def test_chunks_are_whole_gops_covering_every_frame():
    chunks = plan_chunks(95, 10, chunk_seconds=4.0)
    gop = gop_frames(10)
    assert gop == 20 and [c.count for c in chunks] == [40, 40, 15]
    assert [c.first for c in chunks] == [0, 40, 80]
    assert all(c.first % gop == 0 for c in chunks)
    assert [c.count for c in plan_chunks(95, 10, chunk_seconds=0.1)] == [20] * 4 + [15]
    with pytest.raises(SonolumeError, match="chunk length"):
        plan_chunks(95, 10, chunk_seconds=0)


def test_local_chunked_render_is_the_scene_drawn_and_joined(show, local_frames, track):
    """Right count, in order, close to the frames the scene draws (codec error only)."""
    from engine.render import TorchRenderer
    from engine.scene.draw import SceneDrawer

    assert local_frames.shape[0] == 35
    drawer = SceneDrawer(make=lambda c: TorchRenderer(c, device="cpu"))
    scene = show.copy()
    for i in (0, 19, 20, 34):  # both sides of the chunk boundary
        ref = drawer.draw(scene.frame_at(i / FPS), *SIZE).astype(np.float64)
        mse = np.mean((local_frames[i] - ref) ** 2)
        psnr = 10 * np.log10(255 ** 2 / max(mse, 1e-9))
        assert psnr > 28, (i, psnr)
        others = [j for j in (i - 3, i + 3) if 0 <= j < 35]
        assert all(np.mean((local_frames[j] - ref) ** 2) > mse for j in others)
    drawer.release()


def test_cluster_render_decodes_to_the_local_chunked_frames(ray_local, show, local_frames,
                                                            tmp_path):
    out = tmp_path / "cluster.mp4"
    seen = []
    result = export_chunked(request(show, out), cluster="", chunk_seconds=1.0,
                            progress=lambda p: p.stage == "render" and seen.append(p.done))
    assert np.array_equal(decode(out), local_frames)
    info = probe(out)
    assert info["video"]["frames"] == 35 and abs(info["audio"]["duration"] - 3.5) < 0.05
    assert seen[-1] == 35 and max(seen) == 35  # frames over all workers
    assert "Ray" in result.renderer and result.timings["chunks"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.mp4"]


def test_cli_render_on_the_cluster(ray_local, track, tmp_path, monkeypatch, capsys):
    from engine.cli.main import main

    monkeypatch.setenv("SONOLUME_LIBRARY", str(tmp_path / "lib"))
    out = tmp_path / "cli.mp4"
    assert main(["render", "seeded-pattern-01-ember-rings", str(track), "-o", str(out),
                 "--size", "64x36", "--fps", "10", "--duration", "2", "--cluster",
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "quality: standard" in text and "1 chunk drawn by torch cpu fp32 on a Ray" in text
    assert probe(out)["video"]["frames"] == 20


def test_train_batch_on_the_cluster_lands_each_style_and_skips_them_next_time(
        ray_local, tmp_path, monkeypatch, capsys, tiny_clip_config):
    from engine.cli.main import main
    from engine.styles.library import Library

    monkeypatch.setenv("SONOLUME_LIBRARY", str(tmp_path / "lib"))
    board = tmp_path / "board.txt"
    board.write_text("red fire\nblue ice | frozen lake\ngreen moss\n")
    args = ["train", "--batch", str(board), "--cluster", "--clip-config",
            str(tiny_clip_config), "--steps", "1", "--quiet"]
    assert main(args) == 0
    styles = [s for s in Library(tmp_path / "lib").list() if s.trained]
    assert sorted(s.name for s in styles) == ["blue ice + frozen lake", "green moss",
                                              "red fire"]
    assert all(s.clip_random and s.meta["prompts"] for s in styles)
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("skipped") == 3
    assert len([s for s in Library(tmp_path / "lib").list() if s.trained]) == 3


def test_one_failing_prompt_loses_no_other(ray_local, tmp_path, tiny_clip_config):
    from engine.clip import ClipSpec
    from engine.cluster.train import TrainJob, train_on_cluster
    from engine.cppn.train import Prompt, TrainConfig
    from engine.styles.library import Library

    def fail_on_bad(name):
        if name == "bad":
            raise SonolumeError("no CLIP weights on this node (test)")

    jobs = [TrainJob(t, TrainConfig.from_preset("draft", [Prompt(t)], schedule=[(2, 40)],
                                                cutouts=1)) for t in ("good", "bad", "fine")]
    library = Library(tmp_path / "lib")
    events = []
    results = train_on_cluster(jobs, ClipSpec(config=str(tiny_clip_config)), library,
                               hook=fail_on_bad, on_event=lambda k, r: events.append(k))
    assert [r.error is None for r in results] == [True, False, True]
    assert "no CLIP weights on this node" in results[1].error
    assert sorted(s.name for s in library.list() if s.trained) == ["fine", "good"]
    assert sorted(events) == ["failed", "landed", "landed", "start"]


def test_a_node_without_clip_weights_fails_that_task_with_the_usual_message(ray_local,
                                                                            tmp_path):
    from engine.clip import ClipSpec
    from engine.cluster.train import TrainJob, train_on_cluster
    from engine.cppn.train import Prompt, TrainConfig
    from engine.styles.library import Library

    job = TrainJob("glass", TrainConfig.from_preset("draft", [Prompt("glass")],
                                                    schedule=[(1, 40)], cutouts=1))
    library = Library(tmp_path / "lib")
    [landed] = train_on_cluster([job], ClipSpec(checkpoint=str(tmp_path / "no-clip.pt")),
                                library)
    assert landed.style is None
    assert f"CLIP checkpoint file not found: {tmp_path / 'no-clip.pt'}" in landed.error
    assert not [s for s in library.list() if s.trained]


def test_missing_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ClusterError, match=r"pip install 'sonolume\[cluster\]'"):
        require_ray()


def test_ray_is_imported_only_when_a_cluster_is_used():
    code = ("import sys, engine.cli.main, engine.cluster.render, engine.cluster.train; "
            "import engine.export; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == "False"


# Last: these two kill worker processes, which the tests above would have to restart.
def test_a_worker_killed_mid_chunk_is_retried(ray_local, show, local_frames, tmp_path):
    marker = tmp_path / "killed-once"

    def kill_once(chunk, frame):
        if chunk.index == 1 and frame == chunk.first + 3 and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)

    out = tmp_path / "retried.mp4"
    export_chunked(request(show, out), cluster="", chunk_seconds=1.0, hook=kill_once)
    assert marker.exists()  # the first attempt died
    assert np.array_equal(decode(out), local_frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed-once", "retried.mp4"]


def test_cancel_stops_every_task_and_leaves_no_file(ray_local, show, tmp_path):
    def slow(chunk, frame):
        time.sleep(0.2)

    cancel = threading.Event()
    with pytest.raises(Cancelled):
        export_chunked(request(show, tmp_path / "x.mp4"), cluster="", chunk_seconds=1.0,
                       hook=slow, cancel=cancel,
                       progress=lambda p: p.stage == "render" and p.done >= 2 and cancel.set())
    assert list(tmp_path.iterdir()) == []
    deadline = time.monotonic() + 20
    while ray_local.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray_local.available_resources().get("CPU", 0) == 2  # no task kept running


def test_a_cpu_only_cluster_asks_for_no_gpu(ray_local):
    """A GPU request on a cluster without GPUs would never be scheduled."""
    from engine.cluster.train import task_device, training_resources

    assert training_resources(ray_local, 2) == {"num_cpus": 2}
    assert training_resources(ray_local, 0) == {"num_cpus": 1}
    assert task_device() == ("cuda" if __import__("torch").cuda.is_available() else "cpu")
