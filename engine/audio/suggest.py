"""Rank styles for a track: music analysis -> style choice.

:func:`rank_styles` scores every style against the track's description
(:func:`engine.audio.describe.describe`), in one of two ways:

**With a CLIP** (``clip`` given): each trait's visual words become a query
("abstract art, dark, deep, shadowy"); a style is embedded as the weighted mean of its
prompts' text embeddings (its name when it has no prompts, as in
:meth:`engine.styles.library.Library.semantic_search`). The score is the
strength-weighted mean cosine similarity over the traits; the reasons name the traits on
which the style stands out most from the library's average.

**Without a CLIP** (a keyword heuristic): a style's words are its name and prompt texts.
For each trait, the style earns ``strength x weight`` for every visual word of that trait
(see :data:`engine.audio.describe.VISUALS`) or related word in :data:`RELATED` found among
its words (prefix match, so "glowing" matches "glow"), prompt words counting by their
prompt's weight, names by 1. A negative prompt containing a trait word costs as much. The
score is that sum divided by ``1 + 0.1 x`` the number of distinct words in the style (so a
long prompt list does not win by sheer size). Styles with no matching word score 0 and
keep the library's order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.audio.describe import VISUALS, TrackDescription, describe
from engine.audio.features import AudioFeatures

#: More words a style's name or prompt may use for what each trait word looks like.
RELATED: dict[str, tuple[str, ...]] = {
    "beatless": ("cloud", "nebula", "fog", "haze", "void", "space", "drift"),
    "slow": ("ocean", "tide", "wave", "cloud", "fog"),
    "mid-tempo": ("wave", "ripple", "swirl"),
    "upbeat": ("candy", "confetti", "party", "disco", "bloom"),
    "fast": ("speed", "lightning", "rush", "spark", "storm"),
    "very fast": ("lightning", "storm", "explosion", "glitch", "strobe", "laser"),
    "calm": ("mist", "pastel", "cloud", "marble", "moss", "silk", "snow", "lake", "ice",
             "zen", "breeze"),
    "steady": ("weave", "pattern", "tile", "grid"),
    "energetic": ("fire", "flame", "ember", "neon", "lightning", "storm", "lava", "blaze",
                  "plasma", "burst", "laser"),
    "smooth": ("swirl", "marble", "silk", "water", "ocean", "wave", "nebula", "opal",
               "ink", "smoke", "fluid"),
    "rhythmic": ("weave", "ring", "stripe", "grid", "mosaic", "tile", "lattice"),
    "punchy": ("shard", "crystal", "mosaic", "grid", "ring", "strobe", "fractal", "spike",
               "glitch"),
    "dark": ("ocean", "abyss", "shadow", "midnight", "moss", "dusk", "black", "void",
             "violet", "nebula", "forest", "cave", "deep sea"),
    "warm": ("ember", "gold", "amber", "sunset", "copper", "honey", "autumn", "dusk",
             "rust", "fire"),
    "bright": ("ice", "crystal", "neon", "gold", "sun", "light", "white", "pastel",
               "opal", "sparkle", "diamond", "glow"),
    "major": ("candy", "pastel", "bloom", "flower", "rainbow", "sun", "gold", "spring"),
    "minor": ("nebula", "dusk", "shadow", "violet", "night", "rain", "moss", "ocean",
              "ash", "smoke"),
}

_WORD = re.compile(r"[a-z]+")


def _style_terms(style) -> tuple[list[tuple[str, float]], list[str]]:
    """[(text, weight)] of a style's name and positive prompts; its negative texts
    (``negatives`` plus prompts with a negative weight)."""
    meta = getattr(style, "meta", {}) or {}
    texts = [(str(getattr(style, "name", "") or ""), 1.0)]
    negatives = [str(n) for n in meta.get("negatives") or [] if isinstance(n, str)]
    for p in meta.get("prompts") or []:
        if not isinstance(p, dict):
            continue
        try:
            w = float(p.get("weight", 1.0))
        except (TypeError, ValueError):
            continue
        text = str(p.get("text", "") or "")
        if text and w > 0:
            texts.append((text, w))
        elif text and w < 0:
            negatives.append(text)
    return texts, negatives


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _match(cue: str, tokens: list[str], text: str) -> bool:
    if " " in cue:
        return cue in text
    stem = cue[:-1] if cue.endswith("s") and not cue.endswith("ss") else cue
    stem = stem[:-3] if stem.endswith("ing") and len(stem) > 5 else stem
    return any(t.startswith(stem) or stem.startswith(t) and len(t) >= 4 for t in tokens)


def _cues(word: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(VISUALS.get(word, ()) + RELATED.get(word, ())))


def _heuristic(desc: TrackDescription, styles: list) -> list[tuple[object, float, list[str]]]:
    out = []
    for style in styles:
        texts, negatives = _style_terms(style)
        all_tokens: set[str] = set()
        score = 0.0
        hits: list[tuple[float, str]] = []
        for trait in desc.traits:
            cues = _cues(trait.word)
            best, found = 0.0, ""
            for text, weight in texts:
                low = text.casefold()
                toks = _tokens(low)
                all_tokens.update(toks)
                for cue in cues:
                    if _match(cue, toks, low) and weight > best:
                        best, found = weight, cue
            penalty = 0.0
            for neg in negatives:
                low = neg.casefold()
                if any(_match(c, _tokens(low), low) for c in cues):
                    penalty = 1.0
            gain = trait.strength * (best - penalty) if (best or penalty) else 0.0
            # Even a neutral trait (strength ~0) gives a small credit for a match.
            gain += 0.1 * (best - penalty)
            score += gain
            if best:
                hits.append((gain, f"'{found}' fits {trait.word} ({trait.detail})"))
            if penalty:
                hits.append((gain, f"its negative prompt avoids {trait.word}"))
        norm = score / (1.0 + 0.1 * len(all_tokens))
        reasons = [r for _, r in sorted(hits, key=lambda h: -abs(h[0]))][:3]
        if not reasons:
            reasons = ["no word in its name or prompts matches the track's character"]
        out.append((style, float(norm), reasons))
    return out


def _with_clip(desc: TrackDescription, styles: list, clip) -> list[tuple[object, float, list[str]]]:
    import torch
    import torch.nn.functional as F

    traits = [t for t in desc.traits if t.visuals]
    queries = ["abstract art, " + ", ".join(t.visuals[:4]) for t in traits]
    q = clip.encode_text(queries)  # (T, D), unit norm
    strengths = torch.tensor([max(t.strength, 0.05) for t in traits], dtype=q.dtype)
    embs = []
    for style in styles:
        texts, _ = _style_terms(style)
        prompts = texts[1:] or texts[:1]  # prompts, or the name when there are none
        e = clip.encode_text([t for t, _ in prompts])
        w = torch.tensor([w for _, w in prompts], dtype=e.dtype)
        embs.append(F.normalize((e * w[:, None]).sum(0), dim=-1))
    if not embs:
        return []
    s = torch.stack(embs)  # (S, D)
    sims = s @ q.T  # (S, T)
    scores = (sims * strengths).sum(1) / strengths.sum()
    rel = sims - sims.mean(0, keepdim=True)
    out = []
    for i, style in enumerate(styles):
        order = torch.argsort(rel[i] * strengths, descending=True).tolist()
        reasons = []
        for j in order[:2]:
            t = traits[j]
            reasons.append(f"{'close to' if rel[i, j] > 0 else 'far from'} "
                           f"'{', '.join(t.visuals[:3])}' ({t.word}: {t.detail}; "
                           f"similarity {float(sims[i, j]):.3f}, "
                           f"{float(rel[i, j]):+.3f} vs the library)")
        out.append((style, float(scores[i]), reasons))
    return out


def rank_styles(features: AudioFeatures | TrackDescription, styles: Iterable, clip=None,
                ) -> list[tuple[object, float, list[str]]]:
    """Styles ranked best first for the track: ``[(style, score, reasons)]``.

    ``features``: the track's :class:`AudioFeatures` (or an already made description).
    ``styles``: objects with ``.name`` and ``.meta`` (``prompts``: [{"text", "weight"}],
    optional ``negatives``), e.g. ``Library(user_dir).list()``. ``clip``: a loaded
    :class:`~engine.clip.model.ClipModel` to rank by CLIP text similarity; None ranks by
    the keyword heuristic. Scores compare within one call only. Ties keep input order.
    """
    desc = features if isinstance(features, TrackDescription) else describe(features)
    styles = list(styles)
    ranked = _with_clip(desc, styles, clip) if clip is not None else _heuristic(desc, styles)
    order = sorted(range(len(ranked)), key=lambda i: (-ranked[i][1], i))
    return [ranked[i] for i in order]
