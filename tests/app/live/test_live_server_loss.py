"""The audio server dies mid-set (PulseAudio killed, PipeWire restarted): the app must not
abort. Found by the live soak run (bench/soak.py --live): Qt's PulseAudio backend has no
connection once the server is gone (it retries once, 3 s later), and LiveInput's reconnect
then opened a source, which aborted the whole process inside libpulse.

Read through a PulseStream of our own (capture "auto", the default where a Pulse server
runs), each stream is a new server connection: once the server is started again, the
input comes back by itself (the monitor source it exposed loaded again on the new server),
and Start works, without ever asking Qt's stale backend. Read by QAudioSource (capture
"qt"), capture needs a restart of the app, and says so.

The app runs in a child process, as in test_live_input.py (QtMultimedia binds to the audio
server once per process), against a private PulseAudio server with a null sink.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.app.live.test_live_input import _click_wav

ROOT = Path(__file__).resolve().parents[3]
HEARD = 0.01  # a meter's rms above this is the click track (silence is exactly 0 here)


@pytest.mark.parametrize("capture", ["auto", "qt"])  # app.live.audio_input.CAPTURES
def test_a_killed_audio_server_is_said_not_fatal(pulse_server, tmp_path, capture):
    wav = tmp_path / "clicks.wav"
    _click_wav(wav)
    out = tmp_path / "result.json"
    rec = tmp_path / "set.wav"
    env = dict(pulse_server, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               SONOLUME_LIVE_CAPTURE=capture,
               PULSE_PID_FILE=str(tmp_path / "pulse" / "pid"))
    proc = subprocess.run([sys.executable, __file__, "lose", str(wav), str(out), str(rec)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    # Before the fix: -6 (SIGABRT), "Assertion 'c' failed ... pa_context_get_state()".
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    print(json.dumps(r))  # the figures (seconds to come back) in the test's output
    assert r["before"] > 20  # it was capturing
    assert r["lost_state"] == "lost"
    # The recording in progress was finished and kept when the server went.
    assert r["recorder_kept_open"] is False and r["recorded_s"] > 0.5, r
    import soundfile as sf

    assert abs(sf.info(rec).duration - r["recorded_s"]) < 1e-6, "changed after the loss"
    # while the server is gone and after it came back, the preview keeps getting features
    assert r["frames_while_gone"] >= 15 and r["frames_after"] >= 15, r
    if capture == "qt":
        # one clear line that says what happened and what to do
        assert any("audio server" in m and "restarting Sonolume" in m
                   for m in r["messages"]), r
        # and Start says so instead of aborting
        assert r["start_again"] is False and "restarting Sonolume" in r["messages"][-1], r
        return
    # Read through our own PulseStream: said, and no restart asked for ...
    assert any("audio server" in m and "went away" in m for m in r["messages"]), r
    assert not any("restart" in m for m in r["messages"]), r
    # ... it waits quietly while the new server has no sink (nor monitor) yet,
    assert r["state_before_sink"] == "lost" and r["said_before_sink"] == [], r
    # ... and comes back by itself, on the monitor source it loads again on the new server,
    assert r["back_state"] == "running" and r["monitor_reloaded"], r
    assert any("is back" in m for m in r["messages"]), r
    # and the real audio flows again: the meter and the features hear the clicks.
    assert r["flow_s"] is not None and r["rms_after"] > 3 * HEARD, r
    assert r["feature_rms_after"] > 0.3, r
    # Start after Stop opens it again (Qt's device list is stale: it is not asked).
    assert r["start_again"] is True and r["state_end"] == "running", r
    assert r["start_flow_s"] is not None, r


def test_a_server_restarted_while_stopped_is_not_asked_through_qt(pulse_server, tmp_path):
    """The server is killed and started again while the input is stopped, so nothing saw
    it go: Start notices another server runs (Qt's device list is the old one's) and opens
    its sources through PulseStreams, the default one and the monitor source it loads
    again."""
    wav = tmp_path / "clicks.wav"
    _click_wav(wav)
    out = tmp_path / "result.json"
    env = dict(pulse_server, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               SONOLUME_LIVE_CAPTURE="auto", PULSE_PID_FILE=str(tmp_path / "pulse" / "pid"))
    proc = subprocess.run([sys.executable, __file__, "stopped", str(wav), str(out), "-"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    print(json.dumps(r))
    assert r["started_before"] is True
    # Start with no device: the new server's default source, heard at once.
    assert r["default_start"] is True and r["default_id"] == "sono_null.monitor", r
    assert r["default_flow_s"] is not None and r["default_state"] == "running", r
    # Start on the monitor source: loaded again on the new server, and heard.
    assert r["monitor_start"] is True and r["monitor_flow_s"] is not None, r
    assert r["monitor_state"] == "running", r
    assert not any("restart" in m or "Cannot" in m for m in r["messages"]), r


def _stopped_main(wav: str, out: str, _rec: str) -> None:  # pragma: no cover - the child
    from PySide6.QtCore import QCoreApplication

    from app.live.audio_input import LiveInput

    app = QCoreApplication([])
    live = LiveInput(fps=30.0)
    r: dict = {"messages": []}
    levels: list = []  # (monotonic, rms)
    live.errorOccurred.connect(r["messages"].append)
    live.levelChanged.connect(lambda _p, q: levels.append((time.monotonic(), q)))
    player = None

    def wait_for(cond, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not cond():
            app.processEvents()
            time.sleep(0.01)
        return cond()

    def heard_after(t0, seconds):
        def first():
            return next((t - t0 for t, q in levels if t >= t0 and q > HEARD), None)
        wait_for(lambda: first() is not None, seconds)
        return first()

    try:
        dev = live.expose_monitor()
        wait_for(lambda: False, 1.0)
        r["started_before"] = live.start(dev)
        wait_for(lambda: False, 1.0)
        live.stop()
        pid = int(Path(os.environ["PULSE_PID_FILE"]).read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        time.sleep(4.0)  # past Qt's one retry, the event loop not running: nobody looks
        _restart_server()
        player = subprocess.Popen(["paplay", "--device=sono_null", wav])
        wait_for(lambda: False, 1.0)  # the server settles
        t0 = time.monotonic()
        r["default_start"] = live.start()
        r["default_id"] = live.device.id if live.device else None
        r["default_flow_s"] = heard_after(t0, 6.0)
        r["default_state"] = live.state
        live.stop()
        t1 = time.monotonic()
        r["monitor_start"] = live.start(dev)
        r["monitor_flow_s"] = heard_after(t1, 6.0)
        r["monitor_state"] = live.state
    finally:
        if player is not None and player.poll() is None:
            player.kill()
        Path(out).write_text(json.dumps(r, default=float))
        live.shutdown()
        app.quit()


def _lose_main(wav: str, out: str, rec: str) -> None:  # pragma: no cover - the child
    from PySide6.QtCore import QCoreApplication

    from app.live.audio_input import MONITOR_SOURCE, LiveInput

    app = QCoreApplication([])
    live = LiveInput(fps=30.0)
    r: dict = {"messages": []}
    feats: list = []
    levels: list = []  # (monotonic, rms)
    live.errorOccurred.connect(r["messages"].append)
    live.featuresReady.connect(feats.append)
    live.levelChanged.connect(lambda _p, q: levels.append((time.monotonic(), q)))
    pid_file = Path(os.environ["PULSE_PID_FILE"])
    players: list = []

    def wait_for(cond, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not cond():
            app.processEvents()
            time.sleep(0.01)
        return cond()

    def run_for(seconds):
        wait_for(lambda: False, seconds)

    def play():
        players.append(subprocess.Popen(["paplay", "--device=sono_null", wav]))

    def heard_after(t0, seconds):
        """Seconds from t0 to the first meter reading of the clicks (None: none came)."""
        def first():
            return next((t - t0 for t, q in levels if t >= t0 and q > HEARD), None)
        wait_for(lambda: first() is not None, seconds)
        return first()

    try:
        dev = live.expose_monitor()
        run_for(1.0)
        assert live.start(dev), r["messages"]
        assert live.start_recording(rec) is not None, r["messages"]
        play()
        run_for(3.0)
        r["before"] = len(feats)
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGKILL)  # the server dies (a crash, not a clean exit)
        n = len(feats)
        run_for(6.0)  # past Qt's one retry
        r["lost_state"] = live.state
        r["frames_while_gone"] = len(feats) - n
        r["recorder_kept_open"] = live.recorder is not None
        import soundfile as sf

        r["recorded_s"] = sf.info(rec).duration
        if live.capture == "qt":
            _restart_server()
            n = len(feats)
            run_for(6.0)  # the reconnect attempts that aborted
            r["frames_after"] = len(feats) - n
            live.stop()
            r["start_again"] = live.start(dev)
            return
        # A server without its sink yet (as while a desktop's starts): the input stays lost,
        # trying again quietly; then the sink comes, and nothing loads the monitor source
        # on it but the app.
        _restart_server(sink=False)
        back = time.monotonic()  # -D returns once the server runs
        n, said = len(feats), len(r["messages"])
        run_for(2.5)
        r["state_before_sink"] = live.state
        r["said_before_sink"] = r["messages"][said:]
        subprocess.run(["pactl", "load-module", "module-null-sink", "sink_name=sono_null",
                        "rate=48000"], check=True, capture_output=True, timeout=10)
        sink = time.monotonic()
        play()  # the old player died with the server
        wait_for(lambda: live.state == "running", 15.0)
        r["back_state"] = live.state
        r["running_s"] = time.monotonic() - sink
        sources = subprocess.run(["pactl", "list", "short", "sources"], capture_output=True,
                                 text=True, timeout=10).stdout.split()
        r["monitor_reloaded"] = MONITOR_SOURCE in sources
        r["flow_s"] = heard_after(sink, 5.0)
        r["server_to_flow_s"] = None if r["flow_s"] is None else sink + r["flow_s"] - back
        t1 = time.monotonic()
        run_for(2.0)
        r["frames_after"] = len(feats) - n
        r["rms_after"] = max((q for t, q in levels if t >= t1), default=0.0)
        r["feature_rms_after"] = max((f.rms for f in feats[n:]), default=0.0)
        live.stop()
        play()
        t2 = time.monotonic()
        r["start_again"] = live.start(dev)
        r["start_flow_s"] = heard_after(t2, 6.0)
        r["state_end"] = live.state
    finally:
        for p in players:
            if p.poll() is None:
                p.kill()
        Path(out).write_text(json.dumps(r, default=float))
        live.shutdown()
        app.quit()


def _restart_server(sink: bool = True) -> None:  # pragma: no cover - runs in the child
    subprocess.run(["pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--use-pid-file=yes",
                    *(["--load=module-null-sink sink_name=sono_null rate=48000"] if sink
                      else []),
                    "--load=module-native-protocol-unix"], check=True, timeout=30)


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] in ("lose", "stopped"):
    {"lose": _lose_main, "stopped": _stopped_main}[sys.argv[1]](*sys.argv[2:])
