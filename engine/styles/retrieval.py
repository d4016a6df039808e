"""How well semantic style search finds what people mean: Recall@K of text -> style on a
labelled set.

A labelled set is JSON ``{"name", "queries": [{"text", "relevant": [style id or name,
...]}]}``. Scoring goes through :meth:`Library.semantic_scores`, the same rule the search
box uses, and :func:`engine.similarity.metrics.recall_from_similarity` (K clamped to the
number of styles, ties counted against the query), so the report measures the feature
itself. The chance level is reported beside it: on a small library R@5 alone says little.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import StyleError

BUNDLED_SET = Path(__file__).resolve().parents[2] / "resources" / "eval" / "style-search.json"
MAX_SET_BYTES = 4 * 1024 * 1024


@dataclass
class QueryResult:
    text: str
    relevant: list[str]  # style ids
    rank: int  # 1 = a relevant style came first
    top: str  # name of the style ranked first
    score: float


@dataclass
class SearchReport:
    set_name: str
    clip_label: str
    clip_random: bool
    styles: int
    recall: dict[str, float]
    chance: dict[str, float]
    queries: list[QueryResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"set": self.set_name, "clip": self.clip_label,
                "clip_random": self.clip_random, "styles": self.styles,
                "queries": len(self.queries), "recall": self.recall, "chance": self.chance,
                "per_query": [q.__dict__ for q in self.queries]}


def load_labelled_set(path: str | Path | None = None) -> dict:
    """Read and check a labelled set; every problem names the file and the entry."""
    path = Path(path) if path is not None else BUNDLED_SET
    try:
        if path.stat().st_size > MAX_SET_BYTES:
            raise StyleError(f"{path}: labelled set larger than 4 MB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StyleError(f"labelled set not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StyleError(f"{path}: not a readable JSON labelled set ({exc})") from None
    queries = data.get("queries") if isinstance(data, dict) else None
    if not isinstance(queries, list) or not queries:
        raise StyleError(f"{path}: needs a non-empty 'queries' list")
    for i, q in enumerate(queries):
        ok = (isinstance(q, dict) and isinstance(q.get("text"), str) and q["text"].strip()
              and isinstance(q.get("relevant"), list) and q["relevant"]
              and all(isinstance(r, str) for r in q["relevant"]))
        if not ok:
            raise StyleError(f"{path}: query {i + 1} needs 'text' and a non-empty "
                             f"'relevant' list of style ids or names")
    return {"name": str(data.get("name") or path.stem), "queries": queries}


def evaluate_search(library, clip, labelled: dict, ks=(1, 5, 10)) -> SearchReport:
    """R@K of the library's semantic search on ``labelled`` (see :func:`load_labelled_set`)."""
    import torch

    from engine.similarity.metrics import recall_from_similarity

    styles, sim = library.semantic_scores(clip, [q["text"] for q in labelled["queries"]])
    if not styles:
        raise StyleError("the library has no styles to search")
    column = {s.id: j for j, s in enumerate(styles)}
    mask = torch.zeros(sim.shape, dtype=torch.bool)
    relevant_ids = []
    for i, q in enumerate(labelled["queries"]):
        ids = []
        for key in q["relevant"]:
            try:
                style = library.get(key)
            except StyleError as exc:
                raise StyleError(f"query '{q['text']}': {exc}") from None
            mask[i, column[style.id]] = True
            ids.append(style.id)
        relevant_ids.append(ids)
    recall = recall_from_similarity(sim, mask, ks)
    n = len(styles)
    chance = {}
    for k in ks:  # P(some relevant style in a random top k), averaged over queries
        kk = min(int(k), n)
        per = [1.0 - _none_in_top(n, int(m.sum()), kk) for m in mask]
        chance[f"R@{k}"] = sum(per) / len(per)
    results = []
    for i, q in enumerate(labelled["queries"]):
        row = sim[i]
        best = row.masked_fill(~mask[i], float("-inf")).max()
        rank = int(((row >= best) & ~mask[i]).sum()) + 1
        top = int(row.argmax())
        results.append(QueryResult(q["text"], relevant_ids[i], rank, styles[top].name,
                                   round(float(best), 5)))
    return SearchReport(labelled["name"], clip.label, bool(getattr(clip, "random", False)),
                        n, recall, chance, results)


def _none_in_top(n: int, m: int, k: int) -> float:
    """P(none of m relevant items among k drawn from n without replacement)."""
    p = 1.0
    for j in range(k):
        p *= max(0, n - m - j) / (n - j)
    return p
