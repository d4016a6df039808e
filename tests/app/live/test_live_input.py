"""LiveInput: the app's live audio capture.

The main test runs a real PulseAudio server (a null sink, no sound card needed), plays a
click track into it with ``paplay`` and captures the sink's monitor through LiveInput's
QAudioSource in a child process (QtMultimedia binds to the audio server once per process,
so the server's address must be in the environment before Qt starts). Where PulseAudio is
missing or cannot start, the test says so in its skip reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
BPM = 120.0
PLAY_S = 12.0


def _click_wav(path: Path, sr: int = 44100) -> None:
    import soundfile as sf

    rng = np.random.default_rng(0)
    n = int(PLAY_S * sr)
    y = np.zeros(n, np.float32)
    m = int(0.03 * sr)
    click = (rng.standard_normal(m) * np.exp(-np.arange(m) / (0.004 * sr)) * 0.6)
    for b in np.arange(0.25, PLAY_S - 0.1, 60.0 / BPM):
        i = int(b * sr)
        y[i:i + m] += click[: n - i].astype(np.float32)
    t = np.arange(n) / sr
    y += (0.05 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(path, np.stack([y, y], axis=1), sr)


@pytest.mark.parametrize("capture", ["auto", "qt"])  # app.live.audio_input.CAPTURES
def test_capture_the_monitor_of_a_playing_sink(pulse_server, tmp_path, capture):
    wav = tmp_path / "clicks.wav"
    _click_wav(wav)
    out = tmp_path / "result.json"
    env = dict(pulse_server, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               SONOLUME_LIVE_CAPTURE=capture)
    proc = subprocess.run([sys.executable, __file__, "capture", str(wav), str(out),
                           str(tmp_path / "set.wav")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["exposed"] == "sonolume_monitor"
    # The features see the beat.
    assert r["frames"] > 150
    assert r["rms_max"] > 0.5 and r["level_peak"] > 0.3
    assert r["pulse_max"] > 0.9 and r["pulse_min"] < 0.1
    assert r["locked"] and abs(r["tempo"] - BPM) < 0.03 * BPM, r
    # The recording is the captured audio, sample for sample: the clicks are exactly 0.5 s
    # apart, and its length is what the recorder counted. (The sink runs at 48 kHz: with a
    # 44.1 kHz null sink, QAudioSource lost audio in bursts from ~3.5 s on, on this machine,
    # while parec on the same source, even at 20 ms latency, did not.)
    import soundfile as sf

    y, sr = sf.read(tmp_path / "set.wav", always_2d=True)
    assert abs(len(y) / sr - r["recorded_s"]) < 1e-6
    a = np.abs(y[:, 0])
    hits = np.flatnonzero((a[1:] > 0.3) & (a[:-1] <= 0.3)) / sr
    hits = hits[np.r_[True, np.diff(hits) > 0.1]]
    gaps = np.diff(hits)
    # (On a loaded machine, load average ~5, the capture itself once lost 14-35 ms in each
    # of three consecutive gaps, before the recorder saw the blocks: 85% exact.)
    assert len(hits) >= 10 and np.mean(np.abs(gaps - 0.5) < 0.002) >= 0.8, gaps.round(3)
    # Unplugged mid-set: one clear message, the features keep coming.
    assert r["lost_state"] == "lost"
    assert any("unplugged" in m or "No audio from" in m for m in r["messages"]), r["messages"]
    assert r["frames_while_lost"] >= 15
    # Plugged back at another sample rate: reopened, said so, analysis carried on.
    assert r["back_state"] == "running"
    assert any("32000 Hz" in m and "carried on" in m for m in r["messages"]), r["messages"]
    # Qt may then open the source at its own 32 kHz or at the server's 48 kHz (seen both on
    # this machine, depending on timing): either way the analysis must carry on.
    assert r["rate_after"] in (32000, 48000) and r["frames_after"] > 10, r


def test_no_device_and_unknown_device_say_so(qtbot):
    from app.live.audio_input import LiveInput

    live = LiveInput()
    messages = []
    live.errorOccurred.connect(messages.append)
    assert live.start("no such input, surely") is False
    assert live.state == "stopped"
    assert len(messages) == 1 and messages[0].startswith("No audio input")
    live.start_recording(Path("/tmp/never.wav"))
    assert "Start a live input" in messages[-1]
    live.shutdown()


def test_features_are_emitted_at_the_video_rate(qtbot):
    """The analysis path without a device: blocks in, featuresReady at most once per video
    frame, levels for the meter."""
    from app.live.audio_input import LiveInput
    from app.live.capture_thread import AnalyzerView

    live = LiveInput(fps=25.0)
    # No device: the capture worker, not yet on its thread, is fed here directly.
    live._session = 1
    live.analyzer = AnalyzerView(live._worker, 1, 48000, 2)
    live._worker.begin(1, 48000, 2)
    feats, levels = [], []
    live.featuresReady.connect(feats.append)
    live.levelChanged.connect(lambda p, r: levels.append((p, r)))
    rng = np.random.default_rng(0)
    for _ in range(200):  # 4 s in 20 ms blocks
        live._worker.feed((0.25 * rng.standard_normal((960, 2))).astype(np.float32))
    assert 95 <= len(feats) <= 101  # 25 per second
    times = np.array([f.time for f in feats])
    assert np.all(np.diff(times) > 1 / 25 - 0.024)
    assert 90 <= len(levels) <= 101  # at most 30 per second; here one per two 20 ms blocks
    peak, rms = levels[-1]
    assert 0.5 < peak <= 1.0 and 0.2 < rms < 0.3
    assert live.latest.time - feats[-1].time < 1 / 25 + 0.024
    assert live.stream_time() == pytest.approx(4.0)
    live.stop()
    assert live.state == "stopped" and live._worker.analyzer is None


# -- the child process -------------------------------------------------------------------

def _capture_main(wav: str, out: str, rec_path: str) -> None:  # pragma: no cover - child
    from PySide6.QtCore import QCoreApplication

    from app.live.audio_input import LiveInput

    app = QCoreApplication([])
    live = LiveInput(fps=30.0)
    r: dict = {"messages": []}
    feats, levels, states = [], [], []
    live.errorOccurred.connect(r["messages"].append)
    live.featuresReady.connect(feats.append)
    live.levelChanged.connect(lambda p, q: levels.append(p))
    live.stateChanged.connect(states.append)
    player = None

    def wait_for(cond, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not cond():
            app.processEvents()
            time.sleep(0.01)
        return cond()

    def run_for(seconds):
        wait_for(lambda: False, seconds)

    def steps():
        nonlocal player
        r["exposed"] = live.expose_monitor()
        wait_for(lambda: any(d.id == "sonolume_monitor" for d in live.devices()), 5)
        assert live.start("sonolume_monitor"), r["messages"]
        live.start_recording(rec_path)
        player = subprocess.Popen(["paplay", "--device=sono_null", wav])
        run_for(PLAY_S - 1.5)
        rec = live.recorder
        live.stop_recording()
        r["recorded_s"] = rec.duration
        ready = [f for f in feats if f.time > 4.0]
        r["frames"] = len(feats)
        r["tempo"] = feats[-1].tempo
        r["locked"] = bool(feats[-1].locked)
        r["rms_max"] = max(f.rms for f in feats)
        r["pulse_max"] = max(f.beat_pulse for f in ready)
        r["pulse_min"] = min(f.beat_pulse for f in ready)
        r["level_peak"] = max(levels)
        player.wait(timeout=10)
        # Unplug: the sink goes away, and with it its monitor and our remapped input
        # (removing only the remapped source would let PulseAudio move the stream to the
        # sink's own monitor, and the audio would go on).
        mods = subprocess.run(["pactl", "list", "short", "modules"], capture_output=True,
                              text=True, check=True).stdout.splitlines()
        null = next(m.split()[0] for m in mods if "module-null-sink" in m)
        subprocess.run(["pactl", "unload-module", null], check=True)
        wait_for(lambda: live.state == "lost", 8)
        r["lost_state"] = live.state
        n0 = len(feats)
        run_for(1.0)
        r["frames_while_lost"] = len(feats) - n0
        # Plug back in at another rate.
        subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=sono_null",
                        "rate=48000"], check=True, capture_output=True)
        res = subprocess.run(["pactl", "load-module", "module-remap-source",
                              "master=sono_null.monitor", "source_name=sonolume_monitor",
                              "rate=32000"], check=True, capture_output=True, text=True)
        live._monitor_module = res.stdout.strip()
        wait_for(lambda: live.state == "running", 6)
        r["back_state"] = live.state
        r["rate_after"] = live.analyzer.sample_rate
        n1 = len(feats)
        wait_for(lambda: len(feats) - n1 > 10, 6)  # PulseAudio takes 1-2 s to start a stream
        r["frames_after"] = len(feats) - n1
        r["states"] = states
        live.shutdown()

    try:
        steps()
    finally:
        if player is not None and player.poll() is None:
            player.kill()
        Path(out).write_text(json.dumps(r, default=float))
        app.quit()


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "capture":
    _capture_main(*sys.argv[2:])
