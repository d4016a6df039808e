"""A one-segment scene draws exactly the frames the code before scenes drew (the fixture
tests/data/scene-regression.npz, written by regression_fixture.py from that code)."""

import numpy as np
import pytest
import regression_fixture as fx

from engine.export import ExportRequest, export, export_video
from engine.export import video as video_mod
from engine.render import TorchRenderer
from engine.scene import Scene, SceneDrawer


@pytest.fixture(scope="module")
def want():
    with np.load(fx.FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _capture(monkeypatch) -> list[bytes]:
    got: list[bytes] = []
    real_put = video_mod._Pipe.put

    def put(self, frame_bytes):
        got.append(bytes(frame_bytes))
        return real_put(self, frame_bytes)

    monkeypatch.setattr(video_mod._Pipe, "put", put)
    return got


def _frames(got) -> np.ndarray:
    w, h = fx.SIZE
    return np.stack([np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in got])


def test_old_export_call_pipes_the_same_frames(want, tmp_path, monkeypatch):
    # the fixture is fp32's frames: keep the export off the AMX kernel's bf16x3 (within
    # 1/255 of fp32, not bit for bit), which standard quality takes where the CPU has AMX
    monkeypatch.setenv("SONOLUME_PRECISION", "fp32")
    got = _capture(monkeypatch)
    export_video(fx.cppn(), fx.write_track(tmp_path / "t.wav"), tmp_path / "o.mp4",
                 size=fx.SIZE, fps=fx.FPS, quality="standard", renderer="torch",
                 features=fx.features(), **fx.EXPORT)
    assert np.array_equal(_frames(got), want["export"])


def test_one_segment_scene_request_pipes_the_same_frames(want, tmp_path, monkeypatch):
    monkeypatch.setenv("SONOLUME_PRECISION", "fp32")  # fp32's frames, bit for bit
    got = _capture(monkeypatch)
    scene = Scene.single(fx.cppn(), features=fx.features(), preset=fx.EXPORT["reactivity"],
                         seed=fx.EXPORT["seed"], track=fx.write_track(tmp_path / "t.wav"))
    export(ExportRequest(scene, tmp_path / "o.mp4", size=fx.SIZE, fps=fx.FPS,
                         renderer="torch", start=fx.EXPORT["start"],
                         duration=fx.EXPORT["duration"]))
    assert len(got) == len(want["export"])
    assert np.array_equal(_frames(got), want["export"])


def test_scene_draws_what_the_apps_stage_drew(want):
    """Preset scaled by the sliders, and the idle drift with no track."""
    cppn = fx.cppn()
    scene = Scene.single(cppn, features=fx.features(), preset="punchy", amounts=fx.AMOUNTS)
    drawer = SceneDrawer(TorchRenderer(cppn), cppn)
    got = np.stack([drawer.draw(scene.frame_at(t), *fx.SIZE) for t in fx.STAGE_TIMES])
    assert np.array_equal(got, want["stage"])
    scene.set_features(None)
    idle = np.stack([drawer.draw(scene.frame_at(t), *fx.SIZE) for t in fx.STAGE_TIMES])
    assert np.array_equal(idle, want["idle"])
    assert not np.array_equal(idle, got)  # the fixture's two cases differ
