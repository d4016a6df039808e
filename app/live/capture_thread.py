"""The live input's audio thread: a QThread with its own event loop that owns the
device's reader (a QAudioSource made in that thread, or where a Pulse server runs a
:class:`~app.live.pulse_stream.PulseStream` read by a helper thread of its own), records
and analyses every block, and hands the GUI thread one immutable :class:`Delivery` per
block.

Why a thread of its own: on the GUI thread a render, a save or a busy machine kept the
reader away from QAudioSource's buffer, and audio that overflowed it was lost (a stall
longer than the 1 s buffer lost what did not fit: 21 % of the audio with 1.5 s stalls
every 2 s, bench/live_capture.py); and Start held the GUI thread while the first analyzer
was built (0.8-3.7 s). Here the reader runs whatever the GUI thread does; the GUI thread
only receives deliveries, queued in order, so a late GUI thread sees every block later but
never loses one.

Threads and what they touch:

* :class:`CaptureWorker` lives in the audio thread (its PulseStream reader, when there is
  one, feeds it from that reader's thread, which blocks in libpulse without the GIL). It
  alone pushes into its
  :class:`~engine.audio.live.LiveAnalyzer` and writes the recorder. :attr:`CaptureWorker.lock`
  makes one step of reading (record + analyse a block) atomic against the GUI thread's
  calls that must land between two blocks: attaching a recorder (so sample 0 of the file
  is exactly the stream time it reports) and tap / resync (the tracker is not
  thread-safe).
* :class:`AnalyzerView` is what the GUI thread reads instead of the analyzer (stream time,
  format, latest features, the tracker's grid and beats): its state comes only from
  deliveries, so it is always consistent with the blocks the GUI thread has been given
  (a LiveSet's clock origin and the audio it records line up to the sample).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from engine.audio.live import LiveAnalyzer, LiveFeatures
from engine.audio.live.tracker import BeatGrid
from engine.errors import SonolumeError

log = logging.getLogger("sonolume.app.live.capture")

POLL_MS = 5  # read the device this often (see open: not on readyRead)
#: QAudioSource's ring buffer. The audio thread empties it every few ms; the size only
#: matters when that thread is starved (it shares the GIL with the GUI thread).
BUFFER_S = 2.0
STALL_S = 2.0  # no audio this long from a running device: say so
START_S = 6.0  # ... or this long after opening it (PulseAudio took 1-2 s on a busy machine)
LEVEL_RATE = 30.0
VIEW_BEATS = 256  # beats the GUI's view keeps (~2 minutes; it grows ~2 a second)
#: Said once when the audio server goes while a PulseStream reads (see app.live.audio_input)
SERVER_AWAY_MESSAGE = ("The audio server (PulseAudio or PipeWire) went away; the preview "
                       "keeps running (live audio comes back when the server does)")


@dataclass(frozen=True)
class Delivery:
    """One block as analysed, with what the GUI thread needs to know after it."""

    session: int
    block: np.ndarray  # float32 (n, channels); silence while the device is lost
    steps: list  # LiveFeatures frames the block completed
    time: float  # stream time after the block
    sample_rate: int
    channels: int
    latest: LiveFeatures
    grid: BeatGrid
    new_beats: tuple  # beats the tracker passed during this block (seconds)
    level: tuple | None  # (peak, rms) when the meter is due
    show: LiveFeatures | None  # the features for featuresReady when a video frame is due
    read_at: float = 0.0  # time.monotonic() when the block was read (the GUI gets it later)


@dataclass(frozen=True)
class OpenRequest:
    """What the GUI thread asks the audio thread to open."""

    session: int
    # QAudioDevice (a value type, safe to pass between threads); None where Qt's backend
    # must not be asked (it lost its server): then only pulse_source is tried, and a
    # failure is a failed open, never a QAudioSource (which would abort the process)
    qdevice: object
    fmt: object  # QAudioFormat
    description: str
    dtype: object  # numpy dtype of the device's samples
    scale: float
    fresh: bool  # a new analyzer (Start) rather than a reopen (the device came back)
    quiet: bool  # a failure is not said (the reconnect attempts while lost)
    pulse_source: str | None = None  # record this PulseAudio source with PulseStream instead


class _PulseReader(threading.Thread):
    """Reads a PulseStream as fast as fragments come and hands them to the worker (the
    analysis runs here too, under the worker's lock). Stopping only sets a flag: a read
    may block (a suspended source), and the stream is closed by this thread when it
    returns."""

    def __init__(self, stream, take):
        super().__init__(name="sonolume-live-pulse", daemon=True)
        self.stream, self._take = stream, take
        self.stopping = False
        self.error = ""
        self.unplugged = False  # the error says the source went away
        self.server_gone = False  # ... or that the server did (killed, restarted)

    def run(self) -> None:
        from app.live.pulse_stream import PulseError

        try:
            while not self.stopping:
                data = self.stream.read()
                if self.stopping:
                    break
                self._take(data, self)
        except PulseError as exc:
            from app.live.pulse_stream import ERR_KILLED, ERR_TERMINATED

            self.unplugged = exc.code == ERR_KILLED
            self.server_gone = exc.code == ERR_TERMINATED
            self.error = str(exc) or "the stream failed"
        finally:
            self.stream.close()


class CaptureWorker(QObject):
    """See the module docstring. Slots are called through queued signals from the GUI
    thread; without a thread (tests) they run where they are called."""

    delivered = Signal(object)  # Delivery
    opened = Signal(int, bool, str)  # session, ok, why not
    lost = Signal(int, str)  # session, message: the device failed or went silent
    serverLost = Signal(int)  # session: just before lost, when the audio server went away
    recordingFailed = Signal(int, str)
    said = Signal(int, str)  # session, a line that changes nothing (a skipped block)

    def __init__(self, fps: float, smoothing=None, parent=None):
        super().__init__(parent)
        self.fps = float(fps)
        self.smoothing = smoothing
        self.lock = threading.Lock()
        self.session = 0
        self.analyzer: LiveAnalyzer | None = None
        self.recorder = None
        self.recorder_session = -1
        self.last_data = 0.0  # monotonic time of the newest device data
        self._source = None
        self._io = None
        self._description = ""
        self._dtype, self._scale, self._channels, self._rate = np.float32, 1.0, 1, 0
        self._carry = b""
        self._got_data = False
        self._opened_at = 0.0
        self._silent_since: tuple[float, float] | None = None  # (monotonic, stream time)
        self._next_frame = 0.0
        self._level = [0.0, 0.0, 0]
        self._last_level = 0.0
        self._beats_sent = -math.inf  # stream time of the newest beat delivered
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    # -- the GUI thread's requests (queued) ------------------------------------------------
    @Slot(object)
    def open(self, req: OpenRequest) -> None:
        """Open a source; a fresh session also gets a new analyzer (built here, not on the
        GUI thread: the first one costs ~1 s of imports and filter design)."""
        from PySide6.QtMultimedia import QAudioSource

        if req.fresh or self.analyzer is None or req.session != self.session:
            self.begin(req.session, req.fmt.sampleRate(), req.fmt.channelCount())
        self._close_source()
        self._description = req.description
        if req.pulse_source is not None:
            return self._open_pulse(req)
        source = QAudioSource(req.qdevice, req.fmt, self)
        # A generous ring buffer: this thread drains it every few ms, but it shares the GIL
        # with the GUI thread and the CPU with everything else.
        fmt = req.fmt
        source.setBufferSize(int(fmt.sampleRate() * fmt.channelCount() * fmt.bytesPerSample()
                                 * BUFFER_S))
        io = source.start()
        if io is None or source.error().name != "NoError":
            err = source.error().name
            log.info("live input: cannot open %s (%s)", req.description, err)
            source.stop()
            source.deleteLater()
            self._start_silence()
            self.opened.emit(req.session, False,
                             "" if req.quiet else
                             f"Cannot open audio input '{req.description}' ({err})")
            return
        self._install(source, io, req.dtype, req.scale, fmt)
        # Polled every POLL_MS, not on readyRead: a Python slot on readyRead gains nothing
        # at this poll rate, and in one run (bench/live_capture.py, GUI thread busy 1.5 s
        # every 2 s) it lost 19 gaps of 1024 frames where the polled reader lost none.
        self._timer.start()
        log.info("live input: %s at %d Hz, %d channel(s), %s", req.description,
                 self._rate, self._channels, np.dtype(self._dtype).name)
        self.opened.emit(req.session, True, "")

    def _install(self, source, io, dtype, scale: float, fmt) -> None:
        """Make ``source`` the reader (under the lock: a block in flight finishes with the
        old one); the analyzer follows a new rate or channel count, and the silence
        watch starts again."""
        with self.lock:
            self._source, self._io = source, io
            self._dtype, self._scale = dtype, scale
            if (fmt.sampleRate(), fmt.channelCount()) != (self._rate, self._channels):
                self.analyzer.reconfigure(fmt.sampleRate(), fmt.channelCount())
                self._rate, self._channels = fmt.sampleRate(), fmt.channelCount()
            self._carry = b""
            self._silent_since = None
        self.last_data = self._opened_at = time.monotonic()
        self._got_data = False

    def _open_pulse(self, req: OpenRequest) -> None:
        from app.live.pulse_stream import ERR_NO_ENTITY, PulseError, PulseStream

        fmt = req.fmt
        try:
            stream = PulseStream(req.pulse_source, fmt.sampleRate(), fmt.channelCount())
        except PulseError as exc:
            # QAudioSource is the fallback only for a source the server does not know by
            # that name. Any other failure means the server is unreachable (killed right
            # after Start, before the first block): Qt's backend has lost it too, and a
            # QAudioSource opened then aborts the process inside libpulse. So that failure
            # is a failed open, which the input retries as a lost device.
            if req.qdevice is None or exc.code != ERR_NO_ENTITY:
                log.info("live input: cannot open %s (%s)", req.description, exc)
                self._start_silence()
                self.opened.emit(req.session, False, "" if req.quiet else
                                 f"Cannot open audio input '{req.description}' ({exc})")
                return
            # A device Qt lists but PulseAudio does not know by that name (Qt's own
            # PipeWire backend may name nodes otherwise): QAudioSource reads it instead.
            log.info("live input: no PulseAudio stream for %s (%s); using QAudioSource",
                     req.description, exc)
            self.open(dataclasses.replace(req, pulse_source=None, fresh=False,
                                          session=self.session))
            return
        reader = _PulseReader(stream, self._consume)
        self._install(reader, None, np.dtype(np.float32), 1.0, fmt)
        reader.start()
        self._timer.start()
        log.info("live input: %s at %d Hz, %d channel(s), float32 (PulseAudio stream)",
                 req.description, self._rate, self._channels)
        self.opened.emit(req.session, True, "")

    def begin(self, session: int, sample_rate: int, channels: int) -> None:
        """A new analysis for ``session`` (what :meth:`open` does on Start; a test feeds
        it with :meth:`feed`)."""
        analyzer = LiveAnalyzer(sample_rate, channels, smoothing=self.smoothing)
        with self.lock:
            self.session = session
            self.analyzer = analyzer
            self._rate, self._channels = int(sample_rate), int(channels)
            self._next_frame, self._last_level, self._beats_sent = 0.0, 0.0, -math.inf
            self._level = [0.0, 0.0, 0]
            self._silent_since = None

    @Slot(int)
    def drop(self, session: int) -> None:
        """The device is gone (the GUI thread saw it leave the list): close the source and
        analyse silence at real time, so the features settle and the beat runs on."""
        if session != self.session:
            return
        self._close_source()
        self._start_silence()

    @Slot()
    def close(self) -> None:
        """Stop everything (Stop, or before the thread ends)."""
        self._timer.stop()
        self._close_source()
        with self.lock:
            self.analyzer = None
            self.recorder = None
            self._silent_since = None

    # -- called from the GUI thread directly (under the lock) -------------------------------
    def attach_recorder(self, session: int, recorder) -> float:
        """Record every block of ``session`` read from now on into ``recorder``; returns the
        stream time of its sample 0."""
        with self.lock:
            self.recorder, self.recorder_session = recorder, session
            an = self.analyzer
            return an.time if an is not None and self.session == session else 0.0

    def detach_recorder(self) -> None:
        with self.lock:
            self.recorder = None

    def beat(self, session: int, action: str, t: float | None = None) -> None:
        """``tap`` / ``resync`` / ``release_tap`` on the analyzer, between two blocks; the
        moment is the newest audio read (default)."""
        with self.lock:
            an = self.analyzer
            if an is None or session != self.session:
                return
            if action == "release_tap":
                an.release_tap()
            else:
                getattr(an, action)(t)

    # -- data ------------------------------------------------------------------------------
    def _close_source(self) -> None:
        with self.lock:
            src, self._source, self._io = self._source, None, None
        if isinstance(src, _PulseReader):
            src.stopping = True
            src.join(0.1)  # it closes the stream itself (now, or when a blocked read ends)
        elif src is not None:
            src.stop()
            src.deleteLater()

    def _start_silence(self) -> None:
        with self.lock:
            if self._silent_since is None and self.analyzer is not None:
                self._silent_since = (time.monotonic(), self.analyzer.time)
        if self.analyzer is not None:
            self._timer.start()

    def _read(self) -> None:
        io = self._io
        if io is None:
            return
        data = bytes(io.readAll().data())
        if data:
            self._consume(data)

    def _consume(self, data: bytes, token=None) -> None:
        """Bytes of the device's frames (QAudioSource's, or a PulseStream's from its
        reader thread: ``token``, whose blocks count only while it is the source)."""
        self.last_data = time.monotonic()
        self._got_data = True
        data = self._carry + data
        frame_bytes = np.dtype(self._dtype).itemsize * self._channels
        usable = len(data) - len(data) % frame_bytes
        self._carry = data[usable:]
        if not usable:
            return
        raw = np.frombuffer(data[:usable], dtype=self._dtype).reshape(-1, self._channels)
        if raw.dtype == np.uint8:
            block = (raw.astype(np.float32) - 128.0) / self._scale
        elif raw.dtype == np.float32:
            block = raw
        else:
            block = raw.astype(np.float32) / self._scale
        self.feed(block, raw, token)

    def feed(self, block: np.ndarray, raw: np.ndarray | None = None, token=None) -> None:
        """Record ``raw`` (the device's samples; None: silence, not recorded) and analyse
        ``block`` (float32), then deliver. Also the way a test feeds samples."""
        with self.lock:
            an = self.analyzer
            if an is None or (token is not None and token is not self._source):
                return
            rec = self.recorder if self.recorder_session == self.session else None
            if rec is not None and raw is not None:
                try:
                    if rec.dtype.kind == "f" and raw.dtype.kind != "f":
                        rec.write(block)  # exact: int samples / 2^k are float32 values
                    elif raw.dtype == np.uint8:
                        rec.write((raw.astype(np.int16) - 128) * 256)
                    else:
                        rec.write(raw)
                except SonolumeError as exc:
                    self.recorder = None
                    self.recordingFailed.emit(self.session, f"Recording stopped: {exc}")
            try:
                steps = an.push(block)
            except SonolumeError as exc:  # a block the analysis cannot take: say it, go on
                log.warning("live input: %s", exc)
                self.said.emit(self.session, f"Live audio skipped a block: {exc}")
                return
            tr = an.tracker
            beats = _beats_after(tr.beats, self._beats_sent)
            if beats:
                self._beats_sent = beats[-1]
            grid = tr.grid()
            now, latest = an.time, an.latest
            session, rate, channels = self.session, an.sample_rate, an.channels
            show = None
            if an.frames.frames and latest.time >= self._next_frame:
                self._next_frame = (np.floor(latest.time * self.fps + 1e-6) + 1) / self.fps
                show = latest
        level = None
        lv = self._level
        if block.size:
            flat = block.ravel()
            lv[0] = max(lv[0], float(np.max(np.abs(flat))))
            lv[1] += float(np.dot(flat, flat))
            lv[2] += block.size
        if now - self._last_level >= 1.0 / LEVEL_RATE and lv[2]:
            level = (min(lv[0], 1.0), min(float(np.sqrt(lv[1] / lv[2])), 1.0))
            self._level = [0.0, 0.0, 0]
            self._last_level = now
        self.delivered.emit(Delivery(session, block, steps, now, rate, channels, latest,
                                     grid, beats, level, show, time.monotonic()))

    def _poll(self) -> None:
        if self._silent_since is not None:
            self._feed_silence()
            return
        self._read()
        src = self._source
        if src is None:
            return
        err = src.error if isinstance(src, _PulseReader) else src.error().name
        if isinstance(src, _PulseReader) and src.server_gone:
            self.serverLost.emit(self.session)
            self._give_up(SERVER_AWAY_MESSAGE)
        elif isinstance(src, _PulseReader) and src.unplugged:
            self._give_up(f"Audio input '{self._description}' was unplugged; the preview "
                          "keeps running (it reconnects when the input comes back)")
        elif err not in ("", "NoError", "UnderrunError"):
            self._give_up(f"Audio input '{self._description}' failed ({err}); "
                          "the preview keeps running")
        elif time.monotonic() - self.last_data > (STALL_S if self._got_data else START_S):
            self._give_up(f"No audio from '{self._description}' for {STALL_S:.0f} s "
                          "(unplugged or muted?); the preview keeps running")

    def _give_up(self, message: str) -> None:
        self._close_source()
        self._start_silence()
        self.lost.emit(self.session, message)

    def _feed_silence(self) -> None:
        an = self.analyzer
        since = self._silent_since
        if an is None or since is None:
            return
        n = int(((time.monotonic() - since[0]) - (an.time - since[1])) * self._rate)
        if n > 0:
            self.feed(np.zeros((n, self._channels), np.float32))


def _beats_after(beats: list, t: float) -> tuple:
    """The beats later than ``t`` (by time, not count: the list may drop its oldest)."""
    j = len(beats)
    while j > 0 and beats[j - 1] > t:
        j -= 1
    return tuple(beats[j:])


class TrackerView:
    """The beat tracker as the GUI thread sees it: the grid and the beats delivered so far
    (the attributes a LiveSet reads: ``locked``, ``period``, ``frame_rate``, ``beats``,
    ``phase_at``)."""

    def __init__(self, frame_rate: float):
        self.grid = BeatGrid(frame_rate)
        self.beats: list[float] = []  # the newest VIEW_BEATS (a LiveSet reads them by time)

    frame_rate = property(lambda self: self.grid.frame_rate)
    period = property(lambda self: self.grid.period)
    anchor = property(lambda self: self.grid.anchor)
    confidence = property(lambda self: self.grid.confidence)
    tapped = property(lambda self: self.grid.tapped)
    tempo = property(lambda self: self.grid.tempo)
    locked = property(lambda self: self.grid.locked)

    def phase_at(self, t: float) -> float:
        return self.grid.phase_at(t)


class AnalyzerView:
    """What the GUI thread reads in place of the audio thread's LiveAnalyzer, one per
    session (Start): stream time, format, newest features and the tracker as of the newest
    delivered block. ``tap``/``resync``/``release_tap`` go to the analyzer itself."""

    def __init__(self, worker: CaptureWorker, session: int, sample_rate: int, channels: int):
        from engine.audio.frames import FRAME_RATE

        self._worker, self._session = worker, session
        self.time = 0.0
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.latest = LiveFeatures(time=0.0)
        self.tracker = TrackerView(FRAME_RATE)

    def take(self, d: Delivery) -> None:
        self.time, self.sample_rate, self.channels = d.time, d.sample_rate, d.channels
        self.latest = d.latest
        self.tracker.grid = d.grid
        beats = self.tracker.beats
        beats.extend(d.new_beats)
        if len(beats) > 2 * VIEW_BEATS:
            del beats[:-VIEW_BEATS]

    @property
    def tempo(self) -> float:
        return self.tracker.tempo

    def beat_phase_at(self, t: float) -> float:
        return self.tracker.phase_at(t)

    def tap(self, t: float | None = None) -> None:
        self._worker.beat(self._session, "tap", t)

    def resync(self, t: float | None = None) -> None:
        self._worker.beat(self._session, "resync", t)

    def release_tap(self) -> None:
        self._worker.beat(self._session, "release_tap")
