"""``sonolume styles ...``: list, show, search, rename, duplicate, rm, fav, export, import."""

from __future__ import annotations

import argparse
import json
import sys

from engine.cli.common import add_clip_options, clip_spec_from_args, library_dir_from_args
from engine.errors import SonolumeError, StyleError


def register(sub) -> None:
    p = sub.add_parser("styles", help="manage the style library",
                       description="Manage the style library: the bundled seeded patterns "
                       "(read-only) and your own styles.")
    ss = p.add_subparsers(dest="styles_command", metavar="ACTION")
    p.set_defaults(func=lambda args: _usage(p))

    c = ss.add_parser("list", help="list all styles")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=cmd_list)

    c = ss.add_parser("show", help="show one style's details")
    c.add_argument("style", metavar="STYLE", help="style id or name")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=cmd_show)

    c = ss.add_parser("search", help="find styles by text (or by meaning with --semantic)")
    c.add_argument("text", nargs="+", metavar="TEXT")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.add_argument("--semantic", action="store_true",
                   help="rank by CLIP text similarity to each style's prompts")
    c.add_argument("--top", type=int, default=10, help="how many results with --semantic")
    add_clip_options(c)
    c.set_defaults(func=cmd_search)

    c = ss.add_parser("eval-search", help="measure semantic search: Recall@K on a "
                      "labelled set of queries (default: the bundled styles' set)")
    c.add_argument("labels", nargs="?", metavar="LABELS.json",
                   help='{"queries": [{"text": ..., "relevant": [style, ...]}]}')
    c.add_argument("--json", action="store_true", help="machine-readable output")
    add_clip_options(c)
    c.set_defaults(func=cmd_eval_search)

    c = ss.add_parser("rename", help="give a style a new name (its id stays)")
    c.add_argument("style", metavar="STYLE")
    c.add_argument("new_name", metavar="NEW")
    c.set_defaults(func=cmd_rename)

    c = ss.add_parser("duplicate", help="copy a style (e.g. a bundled one) into your library")
    c.add_argument("style", metavar="STYLE")
    c.add_argument("new_name", metavar="NEW", nargs="?")
    c.set_defaults(func=cmd_duplicate)

    c = ss.add_parser("rm", help="delete a style from your library")
    c.add_argument("style", metavar="STYLE")
    c.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    c.set_defaults(func=cmd_rm)

    c = ss.add_parser("fav", help="mark a style as a favourite (--off to unmark)")
    c.add_argument("style", metavar="STYLE")
    c.add_argument("--off", action="store_true")
    c.set_defaults(func=cmd_fav)

    c = ss.add_parser("export", help="write a style to a single .sonolume share file")
    c.add_argument("style", metavar="STYLE")
    c.add_argument("-o", "--output", required=True, metavar="FILE")
    c.set_defaults(func=cmd_export)

    c = ss.add_parser("import", help="add a .sonolume share file or a legacy .pth CPPN")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--name", help="name for the imported style")
    c.set_defaults(func=cmd_import)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def open_library(args):
    from engine.styles.library import Library

    return Library(library_dir_from_args(args))


def warn_problems(library) -> None:
    for problem in library.problems:
        print(f"sonolume: warning: {problem}", file=sys.stderr)


def _kind(style) -> str:
    if not style.trained:
        return "seeded"
    if style.clip_random:
        return "RANDOM-CLIP"
    if style.meta.get("extra", {}).get("imported"):
        return "imported"
    return "trained"


def _table(styles, scores: dict | None = None) -> None:
    if not styles:
        return
    rows = []
    for s in styles:
        score = s.meta.get("score")
        row = [("★" if s.favourite else " "), s.id, s.name, _kind(s),
               "—" if score is None else f"{score:.3f}", s.clip_label if s.meta.get("clip")
               else "—"]
        if scores is not None:
            row.insert(1, f"{scores[s.id]:+.3f}")
        rows.append(row)
    head = ["", "ID", "NAME", "KIND", "SCORE", "CLIP"]
    if scores is not None:
        head.insert(1, "MATCH")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


def _json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_list(args) -> int:
    library = open_library(args)
    styles = library.list()
    warn_problems(library)
    if args.json:
        _json([s.summary() for s in styles])
    elif not styles:
        print(f"no styles (user library: {library.user_dir})")
    else:
        _table(styles)
        user = sum(not s.readonly for s in styles)
        print(f"\n{len(styles)} styles: {len(styles) - user} bundled (read-only), {user} in "
              f"{library.user_dir}")
    return 0


def cmd_show(args) -> int:
    library = open_library(args)
    style = library.get(args.style)
    if args.json:
        _json(style.summary())
        return 0
    m = style.meta
    arch = m["architecture"]
    print(f"{style.name}")
    print(f"  id         {style.id}{'  (bundled, read-only)' if style.readonly else ''}")
    print(f"  kind       {style.kind}")
    if style.favourite:
        print("  favourite  yes")
    for p in style.prompts:
        print(f"  prompt     {p['text']}" + ("" if p["weight"] == 1 else f"  (x{p['weight']:g})"))
    for n in m.get("negatives") or []:
        print(f"  negative   {n}")
    if m.get("image_prompt"):
        print(f"  image      {m['image_prompt']}")
    print(f"  CLIP       {style.clip_label if m.get('clip') else '—'}")
    print(f"  score      {'—' if m.get('score') is None else format(m['score'], '.4f')}")
    print(f"  network    {arch['layers']}x{arch['hidden']}, {arch['extra_inputs']} extra inputs, "
          f"gains {arch['first_gain']}/{arch['hidden_gain']}")
    if m.get("schedule"):
        print("  schedule   " + ", ".join(f"{i} it @ {r}px" for i, r in m["schedule"]))
    if m.get("cutouts") is not None:
        print(f"  cutouts    {m['cutouts']}")
    print(f"  seed       {'—' if m.get('seed') is None else m['seed']}")
    print(f"  created    {m.get('created') or '—'}")
    for k, v in (m.get("extra") or {}).items():
        print(f"  {k:<10} {v}")
    print(f"  folder     {style.path}")
    return 0


def cmd_eval_search(args) -> int:
    from engine.clip import load_clip
    from engine.styles.retrieval import evaluate_search, load_labelled_set

    labelled = load_labelled_set(args.labels)
    library = open_library(args)
    clip = load_clip(clip_spec_from_args(args))
    report = evaluate_search(library, clip, labelled)
    warn_problems(library)
    if args.json:
        _json(report.to_dict())
        return 0
    if report.clip_random:
        print("note: a RANDOM CLIP; these numbers measure nothing about meaning",
              file=sys.stderr)
    print(f"set '{report.set_name}': {len(report.queries)} queries over {report.styles} "
          f"styles, CLIP {report.clip_label}")
    print("  " + "   ".join(f"{k} {v:.3f} (chance {report.chance[k]:.3f})"
                            for k, v in report.recall.items()))
    for q in report.queries:
        mark = "ok" if q.rank == 1 else f"#{q.rank}"
        print(f"  {mark:>4}  {q.text}  ->  {q.top}")
    return 0


def cmd_search(args) -> int:
    text = " ".join(args.text).strip()
    if not text:
        raise SonolumeError("empty search text")
    library = open_library(args)
    if args.semantic:
        if args.top < 1:
            raise SonolumeError("--top must be at least 1")
        from engine.clip import load_clip

        clip = load_clip(clip_spec_from_args(args))
        ranked = library.semantic_search(clip, text, top=args.top)
        warn_problems(library)
        if args.json:
            _json([{**s.summary(), "match": round(score, 5), "match_clip": clip.label,
                    "match_clip_random": bool(clip.random)} for s, score in ranked])
            return 0
        if clip.random:
            print("note: ranked by a RANDOM CLIP; the order is noise", file=sys.stderr)
        _table([s for s, _ in ranked], {s.id: score for s, score in ranked})
        return 0
    found = library.search(text)
    warn_problems(library)
    if args.json:
        _json([s.summary() for s in found])
    elif not found:
        print(f"no styles match '{text}'")
    else:
        _table(found)
    return 0


def cmd_rename(args) -> int:
    style = open_library(args).rename(args.style, args.new_name)
    print(f"renamed {style.id} to '{style.name}'")
    return 0


def cmd_duplicate(args) -> int:
    style = open_library(args).duplicate(args.style, args.new_name)
    print(f"created '{style.name}' ({style.id}) in {style.path.parent}")
    return 0


def cmd_rm(args) -> int:
    library = open_library(args)
    try:
        style = library.get(args.style)
        name, key = style.name, style.id
        question = f"Delete style '{name}' ({key})?"
        if style.readonly:
            library.delete(style.id)  # raises the read-only error
    except StyleError:
        # A broken folder is exactly what a user wants gone: remove it by its folder name.
        folder = library.broken_user_folder(args.style)
        if folder is None:
            raise
        name, key = folder.name, folder.name
        question = f"Delete the broken style folder {folder}?"
    if not args.yes:
        if not sys.stdin.isatty():
            raise SonolumeError(f"not deleting '{name}' without --yes "
                                "(input is not a terminal)")
        try:
            answer = input(f"{question} [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    library.delete(key)
    print(f"deleted '{name}' ({key})")
    return 0


def cmd_fav(args) -> int:
    style = open_library(args).set_favourite(args.style, not args.off)
    print(f"'{style.name}' is {'no longer ' if args.off else ''}a favourite")
    return 0


def cmd_export(args) -> int:
    path = open_library(args).export_share(args.style, args.output)
    print(f"wrote {path}")
    return 0


def cmd_import(args) -> int:
    library = open_library(args)
    style = library.import_file(args.file, args.name)
    print(f"imported '{style.name}' as {style.id}")
    return 0
