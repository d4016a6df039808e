"""When our own PulseAudio stream cannot open, the capture thread falls back to Qt's
QAudioSource only for a source the server does not know by that name. A server that does
not answer (killed right after Start, before the first block) is a failed open: Qt's
backend has lost that server too, and a QAudioSource opened then aborts the whole process
inside libpulse (seen while writing the server-restart test).

Against a real private PulseAudio server (the conftest's); the fallback itself is only
recorded, not run, so the test process never opens a QAudioSource.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def worker(qapp):
    from app.live.capture_thread import CaptureWorker

    w = CaptureWorker(fps=30.0)
    w.fallbacks, w.replies = [], []
    w.open = w.fallbacks.append  # what a fallback would open (never run here)
    w.opened.connect(lambda session, ok, why: w.replies.append((session, ok, why)))
    w.begin(1, 48000, 2)
    yield w
    w.close()


def _request(source: str):
    from PySide6.QtMultimedia import QAudioFormat

    from app.live.capture_thread import OpenRequest

    fmt = QAudioFormat()
    fmt.setSampleRate(48000)
    fmt.setChannelCount(2)
    fmt.setSampleFormat(QAudioFormat.SampleFormat.Float)
    return OpenRequest(1, object(), fmt, f"test input {source}", np.dtype(np.float32), 1.0,
                       fresh=False, quiet=False, pulse_source=source)


def _use(monkeypatch, env: dict) -> None:
    for key in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR", "HOME"):
        if key in env:
            monkeypatch.setenv(key, env[key])
        else:
            monkeypatch.delenv(key, raising=False)


def test_a_source_the_server_does_not_know_falls_back_to_qt(pulse_server, worker,
                                                            monkeypatch):
    _use(monkeypatch, pulse_server)
    worker._open_pulse(_request("no_such_source_here"))
    assert len(worker.fallbacks) == 1 and worker.fallbacks[0].pulse_source is None
    assert worker.replies == []  # the fallback answers, not this attempt


def test_a_server_that_does_not_answer_is_a_failed_open_not_a_qt_source(
        pulse_server, worker, monkeypatch, tmp_path):
    _use(monkeypatch, dict(pulse_server, PULSE_SERVER=f"unix:{tmp_path / 'gone'}"))
    worker._open_pulse(_request("sono_null.monitor"))
    assert worker.fallbacks == []
    assert len(worker.replies) == 1
    session, ok, why = worker.replies[0]
    assert session == 1 and not ok and "test input sono_null.monitor" in why


def test_the_known_source_opens_as_a_stream(pulse_server, worker, monkeypatch):
    _use(monkeypatch, pulse_server)
    worker._open_pulse(_request("sono_null.monitor"))
    assert worker.fallbacks == [] and worker.replies == [(1, True, "")]
