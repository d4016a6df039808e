"""A tap counts when it arrives, not when the GUI thread gets round to it: OSC and MIDI
stamp each move on arrival, the Controller hands every tap's stamp on, and a StreamClock
puts it on the audio stream's clock for the beat tracker."""

import time

import mido
import numpy as np
import pytest
from control_helpers import one_style_scene
from pythonosc.udp_client import SimpleUDPClient

from engine.audio.live import LiveAnalyzer
from engine.control import (
    Binding,
    ControlEvent,
    Controller,
    MidiMap,
    MidiRouter,
    OscServer,
    StreamClock,
)


def test_osc_taps_keep_their_arrival_time_through_a_late_flush():
    heard, bpms = [], []
    ctl = Controller(one_style_scene()[0], on_tap=bpms.append, on_tap_at=heard.append)
    server = OscServer(ctl.submit, port=0).start()
    try:
        client = SimpleUDPClient("127.0.0.1", server.port)
        sent = []
        for _ in range(4):
            sent.append(time.monotonic())
            client.send_message("/sonolume/tap", [])
            time.sleep(0.25)
        end = time.monotonic() + 5
        while ctl.pending() < 4 and time.monotonic() < end:
            time.sleep(0.005)
        time.sleep(0.3)  # the GUI thread was busy: the taps are applied 0.3 s+ late
        flushed = time.monotonic()
        ctl.flush()
    finally:
        server.stop()
    assert len(heard) == 4
    lag = np.array(heard) - np.array(sent)
    assert np.all(lag >= 0) and np.all(lag < 0.1), lag  # the socket's delay only
    assert flushed - heard[-1] > 0.3
    # The tempo comes from the arrival times (240 BPM as sent), not from four taps applied
    # in the same instant.
    assert len(bpms) == 3 and bpms[-1] == pytest.approx(240, rel=0.1)


def test_midi_router_stamps_arrival():
    mapping = MidiMap([Binding("note", 0, 36, "tap")])
    got = []
    router = MidiRouter(mapping, got.append)

    pad = mido.Message("note_on", channel=0, note=36, velocity=100)
    before = time.monotonic()
    router.handle(pad)
    router.handle(pad, at=123.5)
    assert [e.control for e in got] == ["tap", "tap"]
    assert before <= got[0].at <= time.monotonic() and got[1].at == 123.5


def test_stream_clock_keeps_the_freshest_read():
    clock = StreamClock(window_s=2.0)
    assert clock.stream_at(5.0) is None
    clock.note(1.00, monotonic=101.00)  # on time: offset -100
    clock.note(1.50, monotonic=101.53)  # read 30 ms late: its newest sample is older
    assert clock.stream_at(101.2) == pytest.approx(1.2)
    clock.note(1.60, monotonic=101.60)
    clock.note(4.00, monotonic=104.20)  # 2 s on, the old reads expired: a new offset
    assert clock.offset == pytest.approx(-100.2)
    clock.reset()
    assert clock.offset is None
    with pytest.raises(ValueError):
        StreamClock(window_s=0)


def _clicks(bpm: float, seconds: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    y = (0.02 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)
    beats = np.arange(0.25, seconds, 60.0 / bpm)
    for b in beats:
        i = int(b * sr)
        y[i:i + 400] += (np.hanning(800)[400:] * 0.9).astype(np.float32)
    return y, beats


def test_a_tap_applied_late_lands_at_its_arrival_on_the_stream():
    """The performer taps on four clicks; the controller applies the taps only after a
    0.4 s stall (the audio that arrived meanwhile is already analysed). The tracker gets
    the taps where they were hit; timed when applied they would be 0.4 s late."""
    sr, block = 48000, 1024
    y, beats = _clicks(100.0, 12.0, sr)
    rng = np.random.default_rng(0)
    an = LiveAnalyzer(sr, 1)
    clock = StreamClock()
    ctl = Controller(one_style_scene()[0], on_tap_at=lambda at: an.tap(clock.stream_at(at)))
    base = 1000.0  # monotonic time of stream time 0
    taps = list(beats[(beats > 6.0)][:4])
    pending = list(taps)
    stall_until = None
    naive = []
    for i in range(0, len(y), block):
        an.push(y[i:i + block])
        # each read happens 0-25 ms after its newest sample was captured
        clock.note(an.time, monotonic=base + an.time + rng.uniform(0.0, 0.025))
        while pending and pending[0] <= an.time:
            ctl.submit(ControlEvent("tap", source="osc", at=base + pending.pop(0)))
            if not pending:
                stall_until = an.time + 0.4
        if stall_until is not None and an.time >= stall_until:
            naive.append(an.time)  # what "now" says when the taps are finally applied
            ctl.flush()
            stall_until = None
            break
    tr = an.tracker
    assert tr.tapped and tr.tempo == pytest.approx(100.0, rel=0.02)
    landed = np.array(tr._taps)
    assert np.max(np.abs(landed - np.array(taps))) < 0.03, landed - taps
    # the beat grid has a beat on the last tap's arrival, not at the late flush
    ph = tr.phase_at(taps[-1])
    assert min(ph, 1 - ph) < 0.05  # of a beat (0.6 s)
    assert naive[0] - taps[-1] >= 0.4
