"""How smooth is a morph? Shared-base pairs, independently initialised pairs and a plain
crossfade, measured the same way (issue 11, section 4).

Styles: each one is a CPPN fitted to a target picture (mean squared error, Adam at the
trainer's learning rate and latent jitter) for ``--steps`` steps. A pixel target needs no
CLIP and gives genuinely different styles; Adam moves every weight by about the learning
rate per step whatever the loss, so the distance a fit travels from its start is about
what a CLIP run of the same length travels. Targets: two photographs that ship with
scikit-learn (a librosa dependency: ``china.jpg``, ``flower.jpg``) and a synthetic
ring-and-stripe pattern. Each target is fitted twice: from the shared base network
(:mod:`engine.cppn.base`) and from a seed of its own (independent).

For every pair A-B: the morph's pictures at w = 0, 1/30, ..., 1 (reactive parameters
held still), and

* ``worst step``: the largest mean absolute pixel change (0-255) between consecutive
  in-betweens;
* ``/ crossfade``: that over a linear crossfade's step (mean |A - B| / 30): ~1 is a
  straight walk from A to B, more is a flash or a detour through something else;
* ``/ motion A``, ``/ motion B``: that over the endpoint's own frame-to-frame change
  at 30 fps under the default reactivity preset on the demo track (mean over 60 frame
  pairs spread over the track): how the transition's jumps compare with what the style
  already does every frame;
* ``middle contrast``: the standard deviation of the w = 0.5 picture over the mean of the
  endpoints' (a muddy middle is well under 1);
* ``check``: the verdict of :func:`engine.scene.morph.morph_fallback`, the cheap check a
  show runs per pair (32x32, 16 steps) before it morphs.

Then a CLIP sanity run with the tiny *random* test CLIP (tests/data/tiny-clip.json):
training loss and score from the base vs independent starts. A random CLIP says nothing
about how well a style matches its prompt; it only shows that a base start trains like
any other start. The similarity cost of a shared base with a real CLIP is not measured.

    .venv/bin/python bench/morph.py [--steps 300] [--size 64] [--strips bench/morph_strips]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from engine.cppn.base import base_cppn  # noqa: E402
from engine.cppn.model import CPPN, coordinate_grid  # noqa: E402
from engine.cppn.train import TrainConfig  # noqa: E402
from engine.reactive.params import FrameParams  # noqa: E402
from engine.render import TorchRenderer  # noqa: E402
from engine.scene.morph import morph_cppn, morph_fallback, smoothness  # noqa: E402

FPS = 30.0
STEPS = 30  # in-betweens of the measured morph: one second at 30 fps
MEASURE = 64  # pixels a side of the measured pictures
STRIP = 96  # pixels a side of a strip's tiles
LR = 1e-3
JITTER = TrainConfig(prompts=[]).latent_jitter
PAIRS = (("china", "flower"), ("china", "rings"), ("flower", "rings"))


def targets(size: int) -> dict[str, torch.Tensor]:
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "images"
    out = {}
    for name in ("china", "flower"):
        with Image.open(folder / f"{name}.jpg") as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
            im = im.resize((size, size), Image.LANCZOS)
            out[name] = torch.from_numpy(np.asarray(im, np.float32) / 255.0).reshape(-1, 3)
    yy, xx = np.mgrid[0:size, 0:size] / size * 2.0 - 1.0
    rings = np.stack([0.5 + 0.5 * np.sin(20 * np.hypot(xx, yy)), 0.5 + 0.5 * np.sin(9 * xx),
                      0.3 + 0.0 * xx], -1)
    out["rings"] = torch.from_numpy(rings.astype(np.float32)).reshape(-1, 3)
    return out


def fit(start: CPPN, target: torch.Tensor, size: int, steps: int, seed: int):
    """``start`` fitted to ``target`` in place; returns it and the last loss."""
    opt = torch.optim.Adam(start.parameters(), lr=LR)
    grid = coordinate_grid(size, size, None, start.config.extra_inputs)
    gen = torch.Generator().manual_seed(seed)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        g = grid.clone()
        g[:, 3:] = torch.randn(start.config.extra_inputs, generator=gen) * JITTER
        loss = ((start(g) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return start.eval(), float(loss.detach())


def demo_params(n: int) -> list[tuple[FrameParams, FrameParams]]:
    """``n`` pairs of consecutive frames' parameters spread over the demo track."""
    from engine.audio.analyze import analyze
    from engine.audio.demo_track import demo_path
    from engine.reactive.mapping import compute_params

    feats = analyze(demo_path(), fps=FPS)
    track = compute_params(feats, extra_inputs=9)
    frames = int(feats.duration * FPS) - 2
    picks = np.linspace(FPS, frames - 1, n).astype(int)
    return [(track.at(i / FPS), track.at((i + 1) / FPS)) for i in picks]


def picture(cppn, size: int, params: FrameParams | None = None) -> np.ndarray:
    params = params or FrameParams.neutral(cppn.config.extra_inputs)
    return TorchRenderer(cppn).render(params, size, size).astype(np.float32)


def motion(cppn, pairs, size: int) -> float:
    r = TorchRenderer(cppn)
    return float(np.mean([np.abs(r.render(p, size, size).astype(np.float32) -
                                 r.render(q, size, size).astype(np.float32)).mean()
                          for p, q in pairs]))


def morph_row(a, b, size: int, mo_a: float, mo_b: float, crossfade: bool = False) -> dict:
    ends = picture(a, size), picture(b, size)
    if crossfade:
        frames = [ends[0] + (k / STEPS) * (ends[1] - ends[0]) for k in range(STEPS + 1)]
    else:
        frames = [picture(morph_cppn(a, b, k / STEPS), size) for k in range(STEPS + 1)]
    steps = [float(np.abs(y - x).mean()) for x, y in zip(frames, frames[1:])]
    worst = max(steps)
    across = float(np.abs(ends[1] - ends[0]).mean()) / STEPS
    contrast = float(frames[STEPS // 2].std()) / (0.5 * (ends[0].std() + ends[1].std()))
    return {"worst": worst, "xf": worst / across, "ma": worst / mo_a, "mb": worst / mo_b,
            "mid": contrast, "path": sum(steps) / (across * STEPS)}


def strip(a, b, size: int, crossfade: bool = False) -> Image.Image:
    tiles = []
    for w in (0.0, 0.25, 0.5, 0.75, 1.0):
        if crossfade:
            pa, pb = picture(a, size), picture(b, size)
            tiles.append(pa + w * (pb - pa))
        else:
            tiles.append(picture(morph_cppn(a, b, w), size))
    arr = np.concatenate(tiles, axis=1)
    return Image.fromarray((arr + 0.5).clip(0, 255).astype(np.uint8), "RGB")


def save_strip(img: Image.Image, path: Path) -> int:
    from engine import atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    # 64 colours: a strip is documentation, ~10 KB each instead of ~60
    small = img.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    with atomic.atomic_path(path) as tmp:
        small.save(tmp, format="PNG", optimize=True)
    return path.stat().st_size


def clip_sanity(steps: int) -> list[str]:
    """Tiny random CLIP: base vs independent start, two prompts, two seeds."""
    import dataclasses

    from engine.clip import ClipSpec, load_clip
    from engine.cppn.train import Prompt, Trainer

    clip = load_clip(ClipSpec(config=str(ROOT / "tests" / "data" / "tiny-clip.json")),
                     warn=lambda m: None)
    rows = ["| start | prompt | seed | first loss | last loss | score before | score after |",
            "|---|---|---|---|---|---|---|"]
    results = {}
    for start in ("base", "independent"):
        for prompt in ("a red sunset over the sea", "blue ice crystals"):
            for seed in (1, 2):
                cfg = TrainConfig.from_preset("draft", [Prompt(prompt)], schedule=[(steps, 64)],
                                              cutouts=4, seed=seed)
                if start == "independent":
                    cfg = dataclasses.replace(cfg, base=None)
                tr = Trainer(cfg, clip)
                before = tr.evaluate()
                res = tr.run()
                results[start, prompt, seed] = res.cppn
                first = np.mean([h["loss"] for h in res.history[:10]])
                last = np.mean([h["loss"] for h in res.history[-10:]])
                rows.append(f"| {start} | {prompt} | {seed} | {first:.4f} | {last:.4f} | "
                            f"{before:.4f} | {res.score:.4f} |")
    rows.append("")
    rows.append("| start | morph sunset (seed 1) to ice (seed 2): worst step / crossfade | "
                "same prompt, seeds 1 vs 2: mean pixel difference (0-255) |")
    rows.append("|---|---|---|")
    for start in ("base", "independent"):
        a = results[start, "a red sunset over the sea", 1]
        b = results[start, "blue ice crystals", 2]
        s = smoothness(a, b)
        diff = float(np.abs(picture(a, MEASURE) -
                            picture(results[start, "a red sunset over the sea", 2],
                                    MEASURE)).mean())
        rows.append(f"| {start} | {s.ratio:.2f} | {diff:.1f} |")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300, help="fit steps per style (300)")
    ap.add_argument("--size", type=int, default=64, help="fit target size (64)")
    ap.add_argument("--strips", default=str(ROOT / "bench" / "morph_strips"),
                    help="folder for the PNG strips ('' for none)")
    ap.add_argument("--clip-steps", type=int, default=150,
                    help="steps of the tiny-CLIP sanity runs (0 to skip)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()

    pics = targets(args.size)
    nets, losses = {}, {}
    for i, (name, target) in enumerate(pics.items()):
        nets["base", name], losses["base", name] = fit(base_cppn(), target, args.size,
                                                       args.steps, seed=i)
        nets["ind", name], losses["ind", name] = fit(CPPN(seed=101 + i), target, args.size,
                                                     args.steps, seed=i)
    pairs = demo_params(60)
    mo = {k: motion(c, pairs, MEASURE) for k, c in nets.items()}

    lines = [f"{platform.machine()}, torch {torch.__version__}; {args.steps} fit steps at "
             f"{args.size}² (lr {LR}), morphs of {STEPS} steps measured at {MEASURE}²", "",
             "| pair | kind | worst step | / crossfade | / motion A | / motion B | "
             "path / straight | middle contrast | check |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a, b in PAIRS:
        for kind, label in (("base", "shared base, morph"), ("ind", "independent, morph"),
                            ("base", "crossfade")):
            na, nb = nets[kind, a], nets[kind, b]
            xfade = label == "crossfade"
            r = morph_row(na, nb, MEASURE, mo[kind, a], mo[kind, b], crossfade=xfade)
            why = morph_fallback(na, nb)
            check = "-" if xfade else ("morph" if why is None else "crossfade")
            lines.append(f"| {a}-{b} | {label} | {r['worst']:.2f} | {r['xf']:.2f} | "
                         f"{r['ma']:.2f} | {r['mb']:.2f} | {r['path']:.2f} | {r['mid']:.2f} "
                         f"| {check} |")
    lines.append("")
    lines.append("Endpoint motion (mean pixel change per frame at 30 fps, demo track, default "
                 "preset): " + ", ".join(f"{k[1]} {k[0]} {v:.2f}" for k, v in mo.items()))
    lines.append("Fit losses (MSE): " + ", ".join(f"{k[1]} {k[0]} {v:.4f}"
                                                  for k, v in losses.items()))
    if args.strips:
        folder = Path(args.strips)
        a, b = PAIRS[0]
        sizes = []
        for fname, kind, xfade in (("shared-base-morph", "base", False),
                                   ("independent-morph", "ind", False),
                                   ("crossfade", "base", True)):
            img = strip(nets[kind, a], nets[kind, b], STRIP, crossfade=xfade)
            path = folder / f"{a}-{b}-{fname}.png"
            kb = save_strip(img, path) / 1024
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            sizes.append(f"{shown} ({kb:.0f} KB)")
        lines.append("Strips (A, 0.25, 0.5, 0.75, B): " + ", ".join(sizes))
    if args.clip_steps:
        lines.append("")
        lines.append(f"Tiny random CLIP, {args.clip_steps} steps at 64², 4 cutouts "
                     "(a sanity check only: a random CLIP's score means nothing):")
        lines.append("")
        lines += clip_sanity(args.clip_steps)
    lines.append("")
    lines.append(f"({time.perf_counter() - t0:.0f} s)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
