"""Styles for a track: the description in words, the keyword and CLIP rankings, the CLI."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import soundfile as sf
from audio_synth import DEMO, tone

from engine.audio.analyze import analyze
from engine.audio.describe import describe
from engine.audio.suggest import rank_styles
from engine.cli.main import main


def style(name, *prompts, negatives=()):
    meta = {"prompts": [{"text": t, "weight": w} for t, w in prompts],
            "negatives": list(negatives), "trained": bool(prompts)}
    return SimpleNamespace(name=name, id=name.lower().replace(" ", "-"), meta=meta)


@pytest.fixture(scope="module")
def pad_features(tmp_path_factory):
    path = tmp_path_factory.mktemp("pad") / "pad.wav"
    sf.write(str(path), tone(freqs=(110.0, 130.81, 164.81), duration=12.0), 22050)
    return analyze(path, use_cache=False)


def test_describe_demo_and_pad(demo_features, pad_features):
    d = describe(demo_features)
    assert d.words == ["upbeat", "energetic", "punchy", "warm", "minor"]
    assert d.text == "energetic, upbeat, punchy, warm music in A minor (120 BPM)"
    assert all(0.0 <= t.strength <= 1.0 for t in d.traits)
    assert d.visual_text.startswith("abstract art, ")
    p = describe(pad_features)
    assert p.trait("tempo").word == "beatless"
    assert p.trait("energy").word == "calm"
    assert p.trait("percussion").word == "smooth"
    assert p.trait("brightness").word == "dark"


LIBRARY = [
    style("Neon fire", ("explosive neon fire, electric sparks", 1.0)),
    style("Misty ocean", ("calm misty deep ocean, soft and serene", 1.0)),
    style("Plain", ("a teapot", 1.0)),
    style("Candy", ("happy candy colours", 1.0), negatives=("dark",)),
]


def test_keyword_ranking_matches_the_mood(demo_features, pad_features):
    calm = [s.name for s, *_ in rank_styles(pad_features, LIBRARY)]
    assert calm[0] == "Misty ocean" and calm.index("Neon fire") > 0
    ranked = rank_styles(demo_features, LIBRARY)
    assert ranked[0][0].name == "Neon fire"
    for _, score, reasons in ranked:
        assert math.isfinite(score) and reasons
    by = {s.name: (score, reasons) for s, score, reasons in ranked}
    assert by["Plain"][0] == 0.0
    assert "no word" in by["Plain"][1][0]
    assert any("fits energetic" in r for r in by["Neon fire"][1])
    # A dark track penalises the style whose negative prompt avoids darkness.
    dark = {s.name: score for s, score, _ in rank_styles(pad_features, LIBRARY)}
    assert dark["Candy"] < 0


def test_ties_keep_library_order(demo_features):
    same = [style(f"Teapot {i}", ("a teapot", 1.0)) for i in range(4)]
    assert [s.name for s, *_ in rank_styles(demo_features, same)] == [s.name for s in same]
    assert rank_styles(demo_features, []) == []


def test_clip_ranking(demo_features, tiny_clip):
    ranked = rank_styles(demo_features, LIBRARY, clip=tiny_clip)
    assert sorted(s.name for s, *_ in ranked) == sorted(s.name for s in LIBRARY)
    scores = [score for _, score, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert all(len(r) == 2 and "vs the library" in r[0] for _, _, r in ranked)


def test_suggest_cli(tmp_path, monkeypatch, capsys, tiny_clip_config):
    monkeypatch.setenv("SONOLUME_LIBRARY", str(tmp_path / "lib"))
    monkeypatch.setenv("SONOLUME_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["suggest", str(DEMO), "--by", "words", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "energetic, upbeat, punchy, warm music in A minor (120 BPM)" in out
    assert "ranked by mood words" in out
    assert " 1. " in out and " 3. " in out and " 4. " not in out
    assert main(["suggest", str(DEMO), "--by", "clip", "--clip-config",
                 str(tiny_clip_config), "--top", "2"]) == 0
    assert "ranked by CLIP text similarity" in capsys.readouterr().out
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["suggest", str(DEMO), "--by", "clip", "--clip-checkpoint",
                 str(tmp_path / "missing.pt")]) == 2
    assert main(["suggest", str(DEMO), "--clip-checkpoint", str(tmp_path / "missing.pt")]) == 0
    captured = capsys.readouterr()
    assert "ranking by mood words instead" in captured.err
    assert main(["suggest", str(DEMO), "--top", "0"]) == 2
