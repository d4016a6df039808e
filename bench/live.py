"""Live audio: latency from a sample arriving to its features being ready, and the online
beat tracker's accuracy against the file analysis of the same music.

Latency. Audio arrives in blocks, as a capture API delivers it; a sample "arrives" when
its block is handed over. A click train (one click every 0.5-0.9 s, seeded positions, over
quiet noise) is pushed block by block into :class:`engine.audio.live.LiveAnalyzer`; for
each click the latency is the stream time from the end of the block holding the click to
the end of the block whose ``push`` first returned features where the click shows
(normalised onset > 0.5), plus the wall-clock time that ``push`` took. A capture running
in real time adds nothing else. "+ frame" adds the wait until
:class:`app.live.audio_input.LiveInput` emits (at most once per video frame at 30 fps).
The goal (issue 12): < 30 ms + one video frame.

Beats. For each track: the file analysis' beats (``engine.audio.analyze``: whole-track
dynamic programming) are the reference; the live tracker hears the file in 1024-sample
blocks at its own rate and lists each beat as it placed it when the stream passed it.
Both lists are trimmed to after an 8 s warm-up and scored with ``mir_eval.beat.f_measure``
(+-70 ms). A synthetic groove with built-in beats (``engine.audio.synthetic``) scores both
trackers against the truth as a sanity line.

    .venv/bin/python bench/live.py [--quick] [--out /tmp/notes/live.md]
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MUSIC = "/usr/share/games/singularity/music/*.ogg"
WARMUP_S = 8.0
VIDEO_FPS = 30.0


def click_train(sr: int, seconds: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (0.003 * rng.standard_normal(int(sr * seconds))).astype(np.float32)
    n = int(0.02 * sr)
    click = (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.003 * sr)) * 0.5)
    times = []
    t = 1.0
    while t < seconds - 1.0:
        i = int(t * sr)
        y[i:i + n] += click.astype(np.float32)
        times.append(i / sr)
        t += rng.uniform(0.5, 0.9)
    return y, np.array(times)


def latency(sr: int, block: int, seconds: float = 60.0) -> dict:
    from engine.audio.decode import ANALYSIS_SR
    from engine.audio.frames import HOP
    from engine.audio.live import LiveAnalyzer

    y, clicks = click_train(sr, seconds)
    warm = LiveAnalyzer(sr, 1)  # imports and first-call costs out of the way
    warm.push(y[: 4 * sr])
    la = LiveAnalyzer(sr, 1)
    lat, lat_frame, compute = [], [], []
    covered: list[tuple[float, float, float]] = []  # (block end, analysed up to, compute)
    waiting: list[float] = []  # arrival times of clicks seen but not yet emitted
    k = 0  # next click to resolve
    next_emit = 0.0
    for start in range(0, len(y), block):
        b = y[start:start + block]
        t0 = time.thread_time()
        feats = la.push(b)
        dt = time.thread_time() - t0
        compute.append(dt)
        end = (start + len(b)) / sr
        covered.append((end, la.frames.frames * HOP / ANALYSIS_SR, dt))
        while k < len(clicks) and clicks[k] < end:
            arrived = (int(clicks[k] * sr) // block + 1) * block / sr  # end of its block
            if any(f.onset > 0.5 and f.time >= clicks[k] - 0.03 for f in feats):
                lat.append(end - arrived + dt)
                waiting.append(arrived)
                k += 1
            elif end - clicks[k] > 0.2:  # never seen: a miss (the table counts them)
                k += 1
            else:
                break
        if feats and feats[-1].time >= next_emit:  # LiveInput's once-per-video-frame emit
            next_emit = (np.floor(feats[-1].time * VIDEO_FPS + 1e-6) + 1) / VIDEO_FPS
            lat_frame += [end - a + dt for a in waiting]
            waiting = []
    # Every millisecond of the stream: when did an analysed window first include it?
    ends, upto, dts = (np.array(c) for c in zip(*covered))
    t = np.arange(0.0, ends[-1] - 0.1, 0.001)
    arrived = (np.floor(t * sr).astype(np.int64) // block + 1) * block / sr
    first = np.searchsorted(upto, t, side="right")  # first push whose windows reach t
    ok = first < len(ends)
    win_ms = (ends[first[ok]] - arrived[ok] + dts[first[ok]]) * 1000
    lat_ms = np.array(lat) * 1000
    lat_f_ms = np.array(lat_frame) * 1000
    frames = la.frames.frames
    return {"sr": sr, "block": block, "block_ms": 1000 * block / sr, "clicks": len(clicks),
            "win_median": float(np.median(win_ms)), "win_p95": float(np.percentile(win_ms, 95)),
            "win_max": float(win_ms.max()),
            "seen": len(lat), "median": float(np.median(lat_ms)),
            "p95": float(np.percentile(lat_ms, 95)), "max": float(lat_ms.max()),
            "frame_p95": float(np.percentile(lat_f_ms, 95)),
            "frame_max": float(lat_f_ms.max()),
            "us_per_frame": 1e6 * float(np.sum(compute)) / max(frames, 1),
            "rt_factor": float(np.sum(compute)) / seconds}


def online_beats(y: np.ndarray, sr: int, channels: int, block: int = 1024):
    from engine.audio.live import LiveAnalyzer

    la = LiveAnalyzer(sr, channels)
    t0 = time.perf_counter()
    for i in range(0, len(y), block):
        la.push(y[i:i + block])
    return np.array(la.tracker.beats), la.tempo, time.perf_counter() - t0


def score(ref: np.ndarray, est: np.ndarray) -> float:
    import mir_eval

    ref = mir_eval.beat.trim_beats(np.asarray(ref, float), min_beat_time=WARMUP_S)
    est = mir_eval.beat.trim_beats(np.asarray(est, float), min_beat_time=WARMUP_S)
    return float(mir_eval.beat.f_measure(ref, est, f_measure_threshold=0.07))


def beat_table(paths: list[str], limit_s: float | None, cache: str) -> list[dict]:
    import soundfile as sf

    from engine.audio.analyze import analyze

    rows = []
    for p in paths:
        info = sf.info(p)
        frames = int(limit_s * info.samplerate) if limit_s else -1
        y, sr = sf.read(p, dtype="float32", frames=frames, always_2d=True)
        dur = len(y) / sr
        src = p
        if limit_s:
            src = os.path.join(cache, Path(p).stem + ".wav")
            sf.write(src, y, sr)
        t0 = time.perf_counter()
        off = analyze(src, fps=30.0, cache_dir=cache)
        t_off = time.perf_counter() - t0
        est, tempo, t_live = online_beats(y, sr, y.shape[1])
        rows.append({"track": Path(p).stem, "dur": dur, "off_tempo": off.tempo,
                     "live_tempo": tempo, "f": score(off.beat_times, est),
                     "n_ref": int(np.sum(off.beat_times > WARMUP_S)),
                     "n_est": int(np.sum(est > WARMUP_S)), "t_off": t_off,
                     "t_live": t_live})
        r = rows[-1]
        print(f"  {r['track']:22s} {dur:6.1f} s  offline {r['off_tempo']:6.1f}  live "
              f"{r['live_tempo']:6.1f} BPM  F={r['f']:.3f}", flush=True)
    return rows


def synthetic_row(cache: str) -> dict:
    import soundfile as sf

    from engine.audio.analyze import analyze
    from engine.audio.synthetic import accented_track

    g = accented_track(126.0, bars=48, seed=7)
    path = os.path.join(cache, "groove.wav")
    sf.write(path, g.audio, g.sr)
    off = analyze(path, fps=30.0, cache_dir=cache)
    est, tempo, _ = online_beats(g.audio, g.sr, 1)
    return {"truth_vs_offline": score(g.beats, off.beat_times),
            "truth_vs_live": score(g.beats, est), "live_tempo": tempo,
            "off_tempo": off.tempo, "dur": len(g.audio) / g.sr}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 tracks, first 120 s of each")
    ap.add_argument("--out", default="/tmp/notes/live.md")
    args = ap.parse_args()
    paths = sorted(glob.glob(MUSIC))
    if not paths:
        sys.exit(f"no music at {MUSIC} (apt-get install singularity-music)")
    limit = 120.0 if args.quick else None
    if args.quick:
        paths = paths[:5]

    print("latency ...", flush=True)
    lat = [latency(sr, b) for sr, b in ((48000, 256), (48000, 1024), (44100, 512),
                                        (22050, 512))]
    with tempfile.TemporaryDirectory() as cache:
        print("beats (synthetic) ...", flush=True)
        syn = synthetic_row(cache)
        print("beats (music) ...", flush=True)
        rows = beat_table(paths, limit, cache)

    lines = [f"## Live audio (bench/live.py, {time.strftime('%Y-%m-%d')})", "",
             f"Machine: {os.cpu_count()} cores ({platform.machine()}), Python "
             f"{platform.python_version()}, shared with other jobs (load "
             f"{os.getloadavg()[0]:.1f}).", "",
             "Latency from a sample arriving (its block handed over) to features ready: "
             "*in a window* = the first analysed frame whose window holds the sample (every "
             "millisecond of the stream); *click shows* = a click's normalised onset first "
             "passes 0.5 (60 s of clicks at random spacing); *+ frame* = until LiveInput "
             "emits it at 30 fps. Median / p95 / max, ms, the push's CPU time included (CPU "
             "time, so other jobs on this shared machine do not count):", "",
             "| input | block | in a window | click shows | click shows + frame | "
             "compute per frame | CPU share of real time |",
             "|---|---|---|---|---|---|---|"]
    for r in lat:
        lines.append(f"| {r['sr']} Hz | {r['block']} ({r['block_ms']:.1f} ms) | "
                     f"{r['win_median']:.1f} / {r['win_p95']:.1f} / {r['win_max']:.1f} | "
                     f"{r['median']:.1f} / {r['p95']:.1f} / {r['max']:.1f} "
                     f"({r['seen']}/{r['clicks']} seen) | "
                     f"- / {r['frame_p95']:.1f} / {r['frame_max']:.1f} | "
                     f"{r['us_per_frame']:.0f} us | {100 * r['rt_factor']:.1f} % |")
    f_mean = float(np.mean([r["f"] for r in rows]))
    f_med = float(np.median([r["f"] for r in rows]))
    octave = sum(abs(r["live_tempo"] / r["off_tempo"] - 1) > 0.04
                 for r in rows if r["off_tempo"] > 0 and r["live_tempo"] > 0)
    lines += ["", f"Online beats against the file analysis' beats, F-measure at +-70 ms after "
              f"an {WARMUP_S:.0f} s warm-up (mir_eval), {'first 120 s of ' if limit else ''}"
              f"{len(rows)} tracks of Debian's singularity-music (48 kHz Vorbis):", "",
              "| track | length | offline tempo | live tempo (end) | F | offline beats | "
              "live beats |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['track']} | {r['dur']:.0f} s | {r['off_tempo']:.1f} | "
                     f"{r['live_tempo']:.1f} | {r['f']:.3f} | {r['n_ref']} | {r['n_est']} |")
    lines += [f"| **mean / median** | | | | **{f_mean:.3f} / {f_med:.3f}** | | |", "",
              f"Tempo disagreeing by more than 4 % at the end (octave or other): {octave} of "
              f"{len(rows)} tracks.", "",
              f"Synthetic groove with built-in beats ({syn['dur']:.0f} s, 126 BPM): F against "
              f"the truth: live {syn['truth_vs_live']:.3f} (tempo {syn['live_tempo']:.2f}), "
              f"file analysis {syn['truth_vs_offline']:.3f} (tempo {syn['off_tempo']:.2f}).",
              "", f"Live analysis of the music ran at "
              f"{100 * sum(r['t_live'] for r in rows) / sum(r['dur'] for r in rows):.1f} % "
              "of real time on one core."]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    marker = "<!-- bench/live.py -->"
    old = out.read_text() if out.exists() else ""
    head = old.split(marker)[0] if marker in old else old
    out.write_text(head.rstrip() + ("\n\n" if head.strip() else "") + marker + "\n" + text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
