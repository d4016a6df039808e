"""Live audio input for the preview: capture a device with QtMultimedia, analyse it as it
arrives (:class:`engine.audio.live.LiveAnalyzer`), hand the features to the stage.

API (everything on the GUI thread; the capture itself runs on a thread of its own, see
:mod:`app.live.capture_thread`)::

    live = LiveInput(fps=30.0, capture=None)   # capture: "auto" / "pulse" / "qt", default
                                # $SONOLUME_LIVE_CAPTURE or "auto" (see CAPTURES)
    live.devices()              # [InputDevice(id, description, is_default, sample_rate,
                                #  channels)], microphones, line-ins, monitors; after
                                # an audio server restart, the new server's (asked with
                                # pactl, Qt's list being stale: see SERVER_HOLD_S)
    live.expose_monitor()       # PulseAudio/PipeWire: make the system output's monitor an
                                # input (Qt lists no monitors); returns its id or None
    live.start(device=None)     # None: the default input; or an id / description /
                                # InputDevice. False (and errorOccurred) when it cannot;
                                # returns at once, the device opens on the audio thread
                                # (a failure there is said and handled as a lost device)
    live.stop()                 # returns at once too
    live.tap(); live.resync(); live.release_tap()      # the beat, by hand
    live.start_recording(path)  # .flac / .wav, lossless, atomic; stop_recording() -> path;
                                # recording_started_at: the stream time of its sample 0
    live.latest                 # the newest LiveFeatures delivered (None before the first)
    live.stream_time()          # seconds of audio delivered, for LiveParams' clock
    live.read_at                # time.monotonic() when that newest delivered block was
                                # read (a busy GUI thread gets it later): tie a tap's
                                # instant to the stream with (stream_time(), read_at)
    live.analyzer               # an AnalyzerView: the analysis as of the newest delivered
                                # block (time, format, tracker), what a LiveSet reads

Signals (all on the GUI thread, in stream order; a GUI thread that falls behind gets every
block later, none is lost):

* ``featuresReady(LiveFeatures)``: at most once per video frame (``fps``), the newest
  features; feed them to ``engine.reactive.live.LiveParams.step`` and draw;
* ``stepsReady(block, [LiveFeatures])``: every block as analysed (float32, silence while
  the device is lost) with every features frame it completed, for a live set
  (:class:`engine.control.live_set.LiveSet`), which steps on each and records the block;
* ``levelChanged(peak, rms)``: linear 0..1 of the audio read since the last emit, for a
  meter (~30 per second);
* ``errorOccurred(str)``: one readable line: no input device, the device unplugged
  mid-set, no audio arriving, a sample-rate change (after which the analysis carries on);
* ``devicesChanged()``: the inputs changed (Qt's list; after an audio server restart, when
  the input reconnected, Qt then saying nothing: see ``devices``);
* ``stateChanged(str)``: ``"stopped"``, ``"running"``, or ``"lost"`` (the device went
  away: silence is analysed at real time so the features decay, the beat runs on at its
  tempo and the preview keeps moving; when the device comes back it is reopened, and
  errorOccurred says it is back). The audio server itself may go too (killed, restarted):
  read through a PulseStream (the default where it runs) the input comes back when the
  server does; read by QAudioSource (``capture="qt"``) only after restarting Sonolume,
  see SERVER_HOLD_S.

Why QtMultimedia (``QAudioSource``): the app already depends on it for playback, it speaks
PulseAudio, PipeWire (through its Pulse server), ALSA, CoreAudio and WASAPI, lists and
watches devices (``QMediaDevices``), and needs no PortAudio binding or extra native
library. One limit: on Linux Qt's PulseAudio backend hides monitor sources, so
``expose_monitor`` loads ``module-remap-source`` on the default output's monitor (``pactl``,
which PipeWire's Pulse server understands too); the module is unloaded on ``shutdown``.
Another: Qt 6.11 records from PulseAudio through a 1024-frame server buffer, which drops
audio whenever Qt's pulse thread is ~21 ms late on a loaded machine (1-5 % in
bench/live_capture.py); so where a Pulse server runs, the device (Qt lists it, its id is
the Pulse source name) is read through a PulseAudio stream of our own with a 4 s server
buffer (:mod:`app.live.pulse_stream`, libpulse-simple, which Qt's backend loads anyway):
no loss in the same runs. QAudioSource reads everywhere else (``capture="qt"`` forces it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QCoreApplication, QMetaObject, QObject, Qt, QThread, QTimer, Signal

from app.live.capture_thread import (
    SERVER_AWAY_MESSAGE,
    AnalyzerView,
    CaptureWorker,
    Delivery,
    OpenRequest,
)
from app.live.pulse_sources import PulseSource, query_sources
from engine.audio.live import MIN_SAMPLE_RATE, LiveRecorder
from engine.errors import SonolumeError

log = logging.getLogger("sonolume.app.live.audio_input")

try:  # QtMultimedia needs system libraries (libpulse); the app runs without it
    from PySide6.QtMultimedia import QAudioDevice, QAudioFormat, QAudioSource, QMediaDevices

    MULTIMEDIA_ERROR = ""
except ImportError as exc:  # pragma: no cover - depends on the machine
    QAudioDevice = QAudioFormat = QAudioSource = QMediaDevices = None
    MULTIMEDIA_ERROR = str(exc)

#: How a device is read: "auto" (a PulseAudio stream of our own where a Pulse server runs,
#: see app.live.pulse_stream, else QAudioSource), "pulse" (the same), "qt" (QAudioSource).
CAPTURES = ("auto", "pulse", "qt")
LOOK_S = 1.0  # while lost, look for the device this often (besides the device list's signal)
JOIN_S = 5.0  # shutdown waits this long for the audio thread
MONITOR_SOURCE = "sonolume_monitor"
DEFAULT_RATE = 48000
# Once the audio server goes away, Qt's PulseAudio backend (6.11) has no connection: it
# tries once more 3 s later and, if the server is still gone, never again (its device
# list stays as it was, even once a new server runs); opening a source without a
# connection aborts the process inside libpulse (bench/soak.py --live: the server killed
# mid-set). So a source is opened only when the server answers, after a loss only once it
# has answered SERVER_HOLD_S, and Qt is never asked to open one after the server was gone
# longer than Qt's one retry. Read by QAudioSource (capture "qt"), the input then says to
# restart Sonolume (the preview keeps running). Read by a PulseStream (capture "auto" or
# "pulse" where a Pulse server runs), each stream is a connection of its own: after a
# server loss the input reopens the device it remembers (its id is the source name, in
# the format it had) without asking Qt anything, loading the monitor source again when
# that was the device (it died with the old server); Start then finds its device the same
# way (see _find_direct). Qt not being asked, the server need only have answered
# SERVER_SETTLE_S (its sinks loaded, for the monitor source to follow the right one).
SERVER_HOLD_S = 3.5
SERVER_SETTLE_S = 1.0
SERVER_RETRY_S = 3.0
GONE_MESSAGE = ("The audio server (PulseAudio or PipeWire) went away; live audio read "
                "through Qt can only be captured again after restarting Sonolume (the "
                "preview keeps running)")
# Qt's device list staying the old server's, devices() then asks the server itself with
# pactl (app.live.pulse_sources), on the GUI thread: one query waits at most its
# PACTL_TIMEOUT_S, and the answer is kept LIST_EVERY_S (no Qt signal says the list
# changed, so whoever shows it asks again: the Live bar on opening its list, Start, a
# reconnect).
LIST_EVERY_S = 1.0


@dataclass(frozen=True)
class InputDevice:
    id: str
    description: str
    is_default: bool
    sample_rate: int
    channels: int


def _as_device(s: PulseSource) -> InputDevice:
    return InputDevice(s.name, s.description, s.is_default, s.sample_rate, s.channels)


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


def _server_id(path: str):
    """Which server listens on ``path``: a new server (restarted) makes a new socket."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


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
    # to the audio thread (queued: its slots run there, in this order)
    _openRequested = Signal(object)
    _dropRequested = Signal(int)
    _closeRequested = Signal()

    def __init__(self, fps: float = 30.0, smoothing=None, parent=None, capture=None):
        super().__init__(parent)
        if not fps > 0:
            raise SonolumeError(f"fps must be positive, not {fps}")
        capture = capture or os.environ.get("SONOLUME_LIVE_CAPTURE") or "auto"
        if capture not in CAPTURES:
            raise SonolumeError(f"live capture must be one of {', '.join(CAPTURES)}, "
                                f"not {capture!r} (SONOLUME_LIVE_CAPTURE)")
        self.capture = capture
        self.fps = float(fps)
        self.smoothing = smoothing
        self.analyzer: AnalyzerView | None = None
        self.recorder: LiveRecorder | None = None
        self.recording_started_at = 0.0
        self.read_at = 0.0  # see the module docstring
        self.state = "stopped"
        self.device: InputDevice | None = None
        self._qdevice = None
        self._dtype, self._channels, self._rate = np.float32, 1, 0
        self._session = 0  # Start and Stop each begin a new one; older deliveries are dropped
        self._reopening: tuple[int, int] | None = None  # (rate, channels) before a reopen
        self._monitor_module: str | None = None
        self._server: str | None = None  # the audio server's socket, once one was used
        self._server_ok_since: float | None = -SERVER_HOLD_S
        self._server_gone = False  # gone past Qt's retry: Qt's backend has no connection
        self._server_lost = False  # it went away since the device was last opened
        here = _pulse_socket()
        self._server_seen = _server_id(here) if here else None  # see _qt_stale
        self._listed: tuple[float, list[PulseSource]] | None = None  # (when, what): see devices
        self._media = QMediaDevices(self) if QMediaDevices is not None else None
        if self._media is not None:
            self._media.audioInputsChanged.connect(self._inputs_changed)
        self._look = QTimer(self)  # while lost: is the device back?
        self._look.setInterval(int(LOOK_S * 1000))
        self._look.timeout.connect(self._check_device)
        # The worker is made here and moved to its thread on the first start: an input that
        # never starts (tests, no device) has no thread to end.
        self._thread: QThread | None = None
        self._worker = self._make_worker()

    def _make_worker(self) -> CaptureWorker:
        w = CaptureWorker(self.fps, self.smoothing)
        w.delivered.connect(self._delivered)
        w.opened.connect(self._opened_reply)
        w.lost.connect(self._lost_reply)
        w.serverLost.connect(self._server_lost_reply)
        w.recordingFailed.connect(self._recording_failed)
        w.said.connect(self._said)
        old = getattr(self, "_worker", None)  # one whose thread was ended by shutdown
        for sig, name in ((self._openRequested, "open"), (self._dropRequested, "drop"),
                          (self._closeRequested, "close")):
            if old is not None:
                sig.disconnect(getattr(old, name))
            sig.connect(getattr(w, name))
        return w

    # -- devices ---------------------------------------------------------------------------
    @staticmethod
    def available() -> tuple[bool, str]:
        """(True, "") when QtMultimedia loaded; else (False, why)."""
        return (not MULTIMEDIA_ERROR, MULTIMEDIA_ERROR)

    def devices(self) -> list[InputDevice]:
        """The inputs there are: Qt's list; where it is stale (see _qt_stale: Qt 6.11 keeps
        the old server's list after a server loss and never says it changed), the sources
        of the server that runs now, asked with pactl at most once per LIST_EVERY_S and
        listed as Qt would (sinks' monitors left out). No signal tells of a change then but
        the one after a reconnect (devicesChanged): ask again to see one."""
        if QMediaDevices is None:
            return []
        if self._pulse_capture() and (self._server_lost or self._qt_stale()):
            return [_as_device(s) for s in self._server_sources() if not s.sink_monitor]
        return [_info(d) for d in QMediaDevices.audioInputs()]

    def _server_sources(self) -> list[PulseSource]:
        """Every source of the server that runs now ([] while none answers), asked at most
        once per LIST_EVERY_S (see pulse_sources.PACTL_TIMEOUT_S)."""
        if self._listed is None or time.monotonic() - self._listed[0] >= LIST_EVERY_S:
            got = query_sources()
            self._listed = (time.monotonic(), got or [])
        return self._listed[1]

    def _devices_changed_soon(self) -> None:
        """devicesChanged for a list only the server knows: once it may be asked again
        (LIST_EVERY_S), so that a receiver's devices() gets the list as it is now."""
        wait = 0.0 if self._listed is None else \
            LIST_EVERY_S - (time.monotonic() - self._listed[0])
        QTimer.singleShot(max(0, int(wait * 1000)) + 20, self, self.devicesChanged.emit)

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
        device, why = self._load_monitor()
        if device is None:
            self.errorOccurred.emit(why)
        return device

    def _load_monitor(self) -> tuple[str | None, str]:
        """expose_monitor without a word: (its id, "") or (None, why not)."""
        pactl = shutil.which("pactl")
        if pactl is None:
            return None, ("Capturing the system output needs PulseAudio or PipeWire's "
                          "pactl, which is not installed")

        def run(*args):
            return subprocess.run([pactl, *args], capture_output=True, text=True, timeout=5)

        try:
            if MONITOR_SOURCE in run("list", "short", "sources").stdout.split():
                return MONITOR_SOURCE, ""
            sink = run("get-default-sink").stdout.strip()
            if not sink:
                raise OSError("no default output (sink)")
            res = run("load-module", "module-remap-source", f"master={sink}.monitor",
                      f"source_name={MONITOR_SOURCE}")
            if res.returncode != 0:
                raise OSError((res.stderr or res.stdout).strip() or "load-module failed")
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"Cannot capture the system output: {exc}"
        self._monitor_module = res.stdout.strip()
        self._listed = None  # a new source: the server's list is asked again
        return MONITOR_SOURCE, ""

    # -- running ---------------------------------------------------------------------------
    def start(self, device=None) -> bool:
        """Start capturing ``device`` and analysing it; False (and one errorOccurred line)
        when it cannot. A running input is stopped first. Returns without waiting for the
        device: the audio thread opens it (see the module docstring)."""
        self.stop()
        if MULTIMEDIA_ERROR:
            self.errorOccurred.emit(f"Live input needs QtMultimedia, which failed to load: "
                                    f"{MULTIMEDIA_ERROR}")
            return False
        if self._qt_stale():
            info, why = self._find_direct(device)
            if info is not None and info.id == MONITOR_SOURCE:
                self._load_monitor()  # gone with the old server (else opening says why)
            if info is None:
                self.errorOccurred.emit(why)
                return False
            self._session += 1
            ok = self._open_direct(info, fresh=True)
        else:
            qdev, why = self._find(device)
            if qdev is None:
                self.errorOccurred.emit(why)
                return False
            self._session += 1
            ok = self._open(qdev, fresh=True)
        if not ok:
            return False
        self._set_state("running")
        return True

    def _find_direct(self, device) -> tuple[InputDevice | None, str]:
        """The device to Start without Qt's device list (stale, see _qt_stale): None is
        the server's default source; the device used before matches its id or name, a
        source of the server's list (see devices) its name or description; any other
        string is taken as a source name (opening it says when there is none)."""
        if isinstance(device, InputDevice):
            return device, ""
        listed = [_as_device(s) for s in self._server_sources()]
        if device is None:
            key = next((d.id for d in listed if d.is_default), None) or \
                self._default_source()
            if key is None:
                if self.device is not None:
                    return self.device, ""
                return None, ("No audio input device found: the audio server names no "
                              "default input")
        elif QAudioDevice is not None and isinstance(device, QAudioDevice):
            key = _device_id(device)  # a value: its id is read, Qt's backend is not asked
        else:
            key = str(device)
        if self.device is not None and key in (self.device.id, self.device.description):
            return self.device, ""
        for d in listed:
            if key in (d.id, d.description):
                return d, ""
        return InputDevice(key, key, device is None, DEFAULT_RATE, 2), ""

    @staticmethod
    def _default_source() -> str | None:
        pactl = shutil.which("pactl")
        if pactl is None:
            return None
        try:
            res = subprocess.run([pactl, "get-default-source"], capture_output=True,
                                 text=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            return None
        return (res.stdout.strip() or None) if res.returncode == 0 else None

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

    def _server_ready(self, hold: float = SERVER_HOLD_S) -> bool:
        """Whether a source may be opened: the server has answered for ``hold`` seconds
        (see SERVER_HOLD_S); True where there is no PulseAudio socket to ask."""
        self._server = self._server or _pulse_socket()
        if self._server is None:
            return True
        if not _answers(self._server):
            self._server_ok_since = None
            if self.state == "lost" and not self._server_lost and self._pulse_capture():
                # (said here when the stream stalled before it failed: "No audio from")
                self.errorOccurred.emit(SERVER_AWAY_MESSAGE)
            self._lost_server()
            # The server stopped sending at the last data at the latest: gone past Qt's retry.
            last = self._worker.last_data
            if not self._server_gone and time.monotonic() - last > SERVER_RETRY_S:
                self._server_gone = True
                if not self._pulse_capture():
                    self.errorOccurred.emit(GONE_MESSAGE)
            return False
        self._qt_stale()  # notes a server started meanwhile
        if self._server_gone and not self._pulse_capture():
            return False
        if self._server_ok_since is None:
            self._server_ok_since = time.monotonic()
        return time.monotonic() - self._server_ok_since >= hold

    def _ensure_thread(self) -> None:
        if self._thread is None:
            if self._worker.thread() is not QThread.currentThread():  # shut down before
                self._worker = self._make_worker()
            self._thread = QThread()
            self._thread.setObjectName("sonolume-live-capture")
            self._worker.moveToThread(self._thread)
            self._thread.start()
            app = QCoreApplication.instance()
            if app is not None:  # a running QThread must not outlive the application
                app.aboutToQuit.connect(self._end_thread)

    def _end_thread(self) -> None:
        """Close the source on the audio thread (waiting for it: Stop's queued close might
        not run once the loop is told to quit), then end the thread."""
        th = self._thread
        if th is None or not th.isRunning():
            return
        QMetaObject.invokeMethod(self._worker, "close", Qt.ConnectionType.BlockingQueuedConnection)
        th.quit()
        if th.wait(int(JOIN_S * 1000)):
            self._thread = None
        else:
            log.warning("live input: the audio thread did not end within %.0f s", JOIN_S)

    def _pulse_capture(self) -> bool:
        """Whether devices are read through a PulseStream (see CAPTURES): one that
        reconnects by itself, since each is a server connection of its own."""
        from app.live import pulse_stream

        return (self.capture != "qt" and (self._server or _pulse_socket()) is not None
                and pulse_stream.available())

    def _qt_stale(self) -> bool:
        """Whether, reading through PulseStreams, Qt's device list must be left alone: the
        server was gone past Qt's retry, or another server runs than the one seen before
        (restarted while nobody looked; Qt may have reconnected, or not)."""
        if not self._pulse_capture():
            return False
        server = self._server or _pulse_socket()
        now = _server_id(server) if server else None
        if now is not None and self._server_seen is not None and now != self._server_seen:
            self._lost_server()
            self._server_gone = True
        if now is not None:
            self._server_seen = now
        return self._server_gone

    def _lost_server(self) -> None:
        """The audio server went away: the monitor module this input loaded went with it
        (a new server may give its index to another module, not ours to unload)."""
        self._server_lost = True
        self._monitor_module = None

    def _open(self, qdev, fresh: bool, quiet: bool = False) -> bool:
        """Ask the audio thread to open ``qdev`` (``fresh``: with a new analysis, on
        Start); False, with one errorOccurred line unless ``quiet``, when it cannot even
        be asked (server away, no usable format)."""
        info = _info(qdev)
        if not self._server_ready():
            if not quiet:
                self.errorOccurred.emit(GONE_MESSAGE if self._server_gone else
                                        "The audio server (PulseAudio or PipeWire) is not "
                                        "answering or has just come back; try again in a "
                                        "few seconds")
            return False
        if self._qt_stale():  # found out just now: Qt's backend must not open it
            return self._open_direct(info, fresh, quiet)
        fmt = self._format_for(qdev)
        if fmt is None or fmt.sampleFormat() not in _DTYPES:
            if not quiet:
                self.errorOccurred.emit(f"Audio input '{info.description}' offers no sample "
                                        "format Sonolume reads (float, 16 or 32 bit)")
            return False
        dtype, scale = _DTYPES[fmt.sampleFormat()]  # QAudioSource's (also the fallback)
        self._request(qdev, info, fmt, dtype, scale, fresh, quiet, self._pulse_source(info))
        return True

    def _open_direct(self, info: InputDevice, fresh: bool, quiet: bool = False) -> bool:
        """Ask the audio thread to read the Pulse source ``info.id`` through a PulseStream,
        asking Qt nothing (see SERVER_HOLD_S): in the format read before when it is the
        same device, else at the device's rate (DEFAULT_RATE below MIN_SAMPLE_RATE)."""
        if not self._server_ready(SERVER_SETTLE_S):
            if not quiet:
                self.errorOccurred.emit("The audio server (PulseAudio or PipeWire) is not "
                                        "answering or has just come back; try again in a "
                                        "few seconds")
            return False
        if self.device is not None and info.id == self.device.id and self._rate:
            rate, channels = self._rate, self._channels
        else:
            rate = info.sample_rate if info.sample_rate >= MIN_SAMPLE_RATE else DEFAULT_RATE
            channels = max(1, min(info.channels or 2, 2))
        fmt = QAudioFormat()  # a value (what the worker reads the rate and channels of)
        fmt.setSampleRate(rate)
        fmt.setChannelCount(channels)
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Float)
        self._request(None, info, fmt, np.float32, 1.0, fresh, quiet, info.id)
        return True

    def _request(self, qdev, info: InputDevice, fmt, dtype, scale: float, fresh: bool,
                 quiet: bool, pulse: str | None) -> None:
        self._qdevice, self.device = qdev, info
        # A recording takes the device's samples: float32 from a PulseStream.
        self._dtype = np.float32 if pulse else dtype
        self._channels, self._rate = fmt.channelCount(), fmt.sampleRate()
        self._ensure_thread()
        if fresh:
            self.analyzer = AnalyzerView(self._worker, self._session, self._rate,
                                         self._channels)
        self._openRequested.emit(OpenRequest(self._session, qdev, fmt, info.description,
                                             dtype, scale, fresh, quiet, pulse))

    def _pulse_source(self, info: InputDevice) -> str | None:
        """The PulseAudio source to record with a stream of our own, or None for
        QAudioSource: where a Pulse server answers (its device ids are source names)."""
        from app.live import pulse_stream

        if self.capture == "qt" or self._server is None or not pulse_stream.available():
            return None
        return info.id

    def stop(self) -> None:
        """Stop capturing (a recording in progress is finished and kept). Blocks still on
        their way to the GUI thread are dropped."""
        self._look.stop()
        if self.recorder is not None:
            self.stop_recording()
        self._session += 1
        self._reopening = None
        self._closeRequested.emit()
        if self.state != "stopped":
            self._set_state("stopped")

    def shutdown(self) -> None:
        """Stop, end the audio thread, and unload the monitor module this input loaded
        (app exit)."""
        self.stop()
        self._end_thread()
        if self._monitor_module and shutil.which("pactl"):
            subprocess.run(["pactl", "unload-module", self._monitor_module],
                           capture_output=True, timeout=5)
            self._monitor_module = None

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    # -- the beat by hand ------------------------------------------------------------------
    # On the analyzer itself, between two blocks, at the newest audio read.
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
        if self.state != "running":
            self.errorOccurred.emit("Start a live input before recording it")
            return None
        if self.recorder is not None:
            self.stop_recording()
        dtype = np.dtype(self._dtype).name
        try:
            rec = LiveRecorder(path, self._rate, self._channels,
                               dtype if dtype != "uint8" else "int16")
        except SonolumeError as exc:
            self.errorOccurred.emit(str(exc))
            return None
        self.recorder = rec
        # Sample 0 of the file is this stream time: the analysis and the recording count
        # the same samples (the audio thread does both under one lock), so a set recorded
        # here lines up with its features exactly.
        self.recording_started_at = self._worker.attach_recorder(self._session, rec)
        return rec

    def stop_recording(self):
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        self._worker.detach_recorder()
        try:
            return rec.close()
        except SonolumeError as exc:
            self.errorOccurred.emit(str(exc))
            return None

    # -- from the audio thread ---------------------------------------------------------------
    def _delivered(self, d: Delivery) -> None:
        if d.session != self._session or self.analyzer is None:
            return  # a block of a session stopped meanwhile
        self.analyzer.take(d)
        self.read_at = d.read_at
        self.stepsReady.emit(d.block, d.steps)
        if d.level is not None:
            self.levelChanged.emit(*d.level)
        if d.show is not None:
            self.featuresReady.emit(d.show)

    def _opened_reply(self, session: int, ok: bool, why: str) -> None:
        if session != self._session or self.state == "stopped":
            return
        if ok:
            was = self._reopening
            self._reopening = None
            if self._server_lost:  # back on a new server: its inputs may differ
                self._devices_changed_soon()
            self._server_lost = False
            back = self.state == "lost"
            if back or was is not None:
                self._look.stop()
                self._set_state("running")
            if back:
                self.errorOccurred.emit(f"Audio input '{self.device.description}' is back; "
                                        "capturing again")
            if was is not None and was != (self._rate, self._channels):
                self.errorOccurred.emit(
                    f"Audio input '{self.device.description}' changed from {was[0]} Hz to "
                    f"{self._rate} Hz; the analysis carried on (tempo and levels kept)")
            return
        self._reopening = None
        if self.state == "running" and why:
            self._lose(f"{why}; the preview keeps running (it reconnects when the input "
                       "comes back)", drop=False)
        else:  # a reconnect attempt that failed: still lost, try again later
            self.state = "lost"
            self._look.start()

    def _lost_reply(self, session: int, message: str) -> None:
        if session == self._session:
            self._lose(message, drop=False)

    def _server_lost_reply(self, session: int) -> None:
        if session == self._session:
            self._lost_server()

    def _recording_failed(self, session: int, message: str) -> None:
        if session != self._session:
            return
        rec, self.recorder = self.recorder, None
        if rec is not None:
            with contextlib.suppress(SonolumeError):
                rec.abort()
        self.errorOccurred.emit(message)

    def _said(self, session: int, message: str) -> None:
        if session == self._session:
            self.errorOccurred.emit(message)

    # -- a device that goes, comes back, or changes -------------------------------------------
    def _lose(self, message: str, drop: bool = True) -> None:
        """The device is gone: silence is analysed at real time on the audio thread (the
        features settle, the beat runs on) until the device comes back."""
        if self.state == "lost":
            return
        if drop:
            self._dropRequested.emit(self._session)
        if self.recorder is not None:
            self.stop_recording()
        self._server_ok_since = None  # the server may have gone: see SERVER_HOLD_S
        self._set_state("lost")
        if message:
            self.errorOccurred.emit(message)
        self._look.start()

    def _inputs_changed(self) -> None:
        log.debug("inputs changed: %s", [(_device_id(d), d.preferredFormat().sampleRate())
                                         for d in QMediaDevices.audioInputs()])
        self.devicesChanged.emit()
        self._check_device()

    def _check_device(self) -> None:
        """React to our device going, coming back, or changing its rate."""
        if self.device is None or self.state == "stopped" or self._reopening is not None:
            return
        pulse = self._pulse_capture()
        if pulse and self.state == "lost" and not self._server_lost:
            self._server_ready()  # is it the server that went? (said once, see there)
        if pulse and (self._server_lost or self._qt_stale()):
            # Qt's list is stale or was the old server's: the source itself is asked.
            if self.state == "lost" and self._server_ready(SERVER_SETTLE_S):
                self._reopen_direct()
            return
        now = {_device_id(d): d for d in QMediaDevices.audioInputs()}
        qdev = now.get(self.device.id)
        if self.state == "running" and qdev is None:
            self._lose(f"Audio input '{self.device.description}' was unplugged; the preview "
                       "keeps running (it reconnects when the input comes back)")
        elif self.state == "lost" and qdev is not None and self._server_ready():
            self._reopen(qdev)
        elif self.state == "running" and qdev is not None:
            fmt = self._format_for(qdev)
            if fmt is not None and fmt.sampleRate() != self._rate:
                self._reopen(qdev)

    def _reopen(self, qdev) -> None:
        old = (self._rate, self._channels)
        log.info("live input: reopening %s (was %d Hz)", _device_id(qdev), old[0])
        lost = self.state == "lost"
        if self._open(qdev, fresh=False, quiet=lost):
            self._reopening = old
            self._look.stop()
        elif not lost:
            self._lose("")  # _open said why

    def _reopen_direct(self) -> None:
        """Reopen the device after a server loss, without Qt (see SERVER_HOLD_S); the
        monitor source is made again first. A failure stays quiet: still lost, the next
        look tries again."""
        info = self.device
        if info.id == MONITOR_SOURCE and self._load_monitor()[0] is None:
            return
        log.info("live input: reopening %s through a new server connection", info.id)
        if self._open_direct(info, fresh=False, quiet=True):
            self._reopening = (self._rate, self._channels)
            self._look.stop()
