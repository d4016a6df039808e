"""MIDI in: CC knobs and note pads mapped to controls, MIDI-learn, and a device watcher
that reconnects a controller unplugged and plugged back.

How a message becomes a move (:meth:`MidiMap.events`):

=============  ===================================  =================================
bound to       a CC (0..127)                        a note
=============  ===================================  =================================
value control  the knob range of the control        note-on velocity over the same range
toggle         on at 64 and above, off below        each note-on switches it
action         when the CC rises through 64         each note-on
=============  ===================================  =================================

Note-offs (and note-ons at velocity 0) do nothing. A source (CC or note, channel, number)
drives one control; binding it again replaces the old binding.

Mappings are a JSON file in the user's config folder (:func:`engine.paths.config_dir`,
``midi-map.json``), written atomically::

    {"format": "sonolume-midi-map", "version": 1, "device": "nanoKONTROL2",
     "bindings": [{"kind": "cc", "channel": 0, "number": 16, "control": "amount.pulse"},
                  {"kind": "note", "channel": 9, "number": 36, "control": "style.pick",
                   "arg": 2}]}

Ports are opened with mido's python-rtmidi backend (ALSA on Linux). ALSA puts the client
and port numbers at the end of a name (``nanoKONTROL2:nanoKONTROL2 _CTRL 20:0``) and a
replugged device may come back under other numbers, so devices are matched without them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from engine.control.controller import ControlEvent
from engine.control.controls import ACTION, TOGGLE, VALUE, ControlError, spec

log = logging.getLogger("sonolume.control.midi")

MAP_FORMAT = "sonolume-midi-map"
MAP_VERSION = 1
MAP_FILE = "midi-map.json"
MAX_MAP_BYTES = 1 << 20
KINDS = ("cc", "note")


def map_path() -> Path:
    from engine.paths import config_dir

    return config_dir() / MAP_FILE


def base_name(port: str) -> str:
    """A port name without ALSA's trailing client:port numbers."""
    return re.sub(r"\s+\d+:\d+$", "", str(port))


def _int(v, what: str, low: int, high: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise ControlError(f"{what} must be a whole number {low}..{high}, not {v!r}"[:200])
    return v


@dataclass(frozen=True)
class Binding:
    kind: str  # cc | note
    channel: int  # 0..15 (MIDI channel 1 is 0)
    number: int  # controller or note number, 0..127
    control: str
    arg: int | None = None  # style.pick's position, a transition's beats

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ControlError(f"a MIDI binding is 'cc' or 'note', not {self.kind!r}")
        _int(self.channel, "MIDI channel", 0, 15)
        _int(self.number, f"MIDI {self.kind} number", 0, 127)
        s = spec(self.control)
        if self.arg is not None:
            _int(self.arg, f"the argument of {self.control}", 0, 128)
            if not s.takes_arg:
                raise ControlError(f"{self.control} takes no argument")

    @property
    def source(self) -> tuple[str, int, int]:
        return (self.kind, self.channel, self.number)

    def describe(self) -> str:
        what = "CC" if self.kind == "cc" else "note"
        return f"{what} {self.number} ch {self.channel + 1}"

    def to_json(self) -> dict:
        d = asdict(self)
        if d["arg"] is None:
            del d["arg"]
        return d

    @classmethod
    def from_json(cls, data, where: str) -> Binding:
        if not isinstance(data, dict):
            raise ControlError(f"{where} must be an object")
        unknown = set(data) - {"kind", "channel", "number", "control", "arg"}
        if unknown:
            raise ControlError(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
        try:
            return cls(data.get("kind"), data.get("channel"), data.get("number"),
                       data.get("control"), data.get("arg"))
        except ControlError as exc:
            raise ControlError(f"{where}: {exc}") from None


def source_of(msg) -> tuple[str, int, int, int] | None:
    """(kind, channel, number, value) of a CC or a note-on; None for anything else
    (note-offs included)."""
    t = getattr(msg, "type", None)
    if t == "control_change":
        return ("cc", msg.channel, msg.control, msg.value)
    if t == "note_on" and msg.velocity > 0:
        return ("note", msg.channel, msg.note, msg.velocity)
    return None


class MidiMap:
    """The bindings, with the state edge-triggered CC actions need."""

    def __init__(self, bindings=(), device: str = ""):
        self.bindings: list[Binding] = []
        self.device = device
        self._cc_last: dict[tuple, int] = {}
        for b in bindings:
            self.add(b)

    def add(self, binding: Binding) -> Binding:
        self.bindings = [b for b in self.bindings if b.source != binding.source]
        self.bindings.append(binding)
        return binding

    def remove(self, index: int) -> Binding:
        return self.bindings.pop(index)

    def set_control(self, index: int, control: str, arg: int | None = None) -> Binding:
        old = self.bindings[index]
        new = Binding(old.kind, old.channel, old.number, control, arg)
        self.bindings[index] = new
        return new

    def events(self, msg, source: str = "midi") -> list[ControlEvent]:
        src = source_of(msg)
        if src is None:
            return []
        kind, ch, num, v = src
        out = []
        for b in self.bindings:
            if b.source != (kind, ch, num):
                continue
            s = spec(b.control)
            where = f"{source} {b.describe()}"
            if s.kind == VALUE:
                lo, hi = s.knob
                out.append(ControlEvent(b.control, lo + (hi - lo) * v / 127.0, b.arg, where))
            elif s.kind == TOGGLE:
                # a CC says the state (repeats are harmless); a pad switches it
                value = (1.0 if v >= 64 else 0.0) if kind == "cc" else None
                out.append(ControlEvent(b.control, value, b.arg, where))
            elif s.kind == ACTION:
                if kind == "cc":
                    rose = v >= 64 and self._cc_last.get(b.source, 0) < 64
                    if not rose:
                        continue
                out.append(ControlEvent(b.control, None, b.arg, where))
        if kind == "cc":
            self._cc_last[(kind, ch, num)] = v
        return out

    # -- the file ------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"format": MAP_FORMAT, "version": MAP_VERSION, "device": self.device,
                "bindings": [b.to_json() for b in self.bindings]}

    def save(self, path=None) -> Path:
        from engine.atomic import write_json

        path = Path(path) if path is not None else map_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, self.to_json())
        except OSError as exc:
            raise ControlError(f"cannot write the MIDI mappings to {path}: "
                               f"{exc.strerror or exc}") from None
        return path

    @classmethod
    def load(cls, path=None) -> MidiMap:
        """The saved mappings; an empty map when there is no file yet."""
        path = Path(path) if path is not None else map_path()
        try:
            if path.stat().st_size > MAX_MAP_BYTES:
                raise ControlError(f"{path} is too large for a MIDI map")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, UnicodeDecodeError) as exc:
            raise ControlError(f"cannot read the MIDI mappings {path}: {exc}") from None
        except ValueError as exc:
            raise ControlError(f"{path.name}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != MAP_FORMAT:
            raise ControlError(f"{path.name}: not a Sonolume MIDI map")
        if isinstance(data.get("version"), bool) or not isinstance(data.get("version"), int) \
                or data["version"] > MAP_VERSION:
            raise ControlError(f"{path.name}: unknown version {data.get('version')!r}")
        raw = data.get("bindings", [])
        if not isinstance(raw, list):
            raise ControlError(f"{path.name}: 'bindings' must be a list")
        device = data.get("device", "")
        if not isinstance(device, str):
            raise ControlError(f"{path.name}: 'device' must be text")
        return cls([Binding.from_json(b, f"{path.name}: bindings[{i}]")
                    for i, b in enumerate(raw)], device=device)


class MidiRouter:
    """Turns messages into moves through a :class:`MidiMap`, with MIDI-learn: :meth:`arm`
    a control and the next CC or note-on binds to it (instead of acting) and is reported
    to ``on_learned``. Safe to call from rtmidi's callback thread."""

    def __init__(self, mapping: MidiMap, deliver: Callable[[ControlEvent], None],
                 on_learned: Callable[[Binding], None] | None = None):
        self.mapping = mapping
        self.deliver = deliver
        self.on_learned = on_learned
        self._armed: tuple[str, int | None] | None = None
        self._lock = threading.Lock()

    @property
    def armed(self) -> str | None:
        return self._armed[0] if self._armed else None

    def arm(self, control: str, arg: int | None = None) -> None:
        spec(control)
        with self._lock:
            self._armed = (control, arg)
        log.info("MIDI learn: move a knob or hit a pad for %s", control)

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def handle(self, msg, source: str = "midi", at: float | None = None) -> list[ControlEvent]:
        """Bind ``msg`` (MIDI-learn) or deliver its moves, each stamped with ``at`` (its
        ``time.monotonic()`` arrival; default: now, on the MIDI thread)."""
        at = time.monotonic() if at is None else float(at)
        try:
            with self._lock:
                armed = self._armed
                src = source_of(msg) if armed else None
                if armed and src is not None:
                    self._armed = None
                    binding = self.mapping.add(Binding(src[0], src[1], src[2], *armed))
            if armed and src is not None:
                log.info("MIDI learn: %s -> %s", binding.describe(), binding.control)
                if self.on_learned is not None:
                    self.on_learned(binding)
                return []
            with self._lock:
                events = [replace(e, at=at) for e in self.mapping.events(msg, source)]
            for e in events:
                self.deliver(e)
            return events
        except Exception:  # noqa: BLE001 - a bad message must not kill the MIDI thread
            log.exception("MIDI: handling %s failed", msg)
            return []


def sequencer_problem() -> str:
    """Why MIDI ports cannot be listed here, or '' when they can (as far as we can tell
    without opening one: ALSA prints to stderr on every failed attempt)."""
    if sys.platform.startswith("linux") and not os.path.exists("/dev/snd/seq"):
        return "no ALSA sequencer on this machine (/dev/snd/seq is missing)"
    try:
        import mido  # noqa: F401
        import rtmidi  # noqa: F401
    except ImportError as exc:
        return f"MIDI needs mido and python-rtmidi ({exc})"
    return ""


class MidiInput:
    """Keeps the chosen device open: polls the port list every ``poll_s`` seconds in a
    thread, opens the device when it appears (again) and closes it when it is gone.
    ``device``: a port name, matched without ALSA's numbers; '' listens to nothing.
    ``on_status(text)`` hears every change ("connected ...", "waiting for ...").
    ``lister`` / ``opener`` default to mido's (python-rtmidi backend)."""

    def __init__(self, router: MidiRouter, device: str = "", poll_s: float = 1.0,
                 on_status: Callable[[str], None] | None = None,
                 lister: Callable[[], list] | None = None, opener: Callable | None = None):
        self.router = router
        self.device = base_name(device)
        self.poll_s = poll_s
        self.on_status = on_status
        self._lister = lister
        self._opener = opener
        self.port = None
        self.port_name = ""
        self.status = ""
        self.connects = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ports(self) -> list[str]:
        """Input port names now (raises ControlError when MIDI is not available)."""
        if self._lister is None:
            problem = sequencer_problem()
            if problem:
                raise ControlError(problem)
            import mido

            lister = mido.get_input_names
        else:
            lister = self._lister
        try:
            return list(lister())
        except Exception as exc:  # noqa: BLE001 - rtmidi raises its own SystemError
            raise ControlError(f"cannot list MIDI ports: {exc}") from None

    def _say(self, text: str) -> None:
        if text != self.status:
            self.status = text
            log.info("MIDI: %s", text)
            if self.on_status is not None:
                self.on_status(text)

    def set_device(self, device: str) -> None:
        with self._lock:
            self.device = base_name(device)
            self._close()
        self._wake.set()

    def start(self) -> MidiInput:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sonolume-midi",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)
            self._thread = None
        with self._lock:
            self._close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._wake.wait(self.poll_s if not self.status.startswith("unavailable")
                            else max(self.poll_s, 10.0))
            self._wake.clear()

    def poll(self) -> None:
        """One look at the port list: connect, notice an unplug, or wait."""
        with self._lock:
            if not self.device:
                self._close()
                self._say("no device chosen")
                return
            try:
                names = self.ports()
            except ControlError as exc:
                self._close()
                self._say(f"unavailable: {exc}")
                return
            match = next((n for n in names if base_name(n) == self.device), None)
            if self.port is not None and match is None:
                self._close()
                self._say(f"{self.device} unplugged; waiting for it to come back")
                return
            if self.port is None and match is not None:
                try:
                    opener = self._opener
                    if opener is None:
                        import mido

                        opener = mido.open_input
                    self.port = opener(match, callback=self._message)
                    self.port_name = match
                except Exception as exc:  # noqa: BLE001 - a device busy or just vanished
                    self.port = None
                    self._say(f"cannot open {match}: {exc}")
                    return
                self.connects += 1
                self._say(f"connected to {self.device}")
            elif self.port is None:
                self._say(f"waiting for {self.device}")

    def _message(self, msg) -> None:
        self.router.handle(msg, f"midi {self.device}")

    def _close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except Exception:  # noqa: BLE001 - closing a vanished device may fail
                log.debug("MIDI: closing %s failed", self.port_name, exc_info=True)
            self.port = None
            self.port_name = ""
