"""``sonolume render STYLE TRACK -o out.mp4``: a style reacting to a track, as an MP4."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from engine.cli.common import library_dir_from_args, parse_size
from engine.errors import SonolumeError

NAMED_SIZES = {"1080p": "1920x1080", "720p": "1280x720", "vertical": "1080x1920",
               "square": "1080x1080", "4k": "3840x2160"}
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")


def register(sub) -> None:
    p = sub.add_parser(
        "render", help="render a style reacting to a track into an MP4 with the sound",
        description="Render STYLE driven by TRACK's beats, loudness and harmony into an "
        "H.264 + AAC MP4 whose audio is the track's matching segment. Ctrl-C stops and "
        "leaves no partial file.")
    p.add_argument("style", metavar="STYLE", help="style id or name (see 'sonolume styles list')")
    p.add_argument("track", metavar="TRACK", help="audio file: WAV, FLAC, OGG or MP3")
    p.add_argument("-o", "--output", required=True, metavar="FILE.mp4", help="the video to write")
    p.add_argument("--size", default="1280x720", metavar="WxH",
                   help="1920x1080, 1280x720 (default), 1080x1920, 1080x1080, any even WxH, "
                   f"or a name: {', '.join(NAMED_SIZES)}")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    p.add_argument("--reactivity", default="punchy", metavar="PRESET",
                   help="reactivity preset name or .json path (default punchy; see "
                   "'sonolume reactivity')")
    p.add_argument("--start", type=float, default=0.0, metavar="S",
                   help="start of the segment in the track, seconds (default 0)")
    p.add_argument("--duration", type=float, metavar="D",
                   help="length of the segment, seconds (default: to the end of the track)")
    p.add_argument("--quality", default="standard", choices=["fast", "standard", "high"],
                   help="fast: draws at 1/4 size and upscales (many times quicker on a CPU); "
                   "standard: full size; high: supersampled, finer encoding")
    p.add_argument("--renderer", default="auto", choices=["auto", "gl", "torch"],
                   help="auto (default) times both on this machine and takes the faster")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent walk (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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
    return parse_size(NAMED_SIZES.get(text.strip().lower(), text))


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class _Bar:
    """tqdm bars for the two long stages (analysis, then frames with an ETA)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.stage = None

    def __call__(self, p) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if p.stage != self.stage:
            self.close()
            self.stage = p.stage
            if p.stage == "analyse":
                self.bar = tqdm(total=100, desc="analysing", unit="%", leave=False,
                                file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}")
            elif p.stage == "render":
                self.bar = tqdm(total=p.total, desc="rendering", unit="frame",
                                file=sys.stderr, dynamic_ncols=True)
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


def run(args) -> int:
    from engine.export import export_video
    from engine.runtime import tune_allocator
    from engine.styles.library import Library

    out = Path(args.output).expanduser()
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise SonolumeError(f"'{out.name}': the video is an MP4; give a name ending in .mp4")
    size = output_size(args.size)
    if not Path(args.track).is_file():
        raise SonolumeError(f"audio file not found: {args.track}")
    library_dir = library_dir_from_args(args)
    style = Library(library_dir).get(args.style)
    tune_allocator()

    def warn(msg: str) -> None:
        print(f"sonolume: note: {msg}", file=sys.stderr)

    # A `kill` (SIGTERM) should clean up like Ctrl-C does.
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
    bar = _Bar(args.quiet)
    try:
        result = export_video(
            style, args.track, out, size=size, fps=args.fps, reactivity=args.reactivity,
            start=args.start, duration=args.duration, quality=args.quality,
            renderer=args.renderer, seed=args.seed, library_dir=library_dir,
            progress=bar, warn=warn)
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    w, h = result.size
    rw, rh = result.render_size
    drawn = "" if (rw, rh) == (w, h) else f" at {rw}x{rh}"
    print(f"wrote {result.path}: {w}x{h}, {result.fps:g} fps, {result.duration:.2f} s, "
          f"H.264 + AAC; drawn{drawn} by {result.renderer} in "
          f"{_fmt_seconds(result.seconds)} ({result.realtime:.2f}x realtime)")
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
