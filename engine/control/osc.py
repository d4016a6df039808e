"""OSC in: a UDP server that turns OSC messages into control moves.

Addresses (``/sonolume`` is the default prefix; arguments are OSC ints or floats)::

    /sonolume/amount/<target> F     amount.<target>: drift pulse tone zoom rotation hue
                                    brightness warp, or all (1 = as the preset, 0..4)
    /sonolume/hue F                 turns of the colour wheel added (-10..10)
    /sonolume/brightness F          brightness multiplier (0..3)
    /sonolume/zoom F                zoom multiplier (0.25..4)
    /sonolume/freeze [0|1]          hold the motion (no argument: switch)
    /sonolume/blackout [0|1]        black picture (no argument: switch)
    /sonolume/style/next            the next style of the palette, from the next beat
    /sonolume/style/previous        (or /style/prev) the previous one
    /sonolume/style/pick N          style N of the palette (from 1)
    /sonolume/transition/<kind> [B] the next style by cut, crossfade, morph, bloom or
                                    zoom over B beats (default 2)
    /sonolume/tap                   tap tempo

Bundles are unpacked (their time tags are ignored: a move acts on the next frame).
Nothing a sender does stops the server: a malformed packet, an unknown address or a
wrong argument is one log line; a value out of range is clamped by the controller (also
with a log line). The server binds 127.0.0.1 unless told otherwise: OSC has no
authentication, so a wider address lets anyone on the network drive the show.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from engine.control.controller import ControlEvent
from engine.control.controls import SPECS, TOGGLE, VALUE, ControlError
from engine.scene.scene import TRANSITIONS

log = logging.getLogger("sonolume.control.osc")

DEFAULT_PORT = 9000
DEFAULT_HOST = "127.0.0.1"
PREFIX = "/sonolume"
MAX_DATAGRAM = 65536


def _number(params, address: str):
    if not params:
        raise ControlError(f"OSC {address} needs a number")
    v = params[0]
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if not isinstance(v, (int, float)):
        raise ControlError(f"OSC {address} needs a number, not {v!r}"[:200])
    return float(v)


def _whole(params, address: str) -> int | None:
    if not params:
        return None
    v = _number(params, address)
    if v != int(v):
        raise ControlError(f"OSC {address} needs a whole number, not {v:g}")
    return int(v)


def event_for(address: str, params, source: str = "osc", prefix: str = PREFIX) -> ControlEvent:
    """The move an OSC message asks for; ControlError for anything else."""
    if not isinstance(address, str) or not address.startswith(prefix + "/"):
        raise ControlError(f"unknown OSC address {address!r} (they start with {prefix}/)"[:200])
    parts = address[len(prefix) + 1:].strip("/").split("/")
    params = list(params or ())
    if parts[0] == "amount" and len(parts) == 2:
        name = f"amount.{parts[1]}"
    elif parts[0] == "style" and len(parts) == 2:
        name = {"prev": "style.previous"}.get(parts[1], f"style.{parts[1]}")
    elif parts[0] == "transition" and len(parts) == 2 and parts[1] in TRANSITIONS:
        name = f"transition.{parts[1]}"
    elif len(parts) == 1:
        name = parts[0]
    else:
        name = ""
    s = SPECS.get(name)
    if s is None:
        raise ControlError(f"unknown OSC address {address}"[:200])
    if s.kind == VALUE:
        return ControlEvent(name, _number(params, address), source=source)
    if s.kind == TOGGLE:
        return ControlEvent(name, _number(params, address) if params else None, source=source)
    arg = _whole(params, address) if s.takes_arg else None
    if name == "style.pick" and arg is None:
        raise ControlError(f"OSC {address} needs the style's number (from 1)")
    return ControlEvent(name, arg=arg, source=source)


class OscServer:
    """Listens on UDP ``host:port`` in a thread and hands each move to ``deliver`` (called
    on that thread: the app forwards it through a queued Qt signal). ``port=0`` picks a
    free port (see :attr:`port`). :meth:`stop` closes the socket and joins the thread."""

    def __init__(self, deliver: Callable[[ControlEvent], None], port: int = DEFAULT_PORT,
                 host: str = DEFAULT_HOST, prefix: str = PREFIX):
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ControlError(f"OSC port must be 0 to 65535, not {port!r}")
        self.deliver = deliver
        self.host, self.requested_port, self.prefix = host, port, prefix
        self.port = port
        self.received = 0  # messages that became moves
        self.rejected = 0  # packets or messages that did not
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> OscServer:
        if self.running:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.requested_port))
        except OSError as exc:
            sock.close()
            raise ControlError(f"cannot listen for OSC on {self.host}:{self.requested_port}: "
                               f"{exc.strerror or exc}") from None
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="sonolume-osc", daemon=True)
        self._thread.start()
        log.info("OSC: listening on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            log.info("OSC: stopped")

    def _serve(self) -> None:
        sock = self._sock
        while not self._stop.is_set():
            try:
                data, addr = sock.recvfrom(MAX_DATAGRAM)
                at = time.monotonic()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    break
                log.warning("OSC: receive failed: %s", exc)
                continue
            self.handle(data, f"osc {addr[0]}:{addr[1]}", at)

    def handle(self, data: bytes, source: str = "osc", at: float | None = None) -> int:
        """Parse one datagram and deliver its moves, each stamped with ``at`` (its
        ``time.monotonic()`` arrival; default: now); returns how many were delivered."""
        from pythonosc.osc_packet import OscPacket

        at = time.monotonic() if at is None else float(at)
        try:
            messages = [m.message for m in OscPacket(bytes(data)).messages]
        except Exception as exc:  # noqa: BLE001 - any parser failure is the sender's fault
            self.rejected += 1
            log.warning("OSC: malformed packet from %s (%d bytes): %s", source, len(data),
                        str(exc)[:200])
            return 0
        n = 0
        for msg in messages:
            try:
                event = replace(event_for(msg.address, msg.params, source, self.prefix), at=at)
            except ControlError as exc:
                self.rejected += 1
                log.warning("OSC: %s (from %s)", exc, source)
                continue
            try:
                self.deliver(event)
            except Exception:  # noqa: BLE001 - a receiver's bug must not stop the server
                log.exception("OSC: delivering %s failed", event.control)
                continue
            self.received += 1
            n += 1
        return n
