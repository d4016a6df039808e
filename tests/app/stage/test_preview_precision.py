"""The torch preview draws fp32 while the bf16 kernel is built and measured in the
background (the GUI and the frames keep coming), then switches to bf16 by itself."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from engine.reactive import FrameParams
from engine.render.bf16 import bf16_hardware
from engine.scene.scene import Frame, Layer
from engine.styles.style import read_style

STYLES = Path(__file__).resolve().parents[3] / "styles"


def _frame(cppn, t: float) -> Frame:
    params = FrameParams(extras=np.zeros(cppn.config.extra_inputs, np.float32),
                         rotation=0.1 * t)
    return Frame(t=t, layers=(Layer("s", cppn, params),))


def _play(view, cppn, qtbot, until, timeout_s: float):
    """Ask for a frame every 20 ms like the stage's timer; record each shown frame's
    precision and the precision check's state, and the longest gap between timer ticks
    (how long the GUI thread was kept from its event loop)."""
    from PySide6.QtCore import QTimer

    shown, ticks = [], []
    view.frameShown.connect(lambda: shown.append((view.shown_precision,
                                                  view.precision.state if view.precision
                                                  else "none")))
    timer = QTimer()
    timer.setInterval(20)
    start = time.perf_counter()

    def tick():
        ticks.append(time.perf_counter())
        view.draw(_frame(cppn, ticks[-1] - start))

    timer.timeout.connect(tick)
    timer.start()
    try:
        qtbot.waitUntil(lambda: until(shown), timeout=int(timeout_s * 1000))
    finally:
        timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    return shown, max(gaps, default=0.0)


@pytest.mark.skipif(bf16_hardware() is None, reason="this CPU has no bf16 hardware (AMX-BF16 "
                    "or AVX512-BF16): the preview draws fp32 only, nothing to switch to")
def test_preview_draws_fp32_while_the_kernel_is_built_then_bf16(qtbot, tmp_path, monkeypatch):
    from app.stage.preview import RasterView
    from engine.render import amx, factory
    from engine.render.live_precision import LivePrecision

    # A cold start for real: an empty kernel cache (the C compiler runs), nothing loaded or
    # timed yet in this process.
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(amx, "_lib", None)
    monkeypatch.setattr(amx, "_why_not", None)
    monkeypatch.setattr(factory, "_speedups", {})
    live = LivePrecision()
    view = RasterView(24, workers=2, precision=live)
    qtbot.addWidget(view)
    view.resize(320, 180)
    view.show()
    style = read_style(STYLES / "seeded-pattern-05-moss-shadows").load_cppn()
    view.set_cppn(style)
    try:
        shown, worst_gap = _play(view, style, qtbot,
                                 lambda s: sum(p == "bf16" for p, _ in s) >= 3, 120)
    finally:
        view.shutdown()
        live.close()
    before = [p for p, state in shown if state == "checking"]
    assert len(before) >= 2 and set(before) == {"fp32"}  # frames kept coming, in fp32
    first_bf16 = [p for p, _ in shown].index("bf16")
    assert all(p == "bf16" for p, _ in shown[first_bf16:])  # switched once, for good
    assert live.state == "bf16"
    assert (tmp_path / "cache" / "kernels").is_dir() or amx.unavailable_reason() is not None
    assert worst_gap < 1.0, f"the GUI thread stalled {worst_gap:.2f} s while the kernel built"
    assert "bf16" in view.precision_note


def test_preview_stays_fp32_without_bf16_hardware(qtbot):
    from app.stage.preview import RasterView
    from engine.render.live_precision import LivePrecision

    live = LivePrecision(hardware=lambda: None)
    view = RasterView(24, workers=1, precision=live)
    qtbot.addWidget(view)
    view.resize(160, 90)
    view.show()
    style = read_style(STYLES / "seeded-pattern-01-ember-rings").load_cppn()
    view.set_cppn(style)
    try:
        shown, _ = _play(view, style, qtbot, lambda s: len(s) >= 3, 60)
    finally:
        view.shutdown()
    assert {p for p, _ in shown} == {"fp32"}
    assert live._thread is None and "no bf16 hardware" in view.precision_note


@pytest.mark.skipif(bf16_hardware() is None, reason="this CPU has no bf16 hardware (AMX-BF16 "
                    "or AVX512-BF16): the GL-vs-torch choice never sees a bf16 speed-up")
def test_gl_preview_hands_over_when_bf16_makes_torch_the_faster(qtbot):
    """The GL probe timed torch in fp32; once the real bf16 check has measured its
    speed-up, the shader is compared again. Probe times are given here (a real shader
    needs a display), the speed-up is the check's own measurement."""
    from app.stage.glview import GLView
    from engine.render.live_precision import LivePrecision

    style = read_style(STYLES / "seeded-pattern-05-moss-shadows").load_cppn()
    live = LivePrecision()
    try:
        live.allows([style])
        assert live.wait_idle(120) and live.last.variant == "bf16"
        speedup = live.last.speedup
        close, far = GLView(24), GLView(24)
        for v in (close, far):
            qtbot.addWidget(v)
        # fp32 torch a little slower than GL (the probe kept GL) vs far slower
        close.probe = {"gl_ms": 10.0, "torch_ms": 10.0 * min(1.2, speedup * 0.9)}
        far.probe = {"gl_ms": 10.0, "torch_ms": 10.0 * speedup * 2}
        with qtbot.waitSignal(close.fallback, timeout=5000) as got:
            close.watch_precision(live)
        assert "torch in bf16 is faster here" in got.args[0]
        far.watch_precision(live)
        qtbot.wait(100)
        assert not far._dead and far.probe["torch_bf16_ms"] > far.probe["gl_ms"]
        for v in (close, far):
            v.shutdown()
    finally:
        live.close()
