"""Drive the real app in a real (Xvfb) window and save screenshots of every panel.

Run by ``test_screenshots.py`` in a subprocess with ``QT_QPA_PLATFORM=xcb`` and a virtual
display, so the GL preview gets a real context while the rest of the suite stays offscreen.
Also usable by hand::

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python -m tests.app.screenshots OUT_DIR

Writes ``OUT_DIR/*.png`` and ``OUT_DIR/report.json`` (what was shown, which preview path
was active, and pixel statistics of the preview area).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def qimage_array(img) -> np.ndarray:
    from PySide6.QtGui import QImage

    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def stats(arr: np.ndarray) -> dict:
    if arr.size == 0:
        return {"mean": 0.0, "std": 0.0, "distinct": 0, "size": [0, 0]}
    small = arr[::4, ::4].reshape(-1, 3)
    return {"mean": float(arr.mean()), "std": float(arr.std()),
            "distinct": int(len(np.unique(small, axis=0))),
            "size": [int(arr.shape[1]), int(arr.shape[0])]}


def spin(ms: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(cond, timeout: float, step: int = 50) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        spin(step)
    return cond()


T0 = time.monotonic()
PHASES: dict[str, float] = {}


def phase(name: str) -> None:
    PHASES[name] = round(time.monotonic() - T0, 2)


def main(out_dir: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="sonolume-shots-"))
    os.environ.setdefault("SONOLUME_LIBRARY", str(tmp / "library"))
    os.environ.setdefault("SONOLUME_SETTINGS", str(tmp / "settings.ini"))
    os.environ.setdefault("SONOLUME_LOG", str(tmp / "sonolume.log"))
    os.environ.setdefault("SONOLUME_CACHE_DIR", str(tmp / "cache"))
    os.environ.setdefault("SONOLUME_RUNS", str(tmp / "runs"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from PySide6.QtWidgets import QApplication

    from app.stage.glview import configure_gl_format

    configure_gl_format()
    qapp = QApplication([sys.argv[0]])
    qapp.setOrganizationName("SonolumeTest")
    import app.dialogs as dialogs
    from app.main import MainWindow
    from app.settings import AppSettings
    from tests.app.conftest import write_track

    errors: list[str] = []
    dialogs.error = lambda parent, title, message, details="": errors.append(
        f"{title}: {message}")
    report: dict = {"shots": {}, "errors": errors}

    settings = AppSettings()
    settings.clip_config = str(ROOT / "tests" / "data" / "tiny-clip.json")
    w = MainWindow(settings)
    w.resize(1500, 920)
    w.show()
    wait_until(lambda: w.isVisible(), 5)
    stage = w.stage
    report["preview_path"] = stage.active_path
    report["path_note"] = stage.path_note

    def preview_stats() -> dict:
        view = stage.view
        if stage.active_path == "gl":
            img = view.grabFramebuffer()
        else:
            img = view.grab().toImage()
        return stats(qimage_array(img))

    def window_preview_region() -> dict:
        shot = qimage_array(w.grab().toImage())
        view = stage.view
        tl = view.mapTo(w, view.rect().topLeft())
        dpr = w.devicePixelRatioF()
        x0, y0 = int(tl.x() * dpr), int(tl.y() * dpr)
        x1, y1 = x0 + int(view.width() * dpr), y0 + int(view.height() * dpr)
        return stats(shot[y0:y1, x0:x1])

    def shot(name: str, widget=None) -> None:
        spin(150)
        target = widget or w
        target.grab().save(str(out / f"{name}.png"))
        report["shots"][name] = {"file": str(out / f"{name}.png"),
                                 "preview": window_preview_region() if widget is None else None}

    phase("window")
    # 1. A track playing through a style, the reactivity panel showing.
    track = write_track(tmp / "groove-120bpm.wav", seconds=8.0)
    demo = ROOT / "resources" / "audio" / "demo.ogg"
    stage.load_track(str(demo if demo.is_file() else track))
    wait_until(lambda: stage.features is not None or errors, 90)
    ids = w.library_panel.visible_ids()
    if len(ids) > 5:
        w.select_style(ids[5])
    w.reactivity_dock.raise_()
    stage.seek(min(12.0, stage.clock.duration * 0.4) if stage.features else 0.0)
    stage.play()
    wait_until(lambda: len(stage.meter.stamps) > 4, 30)
    spin(800)
    report["fps_playing"] = stage.meter.fps
    report["render_size_playing"] = list(stage.view.render_size)
    report["preview_playing"] = preview_stats()
    shot("1-preview-reactivity")
    stage.pause()
    spin(700)
    report["preview_paused"] = preview_stats()

    phase("preview")
    # 2. Training: a few steps with the tiny test CLIP, then the new style in the grid.
    w.train_dock.raise_()
    tp = w.train_panel
    tp.rows[0].text.setText("molten gold waves")
    tp.add_prompt_row("deep sea bioluminescence", 0.5)
    tp.negative.setText("text; watermark")
    tp.steps.setValue(3)
    tp.start_from_form()
    wait_until(lambda: not tp.busy, 120)
    shot("2-train-finished")

    phase("train")
    # 3. Library search.
    w.library_panel.search.setText("ocean")
    spin(600)
    shot("3-library-search")
    w.library_panel.search.clear()
    spin(400)

    phase("search")
    # 4. Export dialog (when the export engine is present).
    try:
        w.open_export()
        spin(500)
        if w.export_dialog is not None:
            shot("4-export-dialog", w.export_dialog)
            w.export_dialog.close()
    except Exception as exc:  # noqa: BLE001 - recorded, the test decides
        errors.append(f"export dialog: {exc}")

    phase("export")
    # 5. Settings dialog.
    from app.settings_dialog import SettingsDialog

    dlg = SettingsDialog(settings, w)
    dlg.show()
    spin(300)
    shot("5-settings", dlg)
    dlg.close()

    phase("settings")
    # 6. Fullscreen preview.
    w.toggle_fullscreen()
    stage.play()
    spin(1200)
    shot("6-fullscreen")
    report["preview_fullscreen"] = preview_stats()
    stage.pause()
    w.leave_fullscreen()

    phase("fullscreen")
    # 7. Research windows: a tiny NeRV-CLIP run, and a spatial query map of a style still.
    try:
        nerv = w.open_research("nerv")
        f = nerv.panel.form
        nerv.panel.set_video(str(ROOT / "tests" / "data" / "bunny-16f-64x128.mp4"))
        f.model.setCurrentIndex(f.model.findData("nerv-tiny"))
        f.size.setText("32x64")
        f.epochs.setValue(3)
        f.eval_every.setValue(1)
        f.threads.setValue(1)
        nerv.panel.start()
        wait_until(lambda: not nerv.panel.busy, 120)
        shot("7-nerv", nerv)
        spatial = w.open_research("spatial")
        sp = spatial.panel
        sp.set_style(w.library_panel.visible_ids()[0], 256)
        wait_until(lambda: (sp.map is not None and not sp.busy) or errors, 120)
        sp.query.setText("fire; water")
        sp.show_queries()
        wait_until(lambda: (sp.text_emb is not None and not sp.busy) or errors, 60)
        shot("8-spatial", spatial)
    except Exception as exc:  # noqa: BLE001 - recorded, the test decides
        errors.append(f"research windows: {exc}")

    phase("research")
    # 9. A show: styles auto-arranged over the track's sections, a crossfade between the
    # first two segments, the preview playing inside it.
    try:
        wait_until(lambda: stage.structure is not None or errors, 120)
        w.show_panel.auto_arrange()
        wait_until(lambda: w.show_editor.active or errors, 120)
        scene = stage.scene
        if len(scene.segments) < 2:
            w.show_editor.split(stage.clock.duration * 0.4)
        w.show_editor.set_transition(1, __import__("engine.scene", fromlist=["x"])
                                     .Transition("crossfade", 4))
        win = stage.scene.windows()[0]
        report["show"] = {"segments": len(stage.scene.segments),
                          "sections": [s.label for s in stage.scene.grid.sections],
                          "transition": [win.start, win.end]}
        stage.play()
        spin(600)
        stage.pause()
        stage.seek(win.start + 0.4 * (win.end - win.start))
        spin(1200)  # the still is redrawn at full size
        report["show"]["shown_at"] = stage.current_time()
        shot("9-show")
        w.show_editor.undo.setClean()  # nothing to ask at close
    except Exception as exc:  # noqa: BLE001 - recorded, the test decides
        errors.append(f"show: {exc}")

    phase("show")
    report["phases_s"] = PHASES
    report["preview_path_end"] = stage.active_path
    report["log"] = str(os.environ["SONOLUME_LOG"])
    (out / "report.json").write_text(json.dumps(report, indent=2))
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "out" / "screenshots")))
