import pytest

from engine.styles import bundled
from engine.styles.library import BUNDLED_DIR, Library


def test_starter_set_is_seeded_untrained_and_clearly_named(tmp_path):
    lib = Library(tmp_path / "user")
    styles = [s for s in lib.list() if s.readonly]
    assert lib.problems == []
    assert len(styles) >= 8 and len(styles) == len(bundled.SEEDED)
    for s in styles:
        assert s.path.parent == BUNDLED_DIR
        assert s.name.startswith("Seeded pattern ")
        assert s.meta["trained"] is False and s.meta["clip"] is None
        assert s.meta["prompts"] == [] and s.meta["score"] is None
        assert (s.path / "weights.safetensors").stat().st_size < 400_000
        assert s.thumb_path is not None
    # varied: distinct seeds/gains, not one look ten times
    assert len({(x.seed, x.first_gain, x.hidden_gain, x.layers) for x in bundled.SEEDED}) == \
        len(bundled.SEEDED)
    means = [s.load_cppn().render(32, 32).mean(dim=(1, 2)) for s in styles]
    distinct = {tuple(round(float(v), 1) for v in m) for m in means}
    assert len(distinct) >= 6


@pytest.mark.timeout(120)
def test_bundled_folder_matches_the_generator():
    assert bundled.check() == []
