"""``sonolume spatial``: a spatial CLIP map of an image or video frame, drawn as heatmaps
(text queries, similarity to a clicked patch, coherence) over the picture."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from engine.cli.common import add_clip_options, clip_spec_from_args
from engine.clip.spec import DEFAULT_MODEL, DEFAULT_PRETRAINED
from engine.errors import SonolumeError

_CLICK = re.compile(r"^\s*(\d+)\s*,\s*(\d+)\s*$")


def register(sub) -> None:
    p = sub.add_parser(
        "spatial",
        help="spatial CLIP map of an image or video frame (heatmaps per patch)",
        description="Cut the picture into overlapping square patches (448 px at stride 224 "
        "on full-size frames, half the short side on smaller ones; the last patch is "
        "flush with the edge, so coverage is 100%%), embed each with CLIP and draw what "
        "you ask for over the picture: the cosine of each patch to text queries, the "
        "similarity of every patch to one patch (--click), or, by default, how coherent "
        "the map is (mean cosine to neighbouring patches).",
    )
    p.add_argument("input", metavar="IMAGE_OR_VIDEO", help="a picture or a video file")
    p.add_argument("--frame", type=int, metavar="N",
                   help="video frame to inspect, counted from 0 (default 0)")
    p.add_argument("--query", action="append", default=[], metavar="TEXT",
                   help="text to compare every patch with (repeatable: one heatmap each)")
    p.add_argument("--relative", action="store_true",
                   help="with 2+ queries: show each query's share (softmax over the "
                   "queries) instead of raw cosine, which varies little across patches")
    p.add_argument("--patch", type=int, metavar="PX", help="patch size in pixels")
    p.add_argument("--stride", type=int, metavar="PX", help="patch stride (default patch/2)")
    p.add_argument("--click", metavar="ROW,COL",
                   help="show every patch's similarity to this patch (0-based)")
    p.add_argument("--run", metavar="NERV_RUN",
                   help="a NeRV-CLIP run with a spatial head: compare its predicted map for "
                   "--frame with the measured one (IMAGE_OR_VIDEO is then the run's video; "
                   "the run's frame size, grid and CLIP are used)")
    p.add_argument("-o", "--out", metavar="PNG",
                   help="where to write the picture (default: INPUT-spatial.png here)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON report (grid, coverage, every panel's values) to stdout")
    p.add_argument("--colormap", metavar="NAME",
                   help="colormap for every panel (viridis, magma, inferno, coolwarm)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--batch-size", type=int, default=32, metavar="N",
                   help="patches per CLIP batch (default 32)")
    add_clip_options(p)
    p.set_defaults(func=run)


def parse_click(text: str) -> tuple[int, int]:
    m = _CLICK.match(text or "")
    if not m:
        raise SonolumeError(f"bad --click '{text}': use ROW,COL, e.g. 1,2")
    return int(m.group(1)), int(m.group(2))


def _run_clip_spec(args: argparse.Namespace, run_frame):
    """The CLIP for the measured map of a run: the run's own unless CLIP options were
    given, which must then name the same CLIP (maps from two CLIPs do not compare)."""
    explicit = bool(args.clip_config or args.clip_checkpoint or args.clip != DEFAULT_MODEL
                    or args.pretrained != DEFAULT_PRETRAINED)
    if explicit:
        spec = clip_spec_from_args(args)
        if run_frame.clip_label and spec.label != run_frame.clip_label:
            raise SonolumeError(f"the run was trained against CLIP {run_frame.clip_label}, "
                                f"not {spec.label}; drop the CLIP options to use the run's")
        return spec
    if run_frame.clip_spec is None:
        raise SonolumeError("the run does not record its CLIP; pass the CLIP options it was "
                            "trained with")
    return run_frame.clip_spec


def _default_out(path: Path, frame: int | None) -> Path:
    suffix = f"-f{frame}" if frame else ""
    return Path.cwd() / f"{path.stem}{suffix}-spatial.png"


def run(args: argparse.Namespace) -> int:
    from engine.clip.loader import load_clip
    from engine.spatial.grid import make_grid
    from engine.spatial.inspect import RANDOM_NOTE, build_panels, build_report
    from engine.spatial.maps import compute_map
    from engine.spatial.pictures import MAX_SIDE, load_picture
    from engine.spatial.render import COLORMAPS, montage, render_overlay, save_png

    if args.colormap and args.colormap not in COLORMAPS:
        raise SonolumeError(f"unknown colormap '{args.colormap}' (known: "
                            f"{', '.join(COLORMAPS)})")
    if args.batch_size < 1:
        raise SonolumeError("--batch-size must be at least 1")
    queries = [q.strip() for q in args.query]
    if any(not q for q in queries):
        raise SonolumeError("--query needs some text")
    click = parse_click(args.click) if args.click else None
    path = Path(args.input)
    pred_map = None
    if args.run:
        from engine.nerv.predicted import load_run_frame

        if args.patch or args.stride:
            raise SonolumeError("--patch/--stride do not apply with --run: the run's own "
                                "grid is used")
        run_frame = load_run_frame(args.run, args.frame or 0, video=path)
        image, pred_map, grid = run_frame.image, run_frame.predicted, run_frame.predicted.grid
        source = {"kind": "nerv-run", "path": str(path), "run": str(args.run),
                  "frame": run_frame.frame, "role": pred_map.info.get("role")}
        spec = _run_clip_spec(args, run_frame)
        h, w = image.shape[:2]
    else:
        image, source = load_picture(path, args.frame)
        h, w = image.shape[:2]
        try:
            grid = make_grid(w, h, patch=args.patch, stride=args.stride)
        except ValueError as exc:
            raise SonolumeError(str(exc)) from None
        spec = clip_spec_from_args(args)
    if click is not None and not (0 <= click[0] < grid.rows and 0 <= click[1] < grid.cols):
        raise SonolumeError(f"--click {click[0]},{click[1]} is outside the {grid.rows}x"
                            f"{grid.cols} patch grid (rows 0..{grid.rows - 1}, columns "
                            f"0..{grid.cols - 1})")

    clip = load_clip(spec)
    if not args.json:
        if source.get("scaled_from"):
            sw, sh = source["scaled_from"]
            print(f"{path.name}: {sw}x{sh} scaled to {w}x{h} (at most {MAX_SIDE} px on the "
                  "long side)", file=sys.stderr)
        print(f"{path.name}: {w}x{h}, {grid.rows}x{grid.cols} = {grid.count} patches of "
              f"{grid.patch} px at stride {grid.stride}, coverage {grid.coverage:.1%}; "
              f"CLIP {clip.label}", file=sys.stderr)
    bar = None
    if grid.count > 2 * args.batch_size and not args.json:
        from engine.progress import progress_bar

        bar = progress_bar(grid.count, desc="patches", unit="patch")
    try:
        smap = compute_map(clip, image, grid, cache=not args.no_cache,
                           batch_size=args.batch_size,
                           on_progress=(lambda done, total: bar.update(done - bar.n))
                           if bar else None)
    finally:
        if bar is not None:
            bar.close()
    text_emb = clip.encode_text(queries).numpy() if queries else None
    panels = build_panels(smap, queries, text_emb, click, pred_map=pred_map,
                          relative=args.relative)

    where = path.name if source["kind"] == "image" else f"{path.name} frame {source['frame']}"
    if pred_map is not None:
        where = f"run {Path(args.run).name}, {where} ({source['role']})"
    subtitle = [f"{where} | {w}x{h} | CLIP {clip.label}",
                f"grid {grid.rows}x{grid.cols}, patch {grid.patch} px, stride {grid.stride}, "
                f"coverage {grid.coverage:.0%}"]
    warning = RANDOM_NOTE if clip.random else None
    images = [
        render_overlay(image, p.values, grid, args.colormap or p.colormap,
                       [p.title, *subtitle], vmin=p.vmin, vmax=p.vmax, highlight=p.highlight,
                       warning=warning)
        for p in panels
    ]
    out = Path(args.out) if args.out else _default_out(path, args.frame)
    if out.suffix.lower() != ".png":
        raise SonolumeError(f"--out must end in .png, got '{out.name}'")
    columns = 2 if (grid.width < grid.height or len(images) >= 3) and len(images) > 1 else 1
    text = {"Software": "sonolume spatial", "CLIP": clip.label, "Source": where}
    if clip.random:
        text["Warning"] = RANDOM_NOTE
    try:
        save_png(montage(images, columns=columns), out, text=text)
    except OSError as exc:
        raise SonolumeError(f"cannot write {out}: {exc}") from exc

    report = build_report(smap, panels, source, pred_map=pred_map)
    report["output"] = str(out)
    if args.json:
        # allow_nan=False: NaN is not JSON; the report carries undefined values as null.
        json.dump(report, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        for p, entry in zip(panels, report["panels"]):
            if entry["mean"] is None:
                why = " (a single patch has no neighbours)" if p.key == "coherence" else ""
                print(f"{p.title}: undefined{why}")
                continue
            best = entry["best_patch"]
            print(f"{p.title}: mean {entry['mean']:.3f}, min {entry['min']:.3f}, max "
                  f"{entry['max']:.3f}, best patch {best[0]},{best[1]}")
        if report["coherence"] is not None:
            print(f"coherence (mean neighbour cosine): {report['coherence']:.3f}")
        if pred_map is not None:
            pr = report["predicted"]
            nc = pr["neighbour_consistency"]
            print(f"predicted vs true: mean cosine {pr['agreement']['mean']:.3f} (min "
                  f"{pr['agreement']['min']:.3f}); neighbour consistency "
                  f"{'n/a (one patch)' if nc is None else format(nc, '.3f')}")
        if clip.random:
            print(f"WARNING: {RANDOM_NOTE}")
        print(f"wrote {out}")
    return 0
