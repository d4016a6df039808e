import json

import pytest

from engine.cli.main import main
from engine.errors import StyleError
from engine.styles.library import Library
from engine.styles.retrieval import BUNDLED_SET, evaluate_search, load_labelled_set


def test_bundled_set_names_real_bundled_styles(library_dir):
    labelled = load_labelled_set()
    lib = Library(library_dir)
    names = {lib.get(r).name for q in labelled["queries"] for r in q["relevant"]}
    assert len(names) == len(lib.list()) == 10  # every bundled style is asked for


def test_exact_names_are_found_first_and_shuffled_labels_are_not(library_dir, tiny_clip):
    lib = Library(library_dir)
    names = [s.name for s in lib.list()]
    exact = {"name": "exact", "queries": [{"text": n, "relevant": [n]} for n in names]}
    report = evaluate_search(lib, tiny_clip, exact)
    # an untrained style is scored by its name: the same text gives cosine 1, rank 1
    assert report.recall["R@1"] == 1.0 and all(q.rank == 1 for q in report.queries)
    assert report.chance["R@1"] == pytest.approx(0.1)
    assert report.chance["R@10"] == pytest.approx(1.0)
    shifted = {"name": "wrong", "queries": [{"text": n, "relevant": [names[(i + 1) % 10]]}
                                            for i, n in enumerate(names)]}
    wrong = evaluate_search(lib, tiny_clip, shifted)
    assert wrong.recall["R@1"] == 0.0 and wrong.recall["R@10"] == 1.0  # K clamped to 10


def test_bad_sets_are_clear_errors(tmp_path, library_dir, tiny_clip):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(StyleError, match="not a readable JSON"):
        load_labelled_set(bad)
    bad.write_text(json.dumps({"queries": [{"text": "x", "relevant": []}]}))
    with pytest.raises(StyleError, match="query 1"):
        load_labelled_set(bad)
    unknown = {"name": "u", "queries": [{"text": "fire", "relevant": ["no such style"]}]}
    with pytest.raises(StyleError, match="query 'fire'"):
        evaluate_search(Library(library_dir), tiny_clip, unknown)


def test_cli_reports_recall_with_the_random_clip_said(library_dir, tiny_clip_config, capsys):
    assert main(["styles", "eval-search", "--clip-config", str(tiny_clip_config),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["clip_random"] is True and out["styles"] == 10
    assert out["queries"] == len(json.loads(BUNDLED_SET.read_text())["queries"])
    assert set(out["recall"]) == {"R@1", "R@5", "R@10"}
    assert main(["styles", "eval-search", "--clip-config", str(tiny_clip_config)]) == 0
    captured = capsys.readouterr()
    assert "RANDOM CLIP" in captured.err and "chance" in captured.out
