"""A live set: what is drawn at each moment of incoming audio, and its recording as a show
that renders the very same frames afterwards.

    live = LiveSet(scene, analyzer, fps=30)     # scene: the styles, reactivity, seed to play
    live.push(block)                            # each block of samples as it arrives
    live.controller.submit(ControlEvent("style.next"))   # from OSC, MIDI, a script
    live.flush()                                # once per video frame: moves act now
    frame = live.frame_at()                     # what the output window draws now
    live.start_recording("~/shows/my-set.json")     # audio, steps and moves from here
    path = live.stop_recording()                # a show: sonolume render my-set.json ...

Time: a set's clock is the stream (seconds of input consumed), counted from the start of
the take (:attr:`LiveSet.origin`), so time 0 of a recorded set is the first sample of its
audio file. The preview draws :meth:`LiveSet.now`, the newest features step.

Why a render equals the live frames, by construction:

* every analysis frame (~43 a second) steps LiveParams once, with ``dt`` the stream time
  between frames and the automation's amount gains at the step's time; the same steps are
  recorded (:mod:`engine.scene.live_steps`) and a render replays them, so the parameters
  at ``t`` are those after the last step at or before ``t``, to the bit;
* control moves land :data:`MOVE_DELAY_S` after the newest step (twice the Controller's
  hold interval), so a move never changes a lane at a time already stepped or drawn;
* style changes and transitions land on beats the live set *commits*: the online tracker's
  beats as the stream passes them, and, when a change needs beats still ahead, the
  tracker's prediction of them, fixed at that moment (later corrections of the tracker
  move only beats not yet committed). The committed beats are the show's grid, saved with
  the steps; transitions are therefore timed the same live and in the render;
* the last transition of a live scene is never shortened to the end of the track (live,
  there was no end).

During a take the reactivity panel's amounts are recorded as ``amount.*`` moves; another
preset is refused (a take replays with one preset).

A take starts with what the screen shows: the style on screen, a transition still running
(the show's ``lead_in``: from the outgoing style, its start before 0 and its end, on the
same curve), changes already placed on later beats, the controls' values, and a freeze's
held picture (the steps' ``hold``). So rendering the show draws, from its first frame, the
frames drawn live from the moment Record was pressed.

Not recording, the set keeps only what it may still draw or start a take from: the
LiveParams state after the newest step (a take starts from it), the drawn parameters of the
last :data:`KEEP_S` seconds, a freeze's held state, the segments, transitions and beats
from there on. Every :data:`COMPACT_STEPS` steps the rest is let go, so a set left running
all night holds what it held after a minute (~0.2 MB a network shape). A take keeps
every step (its file needs them: ~160 bytes each, ~25 MB an hour) but its drawn parameters
only from :data:`KEEP_S` back (and a running freeze's picture).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import math
from collections.abc import Callable
from pathlib import Path

from engine.control.controller import HOLD_S, ControlEvent, Controller
from engine.control.controls import ACTION, spec
from engine.errors import SonolumeError
from engine.scene.automation import Automation, Lane
from engine.scene.live_steps import LiveSteps, advance, tail
from engine.scene.scene import DEFAULT_TRANSITION_BEATS, LeadIn, Scene, Segment, frozen_at
from engine.scene.timing import FALLBACK_BEAT_S

log = logging.getLogger("sonolume.control.live")

#: Control moves land this long after the newest features step: past the Controller's hold
#: point (HOLD_S before a move), so lanes never change at a time already stepped.
MOVE_DELAY_S = 2 * HOLD_S
#: Not recording, the steps held are let go once there are this many (~24 s of steps).
COMPACT_STEPS = 1024
#: Not recording, the drawn parameters of this many seconds before the newest step stay
#: (a view drawing a little behind the stream still finds them).
KEEP_S = 2.0
#: Beats kept before the oldest time still drawn (whole bars are dropped, so the downbeats
#: stay where they were).
KEEP_BEATS = 8
STEPS_SUFFIX = ".steps.safetensors"
AUDIO_SUFFIX = ".flac"


class LiveSetError(SonolumeError):
    """A live set that cannot record or save (no folder, disk full, no input)."""


def set_files(show_path) -> tuple[Path, Path, Path]:
    """(show, audio, steps) paths of a recorded set: ``NAME.json``, ``NAME.flac`` and
    ``NAME.steps.safetensors`` side by side."""
    show = Path(show_path).expanduser()
    if show.suffix.lower() != ".json":
        show = show.with_name(show.name + ".json")
    stem = show.name[: -len(".json")]
    return show, show.with_name(stem + AUDIO_SUFFIX), show.with_name(stem + STEPS_SUFFIX)


class LiveSet:
    """See the module docstring.

    ``scene``: what to perform: its styles (the default palette), the style showing at
    ``start_time`` (the first one), preset, amounts, seed and library folder.
    ``analyzer``: the :class:`~engine.audio.live.LiveAnalyzer` the features come from (its
    tracker gives the beats; :meth:`push` feeds it). ``controller``: the Controller moves
    arrive through (default: a new one on this set's scene and clock); the app passes its
    own, whose scene and clock it points here while live. ``on_error``: called with one line
    when a recording stops on its own (disk full, a format change)."""

    def __init__(self, scene: Scene, analyzer=None, *, fps: float = 30.0,
                 controller: Controller | None = None, palette=None,
                 start_time: float = 0.0, on_error: Callable[[str], None] | None = None):
        if scene is None:
            raise LiveSetError("a live set needs a style or a show to play")
        self.analyzer = analyzer
        self.fps = float(fps)
        self.on_error = on_error
        first = scene.frame_at(float(start_time)).style
        self.scene = Scene(dict(scene.styles), [Segment(first, 0.0, math.inf)],
                           preset=scene.preset, amounts=scene.amounts, seed=scene.seed,
                           automation=_held(scene.automation, float(start_time)),
                           library_dir=scene.library_dir, meter=scene.meter,
                           downbeat_shift=scene.downbeat_shift,
                           live=LiveSteps(self.fps))
        # The palette is fixed here: a scene keeps only the styles its segments use.
        self.palette = palette if palette is not None else list(scene.styles.values())
        self.controller = controller or Controller(self.scene, self.move_time,
                                                   palette=self._palette)
        from engine.reactive.live import LiveParams

        self.params = LiveParams(self.scene.effective_preset(), seed=self.scene.seed,
                                 fps=self.fps)
        self.origin = analyzer.time if analyzer is not None else 0.0
        self._last_stream: float | None = None
        self._hold: tuple[float, dict] | None = None  # (held since, LiveParams state)
        self._now = 0.0
        self._beats_taken = -math.inf  # stream time of the newest tracker beat taken
        self.recorder = None
        self._panel_amounts = dict(self.scene.amounts)  # the panel's, as last sent
        self.show_path: Path | None = None
        self.error = ""
        self._start_tracks()

    # -- clocks ---------------------------------------------------------------------------
    def now(self) -> float:
        """Set time of the newest step: what the preview draws."""
        return self._now

    def move_time(self) -> float:
        """When a control move applied now lands."""
        return self._now + MOVE_DELAY_S

    @property
    def recording(self) -> bool:
        return self.recorder is not None

    @property
    def elapsed(self) -> float:
        """Seconds recorded in this take (0 when not recording)."""
        return self.recorder.duration if self.recorder is not None else 0.0

    def _palette(self):
        p = self.palette
        p = p() if callable(p) else p
        return list(p) if p else list(self.scene.styles.values())

    # -- the stream -------------------------------------------------------------------------
    def push(self, block) -> list:
        """Analyse ``block`` (with :attr:`analyzer`) and take it: what a device callback,
        a test or the bench calls."""
        if self.analyzer is None:
            raise LiveSetError("this live set has no analyzer to push audio into")
        steps = self.analyzer.push(block)
        self.take(block, steps)
        return steps

    def take(self, block, steps) -> None:
        """A block that was analysed elsewhere (the app's LiveInput) and the features it
        completed: the block is recorded, each step advances the set."""
        if self.recorder is not None and block is not None:
            self._record(block)
        for f in steps:
            self.step(f)

    def _record(self, block) -> None:
        an = self.analyzer
        rec = self.recorder
        if an is not None and (an.sample_rate, an.channels) != (rec.sample_rate,
                                                                  rec.channels):
            self._fail_safe(f"the input changed to {an.sample_rate} Hz, {an.channels} "
                            "channel(s) mid-take; the take so far was saved", keep=True)
            return
        try:
            rec.write(block)
        except Exception as exc:  # noqa: BLE001 - disk full, unplugged drive: say it, go on
            self._fail_safe(f"recording stopped: {_why(exc)}; nothing was saved, the preview "
                            "keeps running", keep=False)

    def step(self, features) -> None:
        """One features step (in stream order)."""
        stream = float(features.time)
        dt = 0.0 if self._last_stream is None else max(0.0, stream - self._last_stream)
        t = stream - self.origin
        self._follow_freeze(t)
        self._last_stream = stream
        advance(self.params, features, t, dt, self.scene.automation)
        steps = self.scene.live
        steps.append(t, dt, features)
        for e, track in steps.drawn.items():
            track.append(t, self.params.params(e))
        self._now = max(self._now, t)
        self._take_beats()
        if self.recorder is None:
            if len(steps) >= COMPACT_STEPS:
                self._compact()
        elif steps.drawn and next(iter(steps.drawn.values())).n_frames >= 2 * COMPACT_STEPS:
            steps.drawn = self._drawn_since(self._keep_from())  # a take keeps its steps only

    def _last_t(self) -> float | None:
        """Set time of the newest step (None before the first)."""
        return None if self._last_stream is None else self._last_stream - self.origin

    # -- freeze -----------------------------------------------------------------------------
    def _follow_freeze(self, t: float) -> None:
        """Before the step at ``t``: when a freeze holds at ``t`` since a time no step has
        passed yet, the state now is the held picture's; kept so a take started during
        the freeze can hold the same picture (and, not recording, so the picture outlives
        the steps let go)."""
        lane = self.scene.automation.lane("freeze")
        if lane is None or not frozen_at(lane, t):
            self._hold = None
        else:
            h = lane.held_since(t)
            if self._hold is None or self._hold[0] != h:
                last = self._last_t()
                state = self.params.state() if self.params.frame >= 0 else None
                # a freeze that began before steps already taken: its state is gone
                self._hold = (h, state) if state and (last is None or last <= h) else None
        if self.recorder is None:  # a take keeps the hold it started with
            steps = self.scene.live
            steps.hold, steps.hold_time = (self._hold[1], self._hold[0]) if self._hold \
                else (None, 0.0)

    def _hold_at(self, t: float) -> dict | None:
        """The LiveParams state of the picture a freeze holds at set time ``t`` (None when
        not frozen, or frozen before any step)."""
        lane = self.scene.automation.lane("freeze")
        if lane is None or not frozen_at(lane, t):
            return None
        h = lane.held_since(t)
        if self._hold is not None and self._hold[0] == h:
            return self._hold[1]
        # no step has passed the freeze's start yet: the picture is the newest step's
        return self.params.state() if self.params.frame >= 0 else None

    # -- beats ----------------------------------------------------------------------------
    def _period(self) -> float:
        tr = getattr(self.analyzer, "tracker", None)
        if tr is not None and tr.locked:
            return tr.period / tr.frame_rate
        return FALLBACK_BEAT_S

    def _take_beats(self) -> None:
        """The tracker's passed beats join the grid (where nothing was committed ahead)."""
        tr = getattr(self.analyzer, "tracker", None)
        beats = getattr(tr, "beats", None)
        if not beats or beats[-1] <= self._beats_taken:
            return
        # read by time, not by count: a tracker may let its oldest beats go (they increase)
        j = len(beats)
        while j > 0 and beats[j - 1] > self._beats_taken:
            j -= 1
        new = [beats[k] for k in range(j, len(beats))]
        self._beats_taken = new[-1]
        added = False
        for b in new:
            if self._commit(b - self.origin):
                added = True
        if added:
            self.scene.refresh_grid()

    def _commit(self, t: float) -> bool:
        beats = self.scene.live.beats
        if t < 0 or (beats and t <= beats[-1] + 0.5 * self._period()):
            return False
        self.scene.live.add_beat(t)
        return True

    def _predict(self, after: float) -> float:
        """The tracker's next beat after set time ``after`` (a beat a frame from now when
        there is no beat)."""
        tr = getattr(self.analyzer, "tracker", None)
        p = self._period()
        if tr is None or not tr.locked:
            return after + 1.0 / self.fps
        x = after + self.origin
        ph = tr.phase_at(x)
        return after + ((1.0 - ph) * p if ph > 0 else p)

    def _commit_ahead(self, beats_needed: int) -> None:
        """Fix the beats a change and its transition will use: ``beats_needed`` beats
        after now and after any transition still running."""
        start = max([self.move_time()] + [w.end for w in self.scene.windows()])
        p = self._period()
        have = [b for b in self.scene.live.beats if b > start]
        need = beats_needed + 2 - len(have)
        if need <= 0:
            return
        beats = self.scene.live.beats
        nxt = self._predict(max(start, beats[-1] if beats else start))
        for _ in range(need):
            if beats and nxt < beats[-1] + 0.5 * p:
                nxt += p
            self.scene.live.add_beat(nxt)
            nxt += p
        self.scene.refresh_grid()

    # -- control moves -------------------------------------------------------------------
    def flush(self) -> set[str]:
        """Apply the queued moves at :meth:`move_time` (once per video frame)."""
        return self.apply(self.controller.drain())

    def apply(self, events) -> set[str]:
        events = list(events)
        if not events:
            return set()
        need = 0
        for e in events:
            with contextlib.suppress(SonolumeError):
                s = spec(e.control)
                if s.kind == ACTION and s.name != "tap":
                    if s.name.startswith("transition."):
                        n = 0 if s.name == "transition.cut" else (
                            DEFAULT_TRANSITION_BEATS if e.arg is None else int(e.arg))
                    else:
                        n = self.controller.transition.beats
                    need = max(need, 1 + max(0, min(n, 64)))
        if need:
            self._commit_ahead(need)
        changed = self.controller.apply(events, self.move_time())
        if "arrangement" in changed:
            self._start_tracks()
        return changed

    def perform(self, control: str, value=None, arg=None) -> set[str]:
        """One move now (a script's shortcut for submit + flush)."""
        return self.apply([ControlEvent(control, value, arg, "script")])

    def set_reactivity(self, preset, amounts=None) -> set[str]:
        """A new preset or amounts from the panel. While recording, a take replays with the
        preset and amounts it started with, so new amounts become ``amount.*`` moves (each
        target's new amount over the take's, as automation) and another preset is refused."""
        if not self.recording:
            self.scene.set_reactivity(preset, amounts)
            self.params.set_preset(self.scene.effective_preset())
            return {"reactivity"}
        from engine.reactive.preset import Preset, load_preset

        now = self.scene.loaded_preset()
        if preset is not None:
            new = preset if isinstance(preset, Preset) else load_preset(
                preset, self.scene.library_dir)
            if new.to_json() != now.to_json():
                raise LiveSetError("another reactivity preset cannot start while a set is "
                                   "recording (amounts can: they are recorded as moves)")
        events = []
        before, after = dict(self.scene.amounts), dict(amounts or {})
        last = self._panel_amounts
        self._panel_amounts = after
        for key in sorted(set(before) | set(after) | set(last)):
            k0, k1 = float(before.get(key, 1.0)), float(after.get(key, 1.0))
            if k1 == float(last.get(key, 1.0)):
                continue  # unchanged on the panel: a MIDI knob may own this lane now
            target = "all" if key == "_all" else key
            if k0 <= 0:
                if k1 > 0:
                    raise LiveSetError(f"'{key.lstrip('_')}' was off when the take started: "
                                       "it cannot come on until the take ends")
                continue
            events.append(ControlEvent(f"amount.{target}", k1 / k0, None, "reactivity panel"))
        return self.apply(events) if events else set()

    def show_style(self, style) -> None:
        """Show ``style`` from now on, for the whole take (a library click); refused while
        recording, where a style changes on the beat (style.next / previous / pick)."""
        if self.recording:
            raise LiveSetError("while a set records, styles change on the beat: use next, "
                               "previous or pick (MIDI, OSC or the Live dock)")
        self.scene.set_style(style)
        self._start_tracks()

    # -- drawing --------------------------------------------------------------------------
    def frame_at(self, t: float | None = None):
        """The frame at set time ``t`` (default: now)."""
        return self.scene.frame_at(self._now if t is None else t)

    def _start_tracks(self) -> None:
        """The parameters drawn live, for every network shape the scene (or a style the
        palette may bring in) needs; a shape that turns up mid-take is replayed so far."""
        steps = self.scene.live
        if steps.drawn is None:
            steps.drawn = {}
        shapes = {self.scene.extra_inputs(k) for k in self.scene.styles}
        for style in self._palette():
            with contextlib.suppress(Exception):  # a broken style fails when picked
                load = getattr(style, "load_cppn", None)
                cppn = load() if load is not None else style
                shapes.add(int(cppn.config.extra_inputs))
        for e in shapes - set(steps.drawn):
            steps.drawn[e] = steps.replay(self.params.preset, self.scene.seed,
                                          self.scene.automation, e) if len(steps) else \
                self._fresh_track(e)

    def _fresh_track(self, e: int):
        from engine.reactive.live import StepTrack

        lp = self.params
        return StepTrack(e, lp.params(e) if lp.frame >= 0 else None)

    # -- recording --------------------------------------------------------------------------
    def start_recording(self, show_path, *, sample_rate: int | None = None,
                        channels: int | None = None, dtype: str = "float32") -> Path:
        """Record from now: the audio (``NAME.flac``), the steps and every move, into a show
        at ``show_path`` when :meth:`stop_recording` is called. The set's clock restarts at
        0 with the style showing now. ``sample_rate``/``channels`` default to the
        analyzer's. Raises LiveSetError when it cannot (no folder, not writable); the set
        plays on either way."""
        from engine.audio.live import LiveRecorder

        if self.recording:
            raise LiveSetError("already recording")
        show, audio, steps_path = set_files(show_path)
        if not show.parent.is_dir():
            raise LiveSetError(f"cannot record to {show.parent}: the folder does not exist")
        taken = [p.name for p in (show, audio, steps_path) if p.exists()]
        if taken:  # never overwrite an earlier set
            raise LiveSetError(f"{', '.join(taken)} already exist(s) in {show.parent}: "
                               "choose another name for this set")
        an = self.analyzer
        rate = sample_rate or (an.sample_rate if an is not None else None)
        ch = channels or (an.channels if an is not None else 1)
        if rate is None:
            raise LiveSetError("give the sample rate of the audio to record")
        try:
            recorder = LiveRecorder(audio, rate, ch, dtype)
        except SonolumeError as exc:
            raise LiveSetError(str(exc)) from None
        self._new_take(an.time if an is not None else self._last_stream or 0.0)
        self.recorder = recorder
        self.show_path = show
        self.error = ""
        self.controller.recording = True
        log.info("recording a live set to %s", show)
        return show

    def _new_take(self, origin: float) -> None:
        """Set time 0 is now ``origin`` (stream time). What shows then carries on: the
        segment on screen holds from 0 with the changes placed after it, a transition
        still running becomes the scene's lead-in, the controls' values now (moves made
        since the last step too) are the lanes' starting values, a freeze keeps its
        picture, LiveParams carries on."""
        scene = self.scene
        move = self.move_time()
        held = _held(scene.automation, move)
        hold = self._hold_at(move)
        old_origin, self.origin = self.origin, float(origin)
        shift = old_origin - self.origin  # an old set time plus this is the new one
        segments, transitions, lead = self._carried(shift)
        last = self._last_t() if self._last_stream is not None else 0.0
        self.params.set_preset(scene.effective_preset())
        state = self.params.state() if self.params.frame >= 0 else None
        steps = LiveSteps(self.fps, state, min(last, 0.0), hold, 0.0)
        self._hold = (0.0, hold) if hold else None
        for b in scene.live.beats:  # beats committed ahead stay committed
            if b + shift >= 0:
                steps.add_beat(b + shift)
        self._now = min(last, 0.0)
        self._panel_amounts = dict(scene.amounts)
        scene.live = steps
        scene.set_lead_in(None)
        scene.set_segments(segments, transitions)
        scene.set_lead_in(lead)
        scene.set_automation(held)
        scene.refresh_grid()
        self._start_tracks()

    def _carried(self, shift: float):
        """The segments, transitions and lead-in of a take starting at old set time
        ``-shift``: from the segment showing then on, times moved by ``shift``."""
        scene = self.scene
        segs, trs = scene.segments, scene.transitions
        # the segment showing at new time 0 (changes land on frame times, so a start
        # within a hair of 0 has begun)
        i = max(j for j, s in enumerate(segs) if j == 0 or s.start + shift <= 1e-6)
        kept = [Segment(segs[i].style, 0.0, segs[i].end + shift)]
        kept += [Segment(s.style, s.start + shift, s.end + shift) for s in segs[i + 1:]]
        lead = None
        for w in scene.windows():
            if w.index == i and w.end + shift > 0:  # still running at 0
                source = scene.lead_in.style if i == 0 else segs[i - 1].style
                lead = LeadIn(source, w.transition, w.start + shift, w.end + shift)
        return kept, list(trs[i:]), lead

    def _compact(self) -> None:
        """Not recording: let go of what can no longer be drawn nor start a take (see the
        module docstring). The state after the newest step becomes the steps' start."""
        scene, old = self.scene, self.scene.live
        keep = self._keep_from()
        state = self.params.state() if self.params.frame >= 0 else None
        steps = LiveSteps(self.fps, state, self._last_t() or 0.0, old.hold, old.hold_time)
        drop = bisect.bisect_left(old.beats, keep) - KEEP_BEATS
        drop = max(0, drop - drop % max(1, scene.meter))
        steps.beats = list(old.beats[drop:])
        steps.drawn = self._drawn_since(keep)
        scene.live = steps
        starts = scene.boundaries()
        k = max(j for j, x in enumerate(starts) if j == 0 or x < keep)
        if k > 0:  # segments over before ``keep``: the one showing then starts at 0
            segs = list(scene.segments[k:])
            segs[0] = Segment(segs[0].style, 0.0, segs[0].end)
            scene.set_lead_in(None)
            scene.set_segments(segs, list(scene.transitions[k:]))
        elif scene.lead_in is not None and not any(w.index == 0 for w in scene.windows()
                                                    if w.end > keep):
            scene.set_lead_in(None)
        scene.refresh_grid()

    def _keep_from(self) -> float:
        """The oldest set time still drawn: :data:`KEEP_S` before the newest step, or the
        start of a transition running then."""
        keep = self._now - KEEP_S
        for w in self.scene.windows():
            if w.end > keep:
                keep = min(keep, w.start)
        return keep

    def _drawn_since(self, keep: float) -> dict:
        """The drawn parameters from ``keep`` on (and the picture a freeze running then
        holds): the rows a frame may still ask for."""
        lane = self.scene.automation.lane("freeze")
        pin = lane.held_since(keep) if lane is not None and frozen_at(lane, keep) else None
        return {e: tail(track, keep, pin) for e, track in (self.scene.live.drawn or {}).items()}

    def stop_recording(self) -> Path:
        """Finish the take: the audio file, the steps and the show are written (each
        atomically; the show last, so a show on disk always has its files). Returns the
        show's path. The set plays on, no longer recording."""
        from engine.scene.show import save_show, show_from_scene

        rec = self.recorder
        if rec is None:
            raise LiveSetError("not recording")
        show_path = self.show_path
        show, audio, steps_path = set_files(show_path)
        self.controller.recording = False
        self.recorder = None
        scene = self.scene
        written: list[Path] = []
        try:
            rec.close()
            written.append(audio)
            duration = rec.duration
            if duration <= 0:
                raise LiveSetError("nothing was recorded (no audio arrived)")
            scene.live.save(steps_path)
            written.append(steps_path)
            snap = scene.copy(track=audio)
            segs = [s for s in snap.segments if s.start < duration] or [snap.segments[0]]
            last = segs[-1]
            segs[-1] = Segment(last.style, last.start, max(duration, last.start + 1e-3))
            snap.set_segments(segs, list(snap.transitions)[: len(segs) - 1])
            out = show_from_scene(snap, name=show.stem)
            out.reactivity = scene.loaded_preset().to_json()
            out.track_duration = duration
            save_show(out, show, grid=scene.grid)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                rec.abort()
            for p in written:
                with contextlib.suppress(OSError):
                    p.unlink()
            self._new_take(self._last_stream or self.origin)
            if isinstance(exc, SonolumeError):
                raise LiveSetError(f"the set was not saved: {exc}") from None
            if isinstance(exc, OSError):
                raise LiveSetError(f"the set was not saved: {_why(exc)}") from None
            raise
        log.info("recorded live set: %s (%.1f s)", show, duration)
        self._new_take(self._last_stream or self.origin)
        return show

    def abort_recording(self) -> None:
        """Drop the take: nothing is written."""
        rec, self.recorder = self.recorder, None
        if rec is None:
            return
        self.controller.recording = False
        with contextlib.suppress(Exception):
            rec.abort()
        self._new_take(self._last_stream or self.origin)

    def _fail_safe(self, message: str, keep: bool) -> None:
        """A recording that cannot go on: keep what was taken (``keep``) or drop it; the
        set plays on and ``on_error`` hears why."""
        if keep:
            try:
                path = self.stop_recording()
                message = f"{message} ({path.name})"
            except SonolumeError as exc:
                message = f"{message}; but {exc}"
        else:
            self.abort_recording()
        self.error = message
        log.warning("live set: %s", message)
        if self.on_error is not None:
            self.on_error(message)


def _held(automation: Automation, t: float) -> Automation:
    """Each lane as one value: the one it has at ``t`` (a take starts where the set is)."""
    lanes = []
    for lane in automation:
        v = lane.value_at(t) if lane.control != "freeze" else (
            1.0 if lane.value_at(t) >= 0.5 else 0.0)
        lanes.append(Lane(lane.control, ((0.0, v),), lane.interpolation))
    return Automation(lanes)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
