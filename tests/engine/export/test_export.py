import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.atomic import is_temporary
from engine.cppn.model import CPPN, CPPNConfig
from engine.errors import Cancelled, SonolumeError
from engine.export import export_video, probe
from engine.export import video as video_mod
from engine.render import Renderer, TorchRenderer

ROOT = Path(__file__).resolve().parents[3]
BUNDLED = "seeded-pattern-01-ember-rings"
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
    """2 s stereo at 44.1 kHz: kicks at 120 BPM over a chord."""
    import soundfile as sf

    sr = 44100
    t = np.arange(int(2.0 * sr)) / sr
    chord = sum(0.08 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    kick = np.zeros_like(t)
    for b in np.arange(0, 2.0, 0.5):
        k = (t >= b) & (t < b + 0.12)
        kick[k] += 0.6 * np.sin(2 * np.pi * 60 * (t[k] - b)) * np.exp(-(t[k] - b) * 30)
    y = np.stack([chord + kick, chord * 0.8 + kick], axis=1).astype(np.float32)
    path = tmp_path_factory.mktemp("track") / "beat.wav"
    sf.write(path, y, sr)
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def check_video(path: Path, size, frames: int, fps: float = 30.0) -> dict:
    info = probe(path)
    v, a = info["video"], info["audio"]
    assert v["codec"] == "h264" and v["pix_fmt"] == "yuv420p"
    assert (v["width"], v["height"]) == size
    assert v["frames"] == frames
    assert a is not None and a["codec"] == "aac"
    assert abs(v["duration"] - frames / fps) < 1e-6
    assert abs(a["duration"] - v["duration"]) < 1.0 / fps  # within one frame
    return info


def test_export_writes_h264_with_the_tracks_segment(track, tmp_path):
    out = tmp_path / "clip.mp4"
    seen = []
    result = export_video(CPPN(SMALL, seed=1), track, out, size=(64, 36), fps=30, start=0.5,
                          duration=1.0, quality="fast", progress=seen.append)
    assert result.path == out and result.frames == 30 and result.render_size == (16, 9)
    check_video(out, (64, 36), 30)
    assert leftovers(tmp_path) == ["clip.mp4"]  # no temporary left behind
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    renders = [p for p in seen if p.stage == "render"]
    assert [p.done for p in renders] == list(range(1, 31)) and renders[-1].eta == 0
    # faststart: the index (moov) comes before the media data (mdat)
    head = out.read_bytes()[:4096]
    assert 0 <= head.find(b"moov") < max(head.find(b"mdat"), 4096)


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_a_library_style_at_standard_quality_to_the_end_of_the_track(track, tmp_path):
    from engine.styles.library import Library

    style = Library(tmp_path / "lib").get(BUNDLED)
    out = tmp_path / "end.mp4"
    result = export_video(style, track, out, size=(48, 32), fps=24, start=1.5,
                          quality="standard", reactivity="club")
    assert result.render_size == (48, 32) and result.frames == 12  # 0.5 s left at 24 fps
    check_video(out, (48, 32), 12, fps=24)


def test_frames_follow_the_reactivity_track(track, tmp_path):
    """The export draws exactly what the live preview draws at the same times."""
    import imageio_ffmpeg

    from engine.audio.analyze import analyze
    from engine.reactive import compute_params

    cppn = CPPN(CPPNConfig(hidden=32, layers=3, first_gain=0.8), seed=2)  # smooth: little
    feats = analyze(track, fps=30)  # detail for yuv420p's half-resolution colour to lose
    params = compute_params(feats, "punchy", extra_inputs=9)
    r = TorchRenderer(cppn)
    want = [r.render(params.at(0.4 + i / 30), 48, 48).astype(int) for i in range(15)]
    out = tmp_path / "same.mp4"
    export_video(cppn, track, out, size=(48, 48), fps=30, start=0.4, duration=0.5,
                 quality="standard", features=feats)
    gen = imageio_ffmpeg.read_frames(str(out))
    assert next(gen)["size"] == (48, 48)
    got = [np.frombuffer(f, np.uint8).reshape(48, 48, 3).astype(int) for f in gen]
    assert len(got) == 15
    for i, frame in enumerate(got):
        errors = [np.abs(frame - w).mean() for w in want]
        assert abs(int(np.argmin(errors)) - i) <= 1  # the frame for its own time
        assert errors[i] < 8


@pytest.mark.parametrize("kwargs, words", [
    ({"size": (65, 36)}, "even"),
    ({"size": (8, 8)}, "out of range"),
    ({"fps": 0}, "fps"),
    ({"quality": "ultra"}, "unknown quality"),
    ({"start": 99.0}, "past the end"),
    ({"duration": -1.0}, "duration"),
    ({"reactivity": "nope"}, "unknown reactivity preset"),
])
def test_bad_arguments_fail_before_anything_is_written(track, tmp_path, kwargs, words):
    args = dict(size=(32, 18), quality="fast", duration=0.5) | kwargs
    with pytest.raises(SonolumeError, match=words):
        export_video(CPPN(SMALL), track, tmp_path / "x.mp4", **args)
    assert leftovers(tmp_path) == []


def test_bad_targets_and_tracks(track, tmp_path):
    with pytest.raises(SonolumeError, match="folder"):
        export_video(CPPN(SMALL), track, tmp_path, size=(32, 18), duration=0.5)
    with pytest.raises(SonolumeError, match="does not exist"):
        export_video(CPPN(SMALL), track, tmp_path / "no" / "x.mp4", size=(32, 18))
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(os.urandom(5000))
    with pytest.raises(SonolumeError, match="junk.mp3"):
        export_video(CPPN(SMALL), junk, tmp_path / "x.mp4", size=(32, 18))
    assert leftovers(tmp_path) == ["junk.mp3"]


def test_unwritable_folder_is_refused_up_front(track, tmp_path, monkeypatch):
    real_open = os.open

    def denied(path, *a, **k):
        if is_temporary(path):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr(video_mod.os, "open", denied)
    with pytest.raises(SonolumeError, match="cannot write to .*Permission denied"):
        export_video(CPPN(SMALL), track, tmp_path / "x.mp4", size=(32, 18))
    assert leftovers(tmp_path) == []


def test_a_full_disk_is_refused_up_front(track, tmp_path, monkeypatch):
    monkeypatch.setattr(video_mod.shutil, "disk_usage",
                        lambda p: type("U", (), {"free": 1 << 20})())
    with pytest.raises(SonolumeError, match="full"):
        export_video(CPPN(SMALL), track, tmp_path / "x.mp4", size=(32, 18))
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_disk_filling_up_during_the_export(track, tmp_path, monkeypatch):
    real = video_mod.encode_command

    def to_full_disk(exe, out, **kw):  # ffmpeg's writes fail with ENOSPC
        return real(exe, "/dev/full", **kw)

    monkeypatch.setattr(video_mod, "encode_command", to_full_disk)
    target = tmp_path / "x.mp4"
    target.write_bytes(b"an older video")
    with pytest.raises(SonolumeError, match="disk is full"):
        export_video(CPPN(SMALL), track, target, size=(32, 18), duration=0.5)
    assert leftovers(tmp_path) == ["x.mp4"] and target.read_bytes() == b"an older video"


class Crashy(Renderer):
    name = "crashy"

    def __init__(self, after: int):
        self.inner, self.left = TorchRenderer(CPPN(SMALL)), after

    def set_cppn(self, cppn):
        self.inner.set_cppn(cppn)

    def render(self, params, width, height):
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("renderer exploded")
        return self.inner.render(params, width, height)


def test_cancel_crash_and_ctrl_c_leave_the_target_as_it_was(track, tmp_path):
    target = tmp_path / "x.mp4"
    target.write_bytes(b"an older video")
    stop = threading.Event()

    def cancel_after_5(p):
        if p.stage == "render" and p.done == 5:
            stop.set()

    with pytest.raises(Cancelled):
        export_video(CPPN(SMALL), track, target, size=(32, 18), progress=cancel_after_5,
                     cancel=stop)
    assert leftovers(tmp_path) == ["x.mp4"] and target.read_bytes() == b"an older video"

    with pytest.raises(RuntimeError, match="exploded"):
        export_video(CPPN(SMALL), track, target, size=(32, 18), renderer=Crashy(after=3))
    assert leftovers(tmp_path) == ["x.mp4"] and target.read_bytes() == b"an older video"

    def interrupt(p):
        if p.stage == "render" and p.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_video(CPPN(SMALL), track, target, size=(32, 18), progress=interrupt)
    assert leftovers(tmp_path) == ["x.mp4"] and target.read_bytes() == b"an older video"


# -- the command line ----------------------------------------------------------------------

def test_cli_render_and_its_errors(track, tmp_path, capsys, monkeypatch):
    from engine.cli.main import main

    monkeypatch.setenv("SONOLUME_LIBRARY", str(tmp_path / "lib"))
    out = tmp_path / "cli.mp4"
    code = main(["render", BUNDLED, str(track), "-o", str(out), "--size", "64x36",
                 "--duration", "1", "--quality", "fast", "--renderer", "torch"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "wrote" in cap.out and "64x36" in cap.out and "realtime" in cap.out
    assert "rendering" in cap.err  # the progress bar
    check_video(out, (64, 36), 30)
    bad = str(tmp_path / "b.mp4")
    for args, words in [
        ([BUNDLED, str(track), "-o", bad, "--size", "63x36"], "even"),
        ([BUNDLED, str(track), "-o", bad, "--size", "huge"], "bad size"),
        ([BUNDLED, str(track), "-o", bad, "--reactivity", "wobbly"], "unknown reactivity"),
        (["no-such-style", str(track), "-o", bad], "unknown style"),
        ([BUNDLED, str(track), "-o", str(tmp_path / "b.mkv")], ".mp4"),
        ([BUNDLED, str(tmp_path / "none.wav"), "-o", bad], "not found"),
    ]:
        assert main(["render", *args]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert sorted(leftovers(tmp_path)) == ["cli.mp4", "lib"] or \
        sorted(leftovers(tmp_path)) == ["cli.mp4"]
    assert main(["reactivity"]) == 0 and "punchy" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_cli_ctrl_c_leaves_no_partial_file(track, tmp_path):
    out = tmp_path / "big.mp4"
    env = dict(os.environ, SONOLUME_LIBRARY=str(tmp_path / "lib"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "render", BUNDLED, str(track), "-o",
         str(out), "--size", "320x180", "--renderer", "torch", "--quiet"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(is_temporary(p) for p in tmp_path.iterdir()):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.3)  # into the render loop, ffmpeg running
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in err
    assert leftovers(tmp_path) == []


class Sleepy(Renderer):
    """Takes ``per_pixel`` seconds per pixel: a machine of known speed."""

    name = "sleepy"

    def __init__(self, per_pixel):
        self.per_pixel, self.sizes = per_pixel, []

    def set_cppn(self, cppn):
        pass

    def render(self, params, width, height):
        self.sizes.append((width, height))
        time.sleep(self.per_pixel * width * height)
        return np.zeros((height, width, 3), np.uint8)


@pytest.mark.parametrize("per_pixel, quality, full_timed", [
    (1e-5, "standard", True),  # 64x36 in 23 ms: keeps up with 10 fps
    (2e-4, "fast", True),  # 0.46 s: too slow, but only the full frame can say so
    (1e-3, "fast", False),  # the quarter-size frame already shows it is hopeless
])
def test_auto_quality_measures_the_machine(per_pixel, quality, full_timed):
    from engine.export import choose_quality

    r = Sleepy(per_pixel)
    choice = choose_quality(r, CPPN(SMALL), (64, 36), 10.0, frames=100, transition_frames=20)
    assert choice.quality == quality and ((64, 36) in r.sizes) == full_timed
    spf = per_pixel * (64 * 36 if quality == "standard" else 16 * 9)
    assert choice.seconds_per_frame == pytest.approx(spf, rel=0.5, abs=0.01)
    assert choice.expected_seconds == pytest.approx(120 * choice.seconds_per_frame)
    assert choice.line().startswith(f"quality: {quality} (") and "100 frames" in choice.line()


def test_the_next_export_removes_what_a_killed_one_left(track, tmp_path):
    """kill -9 leaves the temporary; the next export into that folder removes it (once
    nothing can still own it) and keeps everything else."""
    from engine.atomic import temp_path

    old = temp_path(tmp_path / "song.mp4")
    old.write_bytes(b"half a video")
    legacy = tmp_path / ".song.mp4.k3x9a.part"  # the naming before engine.atomic
    legacy.write_bytes(b"half a video")
    live = temp_path(tmp_path / "other.mp4")  # another export, still writing
    live.write_bytes(b"being written")
    mine = tmp_path / ".notes.part"
    mine.write_bytes(b"not ours")
    for p in (old, legacy, mine):
        os.utime(p, (time.time() - 7 * 3600,) * 2)
    notes = []
    export_video(CPPN(SMALL), track, tmp_path / "x.mp4", size=(32, 18), duration=0.2,
                 quality="fast", warn=notes.append)
    assert leftovers(tmp_path) == sorted([live.name, mine.name, "x.mp4"])
    assert any("interrupted export" in n for n in notes)
    # a killed export's video temporary goes after 10 minutes untouched
    os.utime(live, (time.time() - 11 * 60,) * 2)
    export_video(CPPN(SMALL), track, tmp_path / "x.mp4", size=(32, 18), duration=0.2,
                 quality="fast")
    assert leftovers(tmp_path) == sorted([mine.name, "x.mp4"])
