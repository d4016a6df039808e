"""Record pressed while something runs on screen: the take starts with it. A crossfade in
flight, a change already placed on a later beat and a held blackout are in the recorded
show, so the reopened show draws every frame drawn live from the moment Record was
pressed, and the screen does not jump when Record is pressed."""

from __future__ import annotations

import math

import numpy as np

from engine.control.live_set import LiveSet
from tests.engine.control import test_live_set as base
from tests.engine.control.test_live_set import BLOCK, FPS, STYLES, device_audio, fields, same_frame

palette = base.palette  # the fixture: the three library styles


def test_record_pressed_mid_crossfade_starts_the_show_mid_crossfade(tmp_path, palette,
                                                                     monkeypatch, capsys):
    from engine.scene.show import open_show, read_show

    audio, sr = device_audio(6.0, 10.0)
    live = base.new_set(palette, sr=sr)
    assert isinstance(live, LiveSet)
    i = 0

    def push():
        nonlocal i
        live.push(audio[i:i + BLOCK])
        i += BLOCK

    while i < 4 * sr:
        push()
    assert live.analyzer.tracker.locked
    live.perform("brightness", 0.7)
    live.perform("transition.crossfade", None, 4)
    while not (live.frame_at().mode == "crossfade" and 0.25 < live.frame_at().mix < 0.6):
        push()
    live.perform("style.pick", None, 3)  # lands on a beat after the crossfade
    live.perform("blackout", 1.0)
    push()
    before = live.frame_at()
    assert before.mode == "crossfade" and before.params.brightness == 0
    show = live.start_recording(tmp_path / "mid.json")

    # the screen goes on as it was: the same frame at the same instant of the stream
    after = live.frame_at()
    assert after.mode == "crossfade" and math.isclose(after.mix, before.mix, rel_tol=1e-12)
    for x, y in zip(after.layers, before.layers, strict=True):
        assert x.style == y.style and np.array_equal(fields(x.params), fields(y.params))

    frames = []
    released = False
    while i < len(audio):
        push()
        if not released and live.now() >= 1.0:
            live.perform("blackout", 0.0)
            released = True
        while len(frames) / FPS <= live.now():
            frames.append(live.frame_at(len(frames) / FPS))
    live.stop_recording()

    saved = read_show(show)
    assert frames[0].mode == "crossfade" and 0 < frames[0].mix < 1
    lead = saved.lead_in
    assert lead is not None and lead.style == before.layers[0].style
    assert lead.transition.text == "crossfade:4" and lead.start < 0 < lead.end
    # the change placed before Record happened in the take, on its beat
    assert [s.style for s in saved.segments] == [before.layers[1].style, STYLES[2]]
    assert saved.segments[1].start >= lead.end - 1e-6
    # the blackout held from 0, and released to the brightness set before it
    assert saved.automation.value("brightness", 0.0) == 0.0
    assert saved.automation.value("brightness", 1.5) == 0.7
    reopened = open_show(saved, palette[0], where=show.name)
    for k, f in enumerate(frames):
        assert same_frame(reopened.frame_at(k / FPS), f), f"frame {k} differs"

    # and rendered as any show: the pixels drawn live, the first frame mid-crossfade
    from engine.cli.main import main
    from engine.export import video as video_mod
    from engine.render import make_renderer
    from engine.scene import SceneDrawer

    first = palette[1][0].load_cppn()
    drawer = SceneDrawer(make_renderer(first, "torch"), first)
    try:
        shown = [drawer.draw(f, base.SIZE, base.SIZE) for f in frames]
    finally:
        drawer.release()
    rendered = []
    real_put = video_mod._Pipe.put
    monkeypatch.setattr(video_mod._Pipe, "put",
                        lambda self, data: (rendered.append(data), real_put(self, data))[1])
    code = main(["render", str(show), "-o", str(tmp_path / "mid.mp4"), "--size",
                 f"{base.SIZE}x{base.SIZE}", "--quality", "standard", "--renderer", "torch",
                 "--fps", str(FPS)])
    assert code == 0, capsys.readouterr().err
    n = min(len(rendered), len(shown))
    assert n >= len(shown) - 1
    worst = max(int(np.abs(np.frombuffer(rendered[k], np.uint8)
                           .reshape(base.SIZE, base.SIZE, 3).astype(int) - shown[k]).max())
                for k in range(n))
    assert worst <= 1, f"rendered frames differ from the live ones by {worst}/255"
