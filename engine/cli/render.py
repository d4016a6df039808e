"""``sonolume render STYLE TRACK -o out.mp4``: a style reacting to a track, as an MP4;
``sonolume render SHOW.json -o out.mp4``: a show (several styles) the same way."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from engine.cli.common import library_dir_from_args
from engine.errors import SonolumeError
from engine.export.sizes import OUTPUT_SIZES, parse_output_size

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")
QUALITY_CHOICES = ["auto", "fast", "standard", "high"]


def register(sub) -> None:
    p = sub.add_parser(
        "render", help="render a style (or a show) reacting to a track into an MP4 with "
        "the sound",
        description="Render STYLE driven by TRACK's beats, loudness and harmony into an "
        "H.264 + AAC MP4 whose audio is the track's matching segment; or a show file "
        "(SHOW.json, see 'sonolume show') in place of STYLE TRACK. Ctrl-C stops and "
        "leaves no partial file.")
    p.add_argument("style", metavar="STYLE|SHOW",
                   help="style id or name (see 'sonolume styles list'), or a show file")
    p.add_argument("track", metavar="TRACK", nargs="?",
                   help="audio file: WAV, FLAC, OGG or MP3 (a show names its own)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.mp4", help="the video to write")
    p.add_argument("--track", dest="new_track", metavar="NEW",
                   help="a show's track at its new place (its content must match)")
    p.add_argument("--size", default="1280x720", metavar="WxH",
                   help="any even WxH or a name: " + ", ".join(
                       f"{n} ({s.text})" for n, s in OUTPUT_SIZES.items()) + " (default 720p)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    p.add_argument("--reactivity", default=None, metavar="PRESET",
                   help="reactivity preset name or .json path (default punchy, or the "
                   "show's; see 'sonolume reactivity')")
    p.add_argument("--start", type=float, default=0.0, metavar="S",
                   help="start of the segment in the track, seconds (default 0)")
    p.add_argument("--duration", type=float, metavar="D",
                   help="length of the segment, seconds (default: to the end of the track)")
    p.add_argument("--quality", default="auto", choices=QUALITY_CHOICES,
                   help="auto (default): measures one full-size frame and draws every pixel "
                   "where that keeps up, else fast; fast: draws at 1/4 size and upscales "
                   "(many times quicker on a CPU); standard: full size; high: supersampled, "
                   "finer encoding")
    p.add_argument("--renderer", default="auto", choices=["auto", "gl", "torch"],
                   help="auto (default) times both on this machine and takes the faster")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where the torch renderer draws: auto (default: a CUDA GPU when "
                   "torch sees one, else the CPU), cpu or cuda (the GL renderer uses the "
                   "GPU its OpenGL context runs on)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the latent walk (default 0, or the show's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--cluster", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="render on a Ray cluster: chunks of whole GOPs drawn by its workers "
                   "and joined without re-encoding; no ADDRESS starts a local Ray instance "
                   "(needs: pip install 'sonolume[cluster]')")
    p.set_defaults(func=run)

    r = sub.add_parser("reactivity", help="list the reactivity presets",
                       description="List the built-in and your own reactivity presets "
                       "(<library>/reactivity/*.json).")
    r.set_defaults(func=run_list)


def run_list(args) -> int:
    from engine.reactive import list_presets, load_preset, user_preset_dir

    lib = library_dir_from_args(args)
    for name in list_presets(lib):
        try:
            p = load_preset(name, lib)
            print(f"{name:12s} {p.description}  [{', '.join(p.targets)}]")
        except SonolumeError as exc:
            print(f"{name:12s} (broken: {exc})")
    print(f"\nyour presets go in {user_preset_dir(lib)}")
    return 0


def output_size(text: str) -> tuple[int, int]:
    return parse_output_size(text)


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _Bar:
    """Bars for the two long stages (analysis, then frames with an ETA); throttled to a
    line every few seconds when stderr is a log file or a pipe (engine.progress)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.stage = None

    def __call__(self, p) -> None:
        if self.quiet:
            return
        from engine.progress import progress_bar

        if p.stage != self.stage:
            self.close()
            self.stage = p.stage
            if p.stage == "analyse":
                self.bar = progress_bar(100, desc="analysing", unit="%", leave=False,
                                        bar_format="{l_bar}{bar}| {elapsed}")
            elif p.stage == "render":
                self.bar = progress_bar(p.total, desc="rendering", unit="frame")
            elif p.stage == "finish" and p.done == 0:
                print("finishing the video ...", file=sys.stderr, flush=True)
        if self.bar is None:
            return
        if p.stage == "analyse":
            self.bar.n = int(100 * p.fraction)
            self.bar.refresh()
        elif p.stage == "render":
            self.bar.update(p.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _scene(args, library_dir):
    """The Scene to render: a show file's, or one style over TRACK."""
    from engine.scene import Scene
    from engine.scene.show import find_show, looks_like_show, open_show, read_show
    from engine.styles.library import Library

    library = Library(library_dir)
    if looks_like_show(args.style):
        path = find_show(args.style, library_dir)
        if path is None:
            raise SonolumeError(f"show file not found: {args.style}")
        if args.track and args.new_track:
            raise SonolumeError("give the show's new track once: TRACK or --track NEW")
        show = read_show(path)
        scene = open_show(show, library, track=args.new_track or args.track,
                          library_dir=library_dir, where=path.name, warn=_warn)
        changes = {}
        if args.reactivity is not None:
            changes["preset"] = args.reactivity
        if args.seed is not None:
            changes["seed"] = args.seed
        return (scene.copy(**changes) if changes else scene), show
    if args.new_track:
        raise SonolumeError("--track is for a show whose track moved; give TRACK after STYLE")
    if not args.track:
        raise SonolumeError("give a TRACK after the style (or render a show file)")
    if not Path(args.track).is_file():
        raise SonolumeError(f"audio file not found: {args.track}")
    style = library.get(args.style)
    return Scene.single(style, preset=args.reactivity or "punchy", seed=args.seed or 0,
                        track=args.track, library_dir=library_dir), None


def _warn(msg: str) -> None:
    print(f"sonolume: note: {msg}", file=sys.stderr)


def _with_structure(scene, show):
    """A show's transitions need its bars and beats (cached with the analysis); without
    them the beat times of the analysis stand in."""
    if show is None or scene.live is not None:  # a live set's grid is its own beats
        return scene
    from engine.audio.structure import analyze_structure

    try:
        structure = analyze_structure(scene.track, meter=scene.meter,
                                      downbeat_shift=scene.downbeat_shift)
    except SonolumeError as exc:
        _warn(f"no bars for this track ({exc}); transitions follow the beats alone")
        return scene
    return scene.copy(structure=structure)


def _auto_quality(args, scene, size, renderer_kind):
    """Measure one full-size frame with the renderer the export will use; print the
    choice and the expected time as the first line. Returns (quality, renderer)."""
    from engine.audio.analyze import audio_info
    from engine.export import choose_quality
    from engine.render import make_renderer

    info = audio_info(scene.track)
    seg = info["duration"] - args.start if args.duration is None else \
        min(args.duration, info["duration"] - args.start)
    frames = max(1, round(max(seg, 0.0) * args.fps))
    in_transition = 0
    if len(scene.segments) > 1 and scene.structure is not None:
        end = args.start + frames / args.fps
        for w in scene.windows():
            overlap = min(w.end, end) - max(w.start, args.start)
            in_transition += max(0, round(overlap * args.fps))
    cppn = scene.cppn(scene.style_at(args.start))
    rend = make_renderer(cppn, renderer_kind, warn=_warn, device=_device(args))
    try:
        choice = choose_quality(rend, cppn, size, args.fps, frames, in_transition)
    except BaseException:
        rend.release()
        raise
    print(choice.line(), flush=True)
    return choice.quality, rend


def _device(args) -> str | None:
    """``--device`` for the renderer factory: None lets it take CUDA when present."""
    device = getattr(args, "device", "auto")
    if device == "auto":
        return None
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SonolumeError("--device cuda: torch sees no CUDA GPU here (torch "
                                f"{torch.__version__}); use --device cpu or auto")
    return device


def run(args) -> int:
    from engine.export import ExportRequest, export
    from engine.runtime import tune_allocator

    out = Path(args.output).expanduser()
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise SonolumeError(f"'{out.name}': the video is an MP4; give a name ending in .mp4")
    size = output_size(args.size)
    library_dir = library_dir_from_args(args)
    scene, show = _scene(args, library_dir)
    scene = _with_structure(scene, show)
    tune_allocator()

    # A `kill` (SIGTERM) should clean up like Ctrl-C does.
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
    bar = _Bar(args.quiet)
    quality, renderer = args.quality, args.renderer
    rend = None
    try:
        if args.cluster is not None:
            return _run_on_cluster(args, scene, out, size, bar)
        if quality == "auto":
            quality, rend = _auto_quality(args, scene, size, args.renderer)
            renderer = rend
        result = export(
            ExportRequest(scene, out, size=size, fps=args.fps, quality=quality,
                          renderer=renderer, start=args.start, duration=args.duration,
                          device=_device(args)),
            progress=bar, warn=_warn)
    finally:
        bar.close()
        if rend is not None:
            rend.release()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    w, h = result.size
    rw, rh = result.render_size
    drawn = "" if (rw, rh) == (w, h) else f" at {rw}x{rh}"
    print(f"wrote {result.path}: {w}x{h}, {result.fps:g} fps, {result.duration:.2f} s, "
          f"H.264 + AAC; drawn{drawn} by {result.renderer} in "
          f"{_fmt_seconds(result.seconds)} ({result.realtime:.2f}x realtime)")
    return 0


def _run_on_cluster(args, scene, out, size, bar) -> int:
    """``--cluster``: the same video as chunks on Ray workers (engine.cluster.render).
    ``auto`` quality draws every pixel there: a cluster is for the full-size render."""
    from engine.cluster.render import export_chunked
    from engine.export import ExportRequest

    quality = "standard" if args.quality == "auto" else args.quality
    if args.quality == "auto":
        print("quality: standard (on a cluster every pixel is drawn; --quality fast draws "
              "at 1/4 size)", flush=True)
    where = f"the Ray cluster at {args.cluster}" if args.cluster else "a local Ray instance"
    print(f"rendering on {where} ...", file=sys.stderr, flush=True)
    result = export_chunked(
        ExportRequest(scene, out, size=size, fps=args.fps, quality=quality,
                      start=args.start, duration=args.duration),
        cluster=args.cluster, progress=bar, warn=_warn)
    w, h = result.size
    t = result.timings
    print(f"wrote {result.path}: {w}x{h}, {result.fps:g} fps, {result.duration:.2f} s, "
          f"H.264 + AAC; {t['chunks']} chunk{'s' if t['chunks'] != 1 else ''} drawn by "
          f"{result.renderer} in "
          f"{_fmt_seconds(result.seconds)} ({result.realtime:.2f}x realtime; joining "
          f"took {t['join']:.1f} s)")
    return 0


def step_demo_video(ctx) -> list[Path]:
    """``make demo``'s video: the first bundled style on the bundled demo track (CC0, see
    resources/audio/README.md), 720p30 at ``fast`` quality, to ``<out>/demo.mp4``."""
    from engine.audio.demo_track import demo_path
    from engine.export import export_video

    style = ctx.bundled_styles[0]
    bar = _Bar(quiet=not sys.stderr.isatty())
    try:
        result = export_video(style, demo_path(), ctx.out / "demo.mp4", size=(1280, 720),
                              quality="fast", reactivity="punchy", progress=bar,
                              warn=lambda m: print(f"sonolume: note: {m}", file=sys.stderr))
    finally:
        bar.close()
    ctx.log(f"  {style.name} on demo.ogg: {result.duration:.1f} s drawn at "
            f"{result.render_size[0]}x{result.render_size[1]} by {result.renderer}, "
            f"{result.realtime:.2f}x realtime")
    return [result.path]
