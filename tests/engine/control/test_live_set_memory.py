"""A live set left running all night without recording holds bounded memory, and a take
started after that (in the middle of a crossfade, during a freeze) still renders exactly
the frames drawn live from the moment Record was pressed.

The hour is fed as features steps (real ones: the streaming analyzer's over the demo
track, repeated on the stream's clock), not audio, so it runs in seconds."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from engine.audio.live import LiveAnalyzer
from engine.control.live_set import COMPACT_STEPS, LiveSet
from tests.engine.control import test_live_set as base
from tests.engine.control.test_live_set import BLOCK, FPS, device_audio, fields, same_frame

CLIP_S = 10.0  # the analysed audio that repeats
palette = base.palette  # the fixture: the three library styles


@pytest.fixture(scope="module")
def clip():
    """(blocks, steps per block, seconds) of the demo as the streaming analyzer took it."""
    audio, sr = device_audio(6.0, CLIP_S)
    an = LiveAnalyzer(sr, 2)
    blocks, steps = [], []
    for i in range(0, len(audio) - BLOCK + 1, BLOCK):
        blocks.append(audio[i:i + BLOCK])
        steps.append(an.push(audio[i:i + BLOCK]))
    return blocks, steps, len(blocks) * BLOCK / sr, sr


class Stream:
    """The clip over and over on one clock: what a device would deliver."""

    def __init__(self, clip):
        self.blocks, self.steps, self.period, self.sr = clip
        self.i = 0

    @property
    def time(self) -> float:
        return self.i * BLOCK / self.sr

    def next(self):
        k, j = divmod(self.i, len(self.blocks))
        self.i += 1
        return self.blocks[j], [replace(f, time=f.time + k * self.period)
                                for f in self.steps[j]]


def new_set(palette):
    from engine.scene import Scene

    _, styles = palette
    return LiveSet(Scene({s.id: s for s in styles}, preset="punchy", seed=3), None, fps=FPS)


def held(live) -> dict:
    s = live.scene
    return {"steps": len(s.live), "bytes": s.live.nbytes, "beats": len(s.live.beats),
            "segments": len(s.segments)}


def test_an_hour_live_holds_bounded_memory_and_a_take_after_it_renders_exactly(
        tmp_path, palette, clip):
    from engine.scene.show import open_show, read_show

    live = new_set(palette)
    stream = Stream(clip)
    marks, frozen_at, frozen_params = {}, None, None
    style_every = int(30 * stream.sr / BLOCK)  # a change every 30 s, cut or crossfade
    while stream.time < 3600.0:
        block, steps = stream.next()
        live.take(block, steps)
        if stream.i % style_every == 0 and not 2950.0 < stream.time < 3330.0:
            n = stream.i // style_every
            live.perform("transition.crossfade" if n % 2 else "style.next", None, 2)
            live.perform("hue", (n % 7) / 10)
        # a freeze held across many let-go steps: the picture stays the one of its start
        if frozen_at is None and stream.time >= 3000.0:
            live.perform("freeze", 1.0)
            frozen_at = live.now() + 0.1
        if frozen_at is not None and frozen_params is None and live.now() > frozen_at:
            frozen_params = fields(live.frame_at().params)
        if frozen_params is not None and stream.time < 3300.0:
            assert np.array_equal(fields(live.frame_at().params), frozen_params)
        if stream.time >= 3300.0 and live.controller.frozen:
            live.perform("freeze", 0.0)
        for m in (600, 3600):
            if m not in marks and stream.time >= m - 1.0:
                marks[m] = held(live)
    print(f"held after 10 min: {marks[600]}; after 1 h: {marks[3600]}")
    for m in marks.values():
        assert m["steps"] <= COMPACT_STEPS and m["bytes"] < 512 << 10
        assert m["beats"] < 64 and m["segments"] <= 4
    assert marks[3600]["bytes"] <= 1.5 * marks[600]["bytes"] + (64 << 10)

    # after the hour: a 4-beat crossfade, a freeze pressed during it, then Record
    live.perform("transition.crossfade", None, 4)
    while not (live.frame_at().mode == "crossfade" and 0.2 < live.frame_at().mix < 0.6):
        live.take(*stream.next())
    live.perform("freeze", 1.0)
    live.take(*stream.next())
    live.take(*stream.next())
    before = live.frame_at()
    assert live.scene.automation.value("freeze", live.now()) == 1.0
    live.start_recording(tmp_path / "after an hour.json", sample_rate=stream.sr,
                                channels=2)
    after = live.frame_at()  # the same instant of the stream, on the take's clock
    assert after.t <= 0 and after.mode == before.mode == "crossfade"
    assert math.isclose(after.mix, before.mix, rel_tol=1e-12)
    assert [x.style for x in after.layers] == [x.style for x in before.layers]
    for x, y in zip(after.layers, before.layers):
        assert np.array_equal(fields(x.params), fields(y.params))  # the frozen picture

    frames = []
    script = [(0.8, "freeze", 0.0), (2.5, "style.next", None), (4.0, "freeze", 1.0),
              (5.0, "blackout", 1.0), (5.5, "blackout", 0.0), (20.0, "freeze", 0.0),
              (40.0, "freeze", 1.0), (56.0, "freeze", 0.0)]  # held across let-go rows
    most = 0
    while live.now() < 60.0:
        live.take(*stream.next())
        while script and live.now() >= script[0][0]:
            _, control, value = script.pop(0)
            live.perform(control, value)
        while len(frames) / FPS <= live.now():
            frames.append(live.frame_at(len(frames) / FPS))
        most = max(most, *(t.n_frames for t in live.scene.live.drawn.values()))
    # a take keeps every step (the file needs them), the drawn rows only what is drawn
    assert len(live.scene.live) > 2500 and most <= 2 * COMPACT_STEPS
    path = live.stop_recording()
    saved = read_show(path)
    assert saved.lead_in is not None and saved.lead_in.start < 0 < saved.lead_in.end
    assert saved.to_json()["version"] == 3
    reopened = open_show(saved, palette[0], where=path.name)
    assert reopened.live.hold is not None
    assert frames[0].mode == "crossfade" and 0 < frames[0].mix < 1
    for k, f in enumerate(frames):
        assert same_frame(reopened.frame_at(k / FPS), f), f"frame {k} differs"
    assert len({f.style for f in frames}) == 3  # from, to, and the next one
    still = [fields(f.params) for f in frames if 41.0 <= f.t < 56.0]
    assert all(np.array_equal(p, still[0]) for p in still)
    assert any(f.params.brightness == 0 for f in frames)


def test_the_set_takes_every_beat_when_the_tracker_lets_old_ones_go(palette):
    """The set reads the tracker's beats by time, so a tracker that keeps only its newest
    beats (bounded memory) gives the set the same grid."""
    audio, sr = device_audio(6.0, 8.0)
    full, trimmed = base.new_set(palette, sr=sr), base.new_set(palette, sr=sr)
    for i in range(0, len(audio), BLOCK):
        full.push(audio[i:i + BLOCK])
        trimmed.push(audio[i:i + BLOCK])
        del trimmed.analyzer.tracker.beats[:-2]
    assert len(full.analyzer.tracker.beats) > 8
    assert len(full.scene.live.beats) > 8
    assert trimmed.scene.live.beats == full.scene.live.beats
