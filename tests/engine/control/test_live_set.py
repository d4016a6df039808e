"""A live set on real audio, fed in device-sized blocks through the streaming analyzer, with
a scripted performance; recorded, saved as a show and rendered by ``sonolume render``: the
rendered frames are the frames the live set drew, and the recorded audio is the input."""

from __future__ import annotations

import math
import resource
import signal
from pathlib import Path

import numpy as np
import pytest

from engine.audio.live import LiveAnalyzer
from engine.control.live_set import LiveSet, LiveSetError, set_files

FPS = 30
SIZE = 24
BLOCK = 1024  # samples per device block
STYLES = ["seeded-pattern-01-ember-rings", "seeded-pattern-04-pastel-mosaic",
          "seeded-pattern-08-ice-marble"]
DEMO = Path(__file__).resolve().parents[3] / "resources" / "audio" / "demo.ogg"
# set time (s) -> moves made once the stream has passed it
SCRIPT = [
    (0.5, [("amount.pulse", 0.3, None), ("hue", 0.2, None)]),
    (1.0, [("style.next", None, None)]),
    (1.9, [("transition.crossfade", None, 2)]),
    (2.6, [("panel", "punchy", {"drift": 2.0, "_all": 1.0})]),  # the reactivity sliders
    (3.0, [("blackout", 1.0, None)]),
    (3.3, [("blackout", 0.0, None)]),
    (3.6, [("freeze", 1.0, None)]),
    (4.1, [("freeze", 0.0, None), ("zoom", 1.6, None), ("amount.all", 1.5, None)]),
    (4.4, [("style.pick", None, 1)]),
]


def device_audio(start: float, seconds: float):
    """The demo track as a 16-bit stereo device delivers it (float32 of int16 values)."""
    import soundfile as sf

    y, sr = sf.read(str(DEMO), dtype="float32", always_2d=True)
    y = y[int(start * sr): int((start + seconds) * sr)]
    return (np.round(np.clip(y, -1, 32767 / 32768) * 32768) / 32768).astype(np.float32), sr


def fields(p):
    return np.concatenate([np.asarray(p.extras, np.float64),
                           [p.zoom, p.rotation, p.warp, p.warp_phase, p.hue, p.brightness]])


def same_frame(a, b) -> bool:
    if (a.mode, a.mix, len(a.layers)) != (b.mode, b.mix, len(b.layers)):
        return False
    return all(x.style == y.style and np.array_equal(fields(x.params), fields(y.params))
               for x, y in zip(a.layers, b.layers))


@pytest.fixture
def palette(library_dir):
    from engine.styles.library import Library

    library = Library(library_dir)
    return library, [library.get(s) for s in STYLES]


def new_set(palette, fps=FPS, sr=44100, channels=2):
    from engine.scene import Scene

    _, styles = palette
    scene = Scene({s.id: s for s in styles}, preset="punchy", seed=3)
    return LiveSet(scene, LiveAnalyzer(sr, channels), fps=fps)


def test_a_recorded_live_set_renders_the_frames_drawn_live(tmp_path, palette, monkeypatch,
                                                            capsys):
    from engine.cli.main import main
    from engine.export import video as video_mod
    from engine.render import make_renderer
    from engine.scene import SceneDrawer
    from engine.scene.show import open_show, read_show

    audio, sr = device_audio(6.0, 11.0)
    live = new_set(palette, sr=sr)
    warm = int(5.0 * sr)  # 5 s of performing before Record
    for i in range(0, warm, BLOCK):
        live.push(audio[i:i + BLOCK])
    assert live.analyzer.tracker.locked, "the demo's kick should give a beat by now"

    show_path = live.start_recording(tmp_path / "my set.json")
    show, flac, steps = set_files(show_path)
    origin_sample = int(round(live.origin * sr))
    assert origin_sample == warm + (-warm) % BLOCK
    first = palette[1][0].load_cppn()
    drawer = SceneDrawer(make_renderer(first, "torch"), first)
    frames, shown = [], []
    script = list(SCRIPT)
    try:
        for i in range(origin_sample, len(audio), BLOCK):
            live.push(audio[i:i + BLOCK])
            while script and live.now() >= script[0][0]:
                for control, value, arg in script.pop(0)[1]:
                    if control == "panel":
                        assert live.set_reactivity(value, arg) == {"automation"}
                        with pytest.raises(LiveSetError, match="another reactivity preset"):
                            live.set_reactivity("calm", arg)
                    else:
                        live.perform(control, value, arg)
            while len(frames) / FPS <= live.now():  # what the output window drew then
                f = live.frame_at(len(frames) / FPS)
                frames.append(f)
                shown.append(drawer.draw(f, SIZE, SIZE))
            # a take in progress is only temporaries: nothing half-written at the target
            assert not show.exists() and not flac.exists() and not steps.exists()
        assert live.recording and live.elapsed > 5.5
        path = live.stop_recording()
    finally:
        drawer.release()
    assert path == show and show.is_file() and flac.is_file() and steps.is_file()

    # the performance happened: beat-locked changes, a crossfade, blackout, freeze
    scene = live.scene
    saved = read_show(show)
    assert [s.style for s in saved.segments] == [STYLES[0], STYLES[1], STYLES[2], STYLES[0]]
    assert [t.text for t in saved.transitions] == ["cut", "crossfade:2", "cut"]
    from engine.scene.live_steps import LiveSteps

    beats = np.asarray(LiveSteps.load(steps).beats)
    for seg in saved.segments[1:]:  # every change on a beat of the online tracker
        assert np.min(np.abs(beats - seg.start)) <= 0.5 / FPS + 1e-9
    assert {"amount.pulse", "hue", "brightness", "freeze", "zoom", "amount.all",
            "amount.drift"} <= {lane.control for lane in saved.automation}
    assert saved.automation.value("amount.drift", 5.0) == 2.0 and saved.amounts == {}
    assert any(f.mode == "crossfade" and 0 < f.mix < 1 for f in frames)
    black = [k for k, f in enumerate(frames) if 3.05 <= k / FPS < 3.25]
    assert black and all(shown[k].max() == 0 for k in black)
    assert saved.live_steps == steps and saved.track == flac.resolve()
    del scene

    # the recorded audio is the input, sample for sample
    import soundfile as sf

    rec, rec_sr = sf.read(str(flac), dtype="float32", always_2d=True)
    assert rec_sr == sr
    np.testing.assert_array_equal(rec, audio[origin_sample:])

    # the show, opened as any show: the same parameters at every frame, to the bit
    library = palette[0]
    reopened = open_show(saved, library, where=show.name)
    assert reopened.live is not None and reopened.features is None
    for k, f in enumerate(frames):
        assert same_frame(reopened.frame_at(k / FPS), f), f"frame {k} differs"

    # show info says what it is
    assert main(["show", "info", str(show)]) == 0
    assert "recorded live set: " in capsys.readouterr().out

    # and rendered: the same pixels, without analysing the recorded audio
    import engine.audio.analyze as analyze_mod

    def no_analysis(*a, **k):
        raise AssertionError("a recorded live set must not be analysed again")

    monkeypatch.setattr(analyze_mod, "analyze", no_analysis)
    rendered = []
    real_put = video_mod._Pipe.put
    monkeypatch.setattr(video_mod._Pipe, "put",
                        lambda self, data: (rendered.append(data), real_put(self, data))[1])
    out = tmp_path / "set.mp4"
    code = main(["render", str(show), "-o", str(out), "--size", f"{SIZE}x{SIZE}",
                 "--quality", "standard", "--renderer", "torch", "--fps", str(FPS)])
    assert code == 0, capsys.readouterr().err
    assert out.is_file()
    n = min(len(rendered), len(shown))
    assert n >= len(shown) - 1
    worst = max(int(np.abs(np.frombuffer(rendered[k], np.uint8).reshape(SIZE, SIZE, 3)
                           .astype(int) - shown[k]).max()) for k in range(n))
    print(f"worst difference rendered vs live: {worst}/255 over {n} frames")
    assert worst <= 1


def test_a_set_plays_on_when_the_disk_fills_and_nothing_is_left(tmp_path, palette):
    audio, sr = device_audio(8.0, 4.0)
    errors = []
    live = new_set(palette, sr=sr)
    live.on_error = errors.append
    live.push(audio[: sr])
    show, flac, steps = set_files(live.start_recording(tmp_path / "full.json"))
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:  # the file-size limit stands in for a full disk: writes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, old_limit[1]))
        for i in range(sr, len(audio), BLOCK):
            live.push(audio[i:i + BLOCK])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert errors and "recording stopped" in errors[0] and "nothing was saved" in errors[0]
    assert not live.recording
    assert not show.exists() and not flac.exists() and not steps.exists()
    assert not [p for p in tmp_path.iterdir()], "a temporary was left behind"
    assert live.now() > 3.0 - 1.0 and live.frame_at() is not None  # the preview goes on


def test_recording_into_a_missing_folder_says_so_and_the_set_plays_on(tmp_path, palette):
    audio, sr = device_audio(8.0, 2.0)
    live = new_set(palette, sr=sr)
    live.push(audio[:sr])
    with pytest.raises(LiveSetError, match="does not exist"):
        live.start_recording(tmp_path / "no" / "such" / "set.json")
    assert not live.recording
    live.push(audio[sr:])
    assert live.now() > 1.5 and live.frame_at() is not None


def test_a_rate_change_mid_take_keeps_the_take(tmp_path, palette):
    from engine.scene.show import read_show

    audio, sr = device_audio(8.0, 4.0)
    errors = []
    live = new_set(palette, sr=sr)
    live.on_error = errors.append
    live.push(audio[:sr])
    show, flac, _ = set_files(live.start_recording(tmp_path / "take.json"))
    live.push(audio[sr:2 * sr])
    live.analyzer.reconfigure(48000, 2)  # the device reopened at another rate
    live.push(np.zeros((4800, 2), np.float32))
    assert errors and "48000 Hz" in errors[0] and "saved" in errors[0]
    assert show.is_file() and not live.recording
    assert math.isclose(read_show(show).track_duration, 1.0, abs_tol=BLOCK / sr)


def test_old_and_plain_show_files_still_load(tmp_path, palette):
    import json

    from engine.scene.show import read_show

    data = {"format": "sonolume-show", "version": 1, "track": {"path": "/x.wav"},
            "styles": [{"id": STYLES[0]}],
            "segments": [{"style": STYLES[0], "start": 0, "end": 10}]}
    p = tmp_path / "old.json"
    p.write_text(json.dumps(data))
    show = read_show(p)
    assert show.live_steps is None and show.to_json()["version"] == 1
    assert "live" not in show.to_json()
    data["live"] = {"steps": "x.steps.safetensors", "sha256": "", "extra": 1}
    data["version"] = 2
    p.write_text(json.dumps(data))
    with pytest.raises(Exception, match="live: unknown keys: extra"):
        read_show(p)


def test_a_damaged_steps_file_is_refused_in_one_line(tmp_path):
    from safetensors.numpy import save_file

    from engine.scene.live_steps import LiveSteps, LiveStepsError

    steps = LiveSteps(30.0)
    p = steps.save(tmp_path / "a.steps.safetensors")
    assert len(LiveSteps.load(p)) == 0
    (tmp_path / "junk.steps.safetensors").write_bytes(b"not a file")
    with pytest.raises(LiveStepsError, match="junk.steps.safetensors: cannot be read"):
        LiveSteps.load(tmp_path / "junk.steps.safetensors")
    save_file({"time": np.array([0.0, np.nan])}, str(tmp_path / "b.safetensors"),
              metadata={"format": "sonolume-live-steps", "version": "1", "fps": "30"})
    with pytest.raises(LiveStepsError, match="b.safetensors: lacks dt"):
        LiveSteps.load(tmp_path / "b.safetensors")
    with pytest.raises(LiveStepsError, match="missing"):
        LiveSteps.load(tmp_path / "nope.safetensors")


def test_a_reopened_set_saves_with_its_steps(tmp_path, palette):
    from engine.scene.show import open_show, read_show, save_show, show_from_scene

    audio, sr = device_audio(8.0, 3.0)
    live = new_set(palette, sr=sr)
    live.push(audio[:sr])
    show = live.start_recording(tmp_path / "a.json")
    live.push(audio[sr:])
    live.stop_recording()
    scene = open_show(read_show(show), palette[0])
    again = save_show(show_from_scene(scene, name="b"), tmp_path / "b.json", grid=scene.grid)
    reread = read_show(again)
    assert reread.live_steps == read_show(show).live_steps
    assert reread.to_json()["version"] == 2
    with pytest.raises(LiveSetError, match="a.json, a.flac, a.steps.safetensors already"):
        live.start_recording(tmp_path / "a.json")  # never over an earlier set
    assert not live.recording
    with pytest.raises(Exception, match="when its recording stops"):
        show_from_scene(live.scene.copy(track=tmp_path / "a.flac"))


KILLED = """
import os, sys
import numpy as np
sys.path.insert(0, {root!r})
from tests.engine.control.test_live_set import device_audio, BLOCK
from engine.audio.live import LiveAnalyzer
from engine.control.live_set import LiveSet
from engine.scene import Scene
from engine.styles.library import Library
s = Library(None).get("seeded-pattern-01-ember-rings")
live = LiveSet(Scene({{s.id: s}}), LiveAnalyzer(44100, 2))
audio, sr = device_audio(8.0, 2.0)
live.start_recording({target!r})
for i in range(0, len(audio), BLOCK):
    live.push(audio[i:i + BLOCK])
print("recording", flush=True)
os.kill(os.getpid(), 9)
"""


def test_a_killed_recording_leaves_nothing_at_its_target(tmp_path, library_dir):
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[3])
    target = str(tmp_path / "killed.json")
    proc = subprocess.run([sys.executable, "-c", KILLED.format(root=root, target=target)],
                          capture_output=True, text=True, timeout=120, cwd=root)
    assert proc.returncode == -9 and "recording" in proc.stdout, proc.stderr[-2000:]
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "library")
    assert left and all(name.startswith(".sonolume-tmp-") for name in left), left
