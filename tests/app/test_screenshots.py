"""A real window under Xvfb with the GL preview on: screenshots of every panel, and the
preview area must not be blank.

The app runs in a subprocess with ``QT_QPA_PLATFORM=xcb`` on a private virtual display,
so this suite's own Qt stays offscreen. The PNGs land in ``out/screenshots/`` (or
``$SONOLUME_SCREENSHOT_DIR``) for people to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def xvfb():
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb xauth): no real window "
                    "to take screenshots of")
    r, w = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(w), "-screen", "0", "1600x1000x24",
                             "-nolisten", "tcp"], pass_fds=(w,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as fh:
        display = fh.readline().strip()
    if not display:
        proc.kill()
        pytest.skip("Xvfb did not start")
    yield f":{display}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _non_blank(s: dict) -> bool:
    return s["std"] > 8 and s["distinct"] > 50 and 5 < s["mean"] < 250


def test_screenshots_with_gl_preview(xvfb, tmp_path):
    out = Path(os.environ.get("SONOLUME_SCREENSHOT_DIR", ROOT / "out" / "screenshots"))
    # Only this run's own pictures are replaced: other GUI tests leave theirs here too.
    for old in (*out.glob("[0-9]-*.png"), out / "report.json"):
        old.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONOLUME_")}
    env.update(DISPLAY=xvfb, QT_QPA_PLATFORM="xcb", SONOLUME_PREVIEW="gl",
               SONOLUME_LIBRARY=str(tmp_path / "library"),
               SONOLUME_SETTINGS=str(tmp_path / "settings.ini"),
               SONOLUME_LOG=str(tmp_path / "sonolume.log"),
               SONOLUME_CACHE_DIR=str(tmp_path / "cache"), SONOLUME_RUNS=str(tmp_path / "runs"),
               HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-m",
                           "tests.app.screenshots", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    report = json.loads((out / "report.json").read_text())
    assert report["preview_path"] == "gl", report.get("path_note")
    assert report["preview_path_end"] == "gl", "the GL preview fell back to torch"
    assert report["errors"] == [], report["errors"]
    for key in ("preview_playing", "preview_paused", "preview_fullscreen"):
        assert _non_blank(report[key]), (key, report[key])
    names = set(report["shots"])
    assert {"1-preview-reactivity", "2-train-finished", "3-library-search", "4-export-dialog",
            "5-settings", "6-fullscreen", "7-nerv", "8-spatial", "9-show"} <= names
    # The show played through the GL preview inside a crossfade (two styles drawn).
    assert report["show"]["segments"] >= 2, report["show"]
    start, end = report["show"]["transition"]
    assert end > start
    for name, shot in report["shots"].items():
        assert Path(shot["file"]).stat().st_size > 10_000, name
        if shot["preview"] is not None:  # what the user sees in the window, not just GL
            assert _non_blank(shot["preview"]), (name, shot["preview"])
