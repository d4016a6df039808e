"""A scripted performance over OSC, recorded on a file track, saved as a show and rendered
by ``sonolume render set.json``: every rendered frame is the frame the preview drew live."""

import math
import time

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient

from engine.control import Controller, OscServer

FPS = 30
SIZE = 32
STYLES = ["seeded-pattern-01-ember-rings", "seeded-pattern-04-pastel-mosaic",
          "seeded-pattern-08-ice-marble"]
# frame index -> OSC messages sent just before that frame is drawn
SCRIPT = {
    12: [("/sonolume/hue", 0.2)],
    20: [("/sonolume/amount/pulse", 0.3), ("/sonolume/amount/drift", 1.8)],
    30: [("/sonolume/style/next", None)],
    48: [("/sonolume/blackout", 1)],
    55: [("/sonolume/blackout", 0)],
    60: [("/sonolume/transition/crossfade", 2)],
    84: [("/sonolume/freeze", None)],
    96: [("/sonolume/freeze", None), ("/sonolume/zoom", 1.6)],
    104: [("/sonolume/style/pick", 1)],
}


def write_track(path, seconds=4.0, bpm=120.0, sr=22050):
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(1)
    y = 0.1 * (np.sin(2 * math.pi * 220 * t) + np.sin(2 * math.pi * 330 * t)) / 2
    for k in range(int(seconds * bpm / 60) + 1):
        i = int(k * 60 / bpm * sr)
        n = min(int(0.03 * sr), len(y) - i)
        if n > 0:
            y[i:i + n] += 0.8 * np.exp(-np.arange(n) / (0.006 * sr)) * rng.standard_normal(n)
    sf.write(str(path), np.clip(y, -1, 1).astype(np.float32), sr)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))


def test_a_recorded_set_renders_the_frames_the_preview_showed(tmp_path, library_dir, cache,
                                                              monkeypatch, capsys):
    from engine.audio.analyze import analyze
    from engine.audio.structure import analyze_structure
    from engine.cli.main import main
    from engine.export import video as video_mod
    from engine.render import make_renderer
    from engine.scene import Scene, SceneDrawer
    from engine.scene.show import read_show, save_show, show_from_scene
    from engine.styles.library import Library

    track = write_track(tmp_path / "song.wav")
    library = Library(library_dir)
    palette = [library.get(s) for s in STYLES]
    features = analyze(track, fps=FPS)  # what the app's stage analyses
    structure = analyze_structure(track)
    scene = Scene({STYLES[0]: palette[0]}, features=features, structure=structure,
                  preset="punchy", track=track)

    clock = {"t": 0.0}
    ctl = Controller(scene, lambda: clock["t"], palette=palette)
    ctl.recording = True
    server = OscServer(ctl.submit, port=0).start()
    client = SimpleUDPClient("127.0.0.1", server.port)
    first = palette[0].load_cppn()
    drawer = SceneDrawer(make_renderer(first, "torch"), first)
    shown = []
    n = int(round(features.duration * FPS))
    try:
        for k in range(n):
            clock["t"] = k / FPS
            for address, value in SCRIPT.get(k, ()):
                client.send_message(address, [] if value is None else value)
            deadline = time.monotonic() + 5
            while ctl.pending() < len(SCRIPT.get(k, ())) and time.monotonic() < deadline:
                time.sleep(0.005)
            ctl.flush()
            shown.append(drawer.draw(scene.frame_at(clock["t"]), SIZE, SIZE))
    finally:
        server.stop()
        drawer.release()
    ctl.recording = False
    assert server.received == sum(len(v) for v in SCRIPT.values())
    assert [s.style for s in scene.segments] == [STYLES[0], STYLES[1], STYLES[2], STYLES[0]]
    assert {"hue", "amount.pulse", "amount.drift", "brightness", "freeze", "zoom"} <= \
        {lane.control for lane in scene.automation}
    assert shown[50].max() == 0 and shown[58].max() > 0  # the blackout

    path = tmp_path / "set.json"
    save_show(show_from_scene(scene, name="set"), path, grid=scene.grid)
    assert read_show(path).automation == scene.automation

    rendered = []
    real_put = video_mod._Pipe.put
    monkeypatch.setattr(video_mod._Pipe, "put",
                        lambda self, data: (rendered.append(data), real_put(self, data))[1])
    out = tmp_path / "set.mp4"
    code = main(["render", str(path), "-o", str(out), "--size", f"{SIZE}x{SIZE}",
                 "--quality", "standard", "--renderer", "torch"])
    assert code == 0, capsys.readouterr().err
    assert out.is_file() and len(rendered) == n
    worst = 0
    for k, data in enumerate(rendered):
        frame = np.frombuffer(data, np.uint8).reshape(SIZE, SIZE, 3).astype(int)
        worst = max(worst, int(np.abs(frame - shown[k]).max()))
    print(f"worst difference rendered vs preview: {worst}/255")
    assert worst <= 1, f"a rendered frame differs from the preview's by {worst}/255"
