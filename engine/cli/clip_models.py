"""``sonolume clip-models``: which CLIP models exist and which weights are on this disk."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("clip-models", help="list CLIP models and whether weights are cached")
    p.add_argument("--all", action="store_true", help="every model, not only the usual ones")
    p.set_defaults(func=run)


USUAL = ("RN50", "RN101", "ViT-B-32", "ViT-B-16", "ViT-L-14")


def run(args) -> int:
    import open_clip

    from engine.clip.loader import local_weights

    for model in open_clip.list_models():
        if not args.all and model not in USUAL:
            continue
        tags = open_clip.list_pretrained_tags_by_model(model)
        if not tags:
            continue
        parts = []
        for tag in tags:
            parts.append(f"{tag}{' (on disk)' if local_weights(model, tag) else ''}")
        print(f"{model:24s} {', '.join(parts)}")
    return 0
