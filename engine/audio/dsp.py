"""Small signal-processing kernels for the analysis, written against numpy/scipy/numba.

librosa would do all of this, but importing its spectrum, onset and beat modules compiles
numba ufuncs that are not cached on disk: ~10 s on every new process (measured on the 2-core
CI machine), 20x the analysis of a one-minute track. These kernels follow librosa's
definitions (Slaney mel scale, Ellis' dynamic-programming beat tracker with librosa's
local score, last-beat and trimming rules) and their numba functions are cached on disk,
so only the very first run on a machine pays ~2 s of compilation.
"""

from __future__ import annotations

import math

import numpy as np

_JIT: dict = {}


def _jit(fn):
    """``numba.njit(cache=True)`` applied on first use, so importing this module (and the
    cached-features path, which never needs it) does not pay numba's import."""
    compiled = _JIT.get(fn.__name__)
    if compiled is None:
        from numba import njit

        compiled = _JIT[fn.__name__] = njit(cache=True, nogil=True)(fn)
    return compiled

# ---------------------------------------------------------------------------------------
# Spectra


def hann(n: int) -> np.ndarray:
    """Periodic Hann window (scipy's ``get_window('hann', n)``, as librosa uses)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def frame_signal(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred frames (zero padding of n_fft/2 each side): frame j is centred on sample
    j * hop; ``1 + len(y) // hop`` frames, shape (frames, n_fft), a view where possible."""
    pad = n_fft // 2
    yp = np.pad(np.asarray(y, dtype=np.float32), (pad, pad))
    m = 1 + len(y) // hop
    need = (m - 1) * hop + n_fft
    if len(yp) < need:
        yp = np.pad(yp, (0, need - len(yp)))
    return np.lib.stride_tricks.sliding_window_view(yp, n_fft)[::hop][:m]


def stft_magnitude(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """|STFT| (bins, frames), Hann window, divided by the window sum so that a full-scale
    sine peaks at 0.5."""
    import scipy.fft

    win = hann(n_fft)
    frames = frame_signal(y, n_fft, hop) * win
    spec = np.abs(scipy.fft.rfft(frames, axis=1)).T
    spec /= float(win.sum())
    return np.ascontiguousarray(spec, dtype=np.float32)


def frame_rms(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """RMS of each centred, rectangular frame (librosa.feature.rms with center=True),
    from a running sum of squares: O(samples), no frame copies."""
    pad = n_fft // 2
    y2 = np.pad(np.asarray(y, dtype=np.float64), (pad, pad)) ** 2
    m = 1 + len(y) // hop
    cs = np.concatenate([[0.0], np.cumsum(y2)])
    starts = np.arange(m) * hop
    ends = np.minimum(starts + n_fft, len(y2))
    power = np.maximum(cs[ends] - cs[starts], 0.0) / n_fft
    return np.sqrt(power).astype(np.float32)


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II rows (``n_out`` x ``n_in``): log-mel spectrum -> MFCCs, the same
    transform as scipy.fft.dct(type=2, norm="ortho") truncated, as one small matmul."""
    k = np.arange(n_out)[:, None]
    i = np.arange(n_in)[None, :]
    m = np.cos(np.pi * k * (2 * i + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def fft_frequencies(sr: int, n_fft: int) -> np.ndarray:
    return np.linspace(0, sr / 2, 1 + n_fft // 2)


def hz_to_mel(f):
    """Slaney's mel scale (librosa's default, htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-9) / min_log_hz)
                    / logstep, f / f_sp)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular mel filters of peak height 1 (librosa.filters.mel with norm=None)."""
    freqs = fft_frequencies(sr, n_fft)
    hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(hz)
    ramps = hz[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    return np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)


def chroma_filterbank(sr: int, n_fft: int, fmin: float = 180.0, fmax: float = 2000.0,
                      width: float = 0.5) -> np.ndarray:
    """(12, bins) weights mapping FFT bins to pitch classes C..B (A4 = 440 Hz).

    Each bin between ``fmin`` and ``fmax`` adds to the pitch class nearest its frequency
    with a Gaussian of ``width`` semitones (circular distance). Below ~180 Hz a semitone is
    narrower than a bin at n_fft=2048 / 22050 Hz, so bass notes would smear into their
    neighbours; above ~2 kHz bins hold mostly overtones and drums. (On the demo track a
    55-5000 Hz range reads A minor as F major; 180-2000 Hz reads it right.)"""
    freqs = fft_frequencies(sr, n_fft)
    w = np.zeros((12, freqs.size), dtype=np.float64)
    sel = (freqs >= fmin) & (freqs <= fmax)
    midi = 69.0 + 12.0 * np.log2(freqs[sel] / 440.0)
    for c in range(12):
        d = np.mod(midi - c + 6.0, 12.0) - 6.0
        w[c, sel] = np.exp(-0.5 * (d / width) ** 2)
    return w.astype(np.float32)


# ---------------------------------------------------------------------------------------
# Tempo


def tempogram_sum(env: np.ndarray, win: int, seg: int = 2048) -> tuple[np.ndarray, int]:
    """Sum over frames of the windowed, lag-0-normalised autocorrelation of ``env`` (the
    librosa tempogram: Hann window of ``win`` frames centred on each frame, linear-ramp
    padding at the ends), and the number of frames that had any energy. Done in segments
    of ``seg`` frames so a 3-hour envelope needs megabytes, not gigabytes."""
    import scipy.fft

    env = np.asarray(env, dtype=np.float64)
    n = env.size
    half = win // 2
    padded = np.pad(env, (half, half), mode="linear_ramp", end_values=(0, 0))
    window = hann(win).astype(np.float64)
    total = np.zeros(win, dtype=np.float64)
    count = 0
    nfft = 1 << int(math.ceil(math.log2(2 * win - 1)))
    for start in range(0, n, seg):
        stop = min(start + seg, n)
        frames = np.lib.stride_tricks.sliding_window_view(padded[start:stop + win - 1], win)
        frames = frames[: stop - start] * window
        spec = scipy.fft.rfft(frames, n=nfft, axis=1)
        ac = scipy.fft.irfft(spec.real ** 2 + spec.imag ** 2, n=nfft, axis=1)[:, :win]
        peak = np.max(np.abs(ac), axis=1)
        live = peak > 1e-12
        total += (ac[live] / peak[live, None]).sum(axis=0)
        count += int(live.sum())
    return total, count


# ---------------------------------------------------------------------------------------
# Beat tracking (Ellis 2007, as in librosa.beat.beat_track)


def _beat_dp(localscore, period, tightness):  # pragma: no cover - compiled
    n = localscore.shape[0]
    backlink = np.full(n, -1, dtype=np.int64)
    cumscore = np.zeros(n, dtype=np.float64)
    score_thresh = 0.01 * localscore.max()
    first_beat = True
    lo_off = int(round(period / 2.0))
    hi_off = int(2.0 * period) + 1
    log_period = math.log(period)
    for i in range(n):
        best_score = -np.inf
        beat_loc = -1
        loc = i - lo_off
        while loc > i - hi_off and loc >= 0:
            score = cumscore[loc] - tightness * (math.log(i - loc) - log_period) ** 2
            if score > best_score:
                best_score = score
                beat_loc = loc
            loc -= 1
        if beat_loc >= 0:
            cumscore[i] = localscore[i] + best_score
        else:
            cumscore[i] = localscore[i]
        if first_beat and localscore[i] < score_thresh:
            backlink[i] = -1
        else:
            backlink[i] = beat_loc
            first_beat = False
    return backlink, cumscore


def track_beat_frames(onset: np.ndarray, period: float, tightness: float = 100.0,
                      trim: bool = True) -> np.ndarray:
    """Beat frame indices for an onset envelope and a beat period in frames (may be
    fractional: librosa rounds it, which drifts ~1% at 174 BPM)."""
    onset = np.asarray(onset, dtype=np.float64)
    if onset.size < 2 or period <= 0:
        return np.zeros(0, dtype=np.int64)
    sd = onset.std(ddof=1)
    if not sd > 0:
        return np.zeros(0, dtype=np.int64)
    norm = onset / sd
    half = int(round(period))
    window = np.exp(-0.5 * (np.arange(-half, half + 1) * 32.0 / period) ** 2)
    localscore = np.convolve(norm, window, mode="same")
    backlink, cumscore = _jit(_beat_dp)(localscore, float(period), float(tightness))
    # The last beat: the last local maximum of cumscore above half their median.
    interior = (cumscore[1:-1] > cumscore[:-2]) & (cumscore[1:-1] >= cumscore[2:])
    peaks = np.flatnonzero(interior) + 1
    if cumscore.size > 1 and cumscore[-1] > cumscore[-2]:
        peaks = np.append(peaks, cumscore.size - 1)
    if peaks.size == 0:
        return np.zeros(0, dtype=np.int64)
    thresh = 0.5 * np.median(cumscore[peaks])
    good = peaks[cumscore[peaks] >= thresh]
    tail = int(good[-1]) if good.size else int(peaks[-1])
    beats = []
    b = tail
    while b >= 0:
        beats.append(b)
        b = int(backlink[b])
    beats = np.array(beats[::-1], dtype=np.int64)
    if trim and beats.size:
        w = np.hanning(5)
        boe = np.convolve(localscore[beats], w)[len(w) // 2: beats.size + len(w) // 2]
        threshold = 0.5 * math.sqrt(float(np.mean(boe ** 2)))
        keep = np.ones(beats.size, dtype=bool)
        i = 0
        while i < beats.size and localscore[beats[i]] <= threshold:
            keep[i] = False
            i += 1
        j = beats.size - 1
        while j >= 0 and localscore[beats[j]] <= threshold:
            keep[j] = False
            j -= 1
        beats = beats[keep]
    return beats


# ---------------------------------------------------------------------------------------
# Smoothing


def _follow_loop(x, a_att, a_rel, y):  # pragma: no cover - compiled
    out = np.empty_like(x)
    n, d = x.shape
    for i in range(n):
        for j in range(d):
            v = x[i, j]
            a = a_att[j] if v > y[j] else a_rel[j]
            y[j] += a * (v - y[j])
            out[i, j] = y[j]
    return out


def _follow_py(x, a_att, a_rel, y):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        v = x[i]
        y += np.where(v > y, a_att, a_rel) * (v - y)
        out[i] = y
    return out


#: Above this many steps the numba kernel is used; loading numba costs ~2 s per process,
#: the vectorised Python loop ~4 us a step (a 4-minute track at 30 fps: 7200 steps).
FOLLOW_JIT_STEPS = 200_000


def follow(x: np.ndarray, a_attack, a_release, init=None) -> np.ndarray:
    """One-pole follower along axis 0 of (n,) or (n, d) data: each step moves ``a_attack``
    of the way up or ``a_release`` of the way down toward the input (1.0 = jump at once);
    the coefficients may be scalars or one per column. The state starts at ``init``
    (default: the first input)."""
    arr = np.asarray(x, dtype=np.float64)
    n = arr.shape[0]
    flat = np.ascontiguousarray(arr.reshape(n, -1))
    d = flat.shape[1]
    a_att = np.broadcast_to(np.asarray(a_attack, dtype=np.float64), (d,)).copy()
    a_rel = np.broadcast_to(np.asarray(a_release, dtype=np.float64), (d,)).copy()
    if n == 0:
        return arr.copy()
    y = flat[0].copy() if init is None else np.broadcast_to(
        np.asarray(init, dtype=np.float64), (d,)).copy()
    if np.array_equal(a_att, a_rel):
        return _follow_linear(flat, a_att, y).reshape(arr.shape)
    kernel = _jit(_follow_loop) if n >= FOLLOW_JIT_STEPS else _follow_py
    return kernel(flat, a_att, a_rel, y).reshape(arr.shape)


def _follow_linear(x, a, y0):
    """Equal rise and fall make the follower a linear first-order filter, which scipy
    runs in C: the reactive mapping's smoothing of a 5-minute track (~20 columns) in
    ~2 ms instead of ~30 ms of Python loop, so a reactivity knob rebuilds within a frame."""
    from scipy.signal import lfilter

    out = np.empty_like(x)
    for coef in np.unique(a):
        cols = np.flatnonzero(a == coef)
        if coef >= 1.0:
            out[:, cols] = x[:, cols]
            continue
        zi = ((1.0 - coef) * y0[cols])[None, :]
        out[:, cols] = lfilter([coef], [1.0, coef - 1.0], x[:, cols], axis=0, zi=zi)[0]
    return out
