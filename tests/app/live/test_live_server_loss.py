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

import functools
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


def _wait_for(app, cond, seconds: float) -> bool:  # pragma: no cover - in the children
    """Run the child's event loop until ``cond()`` or ``seconds`` pass; ``cond()``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not cond():
        app.processEvents()
        time.sleep(0.01)
    return cond()


def _heard_after(app, levels: list, t0: float, seconds: float):  # pragma: no cover
    """Seconds from t0 to the first meter reading of the clicks (None: none came);
    ``levels``: (monotonic time, rms) as the meter said them."""
    def first():
        return next((t - t0 for t, q in levels if t >= t0 and q > HEARD), None)
    _wait_for(app, lambda: first() is not None, seconds)
    return first()


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

    wait_for = functools.partial(_wait_for, app)

    heard_after = functools.partial(_heard_after, app, levels)

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

    wait_for = functools.partial(_wait_for, app)

    def run_for(seconds):
        wait_for(lambda: False, seconds)

    def play():
        players.append(subprocess.Popen(["paplay", "--device=sono_null", wav]))

    heard_after = functools.partial(_heard_after, app, levels)

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
        _restart_server(sinks=())
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


def _restart_server(sinks=("sono_null",)) -> None:  # pragma: no cover - in the child
    subprocess.run(["pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--use-pid-file=yes",
                    *(f"--load=module-null-sink sink_name={s} rate=48000" for s in sinks),
                    "--load=module-native-protocol-unix"], check=True, timeout=30)


def test_the_device_list_is_the_new_servers_after_a_restart(pulse_server, tmp_path):
    """Qt 6.11 keeps the old server's device list after a server loss and never says it
    changed: the input lists the new server's sources itself, as Qt would (sinks' monitors
    left out), and the Live bar shows them after the reconnect, when its list is opened,
    and Starts the one picked there."""
    out = tmp_path / "result.json"
    env = dict(pulse_server, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               SONOLUME_LIVE_CAPTURE="auto", PULSE_PID_FILE=str(tmp_path / "pulse" / "pid"))
    proc = subprocess.run([sys.executable, __file__, "devices", "-", str(out), "-"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    print(json.dumps(r))
    from app.live.audio_input import MONITOR_SOURCE
    from app.live.bar import MONITOR

    # The first server's inputs, from Qt; capturing its monitor through the bar.
    assert "sono_old_mic" in r["ids_before"] and r["running_before"], r
    # After the restart the input came back, and the bar shows the new server's inputs
    # without anyone asking: the new microphone, the monitor source loaded again, the
    # bar's own monitor entry; not the old server's microphone, nor the sinks' monitors
    # (the new server has two sinks, each with one), which Qt does not list either.
    assert r["back_state"] == "running", r
    assert "sono_other.monitor" in r["server_sources"], r
    assert sorted(r["ids_after"]) == sorted(["sono_mic", MONITOR_SOURCE, MONITOR]), r
    assert sorted(r["devices_after"]) == ["sono_mic", MONITOR_SOURCE], r
    mic = r["mic"]
    assert mic["description"] == "Null Input" and mic["sample_rate"] == 44100, r
    assert mic["channels"] == 2 and mic["is_default"] == (r["default"] == "sono_mic"), r
    # A source that comes later has no signal: opening the list shows it.
    assert "sono_mic2" in r["ids_open"], r
    # Picked in the bar and Started: captured from (a stream records from that source).
    assert r["picked"] == "sono_mic" and r["start_state"] == "running", r
    assert r["start_device"] == "sono_mic", r
    assert r["blocks_after_start"] > 0 and "sono_mic" in r["recording_from"], r
    assert not any("restart" in m or "Cannot" in m or "No audio input" in m
                   for m in r["messages"]), r


def _devices_main(_wav: str, out: str, _rec: str) -> None:  # pragma: no cover - the child
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication

    from app.live.audio_input import MONITOR_SOURCE, LiveInput
    from app.live.bar import MONITOR, LiveBar

    class LiveStage(QObject):
        """What the bar asks of the Stage's live mode, on the real input (the Stage itself
        draws a style, which is test_live_ui_mode's part)."""

        liveChanged = Signal(bool)
        liveRecordingChanged = Signal(bool)
        statusMessage = Signal(str)
        live_set = None
        live_recording = False
        live = None

        def start_live(self, live, device=None) -> bool:
            self.stop_live()
            if not live.start(device):
                return False
            self.live = live
            self.liveChanged.emit(True)
            return True

        def stop_live(self) -> None:
            live, self.live = self.live, None
            if live is not None:
                live.stop()
                self.liveChanged.emit(False)

    def pactl(*args) -> str:
        return subprocess.run(["pactl", *args], check=True, capture_output=True, text=True,
                              timeout=10).stdout

    def names(kind: str) -> dict:
        return {int(line.split()[0]): line.split()[1]
                for line in pactl("list", "short", kind).splitlines()}

    # The first server has a microphone the next one will not have.
    pactl("load-module", "module-null-source", "source_name=sono_old_mic")
    app = QApplication([])
    live = LiveInput(fps=30.0)
    bar = LiveBar(LiveStage(), live)
    r: dict = {"messages": []}
    live.errorOccurred.connect(r["messages"].append)
    blocks: list = []
    live.stepsReady.connect(lambda b, _s: blocks.append(len(b)))

    wait_for = functools.partial(_wait_for, app)

    def combo():
        return [bar.device.itemData(i) for i in range(bar.device.count())]

    try:
        r["ids_before"] = combo()
        bar.device.setCurrentIndex(bar.device.findData(MONITOR))
        bar.start_button.setChecked(True)  # loads the monitor source, Starts once listed
        # running and read (the audio thread opens the source a moment after Start)
        r["running_before"] = wait_for(lambda: live.state == "running" and len(blocks) > 5
                                       and live.device.id == MONITOR_SOURCE, 8.0)
        pid = int(Path(os.environ["PULSE_PID_FILE"]).read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: False, 4.0)  # past Qt's one retry: its list stays the old one
        _restart_server(sinks=("sono_null", "sono_other"))
        pactl("load-module", "module-null-source", "source_name=sono_mic")
        r["back_state"] = live.state if wait_for(lambda: live.state == "running", 10.0) \
            else live.state
        wait_for(lambda: "sono_mic" in combo(), 3.0)  # devicesChanged after the reconnect
        r["ids_after"] = combo()
        r["devices_after"] = [d.id for d in live.devices()]
        r["mic"] = next((vars(d) for d in live.devices() if d.id == "sono_mic"), {})
        r["server_sources"] = sorted(names("sources").values())
        r["default"] = pactl("get-default-source").strip()
        from PySide6.QtMultimedia import QMediaDevices

        r["qt_ids"] = [bytes(d.id().data()).decode() for d in QMediaDevices.audioInputs()]
        pactl("load-module", "module-null-source", "source_name=sono_mic2")
        wait_for(lambda: False, 1.1)  # the input's list is asked at most once a second
        r["ids_before_open"] = combo()
        bar.device.showPopup()
        r["ids_open"] = combo()
        bar.device.hidePopup()
        bar.start_button.setChecked(False)
        bar.device.setCurrentIndex(bar.device.findData("sono_mic"))
        r["picked"] = bar.device.currentData()
        n = len(blocks)
        bar.start_button.setChecked(True)
        r["start_state"] = live.state
        r["start_device"] = live.device.id if live.device else None
        wait_for(lambda: len(blocks) > n + 5, 5.0)
        r["blocks_after_start"] = len(blocks) - n
        sources = names("sources")
        r["recording_from"] = [sources.get(int(line.split()[1]))
                               for line in pactl("list", "short", "source-outputs").splitlines()]
        r["state_end"] = live.state
    finally:
        Path(out).write_text(json.dumps(r, default=float))
        live.shutdown()
        app.quit()


CHILDREN = {"lose": _lose_main, "stopped": _stopped_main, "devices": _devices_main}
if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] in CHILDREN:
    CHILDREN[sys.argv[1]](*sys.argv[2:])
