"""What a show costs per frame: a Scene frame outside any transition against the plain
path (``renderer.render(track.at(t))``, what a render did before scenes), and a frame
inside each transition kind against a single-style frame, all in one run.

Goals (issue 11): outside transitions no measurable overhead; inside a transition at most
2.1x a single-style frame (two CPPNs drawn, then a cheap blend; a morph draws one).

Every round times each kind once on the same instant, in turn, so a burst of load on the
shared machine hits them all alike; a kind's ratio is the median over rounds of its time
divided by the plain path's time *in the same round* (paired, so slow drifts of the
machine's load cancel). The plain path is timed twice per round (``plain`` and ``plain
again``): their ratio is the noise floor an overhead has to exceed to be measurable.
Torch runs on one thread (the export's way on a CPU: one single-threaded renderer per
core).

    .venv/bin/python bench/transitions.py [--size 256x144] [--rounds 30] [--no-readme]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.audio.features import AudioFeatures, beat_grid  # noqa: E402
from engine.reactive.mapping import compute_params  # noqa: E402
from engine.render import TorchRenderer  # noqa: E402
from engine.scene import BeatGrid, Scene, SceneDrawer, Transition  # noqa: E402
from engine.scene.arrange import ChangeRule, arrange  # noqa: E402
from engine.styles.library import Library  # noqa: E402

# Same shape (4 x 128), so the morph really morphs (a different shape falls back to a
# crossfade) and a crossfade really draws two networks of one size.
STYLES = ["seeded-pattern-01-ember-rings", "seeded-pattern-08-ice-marble",
          "seeded-pattern-04-pastel-mosaic"]
FPS = 30.0
KINDS = ("crossfade", "morph", "bloom", "zoom")
GOAL_INSIDE = 2.1


def features(seconds: float = 32.0) -> AudioFeatures:
    """A steady 120 BPM track's features (what the mapping sees; no audio needed)."""
    rng = np.random.default_rng(0)
    n = int(seconds * FPS)
    beats = np.arange(0.0, seconds, 0.5)
    phase, pulse = beat_grid(beats, 120.0, n, FPS)
    rms = np.clip(0.5 + 0.1 * rng.standard_normal(n), 0, 1).astype(np.float32)
    chroma = rng.random((n, 12)).astype(np.float32)
    chroma /= chroma.max(axis=1, keepdims=True)
    f32 = np.float32
    return AudioFeatures(
        fps=FPS, duration=n / FPS, sample_rate=22050, tempo=120.0, beat_times=beats,
        rms=rms, onset=(pulse * rms).astype(f32), beat_phase=phase, beat_pulse=pulse,
        harmonic=(0.7 * rms).astype(f32), percussive=(0.5 * rms * pulse).astype(f32),
        bass=np.ones(n, f32), mid=np.ones(n, f32), treble=np.ones(n, f32),
        centroid=np.full(n, 0.5, f32), chroma=chroma)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="256x144", help="frame size WxH (default 256x144)")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--no-readme", action="store_true")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    torch.set_num_threads(1)

    lib = Library(ROOT / ".bench-no-user-library")
    styles = {s: lib.get(s) for s in STYLES}
    feats = features()
    grid = BeatGrid.build(feats)
    scenes = {}
    for kind in KINDS:
        segs, trans = arrange(list(styles), ChangeRule("bars", bars=4), grid,
                              Transition(kind, 4))
        scenes[kind] = Scene(styles, segs, trans, features=feats, preset="punchy")
    base = scenes["crossfade"]
    win = base.windows()[0]
    outside_t = win.start - 1.0  # inside the first segment, away from every transition
    inside_t = (win.start + win.end) / 2  # halfway: both styles fully drawn
    for kind, sc in scenes.items():
        assert sc.frame_at(outside_t).single and sc.frame_at(inside_t).mode == kind

    cppn, incoming = base.cppn(STYLES[0]), base.cppn(STYLES[1])
    plain_track = compute_params(feats, "punchy", extra_inputs=cppn.config.extra_inputs)
    plain = {c: TorchRenderer(c) for c in (cppn, incoming)}
    drawers = {k: SceneDrawer(make=lambda c: TorchRenderer(c)) for k in scenes}

    def t_plain(c, at):  # what a render did before scenes
        def run():
            t = time.perf_counter()
            plain[c].render(plain_track.at(at), w, h)
            return time.perf_counter() - t
        return run

    def t_scene(kind, at):
        def run():
            t = time.perf_counter()
            drawers[kind].draw(scenes[kind].frame_at(at), w, h)
            return time.perf_counter() - t
        return run

    # (name, job, reference): the cost of a frame depends on the style and on the instant
    # (sin of larger arguments is slower), so each is compared with the plain path drawing
    # the outgoing style at the same instant.
    jobs = [("plain, outside", t_plain(cppn, outside_t), None),
            ("plain again, outside", t_plain(cppn, outside_t), "plain, outside"),
            ("scene, outside", t_scene("crossfade", outside_t), "plain, outside"),
            ("plain, inside", t_plain(cppn, inside_t), None),
            ("plain, incoming style, inside", t_plain(incoming, inside_t), "plain, inside")]
    jobs += [(f"{kind}, inside", t_scene(kind, inside_t), "plain, inside") for kind in KINDS]
    for _, job, _ in jobs:  # warm-up: grids, allocations, every renderer made
        job()
        job()
    times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
    for _ in range(args.rounds):
        for name, job, _ in jobs:
            times[name].append(job())
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = {name: statistics.median(a / b for a, b in zip(times[name], times[ref]))
             for name, _, ref in jobs if ref is not None}
    noise = abs(ratio["plain again, outside"] - 1.0)

    rows = [f"| frame | ms, median of {args.rounds} | ratio (paired median) | to | goal |",
            "|---|---|---|---|---|"]
    verdicts = []
    for name, _, ref in jobs:
        r = ratio.get(name, 1.0)
        if name == "scene, outside":
            ok = r - 1.0 <= max(noise, 0.03)
            goal = f"<= 1 + noise ({noise:.3f}, floor 0.03): {'met' if ok else 'MISSED'}"
            verdicts.append(ok)
        elif ref == "plain, inside" and "plain" not in name:
            ok = r <= GOAL_INSIDE
            goal = f"<= {GOAL_INSIDE}: {'met' if ok else 'MISSED'}"
            verdicts.append(ok)
        else:
            goal = {"plain again, outside": "noise floor",
                    "plain, incoming style, inside": "the other style alone"}.get(
                name, "reference")
        rows.append(f"| {name} | {med[name] * 1e3:.2f} | {r:.3f} | {ref or '-'} | {goal} |")
    head = (f"### Transitions — {date.today()} — {platform.machine()}, "
            f"{torch.get_num_threads()} torch thread, {w}x{h}, "
            f"{STYLES[0]} -> {STYLES[1]} (4x128 CPPNs)")
    text = head + "\n\n" + "\n".join(rows) + "\n"
    print(text)
    if not args.no_readme:
        with open(ROOT / "bench" / "README.md", "a", encoding="utf-8") as f:
            f.write("\n" + text)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
