"""Show files: a scene saved as JSON, so an arrangement can be reopened, edited and
rendered again.

Format (``"format": "sonolume-show"``, ``"version": 1``)::

    {
      "format": "sonolume-show", "version": 1, "name": "my show",
      "track": {"path": "/music/song.flac", "sha256": "...", "duration": 182.4},
      "styles": [{"id": "neon-jellyfish", "name": "Neon jellyfish", "weights_sha256": "..."}],
      "segments": [{"style": "neon-jellyfish", "start": 0.0, "end": 31.9, "bar": 0}, ...],
      "transitions": [{"kind": "crossfade", "beats": 2}, ...],   # one per boundary
      "reactivity": "punchy",            # a preset name, or a whole preset object
      "amounts": {"zoom": 0.5, "_all": 1.0},
      "seed": 0, "meter": 4, "downbeat_shift": 0,
      "automation": {"hue": {"interpolation": "linear", "points": [[0, 0], [30, 0.5]]}},
      "live": {"steps": "my-set.steps.safetensors", "sha256": "...",    # a recorded set only
               "lead_in": {"from": "ice-marble", "kind": "crossfade", "beats": 2,
                           "start": -0.41, "end": 0.62}}                 # optional
    }

``live`` marks a set recorded from live input (version 2; files without it stay version 1,
so older Sonolumes keep reading them): ``track`` is the recorded audio, and ``steps`` (a
path relative to the show's folder) the features steps the live reactivity took
(:mod:`engine.scene.live_steps`), which a render replays instead of analysing the audio.
``lead_in`` (version 3; sets without it stay version 2) is a transition that was running
when the recording began: from style ``from`` into the first segment, drawn from ``start``
(before 0) to ``end`` seconds, so the render starts mid-transition as the screen did.

Times are seconds; ``bar`` (the bar a segment starts on, from 0) is for people reading the
file and is recomputed on save. Shows are written atomically (:mod:`engine.atomic`), by
default into the library's ``shows/`` folder (:func:`engine.paths.shows_dir`).

Reading refuses, each with one line naming the file and the problem: files over
:data:`MAX_SHOW_BYTES`, JSON nested deeper than :data:`MAX_DEPTH`, NaN or infinite
numbers, wrong types, negative, overlapping or gapped segments, unknown transitions,
styles missing from the library (named), and a track that moved (give ``--track NEW``;
its content hash must match) or was changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import SonolumeError
from engine.scene.automation import Automation, AutomationError
from engine.scene.scene import LeadIn, Scene, SceneError, Segment, Transition

SHOW_FORMAT = "sonolume-show"
#: 2: "live" (a recorded live set); 3: "live.lead_in". Each file is written with the lowest
#: version that holds it, so older Sonolumes keep reading what they can draw.
SHOW_VERSION = 3
MAX_SHOW_BYTES = 4 << 20
MAX_DEPTH = 16
MAX_SEGMENTS = 10_000
KEYS = {"format", "version", "name", "track", "styles", "segments", "transitions",
        "reactivity", "amounts", "seed", "meter", "downbeat_shift", "automation", "live"}
REQUIRED = ("format", "version", "track", "styles", "segments")


class ShowError(SonolumeError):
    """A show file that cannot be used; the message is one line naming file and field."""


def file_sha256(path, block: int = 1 << 20) -> str:
    """Content hash of a file: what tells a moved track from a different one."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class StyleRef:
    id: str
    name: str = ""
    weights_sha256: str = ""


@dataclass
class Show:
    """A show as stored: references (style ids, the track's path and hash), not loaded
    objects. :func:`open_show` turns it into a :class:`~engine.scene.Scene`."""

    track: Path
    track_sha256: str
    track_duration: float
    styles: dict[str, StyleRef]
    segments: list[Segment]
    transitions: list[Transition]
    reactivity: object = "punchy"  # a preset name or a preset's JSON object
    amounts: dict = field(default_factory=dict)
    seed: int = 0
    meter: int = 4
    downbeat_shift: int = 0
    automation: Automation = field(default_factory=Automation)
    name: str = ""
    live_steps: Path | None = None  # a recorded live set's steps file (absolute once read)
    live_sha256: str = ""
    lead_in: LeadIn | None = None  # a transition running when a live recording began

    # -- writing ----------------------------------------------------------------------------
    def to_json(self, grid=None) -> dict:
        def bar(t):
            return grid.bar_at(t) if grid is not None else 0

        out = {
            "format": SHOW_FORMAT, "version": self.version, "name": self.name,
            "track": {"path": str(self.track), "sha256": self.track_sha256,
                      "duration": round(float(self.track_duration), 6)},
            "styles": [{"id": s.id, "name": s.name, "weights_sha256": s.weights_sha256}
                       for s in self.styles.values()],
            "segments": [{"style": s.style, "start": round(s.start, 6),
                          "end": round(min(s.end, self.track_duration), 6),
                          "bar": bar(s.start)} for s in self.segments],
            "transitions": [{"kind": t.kind, "beats": t.beats} for t in self.transitions],
            "reactivity": self.reactivity, "amounts": dict(self.amounts), "seed": self.seed,
            "meter": self.meter, "downbeat_shift": self.downbeat_shift,
            "automation": self.automation.to_json(),
        }
        if self.live_steps is not None:
            out["live"] = {"steps": str(self.live_steps), "sha256": self.live_sha256}
            lead = self.lead_in
            if lead is not None:  # exact floats: the render must draw the live mix to the bit
                out["live"]["lead_in"] = {"from": lead.style, "kind": lead.transition.kind,
                                          "beats": lead.transition.beats,
                                          "start": lead.start, "end": lead.end}
        return out

    @property
    def version(self) -> int:
        if self.live_steps is None:
            return 1
        return 3 if self.lead_in is not None else 2

    # -- reading ----------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data, where: str = "show", base=None) -> Show:
        """``base``: the show file's folder, which a relative ``live.steps`` is read from."""

        def bad(msg: str) -> ShowError:
            return ShowError(f"{where}: {msg}")

        if not isinstance(data, dict):
            raise bad("not a show (the file must hold a JSON object)")
        if data.get("format") != SHOW_FORMAT:
            raise bad(f"not a show file (format is {data.get('format')!r}, expected "
                      f"'{SHOW_FORMAT}')")
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise bad(f"'version' must be a whole number, not {version!r}")
        if version > SHOW_VERSION:
            raise bad(f"written by a newer Sonolume (show version {version}; this one reads "
                      f"up to {SHOW_VERSION})")
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise bad(f"missing {', '.join(repr(k) for k in missing)}")
        unknown = set(data) - KEYS
        if unknown:
            raise bad(f"unknown keys: {', '.join(sorted(unknown))}")

        track = _obj(data["track"], "'track'", bad)
        path = _text(track.get("path"), "track path", bad)
        sha = _text(track.get("sha256", ""), "track sha256", bad, empty=True)
        duration = _num(track.get("duration", 0.0), "track duration", bad)
        if duration < 0:
            raise bad(f"track duration is negative ({duration:g} s)")

        raw_styles = data["styles"]
        if not isinstance(raw_styles, list) or not raw_styles:
            raise bad("'styles' must be a non-empty list of {id, name, weights_sha256}")
        styles: dict[str, StyleRef] = {}
        for i, s in enumerate(raw_styles):
            s = _obj(s, f"styles[{i}]", bad)
            sid = _text(s.get("id"), f"styles[{i}].id", bad)
            styles[sid] = StyleRef(sid, _text(s.get("name", ""), f"styles[{i}].name", bad,
                                              empty=True),
                                   _text(s.get("weights_sha256", ""),
                                         f"styles[{i}].weights_sha256", bad, empty=True))

        raw_segs = data["segments"]
        if not isinstance(raw_segs, list) or not raw_segs:
            raise bad("'segments' must be a non-empty list")
        if len(raw_segs) > MAX_SEGMENTS:
            raise bad(f"{len(raw_segs)} segments (at most {MAX_SEGMENTS})")
        segments = []
        for i, s in enumerate(raw_segs):
            s = _obj(s, f"segments[{i}]", bad)
            style = _text(s.get("style"), f"segments[{i}].style", bad)
            if style not in styles:
                raise bad(f"segments[{i}] names style '{style}', which 'styles' does not list")
            start = _num(s.get("start"), f"segments[{i}].start", bad)
            end = _num(s.get("end"), f"segments[{i}].end", bad)
            if "bar" in s:
                _int(s["bar"], f"segments[{i}].bar", bad, low=0)
            if start < 0:
                raise bad(f"segments[{i}] starts at {start:g} s (negative)")
            if end <= start:
                raise bad(f"segments[{i}] ends at {end:g} s, not after its start {start:g} s")
            segments.append(Segment(style, start, end))
        for i in range(1, len(segments)):
            a, b = segments[i - 1], segments[i]
            if b.start < a.end - 1e-6:
                raise bad(f"segments[{i - 1}] and segments[{i}] overlap "
                          f"({a.start:g}-{a.end:g} s and {b.start:g}-{b.end:g} s)")
            if b.start > a.end + 1e-6:
                raise bad(f"gap between segments[{i - 1}] and segments[{i}] "
                          f"({a.end:g} s to {b.start:g} s)")
        if segments[0].start > 1e-6:
            raise bad(f"segments[0] starts at {segments[0].start:g} s; the first must start "
                      "at 0")

        raw_tr = data.get("transitions", [])
        if not isinstance(raw_tr, list):
            raise bad("'transitions' must be a list")
        if len(raw_tr) != len(segments) - 1:
            raise bad(f"{len(segments)} segments need {len(segments) - 1} transitions, "
                      f"the file has {len(raw_tr)}")
        transitions = []
        for i, t in enumerate(raw_tr):
            t = _obj(t, f"transitions[{i}]", bad)
            kind = _text(t.get("kind"), f"transitions[{i}].kind", bad)
            beats = _int(t.get("beats", 0), f"transitions[{i}].beats", bad, low=0)
            try:
                transitions.append(Transition(kind, beats))
            except SceneError as exc:
                raise bad(f"transitions[{i}]: {exc}") from None

        reactivity = data.get("reactivity", "punchy")
        if isinstance(reactivity, dict):
            from engine.reactive.preset import PresetError, preset_from_json

            try:
                preset_from_json(reactivity, where="reactivity")
            except PresetError as exc:
                raise bad(str(exc)) from None
        elif not isinstance(reactivity, str) or not reactivity:
            raise bad("'reactivity' must be a preset name or a preset object")

        amounts = _obj(data.get("amounts", {}), "'amounts'", bad)
        from engine.reactive.preset import TARGETS

        for k, v in amounts.items():
            if k not in TARGETS and k != "_all":
                raise bad(f"amounts: unknown target '{k}' (use: {', '.join(TARGETS)}, _all)")
            v = _num(v, f"amounts.{k}", bad)
            if not 0 <= v <= 10:
                raise bad(f"amounts.{k} must be 0 to 10, not {v:g}")
        seed = _int(data.get("seed", 0), "'seed'", bad, low=0)
        meter = _int(data.get("meter", 4), "'meter'", bad, low=1)
        shift = _int(data.get("downbeat_shift", 0), "'downbeat_shift'", bad, low=-64)
        try:
            automation = Automation.from_json(data.get("automation", {}))
        except AutomationError as exc:
            raise bad(str(exc)) from None
        name = _text(data.get("name", ""), "'name'", bad, empty=True)
        live_steps, live_sha, lead_in = None, "", None
        if data.get("live") is not None:
            live = _obj(data["live"], "'live'", bad)
            unknown = set(live) - {"steps", "sha256", "lead_in"}
            if unknown:
                raise bad(f"live: unknown keys: {', '.join(sorted(unknown))}")
            steps = _text(live.get("steps"), "live steps", bad)
            live_steps = Path(steps)
            if base is not None and not live_steps.is_absolute():
                live_steps = Path(base) / live_steps
            live_sha = _text(live.get("sha256", ""), "live sha256", bad, empty=True)
            if live.get("lead_in") is not None:
                lead_in = _lead_in(live["lead_in"], styles, bad)
        return cls(track=Path(path), track_sha256=sha, track_duration=duration, styles=styles,
                   segments=segments, transitions=transitions, reactivity=reactivity,
                   amounts={k: float(v) for k, v in amounts.items()}, seed=seed, meter=meter,
                   downbeat_shift=shift, automation=automation, name=name,
                   live_steps=live_steps, live_sha256=live_sha, lead_in=lead_in)


def _lead_in(data, styles, bad) -> LeadIn:
    d = _obj(data, "live.lead_in", bad)
    unknown = set(d) - {"from", "kind", "beats", "start", "end"}
    if unknown:
        raise bad(f"live.lead_in: unknown keys: {', '.join(sorted(unknown))}")
    style = _text(d.get("from"), "live.lead_in.from", bad)
    if style not in styles:
        raise bad(f"live.lead_in comes from style '{style}', which 'styles' does not list")
    kind = _text(d.get("kind"), "live.lead_in.kind", bad)
    beats = _int(d.get("beats", 0), "live.lead_in.beats", bad, low=0)
    start = _num(d.get("start"), "live.lead_in.start", bad)
    end = _num(d.get("end"), "live.lead_in.end", bad)
    try:
        return LeadIn(style, Transition(kind, beats), start, end)
    except SceneError as exc:
        raise bad(f"live.lead_in: {exc}") from None


def _obj(v, what, bad) -> dict:
    if not isinstance(v, dict):
        raise bad(f"{what} must be an object, not {type(v).__name__}")
    return v


def _text(v, what, bad, empty: bool = False) -> str:
    if not isinstance(v, str) or (not empty and not v.strip()) or len(v) > 4096:
        raise bad(f"{what} must be text, not {v!r}"[:200])
    return v


def _num(v, what, bad) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise bad(f"{what} must be a number, not {v!r}"[:200])
    v = float(v)
    if not math.isfinite(v):
        raise bad(f"{what} is not a finite number")
    return v


def _int(v, what, bad, low: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or abs(v) > 2**31:
        raise bad(f"{what} must be a whole number, not {v!r}"[:200])
    if low is not None and v < low:
        raise bad(f"{what} must be {low} or more, not {v}")
    return v


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number a show may hold")


def _depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def read_show(path) -> Show:
    """Parse and check a show file (see the module docstring for what is refused)."""
    path = Path(path)
    where = path.name
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ShowError(f"{path} is a folder, not a show file")
        if size > MAX_SHOW_BYTES:
            raise ShowError(f"{where}: {size / 2**20:.1f} MB is too large for a show file "
                            f"(at most {MAX_SHOW_BYTES >> 20} MB)")
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ShowError(f"show file not found: {path}") from None
    except UnicodeDecodeError:
        raise ShowError(f"{where}: not a show file (not UTF-8 text)") from None
    except OSError as exc:
        raise ShowError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ShowError(f"{where}: JSON nested too deeply (at most {MAX_DEPTH} levels)") \
            from None
    except ValueError as exc:
        msg = str(exc).splitlines()[0]
        raise ShowError(f"{where}: not valid JSON ({msg})") from None
    if _depth(data) > MAX_DEPTH:
        raise ShowError(f"{where}: JSON nested too deeply (at most {MAX_DEPTH} levels)")
    return Show.from_json(data, where, base=path.parent)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:48] or "show"


def save_show(show: Show, path=None, library_dir=None, grid=None) -> Path:
    """Write ``show`` atomically to ``path`` (default: ``<shows_dir>/<name>.json``)."""
    from engine.atomic import write_json
    from engine.paths import shows_dir

    if path is None:
        folder = shows_dir(library_dir)
        path = folder / f"{_slug(show.name or show.track.stem)}.json"
    path = Path(path).expanduser()
    if path.is_dir():
        raise ShowError(f"{path} is a folder; give a file name like show.json")
    data = show.to_json(grid)
    if show.live_steps is not None:  # beside the show: stored by name, so the two move together
        steps = Path(show.live_steps)
        if steps.is_absolute() and steps.parent.resolve() == path.parent.resolve():
            data["live"]["steps"] = steps.name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, data)
    except OSError as exc:
        raise ShowError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def find_show(text: str, library_dir=None) -> Path | None:
    """A show file named on the command line: the path as given, else a name in the
    library's shows folder (``.json`` optional); None when neither exists."""
    from engine.paths import shows_dir

    p = Path(text).expanduser()
    if p.is_file():
        return p
    if not p.is_absolute() and len(p.parts) == 1:
        for cand in (shows_dir(library_dir) / p.name, shows_dir(library_dir) / f"{p.name}.json"):
            if cand.is_file():
                return cand
    return None


def looks_like_show(text: str) -> bool:
    """Whether a command-line STYLE argument names a show: only a ``.json`` name does, so
    a style and a saved show of the same name never get confused."""
    return str(text).lower().endswith(".json")


# -- from a show to a scene, and back --------------------------------------------------------

def check_track(show: Show, track=None, where: str = "show") -> Path:
    """The show's track, or ``track`` when it moved; the content hash must match."""
    if track is None:
        path = show.track
        if not path.is_file():
            raise ShowError(f"{where}: the track {path} is not there (moved or renamed?); "
                            "give its new place with --track NEW")
        return path
    path = Path(track).expanduser()
    if not path.is_file():
        raise ShowError(f"audio file not found: {path}")
    if show.track_sha256 and file_sha256(path) != show.track_sha256:
        raise ShowError(f"{path} is not the track {where} was made for (its content "
                        f"differs from {show.track.name})")
    return path


def resolve_styles(show: Show, library, where: str = "show", warn=None) -> dict:
    """``{id: Style}`` from the library; a missing style is named."""
    from engine.styles.style import StyleError

    out = {}
    for sid, ref in show.styles.items():
        try:
            style = library.get(sid)
        except StyleError as exc:
            label = f"'{ref.name}' ({sid})" if ref.name and ref.name != sid else f"'{sid}'"
            raise ShowError(f"{where}: style {label} is not in the library ({exc})") from None
        if ref.weights_sha256 and warn is not None:
            try:
                now = file_sha256(style.weights_path)
            except OSError:
                now = ""
            if now and now != ref.weights_sha256:
                warn(f"style '{style.name}' has changed since the show was saved (its "
                     "weights differ); rendering it as it is now")
        out[sid] = style
    return out


def open_show(show: Show, library, *, track=None, features=None, structure=None,
              library_dir=None, where: str = "show", warn=None) -> Scene:
    """A Scene for ``show``: styles from ``library``, the track checked (``track``: its
    new place). ``features``/``structure`` may be given when already analysed."""
    path = check_track(show, track, where)
    styles = resolve_styles(show, library, where, warn)
    reactivity = show.reactivity
    if isinstance(reactivity, dict):
        from engine.reactive.preset import preset_from_json

        reactivity = preset_from_json(reactivity, where=f"{where}: reactivity")
    live = None
    if show.live_steps is not None:
        live = open_steps(show, where)
    segments = list(show.segments)
    if math.isfinite(show.track_duration) and show.track_duration > 0:
        last = segments[-1]
        if last.end >= show.track_duration - 1e-3:  # hold the last style to the very end
            segments[-1] = Segment(last.style, last.start, math.inf)
    try:
        return Scene(styles, segments, show.transitions, features=features,
                     structure=structure, preset=reactivity, amounts=show.amounts,
                     seed=show.seed, automation=show.automation, track=path,
                     library_dir=library_dir, meter=show.meter,
                     downbeat_shift=show.downbeat_shift, live=live, lead_in=show.lead_in)
    except SceneError as exc:
        raise ShowError(f"{where}: {exc}") from None


def open_steps(show: Show, where: str = "show"):
    """A recorded live set's steps, checked against the hash the show was saved with."""
    from engine.scene.live_steps import LiveSteps

    path = Path(show.live_steps)
    if not path.is_file():
        raise ShowError(f"{where}: the live set's steps file {path} is not there (it must "
                        "stay beside the show)")
    if show.live_sha256 and file_sha256(path) != show.live_sha256:
        raise ShowError(f"{where}: {path.name} is not the steps file this set was recorded "
                        "with (its content differs)")
    try:
        return LiveSteps.load(path)
    except SonolumeError as exc:
        raise ShowError(f"{where}: {exc}") from None


def show_from_scene(scene: Scene, name: str = "") -> Show:
    """The show that reopens ``scene`` (its styles must be library styles)."""
    if scene.track is None:
        raise ShowError("a show needs a track")
    track = Path(scene.track).resolve()
    styles = {}
    for key, style in scene.styles.items():
        wp = getattr(style, "weights_path", None)
        if wp is None:
            raise ShowError(f"style '{key}' is not a library style; only library styles can "
                            "be saved in a show")
        styles[key] = StyleRef(key, str(getattr(style, "name", key)), file_sha256(wp))
    preset = scene.preset if scene.preset is not None else "punchy"
    if not isinstance(preset, str):
        preset = preset.name if getattr(preset, "path", None) is not None and \
            Path(preset.path).parent.name in ("presets", "reactivity") else preset.to_json()
    duration = scene.duration if math.isfinite(scene.duration) else 0.0
    if not duration:
        from engine.audio.analyze import audio_info

        duration = float(audio_info(track)["duration"])
    segments = [Segment(s.style, s.start, min(s.end, duration)) for s in scene.segments]
    live_steps, live_sha = None, ""
    if scene.live is not None:  # a recorded set (reopened, perhaps edited) keeps its steps
        if scene.live.path is None:
            raise ShowError("a live set becomes a show when its recording stops")
        live_steps = Path(scene.live.path).resolve()
        live_sha = file_sha256(live_steps)
        preset = scene.loaded_preset().to_json()  # replayed as recorded, whatever the file
    return Show(track=track, track_sha256=file_sha256(track), track_duration=duration,
                styles=styles, segments=segments, transitions=list(scene.transitions),
                reactivity=preset, amounts=dict(scene.amounts), seed=scene.seed,
                meter=scene.meter, downbeat_shift=scene.downbeat_shift,
                automation=scene.automation, name=name or track.stem,
                live_steps=live_steps, live_sha256=live_sha,
                lead_in=scene.lead_in if live_steps is not None else None)
