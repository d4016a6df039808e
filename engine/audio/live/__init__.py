"""Live audio: features from a stream of samples as they arrive, an online beat tracker,
and a lossless recorder.

Qt-free: the app's :mod:`app.live.audio_input` captures with QtMultimedia and feeds
:class:`LiveAnalyzer`; any other source (a test, a PortAudio callback, a file played in
real time by ``bench/live.py``) feeds it the same way::

    live = LiveAnalyzer(sample_rate=48000, channels=2)
    for block in blocks:            # float32, any size
        live.push(block)
        f = live.latest             # LiveFeatures: rms, onset, ..., beat_pulse, tempo

Render parameters from them, frame by frame, come from
:class:`engine.reactive.live.LiveParams` (the reactive layer sits above audio).
"""

from engine.audio.live.analyzer import LiveAnalyzer, LiveFeatures
from engine.audio.live.frames import MIN_SAMPLE_RATE, CausalFrames, LiveAudioError
from engine.audio.live.recorder import LiveRecorder
from engine.audio.live.tracker import OnlineBeatTracker

__all__ = ["CausalFrames", "LiveAnalyzer", "LiveAudioError", "LiveFeatures", "LiveRecorder",
           "MIN_SAMPLE_RATE", "OnlineBeatTracker"]
