"""Bars and sections: downbeat accuracy on synthetic grooves, sections of multi-part tracks,
and what finding them costs on top of the audio analysis.

* Downbeats: :func:`engine.audio.synthetic.accented_track` at several tempi and meters
  (a kick on every beat, backbeat snares, the chord and bass note changing on the bar),
  with full and weak accents. Reported: the % of bars whose true downbeat has a found
  downbeat within 70 ms (the MIR tolerance), and the % of found downbeats that are true
  ones (a wrong bar phase or meter shows here).
* Sections: :func:`engine.audio.synthetic.sectioned_track` (A B A, A B C B): labels found,
  and the largest boundary error in beats.
* Cost: seconds of :func:`engine.audio.structure.structure_from_raw` per minute of audio
  (the frame-level analysis is cached, so this is what bars and sections add), in a fresh
  process (librosa's import included) and warm, beside the analysis itself.

    .venv/bin/python bench/downbeats.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOLERANCE_S = 0.07

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from engine.audio.analyze import raw_analysis
from engine.audio.structure import structure_from_raw
path, cache = sys.argv[1], sys.argv[2]
t = time.perf_counter()
raw = raw_analysis(path, cache_dir=cache)
t_analysis = time.perf_counter() - t
t = time.perf_counter()
s = structure_from_raw(raw)
t_first = time.perf_counter() - t
t = time.perf_counter()
s = structure_from_raw(raw)
t_warm = time.perf_counter() - t
print(json.dumps({"analysis": t_analysis, "first": t_first, "warm": t_warm,
                  "duration": raw.duration, "sections": list(s.labels)}))
"""


def downbeat_scores(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(% of true downbeats matched within the tolerance, % of found ones that are true)."""
    if len(found) == 0 or len(truth) == 0:
        return 0.0, 0.0
    recall = np.mean([np.min(np.abs(found - t)) <= TOLERANCE_S for t in truth])
    span = (found >= truth[0] - TOLERANCE_S) & (found <= truth[-1] + TOLERANCE_S)
    inside = found[span]
    precision = np.mean([np.min(np.abs(truth - f)) <= TOLERANCE_S for f in inside]) \
        if inside.size else 0.0
    return 100.0 * float(recall), 100.0 * float(precision)


def run_downbeats(tmp: Path, quick: bool) -> None:
    from engine.audio.analyze import raw_analysis
    from engine.audio.structure import structure_from_raw
    from engine.audio.synthetic import accented_track

    tempi = (90.0, 120.0, 174.0) if quick else (90.0, 100.0, 120.0, 140.0, 174.0)
    print(f"Downbeats within {TOLERANCE_S * 1000:.0f} ms (synthetic grooves, 16 bars each)")
    print()
    print("| tempo | meter | accent | bars found | found that are true | tempo found |")
    print("|---:|---:|---:|---:|---:|---:|")
    totals, right_tempo = [], []
    for meter in (4, 3):
        for bpm in tempi:
            for accent in (1.0, 0.3):
                track = accented_track(bpm, meter=meter, bars=16, accent=accent)
                path = tmp / f"groove-{bpm:g}-{meter}-{accent:g}.wav"
                track.write(path)
                raw = raw_analysis(path, use_cache=False)
                s = structure_from_raw(raw, meter=meter)
                rec, prec = downbeat_scores(s.downbeats, track.downbeats)
                totals.append(rec)
                if abs(raw.tempo / bpm - 1.0) < 0.04:
                    right_tempo.append(rec)
                print(f"| {bpm:g} | {meter}/4 | {accent:g} | {rec:.0f}% | {prec:.0f}% | "
                      f"{raw.tempo:.1f} |")
    print()
    print(f"mean over {len(totals)} tracks: {np.mean(totals):.1f}% of bars; over the "
          f"{len(right_tempo)} whose tempo was found within 4%: {np.mean(right_tempo):.1f}% "
          f"(the others are the beat tracker's half-tempo errors)")


def run_sections(tmp: Path) -> None:
    from engine.audio.analyze import raw_analysis
    from engine.audio.structure import structure_from_raw
    from engine.audio.synthetic import sectioned_track

    print()
    print("Sections (synthetic, distinct timbre and chords per letter)")
    print()
    print("| track | bpm | meter | truth | found | worst boundary error |")
    print("|---|---:|---:|---|---|---:|")
    for labels, bars, bpm, meter in (("ABA", 8, 120.0, 4), ("ABA", 8, 90.0, 4),
                                     ("ABA", 8, 150.0, 3), ("ABCB", 6, 128.0, 4),
                                     ("ABACAB", 4, 110.0, 4)):
        track = sectioned_track(labels, bars_each=bars, bpm=bpm, meter=meter)
        path = tmp / f"sections-{labels}-{bpm:g}.wav"
        track.write(path)
        s = structure_from_raw(raw_analysis(path, use_cache=False), meter=meter)
        truth = [a for a, _b, _l in track.sections[1:]]
        found = [sec.start for sec in s.sections[1:]]
        beat = 60.0 / bpm
        if len(found) == len(truth):
            err = max((abs(f - t) / beat for f, t in zip(found, truth)), default=0.0)
            err_s = f"{err:.2f} beats"
        else:
            err_s = f"{len(found)} boundaries for {len(truth)}"
        print(f"| {labels} x{bars} bars | {bpm:g} | {meter} | {' '.join(labels)} | "
              f"{' '.join(s.labels)} | {err_s} |")


def run_cost(tmp: Path, quick: bool) -> None:
    from engine.audio.synthetic import sectioned_track

    minutes = 3 if quick else 6
    labels = "ABACABCB"[: max(3, int(minutes * 60 / 16 / 2))]
    track = sectioned_track(labels * 2, bars_each=8, bpm=120.0)
    path = tmp / "long.wav"
    track.write(path)
    cache = tmp / "cache"
    subprocess.run([sys.executable, "-c", CHILD, str(path), str(cache)], check=True,
                   capture_output=True, cwd=ROOT)  # fill the analysis cache
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(tmp / "cache2")],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    per_min = 60.0 / r["duration"]
    print()
    print(f"Cost on a {r['duration'] / 60:.1f}-minute track (fresh process, seconds per minute "
          f"of audio)")
    print()
    print("| step | s/min |")
    print("|---|---:|")
    print(f"| audio analysis (decode, features, beats; not cached) | "
          f"{r['analysis'] * per_min:.2f} |")
    print(f"| bars + sections, first call (imports librosa/sklearn) | "
          f"{r['first'] * per_min:.2f} ({r['first']:.2f} s in all) |")
    print(f"| bars + sections, warm | {r['warm'] * per_min:.3f} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer tempi, a shorter cost track")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        run_downbeats(tmp, args.quick)
        run_sections(tmp)
        run_cost(tmp, args.quick)
    print(f"\n(bench ran {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
