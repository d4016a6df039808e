"""An online beat tracker: tempo from the recent onset envelope, phase locked to onsets,
with tap tempo and resync.

It works on the onset envelope the file analysis uses (one value per 512-sample frame,
~43 per second, frame ``j`` standing for time ``j * HOP / 22050``) and uses the file
tracker's conventions (:mod:`engine.audio.beats`) where they carry over:

* **Tempo**: the autocorrelation of the newest :data:`~engine.audio.beats.TEMPOGRAM_WIN`
  frames (~8.9 s; from 3 s of audio on) after the same detrending (minus a 1 s moving
  average) and blur, normalised by lag 0 and averaged over recent estimates (an exponential
  average, :data:`AC_MEMORY_S`), weighted by the same 70-190 BPM prior, peak refined by a
  parabola; a beat starts above :data:`ACQUIRE_CONFIDENCE` and ends after
  :data:`LOSE_AFTER_S` below :data:`~engine.audio.beats.MIN_BEAT_CONFIDENCE`. A new
  tempo replaces the held one only when it scores clearly better (:data:`SWITCH_MARGIN`),
  so the beat does not flip between octaves on every bar.
* **Phase**: a comb over the last few seconds of the envelope, one tooth per beat
  (recent beats weigh more), picks the offset of the newest beat; the running beat grid is
  pulled toward it a little each frame (a phase-locked loop), or jumps to it when the two
  disagree for longer than :data:`JUMP_AFTER_S` (a new song, a drop after a break).

Beats are *predicted*: ``phase_at(t)`` extrapolates the grid, so once locked a beat pulse
lands on the beat rather than one detection delay after it. ``beats`` lists each beat time
as the grid placed it when the stream passed it (what the bench scores against the file
analysis).

Tap tempo: two or more taps (at most :data:`TAP_RESET_S` apart) set the period to their
median interval and put a beat on the last tap; the tempo then holds (the autocorrelation
is ignored) while the phase keeps following the music within a narrow window, until
:meth:`OnlineBeatTracker.release` hands tempo back to the music. ``resync(t)`` says "this is
a beat": the grid moves there, keeping its tempo. For :data:`HOLD_S` after a tap or a
resync the grid only follows the music smoothly (no jumps), so the performer's word
stands unless the music keeps disagreeing gently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.audio.beats import MIN_BEAT_CONFIDENCE, TEMPO_ONSET_SIGMA, TEMPOGRAM_WIN, _tempo_weight
from engine.audio.frames import FRAME_RATE

MIN_HISTORY_S = 3.0  # no tempo before this much audio
#: A beat is taken up above this confidence and kept while above the file tracker's
#: threshold: one 9 s window is noisier than a whole track's mean (white noise scores
#: 0.19-0.37 here, against 0.19-0.26 over a track), so the bar to start is higher.
ACQUIRE_CONFIDENCE = 0.4
TEMPO_EVERY = 8  # frames between tempo estimates (~0.19 s)
AC_MEMORY_S = 3.0  # time constant of the averaged autocorrelation
AC_WINDOW = TEMPOGRAM_WIN  # envelope frames in each autocorrelation
SWITCH_MARGIN = 1.15  # a new lag must score this much better than the held one
COMB_BEATS = 12  # comb teeth (beats back in time)
COMB_DECAY = 0.85  # weight of each older tooth
PLL_GAIN = 0.08  # fraction of the phase error corrected per frame
LOCK_WINDOW = 0.25  # |error| below this fraction of a beat: follow smoothly
TAP_WINDOW = 0.12  # the narrower window while tapped
JUMP_AFTER_S = 1.0  # a disagreement lasting this long moves the grid at once
LOSE_AFTER_S = 2.0  # confidence below the threshold this long: no beat
HOLD_S = 8.0  # after a tap or resync the grid follows the music only smoothly this long
TAP_RESET_S = 2.0  # taps further apart start a new tap sequence
MAX_TAPS = 8
MIN_TAP_BPM, MAX_TAP_BPM = 30.0, 300.0


def _bpm(frame_rate: float, period: float) -> float:
    return 60.0 * frame_rate / period if period > 0 else 0.0


def _phase(t: float, frame_rate: float, anchor: float, period: float) -> float:
    if period <= 0:
        return 0.0
    p = ((t * frame_rate - anchor) / period) % 1.0
    return 0.0 if p >= 1.0 else float(p)


@dataclass(frozen=True)
class BeatGrid:
    """The tracker's beat grid at one moment, immutable: what a thread that does not feed
    the tracker (the app's GUI, while the audio thread pushes) reads instead of the tracker,
    whose fields change under it."""

    frame_rate: float
    period: float = 0.0  # frames per beat (0: no beat)
    anchor: float = 0.0  # a beat position, in frames
    confidence: float = 0.0
    tapped: bool = False

    @property
    def tempo(self) -> float:
        return _bpm(self.frame_rate, self.period)

    @property
    def locked(self) -> bool:
        return self.period > 0

    def phase_at(self, t: float) -> float:
        """As :meth:`OnlineBeatTracker.phase_at`, on this grid."""
        return _phase(t, self.frame_rate, self.anchor, self.period)


class OnlineBeatTracker:
    """Feed :meth:`push` one onset value per frame; read tempo, phase and beats."""

    def __init__(self, frame_rate: float = FRAME_RATE):
        self.frame_rate = float(frame_rate)
        self._ac_window = int(AC_WINDOW)
        self._env = np.zeros(max(self._ac_window, TEMPOGRAM_WIN), np.float64)  # newest last
        self.n = 0  # frames pushed; the newest is frame n - 1
        self._ac: np.ndarray | None = None
        self.period = 0.0  # frames per beat (0: no beat)
        self.anchor = 0.0  # a beat position, in frames
        self.confidence = 0.0
        self._low_since: int | None = None
        self._disagree = 0
        self.beats: list[float] = []  # seconds, as placed when passed
        self.tapped = False
        self._taps: list[float] = []
        self._hold_until = 0  # no jumps before this frame (after a tap or a resync)

    # -- reading ---------------------------------------------------------------------------
    @property
    def tempo(self) -> float:
        """BPM; 0.0 when there is no beat."""
        return _bpm(self.frame_rate, self.period)

    @property
    def locked(self) -> bool:
        return self.period > 0

    def phase_at(self, t: float) -> float:
        """Fraction of the beat elapsed at ``t`` seconds (stream time); 0.0 with no beat."""
        return _phase(t, self.frame_rate, self.anchor, self.period)

    def grid(self) -> BeatGrid:
        """An immutable copy of the grid now (see :class:`BeatGrid`)."""
        return BeatGrid(self.frame_rate, self.period, self.anchor, self.confidence,
                        self.tapped)

    # -- feeding ---------------------------------------------------------------------------
    def push(self, onset: float) -> None:
        env = self._env
        env[:-1] = env[1:]
        env[-1] = max(float(onset), 0.0) if math.isfinite(onset) else 0.0
        self.n += 1
        have = min(self.n, env.size)
        if self.n % TEMPO_EVERY == 0 and have >= MIN_HISTORY_S * self.frame_rate:
            self._update_tempo(env[-min(have, self._ac_window):])
        if self.period > 0:
            self._update_phase(env[-have:])
            self._pass_beats()

    def _update_tempo(self, env: np.ndarray) -> None:
        from scipy.ndimage import gaussian_filter1d, uniform_filter1d

        x = env - uniform_filter1d(env, size=int(round(self.frame_rate)), mode="nearest")
        x = gaussian_filter1d(x, TEMPO_ONSET_SIGMA, mode="constant")
        x = x * np.hanning(x.size)
        nfft = 1 << int(math.ceil(math.log2(2 * max(x.size, TEMPOGRAM_WIN))))
        spec = np.fft.rfft(x, nfft)
        ac = np.fft.irfft(spec.real ** 2 + spec.imag ** 2, nfft)[:TEMPOGRAM_WIN]
        if ac[0] <= 1e-12:
            ac = np.zeros(TEMPOGRAM_WIN)
        else:
            ac = ac / ac[0]
        a = 1.0 - math.exp(-TEMPO_EVERY / (AC_MEMORY_S * self.frame_rate))
        self._ac = ac if self._ac is None else self._ac + a * (ac - self._ac)
        tg = self._ac
        lags = np.arange(TEMPOGRAM_WIN, dtype=np.float64)
        bpm = np.full(TEMPOGRAM_WIN, np.inf)
        bpm[1:] = 60.0 * self.frame_rate / lags[1:]
        # A lag needs two periods inside the window to be measured at all.
        valid = (bpm >= 30.0) & (bpm <= 300.0) & (lags * 2 < env.size)
        score = np.where(valid, tg * _tempo_weight(bpm), -np.inf)
        best = int(np.argmax(score))
        if not np.isfinite(score[best]):
            return
        if self.period > 0 and not self.tapped:
            held = int(round(self.period))
            if 0 < held < TEMPOGRAM_WIN and valid[held] and \
                    score[best] < SWITCH_MARGIN * max(score[held], 1e-9):
                best = held
        self.confidence = float(min(max(tg[best], 0.0), 1.0))
        if self.tapped:
            return
        needed = MIN_BEAT_CONFIDENCE if self.period > 0 else ACQUIRE_CONFIDENCE
        if self.confidence < needed:
            if self._low_since is None:
                self._low_since = self.n
            if self.n - self._low_since >= LOSE_AFTER_S * self.frame_rate or self.period <= 0:
                self.period = 0.0
            return
        self._low_since = None
        lag = float(best)
        if 1 <= best < TEMPOGRAM_WIN - 1:
            a_, b_, c_ = tg[best - 1], tg[best], tg[best + 1]
            den = a_ - 2 * b_ + c_
            if den < 0:
                lag += float(np.clip(0.5 * (a_ - c_) / den, -0.5, 0.5))
        first = self.period <= 0
        self.period = lag
        if first:
            self.anchor = self._best_beat(self._env[-min(self.n, self._env.size):])

    def _best_beat(self, env: np.ndarray) -> float:
        """Position (frames) of the newest beat the comb finds in ``env`` (newest last)."""
        from scipy.ndimage import gaussian_filter1d

        p = self.period
        x = gaussian_filter1d(env, TEMPO_ONSET_SIGMA, mode="nearest")
        newest = self.n - 1
        offsets = np.arange(int(math.ceil(p)), dtype=np.float64)
        k = np.arange(COMB_BEATS, dtype=np.float64)
        pos = (x.size - 1) - offsets[:, None] - k[None, :] * p  # index into x
        ok = pos >= 0
        vals = np.interp(np.where(ok, pos, 0.0), np.arange(x.size), x)
        score = (np.where(ok, vals, 0.0) * COMB_DECAY ** k[None, :]).sum(axis=1)
        i = int(np.argmax(score))
        off = float(i)
        if 0 < i < offsets.size - 1:
            a_, b_, c_ = score[i - 1], score[i], score[i + 1]
            den = a_ - 2 * b_ + c_
            if den < 0:
                off += float(np.clip(0.5 * (a_ - c_) / den, -0.5, 0.5))
        return newest - off

    def _update_phase(self, env: np.ndarray) -> None:
        p = self.period
        target = self._best_beat(env)
        err = (target - self.anchor + 0.5 * p) % p - 0.5 * p
        window = TAP_WINDOW if self.tapped else LOCK_WINDOW
        if abs(err) <= window * p:
            self.anchor += PLL_GAIN * err
            self._disagree = 0
            return self._wrap_anchor()
        self._disagree += 1
        if self._disagree >= JUMP_AFTER_S * self.frame_rate and self.n >= self._hold_until:
            self.anchor += err
            self._disagree = 0
        self._wrap_anchor()

    def _wrap_anchor(self) -> None:
        """Keep the anchor near now so float error never grows."""
        p = self.period
        self.anchor += p * math.floor((self.n - 1 - self.anchor) / p)

    def _pass_beats(self) -> None:
        """Record each grid beat the stream has reached (frame n - 1)."""
        p, now = self.period, self.n - 1
        last = self.beats[-1] * self.frame_rate if self.beats else -math.inf
        start = max(last + 0.5 * p, now - p + 1e-6)
        nb = self.anchor + p * math.ceil((start - self.anchor) / p)
        while nb <= now:
            self.beats.append(nb / self.frame_rate)
            nb += p

    # -- the performer ---------------------------------------------------------------------
    def tap(self, t: float) -> None:
        """A tap at ``t`` seconds (stream time). From the second tap on the tempo follows
        the taps."""
        if self._taps and (t - self._taps[-1] > TAP_RESET_S or t <= self._taps[-1]):
            self._taps = []
        self._taps = (self._taps + [float(t)])[-MAX_TAPS:]
        if len(self._taps) < 2:
            return
        period_s = float(np.median(np.diff(self._taps)))
        if not 60.0 / MAX_TAP_BPM <= period_s <= 60.0 / MIN_TAP_BPM:
            return
        self.tapped = True
        self.period = period_s * self.frame_rate
        self.anchor = self._taps[-1] * self.frame_rate
        self.confidence = 1.0
        self._disagree = 0
        self._low_since = None
        self._hold_until = self.n + int(HOLD_S * self.frame_rate)

    def resync(self, t: float) -> None:
        """Make ``t`` (stream seconds) a beat, keeping the tempo."""
        if self.period > 0:
            self.anchor = float(t) * self.frame_rate
            self._disagree = 0
            self._hold_until = self.n + int(HOLD_S * self.frame_rate)

    def release(self) -> None:
        """Back to the music's tempo after tapping."""
        self.tapped = False
        self._taps = []
