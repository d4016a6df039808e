"""``sonolume analyze TRACK``: tempo, beats, bars, sections, duration and key; optional JSON
and PNG plot."""

from __future__ import annotations

import time
from pathlib import Path

from engine.errors import SonolumeError


def register(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse an audio track (tempo, beats, bars, sections, features)",
        description="Analyse an audio track (WAV, FLAC, OGG, MP3, ...): print its tempo, beat "
        "count, bars, labelled sections (repeats share a letter), duration and key; optionally "
        "write every per-frame feature as JSON and an overview plot as PNG. Results are "
        "cached, so a second run is instant.",
    )
    p.add_argument("track", metavar="TRACK", help="audio file")
    p.add_argument("--fps", type=float, default=30.0, help="feature frames per second (30)")
    p.add_argument("--json", metavar="OUT.json", help="write scalars, beat times and curves")
    p.add_argument("--no-curves", action="store_true",
                   help="leave the per-frame curves out of --json (scalars and beats only)")
    p.add_argument("--plot", metavar="OUT.png", help="draw waveform, beats and feature curves")
    p.add_argument("--meter", type=int, default=4, metavar="N",
                   help="beats per bar: 4 for 4/4 (default), 3 for 3/4; for 6/8 usually 2 "
                   "(the tracker follows the dotted quarter)")
    p.add_argument("--downbeat-shift", type=int, default=0, metavar="N",
                   help="move the first downbeat by N beats when the bars sound misplaced")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="analysis cache folder (default: $SONOLUME_CACHE_DIR/audio or the "
                   "platform's user cache folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _progress(quiet: bool):
    """A live bar on a terminal; a line every few seconds in a log (engine.progress)."""
    if quiet:
        return None, None
    from engine.progress import progress_bar

    bar = progress_bar(total=100, desc="analysing", unit="%",
                       bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}", leave=False)

    def update(fraction: float, stage: str) -> None:
        bar.set_description_str(stage, refresh=False)
        step = int(round(100 * fraction)) - bar.n
        if step > 0:
            bar.update(step)

    return bar, update


def _clock(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:04.1f}"


def structure_lines(structure) -> list[str]:
    """Bars and sections in two or three lines (sections listed up to twelve)."""
    s = structure
    if len(s.downbeats):
        lines = [f"bars      {s.n_bars}  ({s.meter} beats a bar, first downbeat at "
                 f"{s.downbeats[0]:.2f} s)"]
    else:
        lines = ["bars      none  (no steady beat)"]
    shown = ", ".join(f"{sec.label} {_clock(sec.start)}" for sec in s.sections[:12])
    more = f", ... ({len(s.sections)} in all)" if len(s.sections) > 12 else ""
    lines.append(f"sections  {' '.join(s.labels[:12])}{'' if not more else ' ...'}  "
                 f"({shown}{more})")
    return lines


def summary_lines(features, info: dict, path: Path, elapsed: float, cached: bool,
                  structure=None) -> list[str]:
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
    if structure is not None:
        lines += structure_lines(structure)
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
    from engine.audio.structure import analyze_structure, check_meter

    path = Path(args.track)
    if not (args.fps > 0 and args.fps <= 1000):
        raise SonolumeError(f"--fps must be between 0 and 1000, not {args.fps:g}")
    check_meter(args.meter, args.downbeat_shift)
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
        structure = analyze_structure(path, meter=args.meter, downbeat_shift=args.downbeat_shift,
                                      cache_dir=args.cache_dir, use_cache=not args.no_cache)
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    print("\n".join(summary_lines(features, info, path, elapsed, cached, structure)))
    if args.json:
        curves = not args.no_curves
        bars = structure.to_json()
        data = {"track": str(path), "info": info, **features.to_json(include_curves=curves),
                "meter": bars["meter"], "downbeats": bars["downbeats"],
                "sections": bars["sections"]}
        _write_json(Path(args.json), data)
        print(f"json      {args.json}")
    if args.plot:
        from engine.audio.plot import plot_features

        try:
            plot_features(features, args.plot, title=path.name, structure=structure)
        except OSError as exc:
            raise SonolumeError(f"cannot write {args.plot}: {exc}") from exc
        print(f"plot      {args.plot}")
    return 0


def _write_json(path: Path, data: dict) -> None:
    """Atomically (engine.atomic): a full disk or a kill leaves no partial file behind."""
    from engine.atomic import remove_stale_temporaries, write_json

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path.parent)  # what a killed run left half-written
        write_json(path, data, indent=None)
    except OSError as exc:
        raise SonolumeError(f"cannot write {path}: {exc}") from exc
