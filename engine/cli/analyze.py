"""``sonolume analyze TRACK``: tempo, beats, duration and key; optional JSON and PNG plot."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from engine.errors import SonolumeError


def register(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse an audio track (tempo, beats, features)",
        description="Analyse an audio track (WAV, FLAC, OGG, MP3, ...): print its tempo, beat "
        "count, duration and key; optionally write every per-frame feature as JSON and an "
        "overview plot as PNG. Results are cached, so a second run is instant.",
    )
    p.add_argument("track", metavar="TRACK", help="audio file")
    p.add_argument("--fps", type=float, default=30.0, help="feature frames per second (30)")
    p.add_argument("--json", metavar="OUT.json", help="write scalars, beat times and curves")
    p.add_argument("--no-curves", action="store_true",
                   help="leave the per-frame curves out of --json (scalars and beats only)")
    p.add_argument("--plot", metavar="OUT.png", help="draw waveform, beats and feature curves")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="analysis cache folder (default: $SONOLUME_CACHE_DIR/audio or the "
                   "platform's user cache folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _progress(quiet: bool):
    if quiet:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=100, desc="analysing", unit="%", file=sys.stderr, disable=None,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}", leave=False)

    def update(fraction: float, stage: str) -> None:
        bar.set_description_str(stage, refresh=False)
        bar.n = int(round(100 * fraction))
        bar.refresh()

    return bar, update


def summary_lines(features, info: dict, path: Path, elapsed: float, cached: bool) -> list[str]:
    f = features
    st = f.stats
    lines = [
        f"track     {path.name}  ({info['format']} {info['subtype']}, {info['sample_rate']} Hz, "
        f"{info['channels']} ch)",
        f"duration  {f.duration:.2f} s  ({f.n_frames} frames at {f.fps:g} fps)",
    ]
    if f.tempo > 0:
        conf = st.get("beat_confidence", 0.0)
        lines.append(f"tempo     {f.tempo:.1f} BPM  (beat confidence {conf:.2f})")
        first = f"first at {f.beat_times[0]:.2f} s, last at {f.beat_times[-1]:.2f} s"
        lines.append(f"beats     {len(f.beat_times)}  ({first})")
    else:
        lines.append("tempo     none  (no steady beat found)")
        lines.append("beats     0")
    if st.get("key"):
        lines.append(f"key       {st['key']} {st['mode']}  (confidence {st['key_confidence']:.2f})")
    lines.append(
        f"loudness  {st.get('loudness_db', 0):.1f} dBFS mean RMS; percussive "
        f"{100 * st.get('percussive_ratio', 0):.0f}%; brightness {st.get('brightness', 0):.2f}"
    )
    for w in st.get("warnings", []):
        lines.append(f"warning   {w}")
    lines.append(f"analysis  {elapsed:.2f} s{' (from cache)' if cached else ''}")
    return lines


def run(args) -> int:
    from engine.audio.analyze import analyze, audio_info, cache_path

    path = Path(args.track)
    if not (args.fps > 0 and args.fps <= 1000):
        raise SonolumeError(f"--fps must be between 0 and 1000, not {args.fps:g}")
    info = audio_info(path)
    for target in (args.json, args.plot):
        if target and Path(target).is_dir():
            raise SonolumeError(f"{target} is a folder; give a file name")
    cached = False
    if not args.no_cache:
        try:
            cached = cache_path(path, args.cache_dir).is_file()
        except OSError:
            cached = False
    bar, update = _progress(args.quiet or cached)
    t0 = time.perf_counter()
    try:
        features = analyze(path, fps=args.fps, cache_dir=args.cache_dir, progress=update,
                           use_cache=not args.no_cache)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    print("\n".join(summary_lines(features, info, path, elapsed, cached)))
    if args.json:
        curves = not args.no_curves
        data = {"track": str(path), "info": info, **features.to_json(include_curves=curves)}
        _write_text(Path(args.json), json.dumps(data))
        print(f"json      {args.json}")
    if args.plot:
        from engine.audio.plot import plot_features

        try:
            plot_features(features, args.plot, title=path.name)
        except OSError as exc:
            raise SonolumeError(f"cannot write {args.plot}: {exc}") from exc
        print(f"plot      {args.plot}")
    return 0


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        raise SonolumeError(f"cannot write {path}: {exc}") from exc
