"""A static HTML gallery comparing styles: one self-contained folder (index.html + thumbs/).

Every card carries its metadata as data attributes, so a few lines of vanilla JS sort and
filter without a server or network. Untrained seeded patterns, prompt-trained styles and
styles judged by a random test CLIP are told apart by visible badges.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Sequence
from pathlib import Path

from engine import atomic
from engine.errors import StyleError
from engine.styles.style import Style, encode_png, render_thumb

THUMBS = "thumbs"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt_score(style: Style) -> str:
    score = style.meta.get("score")
    return "—" if score is None else f"{score:.4f}"


def _fmt_created(style: Style) -> str:
    created = style.meta.get("created") or ""
    return created.replace("T", " ").replace("Z", " UTC") if created else "—"


def _badges(style: Style) -> str:
    out = []
    if style.trained:
        out.append('<span class="badge trained">trained</span>')
    else:
        out.append('<span class="badge untrained" title="A seeded CPPN pattern: no prompt, '
                   'no CLIP">untrained · seeded pattern</span>')
    if style.clip_random:
        out.append('<span class="badge random" title="Trained against a randomly initialised '
                   'CLIP for testing: its look and score mean nothing">random CLIP</span>')
    if style.meta.get("extra", {}).get("imported"):
        out.append('<span class="badge imported">imported</span>')
    if style.readonly:
        out.append('<span class="badge bundled">bundled</span>')
    if style.favourite:
        out.append('<span class="badge fav" title="favourite">★ favourite</span>')
    return "".join(out)


def _prompts(style: Style) -> str:
    items = []
    for p in style.prompts:
        weight = "" if p["weight"] == 1 else f' <span class="w">×{p["weight"]:g}</span>'
        items.append(f"<li>{_e(p['text'])}{weight}</li>")
    for n in style.meta.get("negatives") or []:
        items.append(f'<li class="neg">not: {_e(n)}</li>')
    if style.meta.get("image_prompt"):
        items.append(f'<li class="img">image: {_e(style.meta["image_prompt"])}</li>')
    if not items:
        text = "no prompt (seeded pattern)" if not style.trained else "prompts unknown"
        items.append(f'<li class="none">{text}</li>')
    return f'<ul class="prompts">{"".join(items)}</ul>'


def _card(style: Style, thumb: str, index: int) -> str:
    arch = style.meta["architecture"]
    sched = ", ".join(f"{i}@{r}²" for i, r in style.meta.get("schedule") or []) or "—"
    text = " ".join([style.name, style.id] + [p["text"] for p in style.prompts]
                    + list(style.meta.get("negatives") or []) + [style.clip_label]).casefold()
    score = style.meta.get("score")
    rows = [
        ("CLIP", f'{_e(style.clip_label)}'),
        ("score", _e(_fmt_score(style)) + (' <span class="badge random">random CLIP</span>'
                                           if style.clip_random and score is not None else "")),
        ("created", _e(_fmt_created(style))),
        ("network", _e(f"{arch['layers']}×{arch['hidden']}, {arch['extra_inputs']} extra inputs")),
        ("schedule", _e(sched)),
        ("seed", _e(style.meta.get("seed") if style.meta.get("seed") is not None else "—")),
        ("id", f"<code>{_e(style.id)}</code>"),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    classes = ["card"] + (["is-random"] if style.clip_random else []) + \
        (["is-untrained"] if not style.trained else [])
    return f"""
<article class="{' '.join(classes)}" data-index="{index}" data-name="{_e(style.name.casefold())}"
  data-created="{_e(style.meta.get('created') or '')}" data-score="{'' if score is None else score}"
  data-trained="{int(style.trained)}" data-fav="{int(style.favourite)}"
  data-random="{int(style.clip_random)}" data-text="{_e(text)}">
  <img src="{_e(thumb)}" alt="{_e(style.name)}" width="256" height="256" loading="lazy">
  <div class="body">
    <h2>{_e(style.name)}</h2>
    <div class="badges">{_badges(style)}</div>
    {_prompts(style)}
    <table>{table}</table>
  </div>
</article>"""


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{ color-scheme: dark; --bg:#121216; --card:#1c1c22; --fg:#ececf0; --dim:#9a9aa8;
  --accent:#e0a040; }}
* {{ box-sizing: border-box; }}
body {{ margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--fg); }}
header {{ position:sticky; top:0; z-index:1; background:#121216ee; padding:12px 20px;
  border-bottom:1px solid #2a2a33; }}
h1 {{ font-size:18px; margin:0 0 8px; }}
.controls {{ display:flex; flex-wrap:wrap; gap:12px; align-items:center; }}
.controls input[type=search] {{ width:260px; padding:5px 8px; background:#24242c; color:var(--fg);
  border:1px solid #3a3a46; border-radius:4px; }}
.controls select {{ padding:4px; background:#24242c; color:var(--fg); border:1px solid #3a3a46; }}
.note {{ color:var(--dim); font-size:12px; margin:6px 0 0; }}
#count {{ color:var(--dim); }}
main {{ display:grid; grid-template-columns:repeat(auto-fill, minmax(280px, 1fr)); gap:16px;
  padding:20px; }}
.card {{ background:var(--card); border-radius:8px; overflow:hidden; border:1px solid #2a2a33; }}
.card.is-random {{ border-color:#b03030; }}
.card img {{ display:block; width:100%; height:auto; aspect-ratio:1; image-rendering:auto; }}
.body {{ padding:10px 12px 12px; }}
h2 {{ font-size:15px; margin:0 0 6px; }}
.badge {{ display:inline-block; font-size:11px; padding:1px 7px; border-radius:9px;
  margin:0 4px 4px 0; background:#33333d; color:#d8d8e0; }}
.badge.trained {{ background:#1f5f3a; color:#d8f5e4; }}
.badge.untrained {{ background:#3d3d4a; color:#c8c8d8; }}
.badge.random {{ background:#c0392b; color:#fff; font-weight:700; text-transform:uppercase; }}
.badge.fav {{ background:#5a4715; color:#ffd76a; }}
.badge.imported {{ background:#254a6b; color:#d3e8fb; }}
.prompts {{ margin:6px 0; padding-left:18px; }}
.prompts .neg {{ color:#e28a8a; }} .prompts .none {{ color:var(--dim); font-style:italic; }}
.prompts .w {{ color:var(--dim); }}
table {{ border-collapse:collapse; font-size:12px; width:100%; }}
th {{ text-align:left; color:var(--dim); font-weight:normal; padding:1px 8px 1px 0;
  vertical-align:top; white-space:nowrap; }}
td {{ padding:1px 0; word-break:break-word; }}
code {{ font-size:11px; color:var(--dim); }}
.hidden {{ display:none; }}
</style>
</head>
<body>
<header>
  <h1>{title}</h1>
  <div class="controls">
    <input type="search" id="q" placeholder="Filter by name, prompt, CLIP…" autofocus>
    <label>Sort <select id="sort">
      <option value="name">name</option>
      <option value="created">newest first</option>
      <option value="score">score (high first)</option>
      <option value="trained">trained first</option>
    </select></label>
    <label><input type="checkbox" id="only-trained"> trained only</label>
    <label><input type="checkbox" id="only-fav"> favourites only</label>
    <label><input type="checkbox" id="hide-random"> hide random-CLIP styles</label>
    <span id="count">{count} styles</span>
  </div>
  <p class="note">Seeded patterns are untrained CPPNs (no prompt, no CLIP). Styles marked
  <span class="badge random">random CLIP</span> were trained against a randomly initialised
  CLIP for testing; their look and score mean nothing.</p>
</header>
<main id="grid">
{cards}
</main>
<script>
(function () {{
  var grid = document.getElementById('grid');
  var cards = Array.prototype.slice.call(grid.querySelectorAll('.card'));
  var q = document.getElementById('q'), sort = document.getElementById('sort');
  var onlyTrained = document.getElementById('only-trained');
  var onlyFav = document.getElementById('only-fav');
  var hideRandom = document.getElementById('hide-random');
  var count = document.getElementById('count');
  function cmp(a, b) {{
    var A = a.dataset, B = b.dataset, k = sort.value;
    if (k === 'created') {{ if (A.created !== B.created) return A.created < B.created ? 1 : -1; }}
    if (k === 'score') {{
      var sa = A.score === '' ? -Infinity : +A.score, sb = B.score === '' ? -Infinity : +B.score;
      if (sa !== sb) return sb - sa;
    }}
    if (k === 'trained' && A.trained !== B.trained) return +B.trained - +A.trained;
    return A.name < B.name ? -1 : A.name > B.name ? 1 : +A.index - +B.index;
  }}
  function update() {{
    var words = q.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
    cards.sort(cmp).forEach(function (c) {{
      var d = c.dataset;
      var ok = words.every(function (w) {{ return d.text.indexOf(w) >= 0; }}) &&
        (!onlyTrained.checked || d.trained === '1') && (!onlyFav.checked || d.fav === '1') &&
        (!hideRandom.checked || d.random !== '1');
      c.classList.toggle('hidden', !ok);
      if (ok) shown++;
      grid.appendChild(c);
    }});
    count.textContent = shown === cards.length ? cards.length + ' styles'
      : shown + ' of ' + cards.length + ' styles';
  }}
  var m = /[#&]q=([^&]*)/.exec(location.hash);  // gallery/index.html#q=ember prefills
  if (m) q.value = decodeURIComponent(m[1]);
  var s = /[#&]sort=([a-z]+)/.exec(location.hash);
  if (s) sort.value = s[1];
  [q, sort, onlyTrained, onlyFav, hideRandom].forEach(function (el) {{
    el.addEventListener('input', update); el.addEventListener('change', update);
  }});
  update();
}})();
</script>
</body>
</html>
"""


def _thumb_bytes(style: Style) -> bytes | None:
    if style.thumb_path is not None:
        try:
            return style.thumb_path.read_bytes()
        except OSError:
            pass
    try:
        return encode_png(render_thumb(style.load_cppn()))
    except StyleError:
        return None


def build_gallery(styles: Sequence[Style], out_dir, title: str = "Sonolume styles") -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/thumbs/*.png``; returns the page's path.

    The page and its thumbnails are built in a held staging folder inside ``out_dir``;
    the new ``thumbs/`` is swapped in by :func:`engine.atomic.replace_folder` and the page
    follows it, so a full disk, an error or a kill leaves the previous gallery (or no folder
    at all) rather than a page pointing at missing pictures: if the page cannot be
    replaced, the previous thumbnails go back. ``out_dir`` may hold other files: only
    ``index.html`` and ``thumbs/`` are replaced. What a killed build left is cleared first."""
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise StyleError(f"cannot write the gallery: {out_dir} is a file, not a folder")
    made = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic.remove_stale_temporaries(out_dir)
        with atomic.scratch_folder(out_dir / "gallery") as staging:
            (staging / THUMBS).mkdir()
            cards = []
            for i, style in enumerate(styles):
                fname = f"{i:03d}-{style.id}.png"
                data = _thumb_bytes(style)
                if data is None:
                    src = "data:image/gif;base64,R0lGODlhAQABAAAAACw="  # blank: unreadable
                else:
                    (staging / THUMBS / fname).write_bytes(data)
                    src = f"{THUMBS}/{fname}"
                cards.append(_card(style, src, i))
            page = PAGE.format(title=_e(title), count=len(cards), cards="\n".join(cards))
            (staging / "index.html").write_text(page, encoding="utf-8")
            atomic.replace_folder(
                staging / THUMBS, out_dir / THUMBS,
                then=lambda: atomic.commit(staging / "index.html", out_dir / "index.html"))
    except OSError as exc:
        for folder in made:  # innermost first: only the folders this call created
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise StyleError(f"cannot write the gallery to {out_dir}: {exc.strerror or exc}") from exc
    return out_dir / "index.html"
