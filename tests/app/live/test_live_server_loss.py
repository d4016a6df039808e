"""The audio server dies mid-set (PulseAudio killed, PipeWire restarted): the app must not
abort. Found by the live soak run (bench/soak.py --live): Qt's PulseAudio backend has no
connection once the server is gone (it retries once, 3 s later), and LiveInput's reconnect
then opened a source, which aborted the whole process inside libpulse.

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


@pytest.mark.parametrize("capture", ["auto", "qt"])  # app.live.audio_input.CAPTURES
def test_a_killed_audio_server_is_said_not_fatal(pulse_server, tmp_path, capture):
    wav = tmp_path / "clicks.wav"
    _click_wav(wav)
    out = tmp_path / "result.json"
    env = dict(pulse_server, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               SONOLUME_LIVE_CAPTURE=capture,
               PULSE_PID_FILE=str(tmp_path / "pulse" / "pid"))
    proc = subprocess.run([sys.executable, __file__, "lose", str(wav), str(out)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    # Before the fix: -6 (SIGABRT), "Assertion 'c' failed ... pa_context_get_state()".
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["before"] > 20  # it was capturing
    assert r["lost_state"] == "lost"
    # one clear line that says what happened and what to do
    assert any("audio server" in m and "restarting Sonolume" in m for m in r["messages"]), r
    # while the server is gone and after it came back, the preview keeps getting features
    assert r["frames_while_gone"] >= 15 and r["frames_after"] >= 15, r
    # and Start says so instead of aborting
    assert r["start_again"] is False and "restarting Sonolume" in r["messages"][-1], r


def _lose_main(wav: str, out: str) -> None:  # pragma: no cover - runs in the child
    from PySide6.QtCore import QCoreApplication

    from app.live.audio_input import LiveInput

    app = QCoreApplication([])
    live = LiveInput(fps=30.0)
    r: dict = {"messages": []}
    feats: list = []
    live.errorOccurred.connect(r["messages"].append)
    live.featuresReady.connect(feats.append)
    pid_file = Path(os.environ["PULSE_PID_FILE"])
    player = None

    def run_for(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.01)

    try:
        dev = live.expose_monitor()
        run_for(1.0)
        assert live.start(dev), r["messages"]
        player = subprocess.Popen(["paplay", "--device=sono_null", wav])
        run_for(3.0)
        r["before"] = len(feats)
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGKILL)  # the server dies (a crash, not a clean exit)
        n = len(feats)
        run_for(6.0)  # past Qt's one retry
        r["lost_state"] = live.state
        r["frames_while_gone"] = len(feats) - n
        exe = "pulseaudio"
        subprocess.run([exe, "-D", "-n", "--exit-idle-time=-1", "--use-pid-file=yes",
                        "--load=module-null-sink sink_name=sono_null rate=48000",
                        "--load=module-native-protocol-unix"], check=True, timeout=30)
        subprocess.run(["pactl", "load-module", "module-remap-source",
                        "master=sono_null.monitor", "source_name=sonolume_monitor"],
                       capture_output=True, timeout=10)
        n = len(feats)
        run_for(6.0)  # the reconnect attempts that aborted
        r["frames_after"] = len(feats) - n
        live.stop()
        r["start_again"] = live.start(dev)
    finally:
        if player is not None and player.poll() is None:
            player.kill()
        Path(out).write_text(json.dumps(r, default=float))
        live.shutdown()
        app.quit()


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "lose":
    _lose_main(*sys.argv[2:])
