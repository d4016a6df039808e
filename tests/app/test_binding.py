"""The Qt binding must not leak references to None/True/False (issue 9).

PySide6 6.12.0 on CPython 3.11 drops one reference to None per void Qt call and one to True
per Signal.emit(); the app aborted ~25 s into playback and no short test noticed. These
tests see that class of bug in seconds: a bare probe of the binding, and the real window
playing a track while the timeline redraws, the style and the preset change."""

from __future__ import annotations

import time

import pytest

from app import binding_check

IMMORTAL = pytest.mark.skipif(
    binding_check.refcounts_are_immortal(),
    reason="None/True/False are immortal on CPython >= 3.12 (PEP 683): counts never move")

# A quiet run moves the counts by a few references (objects made and freed); the broken
# binding takes thousands in the few seconds the window test plays.
WINDOW_SLACK = 150


@IMMORTAL
def test_bare_binding_keeps_singleton_refcounts():
    lost = binding_check.probe()
    assert lost == {"None": 0, "True": 0, "False": 0}, (
        f"the Qt binding drops references per call: {lost} over {binding_check.PROBE_CALLS} "
        "calls; see app/binding_check.py")
    assert not binding_check.binding_leaks()


def test_app_refuses_a_leaking_binding_with_a_message(monkeypatch, app_env, dialogs, capsys):
    from app import main

    monkeypatch.setattr(binding_check, "binding_leaks", lambda calls=0: True)
    monkeypatch.delenv("SONOLUME_ALLOW_BROKEN_QT", raising=False)
    assert main.binding_is_safe() is False
    assert dialogs.errors and "PySide6" in dialogs.errors[0][1]
    assert "pip install" in capsys.readouterr().err
    monkeypatch.setenv("SONOLUME_ALLOW_BROKEN_QT", "1")
    assert main.binding_is_safe() is True


@IMMORTAL
@pytest.mark.timeout(120, method="thread")
def test_playing_window_keeps_singleton_refcounts(window, qtbot, track):
    stage, panel = window.stage, window.reactivity_panel
    with qtbot.waitSignal(stage.trackLoaded, timeout=60_000):
        stage.load_track(str(track))
    styles = [s.id for s in window.library.list()][:3]
    assert len(styles) >= 2
    window.select_style(styles[0])
    stage.play()
    qtbot.wait(500)  # past first-frame allocations
    presets = [panel.preset.itemText(i) for i in range(panel.preset.count())]
    shown = []
    stage.raster.frameShown.connect(lambda *a: shown.append(1))
    before = binding_check.snapshot()
    t_end = time.monotonic() + 3.0
    k = 0
    while time.monotonic() < t_end:
        qtbot.wait(250)
        k += 1
        window.select_style(styles[k % len(styles)])
        if k % 4 == 0:
            panel.preset.setCurrentText(presets[(k // 4) % len(presets)])
        if k % 6 == 0:
            stage.seek(0.2)
        if not stage.playing:  # the short track ended: keep the timeline moving
            stage.seek(0.0)
            stage.play()
    after = binding_check.snapshot()
    lost = binding_check.fall(before, after)
    stage.pause()
    assert len(shown) >= 5  # frames were really drawn while measuring
    assert max(lost.values()) <= WINDOW_SLACK, (
        f"references lost while playing for 3 s: {lost}; the Qt binding leaks "
        "(see app/binding_check.py)")
