"""Record a live set in the app: real audio through a PulseAudio null sink into the Live
dock's input, Record set, a style change from the control panel, the input stopped
mid-recording (which saves the take), and the set opened as a show whose frames are the
ones the preview drew.

Like test_live_input.py, the app runs in a child process (QtMultimedia binds to the audio
server once per process); where PulseAudio or QtMultimedia is missing, the test says so in
its skip reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "resources" / "audio" / "demo.ogg"
PLAY = (6.0, 12.0)  # seconds of the demo played into the sink: the kick starts at 8 s
SET_NAME = "friday set"


def _slice(path: Path) -> None:
    import soundfile as sf

    y, sr = sf.read(str(DEMO), dtype="float32", always_2d=True)
    sf.write(str(path), y[int(PLAY[0] * sr): int((PLAY[0] + PLAY[1]) * sr)], sr)


def test_record_a_live_set_and_open_it_as_a_show(pulse_server, tmp_path):
    wav = tmp_path / "music.wav"
    _slice(wav)
    out = tmp_path / "result.json"
    env = dict(pulse_server, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               SONOLUME_LIBRARY=str(tmp_path / "library"),
               SONOLUME_SETTINGS=str(tmp_path / "settings.ini"),
               SONOLUME_LOG=str(tmp_path / "sonolume.log"),
               SONOLUME_CACHE_DIR=str(tmp_path / "cache"), SONOLUME_RUNS=str(tmp_path / "runs"),
               SONOLUME_PREVIEW="torch", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, __file__, "record", str(wav), str(out)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    print({k: v for k, v in r.items() if k != "elapsed"})
    assert r["error"] == "", r["error"]
    # the Record button showed the time while recording, and stopping the input saved the set
    assert any(e.startswith("● 0:0") and e != "● 0:00.0" for e in r["elapsed"]), r["elapsed"]
    show = tmp_path / "library" / "shows" / "friday-set.json"
    assert r["saved"] == str(show) and show.is_file()
    assert (show.parent / "friday-set.flac").is_file()
    assert (show.parent / "friday-set.steps.safetensors").is_file()
    # ... and opened it as a show: the live style change is a segment on the timeline
    assert r["show_active"] and r["segments"] >= 2 and r["live"], r
    assert r["recorded_s"] > 3.0 and abs(r["track_s"] - r["recorded_s"]) < 1e-6
    # every frame the preview drew while recording is the show's frame at that time
    assert r["drawn"] > 20 and r["mismatches"] == 0, r


# -- the child process -------------------------------------------------------------------

def _record_main(wav: str, out: str) -> None:  # pragma: no cover - runs in the child
    from PySide6.QtWidgets import QApplication

    from app.live.bar import MONITOR
    from app.main import MainWindow
    from app.settings import AppSettings
    from engine.control import ControlEvent
    from engine.scene.show import read_show

    app = QApplication([])
    r: dict = {"error": "", "elapsed": [], "saved": None}
    player = None
    w = MainWindow(AppSettings())
    w.show()
    stage, bar = w.stage, w.live_bar
    drawn = []

    def wait_for(cond, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not cond():
            app.processEvents()
            time.sleep(0.005)
        return cond()

    def fields(frame):
        return [[lay.style, [float(x) for x in lay.params.extras],
                 [lay.params.zoom, lay.params.rotation, lay.params.warp,
                  lay.params.warp_phase, lay.params.hue, lay.params.brightness]]
                for lay in frame.layers] + [frame.mix, frame.mode]

    real_live_frame = stage.live_frame

    def spy():
        frame = real_live_frame()
        if stage.live_recording:
            drawn.append((stage.live_set.now(), fields(frame)))
        return frame

    stage.live_frame = spy
    stage.liveSetRecorded.connect(lambda p: r.__setitem__("saved", p))

    def steps():
        nonlocal player
        w.select_style(w.library_panel.visible_ids()[0])
        bar.device.setCurrentIndex(bar.device.findData(MONITOR))
        bar.start_button.click()
        assert wait_for(lambda: stage.live_active, 10), bar.status.text()
        player = subprocess.Popen(["paplay", "--device=sono_null", wav])
        wait_for(lambda: False, 2.0)
        bar.set_name.setText(SET_NAME)
        bar.record.click()
        assert stage.live_recording, bar.status.text()
        end = time.monotonic() + 6.5
        moved = False
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)
            r["elapsed"].append(bar.elapsed.text())
            if not moved and stage.live_set.elapsed > 2.5:
                w.control_panel.moveReceived.emit(ControlEvent("style.next", source="test"))
                moved = True
        r["recorded_s"] = stage.live_set.elapsed
        bar.start_button.click()  # stop the input mid-recording: the take is saved
        assert not stage.live_active
        assert wait_for(lambda: stage.show_active and stage.scene is not None
                        and stage.scene.live is not None, 120), "the set did not open"
        scene = stage.scene
        r["show_active"] = stage.show_active
        r["segments"] = len(scene.segments)
        r["live"] = scene.live is not None
        r["track_s"] = read_show(r["saved"]).track_duration
        r["drawn"] = len(drawn)
        r["mismatches"] = sum(fields(scene.frame_at(t)) != f for t, f in drawn)

    try:
        steps()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        import traceback

        r["error"] = f"{exc!r}\n{traceback.format_exc()}"
    finally:
        if player is not None and player.poll() is None:
            player.kill()
        Path(out).write_text(json.dumps(r, default=float))
        w.live_input.shutdown()  # unloads the monitor module it loaded
    os._exit(0)  # the window's close would ask about nothing here; the parent has its answer


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "record":
    _record_main(*sys.argv[2:])
