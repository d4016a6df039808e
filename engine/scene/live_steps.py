"""The features steps of a recorded live set, and the reactivity replayed from them.

Live, every analysis frame of the incoming audio (~43 a second) steps the reactivity
(:class:`engine.reactive.live.LiveParams`) once, and the preview draws the newest step.
A render of the recorded set must draw the same numbers, so it does not analyse the
recorded audio again (a file analysis is not causal and would differ): it replays the very
steps the set took, from this record. Per step: the set time (seconds from the recording's
first sample), the step's ``dt`` and every feature LiveParams may read; per take: the
LiveParams state it started from (the stream began before the take), the beats the live
set changed styles on, and the frame rate its changes were snapped to.

Replaying (:meth:`LiveSteps.replay`) runs the same :func:`advance` the live set ran, with
the automation's amount gains read at each step's time, so the parameters at ``t`` are
those after the last step at or before ``t``, bit for bit.

A take recorded during a freeze also keeps the picture the freeze holds (``hold``): the
LiveParams state after the last step at or before the freeze began, which may lie before
the take (a scene frozen since ``hold_time`` draws its parameters; see
:meth:`engine.scene.Scene.params_at`).

The file beside the show is safetensors (no pickle): ``time``, ``dt``, one ``feature.NAME``
column per feature, ``chroma`` (n, 12), ``beats``, ``state.KEY`` and, with a hold,
``hold.KEY`` (version 2; files without one stay version 1); its metadata carry the format
name, version, fps, the state's time and the hold's.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from engine.errors import SonolumeError
from engine.reactive.live import LiveParams, StepTrack

STEPS_FORMAT = "sonolume-live-steps"
STEPS_VERSION = 2  # 2: a hold (a take that began frozen); others are written as 1
#: The scalar features kept per step: what a preset's sources and ``scale_by`` may name.
FEATURES = ("rms", "onset", "beat_phase", "beat_pulse", "harmonic", "percussive", "bass",
            "mid", "treble", "centroid", "tempo", "beat_confidence")
MAX_STEPS = 50_000_000  # ~13 days of steps: anything larger is not a recording of ours


class LiveStepsError(SonolumeError):
    """A live steps file that cannot be used."""


def gains_at(automation, targets, t: float) -> dict[str, float] | None:
    """The amount lanes' gains at ``t`` for the preset's ``targets``: each target's own lane
    times ``amount.all`` (what :meth:`engine.scene.Scene.param_track` applies offline)."""
    lanes = automation.amount_lanes()
    if not lanes:
        return None
    overall = lanes["all"].value_at(t) if "all" in lanes else None
    out = {}
    for target in targets:
        g = lanes[target].value_at(t) if target in lanes else None
        if overall is not None:
            g = overall if g is None else g * overall
        if g is not None:
            out[target] = g
    return out


def advance(lp: LiveParams, features, t: float, dt: float, automation) -> None:
    """One live step: the one function both the live set and a replay run."""
    lp.step(features, gains=gains_at(automation, lp.preset.targets, t), dt=dt)


class LiveSteps:
    """A live set's steps (see the module docstring). ``state``: LiveParams' state before
    the first step (None: a fresh start), taken at set time ``state_time`` (<= 0).

    ``drawn``: while a live set runs, the parameters it draws, by extra inputs; a Scene
    reads those instead of replaying (a replay of a long set on every frame would be far
    too slow, and they are equal)."""

    def __init__(self, fps: float = 30.0, state: dict | None = None,
                 state_time: float = 0.0, hold: dict | None = None, hold_time: float = 0.0):
        if not (math.isfinite(fps) and fps > 0):
            raise LiveStepsError(f"fps must be a positive number, not {fps}")
        self.fps = float(fps)
        self.state = dict(state) if state else None
        self.state_time = float(state_time)
        # The picture a freeze running since ``hold_time`` holds (a LiveParams state).
        self.hold = dict(hold) if hold else None
        self.hold_time = float(hold_time)
        # Growing buffers (doubled when full): an hour is ~155k steps, ~25 MB here.
        self._n = 0
        self._times = np.zeros(1024, np.float64)
        self._dts = np.zeros(1024, np.float64)
        self._cols = np.zeros((1024, len(FEATURES)), np.float64)
        self._chroma = np.zeros((1024, 12), np.float32)
        self.beats: list[float] = []
        self.drawn: dict[int, StepTrack] | None = None
        self.path: Path | None = None  # the file it was saved to or read from
        self._arrays = None  # (times, dts, cols, chroma) once loaded or frozen

    # -- growing --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n if self._arrays is None else int(self._arrays[0].size)

    def append(self, t: float, dt: float, features) -> None:
        if self._arrays is not None:
            raise LiveStepsError("these live steps were loaded from a file; they do not grow")
        i = self._n
        if i and t < self._times[i - 1]:
            raise LiveStepsError(f"live steps must come in time order ({t:g} s after "
                                 f"{self._times[i - 1]:g} s)")
        if i == self._times.size:
            grow = 2 * i
            self._times = np.resize(self._times, grow)
            self._dts = np.resize(self._dts, grow)
            self._cols = np.resize(self._cols, (grow, len(FEATURES)))
            self._chroma = np.resize(self._chroma, (grow, 12))
        self._times[i] = t
        self._dts[i] = dt
        self._cols[i] = [float(getattr(features, k, 0.0)) for k in FEATURES]
        self._chroma[i] = np.asarray(getattr(features, "chroma", np.zeros(12)),
                                     np.float32).reshape(12)
        self._n = i + 1

    def add_beat(self, t: float) -> None:
        if self.beats and t <= self.beats[-1]:
            raise LiveStepsError(f"beats must come in time order ({t:g} s after "
                                 f"{self.beats[-1]:g} s)")
        self.beats.append(float(t))

    # -- reading --------------------------------------------------------------------------
    def arrays(self):
        """(times, dts, {feature: column}, chroma) as numpy arrays."""
        if self._arrays is not None:
            return self._arrays
        n = self._n
        return (self._times[:n], self._dts[:n],
                {k: self._cols[:n, j] for j, k in enumerate(FEATURES)}, self._chroma[:n])

    @property
    def duration(self) -> float:
        """Set time of the last step (0 with none)."""
        times = self.arrays()[0]
        return float(times[-1]) if times.size else 0.0

    @property
    def nbytes(self) -> int:
        """Bytes held by the step buffers and the drawn tracks (what grows with time)."""
        n = self._times.nbytes + self._dts.nbytes + self._cols.nbytes + self._chroma.nbytes
        if self._arrays is not None:
            times, dts, cols, chroma = self._arrays
            n = times.nbytes + dts.nbytes + chroma.nbytes + sum(c.nbytes for c in cols.values())
        for track in (self.drawn or {}).values():
            n += track_nbytes(track)
        return n

    def grid(self, meter: int = 4, downbeat_shift: int = 0):
        from engine.scene.timing import BeatGrid

        return BeatGrid.build(beats=np.asarray(self.beats, np.float64), duration=math.inf,
                              fps=self.fps, meter=meter, downbeat_shift=downbeat_shift)

    def new_params(self, preset, seed: int) -> LiveParams:
        """A LiveParams as the take started: ``preset`` (the scene's effective one), the
        recorded state."""
        lp = LiveParams(preset, seed=seed, fps=self.fps)
        if self.state is not None:
            lp.load_state(self.state)
        return lp

    def held_params(self, preset, seed: int, extra_inputs: int):
        """The parameters of the picture :attr:`hold` keeps, for ``extra_inputs`` inputs."""
        if self.hold is None:
            raise LiveStepsError("these live steps hold no frozen picture")
        lp = LiveParams(preset, seed=seed, fps=self.fps)
        lp.load_state(self.hold)
        return lp.params(extra_inputs)

    def replay(self, preset, seed: int, automation, extra_inputs: int) -> StepTrack:
        """The parameters the live set drew, for a CPPN with ``extra_inputs`` inputs."""
        lp = self.new_params(preset, seed)
        track = StepTrack(extra_inputs,
                          lp.params(extra_inputs) if lp.frame >= 0 else None)
        times, dts, cols, chroma = self.arrays()
        names = list(cols)
        columns = [cols[k] for k in names]
        for i in range(times.size):
            f = SimpleNamespace(chroma=chroma[i], **{k: float(c[i])
                                                     for k, c in zip(names, columns)})
            t = float(times[i])
            advance(lp, f, t, float(dts[i]), automation)
            track.append(t, lp.params(extra_inputs))
        return track

    # -- files ----------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write atomically (a killed write leaves nothing at ``path``)."""
        from safetensors.numpy import save_file

        from engine.atomic import atomic_path

        path = Path(path)
        times, dts, cols, chroma = self.arrays()
        tensors = {"time": np.ascontiguousarray(times), "dt": np.ascontiguousarray(dts),
                   "chroma": np.ascontiguousarray(chroma),
                   "beats": np.asarray(self.beats, np.float64)}
        for k, v in cols.items():
            tensors[f"feature.{k}"] = np.ascontiguousarray(v)
        for k, v in (self.state or {}).items():
            tensors[f"state.{k}"] = np.ascontiguousarray(np.asarray(v, np.float64))
        for k, v in (self.hold or {}).items():
            tensors[f"hold.{k}"] = np.ascontiguousarray(np.asarray(v, np.float64))
        meta = {"format": STEPS_FORMAT, "version": "2" if self.hold else "1",
                "fps": repr(self.fps), "state_time": repr(self.state_time)}
        if self.hold:
            meta["hold_time"] = repr(self.hold_time)
        try:
            with atomic_path(path, suffix=".safetensors") as tmp:
                save_file(tensors, str(tmp), metadata=meta)
        except OSError as exc:
            raise LiveStepsError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.path = path
        return path

    @classmethod
    def load(cls, path) -> LiveSteps:
        """Read and check a steps file; every problem is one line naming the file."""
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        where = path.name

        def bad(msg: str) -> LiveStepsError:
            return LiveStepsError(f"{where}: {msg}")

        if not path.is_file():
            raise LiveStepsError(f"the live set's steps file is missing: {path}")
        try:
            with safe_open(str(path), framework="numpy") as fh:
                meta = fh.metadata() or {}
                if meta.get("format") != STEPS_FORMAT:
                    raise bad(f"not a live steps file (format {meta.get('format')!r})")
                try:
                    version = int(meta.get("version", ""))
                    fps = float(meta.get("fps", ""))
                    state_time = float(meta.get("state_time", "0"))
                    hold_time = float(meta.get("hold_time", "0"))
                except ValueError:
                    raise bad("bad version, fps, state_time or hold_time in its metadata") \
                        from None
                if version > STEPS_VERSION:
                    raise bad(f"written by a newer Sonolume (version {version})")
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        except (SafetensorError, OSError) as exc:
            raise bad(f"cannot be read ({exc})") from None
        if not (math.isfinite(fps) and fps > 0 and math.isfinite(state_time)
                and math.isfinite(hold_time)):
            raise bad("fps, state_time or hold_time is not a usable number")
        need = ["time", "dt", "chroma", "beats", *(f"feature.{k}" for k in FEATURES)]
        missing = [k for k in need if k not in tensors]
        if missing:
            raise bad(f"lacks {', '.join(missing)}")
        times = np.asarray(tensors["time"], np.float64)
        n = times.size
        if times.ndim != 1 or n > MAX_STEPS:
            raise bad("'time' must be one column of at most "
                      f"{MAX_STEPS} steps")
        cols = {k: np.asarray(tensors[f"feature.{k}"], np.float64) for k in FEATURES}
        dts = np.asarray(tensors["dt"], np.float64)
        chroma = np.asarray(tensors["chroma"], np.float32)
        for name, a, shape in [("dt", dts, (n,)), ("chroma", chroma, (n, 12)),
                               *((f"feature.{k}", v, (n,)) for k, v in cols.items())]:
            if a.shape != shape:
                raise bad(f"'{name}' has shape {a.shape}, expected {shape}")
            if not np.all(np.isfinite(a)):
                raise bad(f"'{name}' holds NaN or infinite values")
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
            raise bad("step times are not finite and in order")
        if np.any(dts < 0):
            raise bad("a step lasts less than 0 seconds")
        beats = np.asarray(tensors["beats"], np.float64)
        if beats.ndim != 1 or not np.all(np.isfinite(beats)) or np.any(np.diff(beats) <= 0):
            raise bad("beats are not finite and increasing")
        state = {k[len("state."):]: np.asarray(v, np.float64) for k, v in tensors.items()
                 if k.startswith("state.")}
        hold = {k[len("hold."):]: np.asarray(v, np.float64) for k, v in tensors.items()
                if k.startswith("hold.")}
        steps = cls(fps, state or None, state_time, hold or None, hold_time)
        for what, st in (("state", state), ("hold", hold)):
            if st:
                try:
                    LiveParams().load_state(st)
                except SonolumeError as exc:
                    raise bad(f"{what}: {exc}") from None
        steps._arrays = (times, dts, cols, chroma)
        steps.path = path
        steps.beats = [float(b) for b in beats]
        return steps


def track_nbytes(track: StepTrack) -> int:
    """Bytes a drawn track's buffers hold."""
    return sum(getattr(track, k).nbytes for k in ("_times", "_extras", "_scalars"))


def tail(track: StepTrack, since: float, pin: float | None = None) -> StepTrack:
    """A copy of ``track`` from the row in force at ``since`` on: what a running live set
    still draws (the rows before are never asked for again), and the row in force at
    ``pin`` (the picture a freeze running since then holds)."""
    times = track.times

    def row(t: float) -> int:
        return max(0, int(np.searchsorted(times, float(t), side="right")) - 1)

    i = row(since)
    keep = list(range(i, times.size))
    if pin is not None and pin < since and times.size and row(pin) < i:
        keep.insert(0, row(pin))
    first = keep[0] if keep else None
    out = StepTrack(track.extra_inputs, track.frame(first) if first is not None
                    else track.initial)
    for j in keep:
        out.append(float(times[j]), track.frame(j))
    return out
