"""A PulseAudio (or PipeWire-Pulse) record stream with a large server-side buffer, through
libpulse-simple (ctypes; the library QtMultimedia's PulseAudio backend loads anyway).

Why not QAudioSource alone: Qt 6.11 asks the server for a 1024-frame record buffer
(21 ms at 48 kHz) and exposes no way to change it from Python, so whenever Qt's own pulse
thread is not scheduled for ~21 ms (a loaded 2-core machine) the server drops audio in
1024-frame units: 0.1-4.9 % in bench/live_capture.py runs, while ``parec`` on the same
monitor, with the server's default buffer, lost nothing. Here the server may hold
:data:`SERVER_BUFFER_S` for us and sends fragments of :data:`FRAGMENT_S`, so latency stays
small and a late reader loses nothing.

``read`` blocks (without the GIL) until a fragment arrives; only one thread may use a
stream, and it must be the one to :meth:`PulseStream.close` it.

Each stream is a server connection of its own, made when it is created: unlike Qt's
backend, which connects once per process, a stream opened after the server was killed and
started again simply talks to the new server (how the live input comes back by itself).
"""

from __future__ import annotations

import ctypes
import ctypes.util

from engine.errors import SonolumeError

SERVER_BUFFER_S = 4.0
FRAGMENT_S = 0.010
_PA_SAMPLE_FLOAT32LE = 5
_PA_STREAM_RECORD = 2
_NO_VALUE = 0xFFFFFFFF  # (uint32_t) -1: the server's default


ERR_NO_ENTITY = 5  # PA_ERR_NOENTITY: the server answered but knows no such source
ERR_KILLED = 12  # PA_ERR_KILLED: the source went away (unplugged, module unloaded)
ERR_TERMINATED = 11  # PA_ERR_CONNECTIONTERMINATED: the server went away (killed, restarted)


class PulseError(SonolumeError):
    """The stream could not be opened, or failed (the source or the server went away);
    ``code`` is PulseAudio's error code (0 where there is none)."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32),
                ("channels", ctypes.c_uint8)]


class _BufferAttr(ctypes.Structure):
    _fields_ = [("maxlength", ctypes.c_uint32), ("tlength", ctypes.c_uint32),
                ("prebuf", ctypes.c_uint32), ("minreq", ctypes.c_uint32),
                ("fragsize", ctypes.c_uint32)]


_LIBS: tuple | None = None


def _libs():
    """(libpulse-simple, libpulse), or raise PulseError saying why not."""
    global _LIBS
    if _LIBS is None:
        try:
            simple = ctypes.CDLL(ctypes.util.find_library("pulse-simple")
                                 or "libpulse-simple.so.0")
            pulse = ctypes.CDLL(ctypes.util.find_library("pulse") or "libpulse.so.0")
        except OSError as exc:
            raise PulseError(f"libpulse-simple is not available: {exc}") from None
        simple.pa_simple_new.restype = ctypes.c_void_p
        simple.pa_simple_new.argtypes = [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
            ctypes.POINTER(_SampleSpec), ctypes.c_void_p, ctypes.POINTER(_BufferAttr),
            ctypes.POINTER(ctypes.c_int)]
        simple.pa_simple_read.restype = ctypes.c_int
        simple.pa_simple_read.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                          ctypes.POINTER(ctypes.c_int)]
        simple.pa_simple_free.restype = None
        simple.pa_simple_free.argtypes = [ctypes.c_void_p]
        pulse.pa_strerror.restype = ctypes.c_char_p
        pulse.pa_strerror.argtypes = [ctypes.c_int]
        _LIBS = (simple, pulse)
    return _LIBS


def available() -> bool:
    try:
        _libs()
    except PulseError:
        return False
    return True


def _why(code: int) -> str:
    text = _libs()[1].pa_strerror(code)
    return text.decode("utf-8", "replace") if text else f"error {code}"


class PulseStream:
    """Float32 frames of ``source`` (a PulseAudio source name, as Qt's device id) at
    ``sample_rate`` and ``channels`` (the server converts)."""

    def __init__(self, source: str, sample_rate: int, channels: int,
                 app_name: str = "Sonolume"):
        simple, _ = _libs()
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.frame_bytes = 4 * self.channels
        self.fragment_bytes = self.frame_bytes * max(1, int(FRAGMENT_S * self.sample_rate))
        spec = _SampleSpec(_PA_SAMPLE_FLOAT32LE, self.sample_rate, self.channels)
        attr = _BufferAttr(self.frame_bytes * int(SERVER_BUFFER_S * self.sample_rate),
                           _NO_VALUE, _NO_VALUE, _NO_VALUE, self.fragment_bytes)
        err = ctypes.c_int(0)
        self._s = simple.pa_simple_new(None, app_name.encode(), _PA_STREAM_RECORD,
                                       source.encode(), b"live input", ctypes.byref(spec),
                                       None, ctypes.byref(attr), ctypes.byref(err))
        if not self._s:
            raise PulseError(f"cannot record '{source}': {_why(err.value)}", err.value)
        self._buf = ctypes.create_string_buffer(self.fragment_bytes)

    def read(self) -> bytes:
        """The next fragment (blocks until it is there)."""
        if not self._s:
            raise PulseError("the stream is closed")
        err = ctypes.c_int(0)
        if _libs()[0].pa_simple_read(self._s, self._buf, self.fragment_bytes,
                                     ctypes.byref(err)) < 0:
            raise PulseError(_why(err.value), err.value)
        return self._buf.raw

    def close(self) -> None:
        s, self._s = self._s, None
        if s:
            _libs()[0].pa_simple_free(s)
