"""``sonolume show new|auto|info``: arrange several styles over a track and save it as a
show file; ``sonolume render SHOW.json -o out.mp4`` renders one."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.cli.common import library_dir_from_args
from engine.errors import SonolumeError

ANALYSIS_FPS = 30.0


def register(sub) -> None:
    from engine.scene import TRANSITIONS
    from engine.scene.arrange import CHANGE_KINDS

    p = sub.add_parser(
        "show", help="shows: several styles over one track, changing on bars or sections",
        description="Make, inspect and (with 'sonolume render SHOW.json') render shows: "
        "styles that change on the music's bars or sections with transitions on the beat. "
        "Shows are JSON files, by default in the library's shows/ folder.")
    ss = p.add_subparsers(dest="show_command", metavar="ACTION")

    def arranging(q, styles_help: str, styles_required: bool) -> None:
        q.add_argument("track", metavar="TRACK", help="audio file: WAV, FLAC, OGG or MP3")
        q.add_argument("--styles", nargs="+", required=styles_required, metavar="STYLE",
                       help=styles_help)
        q.add_argument("--transition", default="crossfade:2", metavar="KIND[:BEATS]",
                       help="at each change: " + "; ".join(
                           f"{k}: {v}" for k, v in TRANSITIONS.items())
                       + " (default crossfade:2)")
        q.add_argument("--min-length", type=float, default=0.0, metavar="S",
                       help="no segment shorter than S seconds (default 0)")
        q.add_argument("--max-length", type=float, default=float("inf"), metavar="S",
                       help="split segments longer than S seconds on a downbeat")
        q.add_argument("--hard-cuts", action="store_true",
                       help="also cut where the loudness jumps (projectM's hard cut)")
        q.add_argument("--cut-sensitivity", type=float, default=2.0, metavar="X",
                       help="a hard cut needs X times the last 2 s's loudness (default 2)")
        q.add_argument("--cut-gap", type=float, default=20.0, metavar="S",
                       help="at least S seconds between hard cuts (default 20)")
        q.add_argument("--meter", type=int, default=4, metavar="N",
                       help="beats to a bar (default 4; 3 for 3/4, 2 for 6/8 at the "
                       "dotted-quarter beat)")
        q.add_argument("--downbeat-shift", type=int, default=0, metavar="N",
                       help="move the first downbeat by N beats")
        q.add_argument("--reactivity", default="punchy", metavar="PRESET",
                       help="reactivity preset (default punchy)")
        q.add_argument("--seed", type=int, default=0, help="seed of the latent walk")
        q.add_argument("--name", help="the show's name (default: the track's)")
        q.add_argument("-o", "--output", metavar="SHOW.json",
                       help="where to save (default: the library's shows/ folder)")

    n = ss.add_parser("new", help="arrange the given styles over a track",
                      description="Arrange STYLES over TRACK: change every N bars, on "
                      "sections, or at given times, with a transition at each change.")
    arranging(n, "styles in the order they take turns (on sections: one per section "
                 "label, so a repeated section gets the same style)", True)
    n.add_argument("--change", default="sections", metavar="RULE",
                   help="; ".join(f"{k}: {v}" for k, v in CHANGE_KINDS.items())
                   + " (default sections)")
    n.set_defaults(func=run_new)

    a = ss.add_parser("auto", help="pick a style per section from the library",
                      description="Give each section of TRACK the style the suggestion "
                      "ranking finds closest to that section's music; sections with the "
                      "same label get the same style.")
    arranging(a, "choose only among these styles (default: the whole library)", False)
    a.set_defaults(func=run_auto)

    i = ss.add_parser("info", help="what a show holds, and whether its styles and track "
                      "are there", description="Print a show's segments, transitions and "
                      "settings and check its styles and track.")
    i.add_argument("show", metavar="SHOW", help="a show file, or a name in the shows folder")
    i.add_argument("--track", metavar="NEW", help="the track's new place, if it moved")
    i.set_defaults(func=run_info)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _analyse(track: str, meter: int, shift: int):
    """Features at the analysis rate and the structure (both cached by content)."""
    from engine.audio.analyze import analyze, check_audio_path
    from engine.audio.structure import analyze_structure

    check_audio_path(track)
    _say(f"analysing {Path(track).name} (beats, bars, sections) ...")
    features = analyze(track, fps=ANALYSIS_FPS)
    structure = analyze_structure(track, meter=meter, downbeat_shift=shift)
    return features, structure


def _rule(args, kind: str):
    from engine.scene.arrange import ChangeRule

    return ChangeRule.parse(kind, min_seconds=args.min_length, max_seconds=args.max_length,
                            hard_cuts=args.hard_cuts, cut_sensitivity=args.cut_sensitivity,
                            cut_min_gap=args.cut_gap)


def _build(args, styles: dict, segments, transitions, features, structure):
    from engine.scene import Scene
    from engine.scene.show import save_show, show_from_scene

    scene = Scene(styles, segments, transitions, features=features, structure=structure,
                  preset=args.reactivity, seed=args.seed, track=Path(args.track).resolve(),
                  library_dir=library_dir_from_args(args), meter=args.meter,
                  downbeat_shift=args.downbeat_shift)
    scene.loaded_preset()  # an unknown preset fails before anything is written
    show = show_from_scene(scene, name=args.name or "")
    path = save_show(show, args.output, library_dir_from_args(args), grid=scene.grid)
    print(f"wrote {path}: {len(scene.segments)} segments, "
          f"{len({s.style for s in scene.segments})} styles, {scene.duration:.1f} s")
    for line in scene.describe():
        print(line)
    return 0


def _common_checks(args):
    from engine.scene import Transition

    transition = Transition.parse(args.transition)
    if args.output and not str(args.output).lower().endswith(".json"):
        raise SonolumeError(f"'{args.output}': a show is a .json file")
    return transition


def run_new(args) -> int:
    from engine.scene.arrange import arrange
    from engine.styles.library import Library

    transition = _common_checks(args)
    rule = _rule(args, args.change)
    library = Library(library_dir_from_args(args))
    chosen = [library.get(s) for s in args.styles]
    styles = {s.id: s for s in chosen}
    features, structure = _analyse(args.track, args.meter, args.downbeat_shift)
    from engine.scene import BeatGrid

    grid = BeatGrid.build(features, structure)
    segments, transitions = arrange([s.id for s in chosen], rule, grid, transition, features)
    return _build(args, styles, segments, transitions, features, structure)


def run_auto(args) -> int:
    from engine.scene import BeatGrid
    from engine.scene.arrange import arrange_by_labels, auto_styles
    from engine.styles.library import Library

    transition = _common_checks(args)
    rule = _rule(args, "sections")
    library = Library(library_dir_from_args(args))
    candidates = [library.get(s) for s in args.styles] if args.styles else library.list()
    if not candidates:
        raise SonolumeError("the library has no styles to choose from")
    features, structure = _analyse(args.track, args.meter, args.downbeat_shift)
    grid = BeatGrid.build(features, structure)
    chosen = auto_styles(candidates, features, grid)
    for label, style in chosen.items():
        print(f"section {label}: {style.name}")
    segments, transitions = arrange_by_labels({k: v.id for k, v in chosen.items()}, grid,
                                              transition, rule, features)
    styles = {v.id: v for v in chosen.values()}
    return _build(args, styles, segments, transitions, features, structure)


def run_info(args) -> int:
    from engine.scene.show import ShowError, check_track, find_show, read_show, resolve_styles
    from engine.styles.library import Library

    lib_dir = library_dir_from_args(args)
    path = find_show(args.show, lib_dir)
    if path is None:
        raise SonolumeError(f"show file not found: {args.show}")
    show = read_show(path)
    print(f"{path}: show '{show.name}', {len(show.segments)} segments, "
          f"{len(show.styles)} styles")
    print(f"track: {show.track} ({show.track_duration:.1f} s)")
    preset = show.reactivity if isinstance(show.reactivity, str) else \
        f"{show.reactivity.get('name', '?')} (inline)"
    amounts = ", ".join(f"{k} {v:g}" for k, v in show.amounts.items()) or "as the preset"
    print(f"reactivity: {preset}; amounts: {amounts}; seed {show.seed}; meter "
          f"{show.meter}, downbeat shift {show.downbeat_shift}")
    names = {k: (v.name or k) for k, v in show.styles.items()}
    for i, seg in enumerate(show.segments):
        print(f"{seg.start:8.2f} - {seg.end:8.2f} s  {names[seg.style]}")
        if i < len(show.transitions):
            print(f"{'':22s}-> {show.transitions[i].text}")
    if len(show.automation):
        print("automation: " + ", ".join(f"{lane.control} ({len(lane.points)} points)"
                                         for lane in show.automation))
    problems = []
    if show.live_steps is not None:
        from engine.scene.show import open_steps

        try:
            steps = open_steps(show, path.name)
            print(f"recorded live set: {len(steps)} features steps and {len(steps.beats)} "
                  f"beats in {show.live_steps.name}, replayed by a render (the track is "
                  "only its sound)")
        except ShowError as exc:
            problems.append(str(exc))
    try:
        check_track(show, args.track, path.name)
    except ShowError as exc:
        problems.append(str(exc))
    try:
        resolve_styles(show, Library(lib_dir), path.name)
    except ShowError as exc:
        problems.append(str(exc))
    if problems:
        raise SonolumeError("; ".join(problems))
    print("the track and every style are there")
    return 0
