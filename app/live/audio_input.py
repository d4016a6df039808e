"""Live audio input for the preview: capture a device with QtMultimedia, analyse it as it
arrives (:class:`engine.audio.live.LiveAnalyzer`), hand the features to the stage.

API (everything on the GUI thread)::

    live = LiveInput(fps=30.0)
    live.devices()              # [InputDevice(id, description, is_default, sample_rate,
                                #  channels)], microphones, line-ins, monitors
    live.expose_monitor()       # PulseAudio/PipeWire: make the system output's monitor an
                                # input (Qt lists no monitors); returns its id or None
    live.start(device=None)     # None: the default input; or an id / description /
                                # InputDevice. False (and errorOccurred) when it cannot
    live.stop()
    live.tap(); live.resync(); live.release_tap()      # the beat, by hand
    live.start_recording(path)  # .flac / .wav, lossless, atomic; stop_recording() -> path;
                                # recording_started_at: the stream time of its sample 0
    live.latest                 # the newest LiveFeatures (None before the first)
    live.stream_time()          # seconds of audio analysed, for LiveParams' clock

Signals:

* ``featuresReady(LiveFeatures)``: at most once per video frame (``fps``), the newest
  features; feed them to ``engine.reactive.live.LiveParams.step`` and draw;
* ``stepsReady(block, [LiveFeatures])``: every block as analysed (float32, silence while
  the device is lost) with every features frame it completed, for a live set
  (:class:`engine.control.live_set.LiveSet`), which steps on each and records the block;
* ``levelChanged(peak, rms)``: linear 0..1 of the audio read since the last emit, for a
  meter (~30 per second);
* ``errorOccurred(str)``: one readable line: no input device, the device unplugged
  mid-set, no audio arriving, a sample-rate change (after which the analysis carries on);
* ``stateChanged(str)``: ``"stopped"``, ``"running"``, or ``"lost"`` (the device went
  away: silence is analysed at real time so the features decay, the beat runs on at its
  tempo and the preview keeps moving; when the device comes back it is reopened).

Why QtMultimedia (``QAudioSource``): the app already depends on it for playback, it speaks
PulseAudio, PipeWire (through its Pulse server), ALSA, CoreAudio and WASAPI, lists and
watches devices (``QMediaDevices``), and needs no PortAudio binding or extra native
library. One limit: on Linux Qt's PulseAudio backend hides monitor sources, so
``expose_monitor`` loads ``module-remap-source`` on the default output's monitor (``pactl``,
which PipeWire's Pulse server understands too); the module is unloaded on ``shutdown``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from engine.audio.live import MIN_SAMPLE_RATE, LiveAnalyzer, LiveRecorder
from engine.errors import SonolumeError

log = logging.getLogger("sonolume.app.live.audio_input")

try:  # QtMultimedia needs system libraries (libpulse); the app runs without it
    from PySide6.QtMultimedia import QAudioDevice, QAudioFormat, QAudioSource, QMediaDevices

    MULTIMEDIA_ERROR = ""
except ImportError as exc:  # pragma: no cover - depends on the machine
    QAudioDevice = QAudioFormat = QAudioSource = QMediaDevices = None
    MULTIMEDIA_ERROR = str(exc)

POLL_MS = 10  # read the device this often as well as on readyRead
BUFFER_S = 1.0  # capture buffer (see _open)
STALL_S = 2.0  # no audio this long from a running device: say so
START_S = 6.0  # ... or this long after opening it (PulseAudio took 1-2 s on a busy machine)
LEVEL_RATE = 30.0
MONITOR_SOURCE = "sonolume_monitor"
DEFAULT_RATE = 48000
# Once the audio server goes away, Qt's PulseAudio backend (6.11) has no connection: it
# tries once more 3 s later and, if the server is still gone, never again; opening a
# source without a connection aborts the process inside libpulse (bench/soak.py --live:
# the server killed mid-set). So a source is opened only when the server answers, after a
# loss only once it has answered SERVER_HOLD_S, and never after it was gone longer than
# Qt's one retry (the input then says to restart Sonolume; the preview keeps running).
SERVER_HOLD_S = 3.5
SERVER_RETRY_S = 3.0
GONE_MESSAGE = ("The audio server (PulseAudio or PipeWire) went away; live audio can "
                "only be captured again after restarting Sonolume (the preview keeps "
                "running)")


@dataclass(frozen=True)
class InputDevice:
    id: str
    description: str
    is_default: bool
    sample_rate: int
    channels: int


def _device_id(dev) -> str:
    return bytes(dev.id().data()).decode("utf-8", "replace")


def _pulse_socket() -> str | None:
    """The local socket of the PulseAudio (or PipeWire-Pulse) server, where there is one."""
    server = (os.environ.get("PULSE_SERVER") or "").split()
    if server:
        return server[0][5:] if server[0].startswith("unix:") else None
    run = os.environ.get("PULSE_RUNTIME_PATH") or os.path.join(
        os.environ.get("XDG_RUNTIME_DIR") or "/nonexistent", "pulse")
    path = os.path.join(run, "native")
    return path if os.path.exists(path) else None


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(0.5)
        try:
            s.connect(path)
        except OSError:
            return False
    return True


def _info(dev) -> InputDevice:
    fmt = dev.preferredFormat()
    return InputDevice(_device_id(dev), dev.description(), dev.isDefault(),
                       int(fmt.sampleRate()), int(fmt.channelCount()))


_DTYPES = {}
if QAudioFormat is not None:
    _F = QAudioFormat.SampleFormat
    _DTYPES = {_F.Float: (np.float32, 1.0), _F.Int16: (np.int16, 32768.0),
               _F.Int32: (np.int32, 2147483648.0), _F.UInt8: (np.uint8, 128.0)}


class LiveInput(QObject):
    """See the module docstring."""

    featuresReady = Signal(object)
    stepsReady = Signal(object, object)  # block, list of LiveFeatures
    levelChanged = Signal(float, float)
    errorOccurred = Signal(str)
    stateChanged = Signal(str)
    devicesChanged = Signal()

    def __init__(self, fps: float = 30.0, smoothing=None, parent=None):
        super().__init__(parent)
        if not fps > 0:
            raise SonolumeError(f"fps must be positive, not {fps}")
        self.fps = float(fps)
        self.smoothing = smoothing
        self.analyzer: LiveAnalyzer | None = None
        self.recorder: LiveRecorder | None = None
        self.recording_started_at = 0.0
        self.state = "stopped"
        self.device: InputDevice | None = None
        self._qdevice = None
        self._source = None
        self._io = None
        self._dtype, self._scale, self._channels, self._rate = np.float32, 1.0, 1, 0
        self._carry = b""
        self._next_frame = 0.0  # stream time of the next featuresReady
        self._level = [0.0, 0.0, 0]  # peak, sum of squares, count
        self._last_level = 0.0
        self._last_data = 0.0
        self._lost_at = 0.0
        self._lost_stream = 0.0
        self._last_look = 0.0
        self._got_data = False
        self._monitor_module: str | None = None
        self._server: str | None = None  # the audio server's socket, once one was used
        self._server_ok_since: float | None = -SERVER_HOLD_S
        self._server_gone = False  # gone past Qt's retry: no capture until a restart
        self._media = QMediaDevices(self) if QMediaDevices is not None else None
        if self._media is not None:
            self._media.audioInputsChanged.connect(self._inputs_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    # -- devices ---------------------------------------------------------------------------
    @staticmethod
    def available() -> tuple[bool, str]:
        """(True, "") when QtMultimedia loaded; else (False, why)."""
        return (not MULTIMEDIA_ERROR, MULTIMEDIA_ERROR)

    def devices(self) -> list[InputDevice]:
        if QMediaDevices is None:
            return []
        return [_info(d) for d in QMediaDevices.audioInputs()]

    def _find(self, device):
        inputs = QMediaDevices.audioInputs() if QMediaDevices is not None else []
        if not inputs:
            return None, ("No audio input device found: plug in a microphone or line-in, "
                          "or use 'Capture system output' where PulseAudio or PipeWire runs")
        if device is None:
            dflt = QMediaDevices.defaultAudioInput()
            return (dflt if not dflt.isNull() else inputs[0]), ""
        if QAudioDevice is not None and isinstance(device, QAudioDevice):
            return device, ""
        key = device.id if isinstance(device, InputDevice) else str(device)
        for d in inputs:
            if _device_id(d) == key or d.description() == key:
                return d, ""
        names = ", ".join(d.description() for d in inputs)
        return None, f"No audio input '{key}' (inputs now: {names})"

    def expose_monitor(self) -> str | None:
        """Make the default output's monitor (what the computer plays) an input device, via
        PulseAudio's ``module-remap-source``; returns the new device's id, or None (with
        errorOccurred) where there is no ``pactl`` or no Pulse-compatible server."""
        pactl = shutil.which("pactl")
        if pactl is None:
            self.errorOccurred.emit("Capturing the system output needs PulseAudio or "
                                    "PipeWire's pactl, which is not installed")
            return None

        def run(*args):
            return subprocess.run([pactl, *args], capture_output=True, text=True, timeout=5)

        try:
            if MONITOR_SOURCE in run("list", "short", "sources").stdout.split():
                return MONITOR_SOURCE
            sink = run("get-default-sink").stdout.strip()
            if not sink:
                raise OSError("no default output (sink)")
            res = run("load-module", "module-remap-source", f"master={sink}.monitor",
                      f"source_name={MONITOR_SOURCE}")
            if res.returncode != 0:
                raise OSError((res.stderr or res.stdout).strip() or "load-module failed")
        except (OSError, subprocess.SubprocessError) as exc:
            self.errorOccurred.emit(f"Cannot capture the system output: {exc}")
            return None
        self._monitor_module = res.stdout.strip()
        return MONITOR_SOURCE

    # -- running ---------------------------------------------------------------------------
    def start(self, device=None) -> bool:
        """Open ``device`` and start analysing; False (and one errorOccurred line) when
        it cannot. A running input is stopped first."""
        self.stop()
        if MULTIMEDIA_ERROR:
            self.errorOccurred.emit(f"Live input needs QtMultimedia, which failed to load: "
                                    f"{MULTIMEDIA_ERROR}")
            return False
        qdev, why = self._find(device)
        if qdev is None:
            self.errorOccurred.emit(why)
            return False
        if not self._open(qdev):
            return False
        self.analyzer = LiveAnalyzer(self._rate, self._channels, smoothing=self.smoothing)
        self._next_frame = 0.0
        self._set_state("running")
        return True

    def _format_for(self, qdev):
        pref = qdev.preferredFormat()
        rate = int(pref.sampleRate())
        if rate < MIN_SAMPLE_RATE:
            rate = DEFAULT_RATE
        fmt = QAudioFormat()
        fmt.setSampleRate(rate)
        fmt.setChannelCount(max(1, min(int(pref.channelCount()) or 2, 2)))
        for sf in (QAudioFormat.SampleFormat.Float, QAudioFormat.SampleFormat.Int16,
                   pref.sampleFormat()):
            fmt.setSampleFormat(sf)
            if qdev.isFormatSupported(fmt):
                return fmt
        return None

    def _server_ready(self) -> bool:
        """Whether a source may be opened (see SERVER_HOLD_S); True where there is no
        PulseAudio socket to ask."""
        self._server = self._server or _pulse_socket()
        if self._server is None:
            return True
        if not _answers(self._server):
            self._server_ok_since = None
            # The server stopped sending at _last_data at the latest: gone past Qt's retry.
            if not self._server_gone and time.monotonic() - self._last_data > SERVER_RETRY_S:
                self._server_gone = True
                self.errorOccurred.emit(GONE_MESSAGE)
            return False
        if self._server_gone:
            return False
        if self._server_ok_since is None:
            self._server_ok_since = time.monotonic()
        return time.monotonic() - self._server_ok_since >= SERVER_HOLD_S

    def _open(self, qdev, quiet: bool = False) -> bool:
        """Open ``qdev``; a failure is one errorOccurred line unless ``quiet`` (the
        reconnect attempts while a lost device comes back)."""
        info = _info(qdev)
        if not self._server_ready():
            if not quiet:
                self.errorOccurred.emit(GONE_MESSAGE if self._server_gone else
                                        "The audio server (PulseAudio or PipeWire) is not "
                                        "answering or has just come back; try again in a "
                                        "few seconds")
            return False
        fmt = self._format_for(qdev)
        if fmt is None or fmt.sampleFormat() not in _DTYPES:
            if not quiet:
                self.errorOccurred.emit(f"Audio input '{info.description}' offers no sample "
                                        "format Sonolume reads (float, 16 or 32 bit)")
            return False
        source = QAudioSource(qdev, fmt, self)
        # A 1 s buffer: data still arrives every ~20 ms (the buffer does not add latency
        # while the GUI thread keeps up), but a render or a busy machine stalling the GUI
        # thread for up to a second loses no samples. Measured: a 600 ms stall lost 7 % of
        # a second's audio with Qt's default 250 ms buffer, none with 1 s; lost samples
        # read as a faster tempo.
        source.setBufferSize(int(fmt.sampleRate() * fmt.channelCount() * fmt.bytesPerSample()
                                 * BUFFER_S))
        io = source.start()
        if io is None or source.error().name != "NoError":
            if not quiet:
                self.errorOccurred.emit(f"Cannot open audio input '{info.description}' "
                                        f"({source.error().name})")
            log.info("live input: cannot open %s (%s)", info.description, source.error().name)
            source.stop()
            source.deleteLater()
            return False
        self._source, self._io, self._qdevice, self.device = source, io, qdev, info
        self._dtype, self._scale = _DTYPES[fmt.sampleFormat()]
        self._channels, self._rate = fmt.channelCount(), fmt.sampleRate()
        self._carry = b""
        io.readyRead.connect(self._read)
        self._last_data = time.monotonic()
        self._got_data = False
        self._timer.start()
        log.info("live input: %s at %d Hz, %d channel(s), %s", info.description,
                 self._rate, self._channels, np.dtype(self._dtype).name)
        return True

    def _close_source(self) -> None:
        if self._source is not None:
            src, self._source, self._io = self._source, None, None
            src.stop()
            src.deleteLater()

    def stop(self) -> None:
        """Stop capturing (a recording in progress is finished and kept)."""
        self._timer.stop()
        self._close_source()
        if self.recorder is not None:
            self.stop_recording()
        if self.state != "stopped":
            self._set_state("stopped")

    def shutdown(self) -> None:
        """Stop, and unload the monitor module this input loaded (app exit)."""
        self.stop()
        if self._monitor_module and shutil.which("pactl"):
            subprocess.run(["pactl", "unload-module", self._monitor_module],
                           capture_output=True, timeout=5)
            self._monitor_module = None

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    # -- the beat by hand ------------------------------------------------------------------
    def tap(self) -> None:
        if self.analyzer is not None:
            self.analyzer.tap()

    def resync(self) -> None:
        if self.analyzer is not None:
            self.analyzer.resync()

    def release_tap(self) -> None:
        if self.analyzer is not None:
            self.analyzer.release_tap()

    @property
    def latest(self):
        return self.analyzer.latest if self.analyzer is not None and \
            self.analyzer.time > 0 else None

    def stream_time(self) -> float:
        return self.analyzer.time if self.analyzer is not None else 0.0

    # -- recording -------------------------------------------------------------------------
    def start_recording(self, path) -> LiveRecorder | None:
        """Record the incoming audio, as it arrives, to ``path`` (.flac or .wav)."""
        if self._source is None:
            self.errorOccurred.emit("Start a live input before recording it")
            return None
        if self.recorder is not None:
            self.stop_recording()
        dtype = np.dtype(self._dtype).name
        try:
            self.recorder = LiveRecorder(path, self._rate, self._channels,
                                         dtype if dtype != "uint8" else "int16")
        except SonolumeError as exc:
            self.errorOccurred.emit(str(exc))
            return None
        # Sample 0 of the file is this stream time: the analysis and the recording count
        # the same samples, so a set recorded here lines up with its features exactly.
        self.recording_started_at = self.stream_time()
        return self.recorder

    def stop_recording(self):
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        try:
            return rec.close()
        except SonolumeError as exc:
            self.errorOccurred.emit(str(exc))
            return None

    # -- data ------------------------------------------------------------------------------
    def _read(self) -> None:
        io = self._io
        if io is None:
            return
        data = bytes(io.readAll().data())
        if not data:
            return
        self._last_data = time.monotonic()
        self._got_data = True
        data = self._carry + data
        frame_bytes = np.dtype(self._dtype).itemsize * self._channels
        usable = len(data) - len(data) % frame_bytes
        self._carry = data[usable:]
        if not usable:
            return
        raw = np.frombuffer(data[:usable], dtype=self._dtype).reshape(-1, self._channels)
        if self.recorder is not None:
            try:
                self.recorder.write(raw if raw.dtype != np.uint8 else
                                    ((raw.astype(np.int16) - 128) * 256))
            except SonolumeError as exc:
                self.recorder = None
                self.errorOccurred.emit(f"Recording stopped: {exc}")
        if raw.dtype == np.uint8:
            block = (raw.astype(np.float32) - 128.0) / self._scale
        elif raw.dtype == np.float32:
            block = raw
        else:
            block = raw.astype(np.float32) / self._scale
        self._feed(block)

    def _feed(self, block: np.ndarray) -> None:
        an = self.analyzer
        if an is None:
            return
        try:
            steps = an.push(block)
        except SonolumeError as exc:  # a block the analysis cannot take: say it, go on
            log.warning("live input: %s", exc)
            self.errorOccurred.emit(f"Live audio skipped a block: {exc}")
            return
        self.stepsReady.emit(block, steps)
        lv = self._level
        if block.size:
            lv[0] = max(lv[0], float(np.max(np.abs(block))))
            lv[1] += float(np.dot(block.ravel(), block.ravel()))
            lv[2] += block.size
        now = an.time
        if now - self._last_level >= 1.0 / LEVEL_RATE and lv[2]:
            self.levelChanged.emit(min(lv[0], 1.0), min(float(np.sqrt(lv[1] / lv[2])), 1.0))
            self._level = [0.0, 0.0, 0]
            self._last_level = now
        t = an.latest.time
        if an.frames.frames and t >= self._next_frame:
            self._next_frame = (np.floor(t * self.fps + 1e-6) + 1) / self.fps
            self.featuresReady.emit(an.latest)

    def _poll(self) -> None:
        if self.state == "lost":
            self._feed_silence()
            # The device list is watched too, but a missed signal must not strand the set.
            if time.monotonic() - self._last_look > 1.0:
                self._last_look = time.monotonic()
                self._check_device()
            return
        self._read()
        src = self._source
        if src is None:
            return
        err = src.error().name
        if err not in ("NoError", "UnderrunError"):
            self._lose(f"Audio input '{self.device.description}' failed ({err}); "
                       "the preview keeps running")
        elif time.monotonic() - self._last_data > (STALL_S if self._got_data else START_S):
            self._lose(f"No audio from '{self.device.description}' for {STALL_S:.0f} s "
                       "(unplugged or muted?); the preview keeps running")

    def _feed_silence(self) -> None:
        """While the device is gone, analyse silence at real time: the features fall to
        rest smoothly and the beat phase runs on."""
        an = self.analyzer
        if an is None:
            return
        due = time.monotonic() - self._lost_at
        have = an.time - self._lost_stream
        n = int((due - have) * self._rate)
        if n > 0:
            self._feed(np.zeros((n, self._channels), np.float32))

    def _lose(self, message: str) -> None:
        if self.state == "lost":
            return
        self._close_source()
        if self.recorder is not None:
            self.stop_recording()
        self._lost_at = time.monotonic()
        self._lost_stream = self.analyzer.time if self.analyzer is not None else 0.0
        self._server_ok_since = None  # the server may have gone: see SERVER_HOLD_S
        self._set_state("lost")
        self.errorOccurred.emit(message)
        self._timer.start()

    def _inputs_changed(self) -> None:
        log.debug("inputs changed: %s", [(_device_id(d), d.preferredFormat().sampleRate())
                                         for d in QMediaDevices.audioInputs()])
        self.devicesChanged.emit()
        self._check_device()

    def _check_device(self) -> None:
        """React to our device going, coming back, or changing its rate."""
        if self.device is None or self.state == "stopped":
            return
        now = {_device_id(d): d for d in QMediaDevices.audioInputs()}
        qdev = now.get(self.device.id)
        if self.state == "running" and qdev is None:
            self._lose(f"Audio input '{self.device.description}' was unplugged; the preview "
                       "keeps running (it reconnects when the input comes back)")
        elif self.state == "lost" and qdev is not None and self._server_ready():
            self._reopen(qdev)
        elif self.state == "running" and qdev is not None:
            rate = self._format_for(qdev)
            if rate is not None and rate.sampleRate() != self._rate:
                self._close_source()
                self._reopen(qdev)

    def _reopen(self, qdev) -> None:
        old = (self._rate, self._channels)
        self._timer.stop()
        log.info("live input: reopening %s (was %d Hz)", _device_id(qdev), old[0])
        if not self._open(qdev, quiet=self.state == "lost"):
            self._lost_at = time.monotonic()
            self._lost_stream = self.analyzer.time if self.analyzer is not None else 0.0
            self.state = "lost"
            self._timer.start()
            return
        if self.analyzer is not None:
            self.analyzer.reconfigure(self._rate, self._channels)
        self._set_state("running")
        if (self._rate, self._channels) != old:
            self.errorOccurred.emit(
                f"Audio input '{self.device.description}' changed from {old[0]} Hz to "
                f"{self._rate} Hz; the analysis carried on (tempo and levels kept)")
